#!/usr/bin/env bash
# Builds gitops-health (this Go module: kstatus, Argo CD Lua and Flux healthCheckExprs (CEL) health of Kubernetes
# objects, see main.go and flux.go) with the
# modules pinned in go.mod/go.sum, fetched through the Go module proxy.
# Output: $HOME/.cache/clouddb-operator/gitops-health/<hash of go.mod, go.sum, the sources and the Go version>/
# gitops-health ; prints the binary's path. A second run with the binary present returns at once.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
HASH=$( (go env GOVERSION; cat go.mod go.sum ./*.go) | sha256sum | cut -c1-16)
OUT=${GITOPS_HEALTH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/gitops-health/$HASH}
if [ -x "$OUT/gitops-health" ]; then echo "$OUT/gitops-health"; exit 0; fi
mkdir -p "$OUT"
echo "building gitops-health ($HASH)" >&2
go build -trimpath -pgo=off -ldflags "-s -w" -o "$OUT/gitops-health.tmp" . >&2
mv "$OUT/gitops-health.tmp" "$OUT/gitops-health"
echo "$OUT/gitops-health"
