#!/usr/bin/env bash
# Builds helm v4 (helm.sh/helm/v4/cmd/helm) from the Go module proxy, with the version ldflags helm's Makefile sets
# (so `helm version` reports the real release). The wrapper module beside this script pins the release.
# Output: $HOME/.cache/clouddb-operator/helm/<version>/helm (and the symlink helm/current -> <version>, where the
# tests look when env HELM is unset); prints the binary's path. A second run returns at once.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
HELM_VERSION=$(go list -m -f '{{.Version}}' helm.sh/helm/v4)
OUT=${HELM_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/helm/$HELM_VERSION}
if [ -x "$OUT/helm" ]; then ln -sfn "$OUT" "$(dirname "$OUT")/current"; echo "$OUT/helm"; exit 0; fi
mkdir -p "$OUT"
P=helm.sh/helm/v4/internal/version # as helm's Makefile does (no git checkout here: no commit id)
LDF="-s -w -X $P.version=$HELM_VERSION -X $P.metadata= -X $P.gitTreeState=clean"
echo "building helm $HELM_VERSION" >&2
go build -trimpath -pgo=off -ldflags "$LDF" -o "$OUT/helm.tmp" helm.sh/helm/v4/cmd/helm >&2
mv "$OUT/helm.tmp" "$OUT/helm"
ln -sfn "$OUT" "$(dirname "$OUT")/current"
echo "$OUT/helm"
