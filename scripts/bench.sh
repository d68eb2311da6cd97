#!/usr/bin/env bash
# The benchmark command (README, BENCHMARKS.md): builds the control plane (cached), the release operator and
# simulator and the benchmark, then runs the operator against the simulator and a real kube-apiserver with N
# TidbCloudClusters in both observation modes, and updates BENCHMARKS.md.
#
#   scripts/bench.sh --n 100                  # one N, batched and naive side by side
#   scripts/bench.sh --all                    # N = 100 and 1000, then N = 10000 for memory only
#   scripts/bench.sh --n 10000 --memory-only
#   scripts/bench.sh --help                   # every option
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/target}
K8S_BIN_DIR=$(tools/control-plane/build.sh)
export K8S_BIN_DIR
cargo build --locked --release -p clouddb-operator -p clouddb-sim -p clouddb-bench
exec "$CARGO_TARGET_DIR/release/clouddb-bench" \
  --operator-bin "$CARGO_TARGET_DIR/release/clouddb-operator" \
  --sim-bin "$CARGO_TARGET_DIR/release/clouddb-sim" \
  --output BENCHMARKS.md \
  --command-line "scripts/bench.sh $*" \
  "$@"
