#!/usr/bin/env bash
# The demo (README command one). On a fresh machine: builds the control plane (cached) and the binaries, starts
# a real kube-apiserver + etcd + kube-controller-manager, the TiDB Cloud simulator and the operator, applies
# examples/tidbcloudcluster.yaml and shows it reach Ready. Everything keeps running afterwards so you can play:
#   scripts/demo.sh          start (or restart) the demo
#   scripts/demo.sh stop     stop everything it started
# State and logs: $CLOUDDB_DEMO_DIR (default $HOME/.cache/clouddb-operator/demo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
DEMO=${CLOUDDB_DEMO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/demo}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clouddb-operator/target}
SIM_PORT=${CLOUDDB_DEMO_SIM_PORT:-18443}
METRICS_PORT=${CLOUDDB_DEMO_METRICS_PORT:-18080}

stop() {
  for p in operator sim control-plane; do
    if [ -f "$DEMO/$p.pid" ]; then
      pid=$(cat "$DEMO/$p.pid")
      kill "$pid" 2>/dev/null && echo "stopped $p (pid $pid)"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      rm -f "$DEMO/$p.pid"
    fi
  done
}

wait_for() { # $1 = description, $2 = timeout seconds, rest = command
  local what=$1 timeout=$2; shift 2
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "timed out waiting for $what (logs in $DEMO)"; exit 1; fi
    sleep 0.5
  done
}

if [ "${1:-}" = "stop" ]; then stop; exit 0; fi
stop >/dev/null 2>&1 || true
mkdir -p "$DEMO"

echo "==> building the Kubernetes control plane from upstream Go modules (cached after the first run)"
export K8S_BIN_DIR=$(tools/control-plane/build.sh)
echo "==> building clouddb-operator, clouddb-sim and clouddb-control-plane"
cargo build --locked --bins -q
BIN=$CARGO_TARGET_DIR/debug

echo "==> starting the control plane"
rm -rf "$DEMO/cp"
"$BIN/clouddb-control-plane" up --dir "$DEMO/cp" --keep --crd crds/tidbcloudcluster.yaml > "$DEMO/control-plane.log" 2>&1 &
echo $! > "$DEMO/control-plane.pid"
wait_for "the control plane" 120 grep -q '^export KUBECONFIG=' "$DEMO/control-plane.log"
export KUBECONFIG=$(sed -n 's/^export KUBECONFIG=//p' "$DEMO/control-plane.log")
KUBECTL="$K8S_BIN_DIR/kubectl"

echo "==> starting the TiDB Cloud simulator on https://127.0.0.1:$SIM_PORT"
"$BIN/clouddb-sim" --listen "127.0.0.1:$SIM_PORT" --state-dir "$DEMO/sim" --api-key demo-public:demo-private-key \
  --profile fast > "$DEMO/sim.log" 2>&1 &
echo $! > "$DEMO/sim.pid"
wait_for "the simulator" 30 test -s "$DEMO/sim/ca.pem"
wait_for "the simulator" 30 curl -sf --cacert "$DEMO/sim/ca.pem" "https://127.0.0.1:$SIM_PORT/_sim/health"

echo "==> installing the deletion-protection policy and the API key Secret"
$KUBECTL apply -f crds/deletion-protection.yaml >/dev/null
$KUBECTL create namespace clouddb-system --dry-run=client -o yaml | $KUBECTL apply -f - >/dev/null
$KUBECTL -n clouddb-system create secret generic tidbcloud-credentials \
  --from-literal=publicKey=demo-public --from-literal=privateKey=demo-private-key \
  --dry-run=client -o yaml | $KUBECTL apply -f - >/dev/null

echo "==> starting the operator (logs: $DEMO/operator.log)"
"$BIN/clouddb-operator" run --tidbcloud-api-url "https://127.0.0.1:$SIM_PORT/v1beta1" \
  --tidbcloud-iam-url "https://127.0.0.1:$SIM_PORT/v1beta1" --extra-ca-file "$DEMO/sim/ca.pem" \
  --metrics-addr "127.0.0.1:$METRICS_PORT" --poll-transitional 2s --poll-steady 1m > "$DEMO/operator.log" 2>&1 &
echo $! > "$DEMO/operator.pid"
wait_for "the operator" 60 curl -sf "http://127.0.0.1:$METRICS_PORT/readyz"

echo "==> kubectl apply -f examples/tidbcloudcluster.yaml"
$KUBECTL apply -f examples/tidbcloudcluster.yaml
NAME=$($KUBECTL get -f examples/tidbcloudcluster.yaml -o jsonpath='{.metadata.name}')
$KUBECTL get tidbcloud
echo "==> kubectl wait --for=condition=Ready tidbcloudcluster/$NAME"
$KUBECTL wait --for=condition=Ready "tidbcloudcluster/$NAME" --timeout=180s
$KUBECTL get tidbcloud
echo
echo "connection Secret $NAME-connection has keys: $($KUBECTL get secret "$NAME-connection" -o jsonpath='{.data}' | tr ',' '\n' | sed -n 's/^[{"]*\([^"]*\)".*/\1/p' | tr '\n' ' ')"
cat <<MSG

The demo keeps running. Try:
  export KUBECONFIG=$KUBECONFIG
  alias kubectl=$KUBECTL
  kubectl describe tidbcloudcluster $NAME
  kubectl patch tcc $NAME --type merge -p '{"spec":{"tikv":{"nodeCount":6}}}'   # scale TiKV
  kubectl patch tcc $NAME --type merge -p '{"spec":{"paused":true}}'              # pause
  curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep clouddb_
Logs: $DEMO/{operator,sim,control-plane}.log
Stop everything: scripts/demo.sh stop
MSG
