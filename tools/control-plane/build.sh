#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from upstream Go modules (no downloads from
# release pages: only the Go module proxy), with version ldflags so they report their real version.
# The wrapper module (go.mod/go.sum beside this script) pins the Kubernetes release and etcd.
# Output: $HOME/.cache/clouddb-operator/k8s/<k8s version>-<etcd version>/ ; prints that directory.
# A second run with the binaries present returns at once.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
K8S_VERSION=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
ETCD_VERSION=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
OUT=${K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/k8s/$K8S_VERSION-etcd$ETCD_VERSION}
BINS="kube-apiserver kube-controller-manager kubectl etcd"
have_all() { for b in $BINS; do [ -x "$OUT/$b" ] || return 1; done; }
if have_all; then ln -sfn "$OUT" "$(dirname "$OUT")/current"; echo "$OUT"; exit 0; fi
mkdir -p "$OUT"
LDF="-s -w"
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do # as hack/lib/version.sh does
  LDF="$LDF -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean"
  LDF="$LDF -X $p.buildDate=1970-01-01T00:00:00Z"
done
build() { # $1 = output name, $2 = package, $3 = ldflags
  [ -x "$OUT/$1" ] && return 0
  echo "building $1 ($2)" >&2
  go build -trimpath -pgo=off -ldflags "$3" -o "$OUT/$1.tmp" "$2" >&2
  mv "$OUT/$1.tmp" "$OUT/$1"
}
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$LDF"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$LDF"
build kubectl k8s.io/kubernetes/cmd/kubectl "$LDF"
build etcd go.etcd.io/etcd/server/v3 "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=clouddb"
ln -sfn "$OUT" "$(dirname "$OUT")/current"
echo "$OUT"
