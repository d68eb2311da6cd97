#!/usr/bin/env bash
# The demo (README command one). On a fresh machine: builds the control plane (cached) and the binaries, starts
# a real kube-apiserver + etcd + kube-controller-manager, the TiDB Cloud simulator and the operator, applies
# examples/tidbcloudcluster.yaml and shows it reach Ready. Everything keeps running afterwards so you can play:
#   scripts/demo.sh          start (or restart) the demo
#   scripts/demo.sh stop     stop everything it started
# State and logs: $CLOUDDB_DEMO_DIR (default $HOME/.cache/clouddb-operator/demo). $CLOUDDB_DEMO_BIN_DIR: use the
# clouddb-* binaries found there instead of building them.
# Ports: $CLOUDDB_DEMO_SIM_PORT (simulator, TiDB Cloud API, default 18443), $CLOUDDB_DEMO_CLICKHOUSE_PORT
# (simulator, ClickHouse Cloud API, default 18445), $CLOUDDB_DEMO_METRICS_PORT (operator, default 18080).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEMO=${CLOUDDB_DEMO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/demo}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/target}
SIM_PORT=${CLOUDDB_DEMO_SIM_PORT:-18443}
CH_PORT=${CLOUDDB_DEMO_CLICKHOUSE_PORT:-18445}
CH_ORG=00000000-0000-4000-8000-00000000d0e0
METRICS_PORT=${CLOUDDB_DEMO_METRICS_PORT:-18080}
started=$(date +%s)

# Whether pid $1 runs (and is not a zombie: an exited child nobody has reaped yet still answers kill -0).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Stops what a previous run started. A pid file is trusted only while its process is still one of ours (pids are
# reused), and each process gets up to 15 s: the control plane stops kube-controller-manager, kube-apiserver and
# etcd in turn, 5 s grace each.
stop() {
  local p pid stopped=0
  for p in operator sim control-plane; do
    [ -f "$DEMO/$p.pid" ] || continue
    pid=$(cat "$DEMO/$p.pid")
    if alive "$pid" && tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -q "clouddb-"; then
      stopped=1
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 75); do alive "$pid" || break; sleep 0.2; done
      if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "killed $p (pid $pid): it did not stop within 15 s"
      else
        echo "stopped $p (pid $pid)"
      fi
    fi
    rm -f "$DEMO/$p.pid"
  done
  [ "$stopped" = 1 ] || echo "nothing to stop (no demo process running)"
}

# Says what failed, where the logs are, and how to clean up; then exits.
fail() {
  echo "demo failed: $*" >&2
  for log in "$DEMO"/operator.log "$DEMO"/sim.log "$DEMO"/control-plane.log; do
    [ -s "$log" ] || continue
    echo "--- last lines of $log" >&2
    tail -n 15 "$log" | sed 's/\x1b\[[0-9;]*m//g' >&2
  done
  echo "logs: $DEMO; stop what was started with: scripts/demo.sh stop" >&2
  exit 1
}

wait_for() { # $1 = description, $2 = pid file of the process that must stay up, $3 = timeout seconds, rest = command
  local what=$1 pidfile=$2 timeout=$3; shift 3
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    alive "$(cat "$pidfile")" || fail "$what exited during start"
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after ${timeout}s waiting for $what"
    sleep 0.5
  done
}

if [ "${1:-}" = "stop" ]; then stop; exit 0; fi
if [ $# -gt 0 ]; then echo "usage: $0 [stop]" >&2; exit 2; fi
trap 'fail "command failed: $BASH_COMMAND"' ERR

missing=()
command -v go >/dev/null || missing+=("Go 1.26 (https://go.dev/dl/; builds kube-apiserver from Go modules)")
command -v cargo >/dev/null || missing+=("Rust via rustup (https://rustup.rs)")
command -v curl >/dev/null || missing+=("curl")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'the demo needs: %s\n' "${missing[@]}" >&2
  exit 1
fi

stop >/dev/null 2>&1 || true
mkdir -p "$DEMO"
rm -f "$DEMO"/{operator,sim,control-plane}.log

echo "==> building the Kubernetes control plane from upstream Go modules (first run 6-13 min, then cached)"
K8S_BIN_DIR=$(tools/control-plane/build.sh) || fail "tools/control-plane/build.sh failed (output above)"
export K8S_BIN_DIR
KUBECTL="$K8S_BIN_DIR/kubectl"
echo "==> building clouddb-operator, clouddb-sim and clouddb-control-plane"
if [ -n "${CLOUDDB_DEMO_BIN_DIR:-}" ]; then
  BIN=$CLOUDDB_DEMO_BIN_DIR   # already built (tests/demo.rs runs the demo from inside `cargo test`)
else
  cargo build --locked --workspace --bins -q || fail "cargo build failed (output above)"
  BIN=$CARGO_TARGET_DIR/debug
fi

echo "==> starting the control plane"
CRD_ARGS=()   # every kind the operator serves (it waits for all of their CRDs before it is ready)
for crd in crds/*.yaml; do
  [ "$crd" = crds/deletion-protection.yaml ] || CRD_ARGS+=(--crd "$crd")
done
rm -rf "$DEMO/cp"
"$BIN/clouddb-control-plane" up --dir "$DEMO/cp" --keep "${CRD_ARGS[@]}" > "$DEMO/control-plane.log" 2>&1 &
echo $! > "$DEMO/control-plane.pid"
wait_for "the control plane" "$DEMO/control-plane.pid" 120 grep -q '^export KUBECONFIG=' "$DEMO/control-plane.log"
KUBECONFIG=$(sed -n 's/^export KUBECONFIG=//p' "$DEMO/control-plane.log")
export KUBECONFIG

echo "==> starting the simulator: TiDB Cloud on https://127.0.0.1:$SIM_PORT, ClickHouse Cloud on https://127.0.0.1:$CH_PORT"
rm -rf "$DEMO/sim"
"$BIN/clouddb-sim" --listen "127.0.0.1:$SIM_PORT" --state-dir "$DEMO/sim" --api-key demo-public:demo-private-key \
  --clickhouse-listen "127.0.0.1:$CH_PORT" --clickhouse-api-key demo-key-id:demo-key-secret \
  --clickhouse-organization-id "$CH_ORG" --profile fast > "$DEMO/sim.log" 2>&1 &
echo $! > "$DEMO/sim.pid"
wait_for "the simulator" "$DEMO/sim.pid" 30 test -s "$DEMO/sim/ca.pem"
wait_for "the simulator" "$DEMO/sim.pid" 30 curl -sf --cacert "$DEMO/sim/ca.pem" "https://127.0.0.1:$SIM_PORT/_sim/health"

echo "==> installing the deletion-protection policy and the API key Secret"
$KUBECTL apply -f crds/deletion-protection.yaml >/dev/null
$KUBECTL create namespace clouddb-system --dry-run=client -o yaml | $KUBECTL apply -f - >/dev/null
$KUBECTL -n clouddb-system create secret generic tidbcloud-credentials \
  --from-literal=publicKey=demo-public --from-literal=privateKey=demo-private-key \
  --dry-run=client -o yaml | $KUBECTL apply -f - >/dev/null
$KUBECTL -n clouddb-system create secret generic clickhouse-credentials \
  --from-literal=keyId=demo-key-id --from-literal=keySecret=demo-key-secret --from-literal=organizationId="$CH_ORG" \
  --dry-run=client -o yaml | $KUBECTL apply -f - >/dev/null

echo "==> starting the operator (logs: $DEMO/operator.log)"
"$BIN/clouddb-operator" run --tidbcloud-api-url "https://127.0.0.1:$SIM_PORT/v1beta1" \
  --tidbcloud-iam-url "https://127.0.0.1:$SIM_PORT/v1beta1" --extra-ca-file "$DEMO/sim/ca.pem" \
  --clickhouse-api-url "https://127.0.0.1:$CH_PORT/v1" \
  --metrics-addr "127.0.0.1:$METRICS_PORT" --poll-transitional 2s --poll-steady 1m > "$DEMO/operator.log" 2>&1 &
echo $! > "$DEMO/operator.pid"
wait_for "the operator" "$DEMO/operator.pid" 60 curl -sf "http://127.0.0.1:$METRICS_PORT/readyz"

echo "==> kubectl apply -f examples/tidbcloudcluster.yaml"
$KUBECTL apply -f examples/tidbcloudcluster.yaml
NAME=$($KUBECTL get -f examples/tidbcloudcluster.yaml -o jsonpath='{.metadata.name}')
$KUBECTL get tidbcloud
echo "==> kubectl wait --for=condition=Ready tidbcloudcluster/$NAME"
if ! $KUBECTL wait --for=condition=Ready "tidbcloudcluster/$NAME" --timeout=180s; then
  $KUBECTL describe tidbcloudcluster "$NAME" >&2 || true
  fail "tidbcloudcluster/$NAME did not become Ready"
fi
$KUBECTL get tidbcloud

echo "==> kubectl apply -f examples/clickhouseservice.yaml"
$KUBECTL apply -f examples/clickhouseservice.yaml
CH_NAME=$($KUBECTL get -f examples/clickhouseservice.yaml -o jsonpath='{.metadata.name}')
echo "==> kubectl wait --for=condition=Ready clickhouseservice/$CH_NAME"
if ! $KUBECTL wait --for=condition=Ready "clickhouseservice/$CH_NAME" --timeout=180s; then
  $KUBECTL describe clickhouseservice "$CH_NAME" >&2 || true
  fail "clickhouseservice/$CH_NAME did not become Ready"
fi
$KUBECTL get clouddb
echo
echo "connection Secret $NAME-connection has keys: $($KUBECTL get secret "$NAME-connection" -o jsonpath='{.data}' | tr ',' '\n' | sed -n 's/^[{"]*\([^"]*\)".*/\1/p' | tr '\n' ' ')"
cat <<MSG

Ready after $(( $(date +%s) - started )) s. The demo keeps running. Try:
  export KUBECONFIG=$KUBECONFIG
  alias kubectl=$KUBECTL
  kubectl describe tidbcloudcluster $NAME
  $BIN/clouddb-operator plan -f examples/ --tidbcloud-api-url https://127.0.0.1:$SIM_PORT/v1beta1 \\
    --clickhouse-api-url https://127.0.0.1:$CH_PORT/v1 --extra-ca-file $DEMO/sim/ca.pem      # what applying examples/ would do
  kubectl patch tcc $NAME --type merge -p '{"spec":{"tikv":{"nodeCount":6}}}'   # scale TiKV
  kubectl patch tcc $NAME --type merge -p '{"spec":{"paused":true}}'              # pause
  kubectl patch chs $CH_NAME --type merge -p '{"spec":{"stopped":true}}'        # stop the ClickHouse service
  kubectl get clouddb -w
  curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep clouddb_
  curl -s --cacert $DEMO/sim/ca.pem https://127.0.0.1:$SIM_PORT/_sim/counters      # what the cloud saw
Logs: $DEMO/{operator,sim,control-plane}.log
Stop everything: scripts/demo.sh stop
MSG
