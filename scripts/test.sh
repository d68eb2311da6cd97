#!/usr/bin/env bash
# The test command (README): formatting, lints, then every test of the workspace against the real
# kube-apiserver (built from upstream Go modules, cached) and the in-process TiDB Cloud simulator.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/target}
K8S_BIN_DIR=$(tools/control-plane/build.sh)
export K8S_BIN_DIR
HELM=$(tools/helm/build.sh)   # helm v4 from the Go module proxy, cached; tests/helm.rs uses it
export HELM
GITOPS_HEALTH=$(tools/gitops-health/build.sh)   # kstatus + Argo CD Lua + Flux CEL health helper, cached; tests/gitops_health.rs, tests/reasons.rs
export GITOPS_HEALTH
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
./scripts/lint-image.sh       # hadolint + the Dockerfile's exact release build + the OCI images from it (scripts/image.sh)
