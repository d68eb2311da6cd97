#!/usr/bin/env bash
# Builds clouddb-image (this Go module, main.go: assembles OCI images from directories, reproducibly, with
# go-containerregistry) and crane (go-containerregistry's CLI: the release workflow pushes the OCI layout with it)
# from the modules pinned in go.mod/go.sum, fetched through the Go module proxy.
# Output: $HOME/.cache/clouddb-operator/image-tool/<hash of go.mod, go.sum, the sources and the Go version>/
# {clouddb-image,crane} ; prints that directory. A second run with both binaries present returns at once.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
HASH=$( (go env GOVERSION; cat go.mod go.sum ./*.go) | sha256sum | cut -c1-16)
OUT=${IMAGE_TOOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/image-tool/$HASH}
if [ -x "$OUT/clouddb-image" ] && [ -x "$OUT/crane" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$OUT"
GGCR=$(go list -m -f '{{.Version}}' github.com/google/go-containerregistry)
echo "building clouddb-image and crane (go-containerregistry $GGCR, $HASH)" >&2
go build -trimpath -pgo=off -ldflags "-s -w" -o "$OUT/clouddb-image.tmp" . >&2
# crane reports its version from this variable, as go-containerregistry's .goreleaser.yml sets it.
go build -trimpath -pgo=off -ldflags "-s -w -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$GGCR" \
  -o "$OUT/crane.tmp" github.com/google/go-containerregistry/cmd/crane >&2
mv "$OUT/clouddb-image.tmp" "$OUT/clouddb-image"
mv "$OUT/crane.tmp" "$OUT/crane"
echo "$OUT"
