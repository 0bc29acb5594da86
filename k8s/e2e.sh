#!/usr/bin/env bash
# End to end on a real cluster: build the images, install the chart, follow a complete run, fetch and check its
# report, and check that every query of the Grafana dashboard returns data from the cluster's Prometheus
# (`ctrbench dashboard check`, through the API server's service proxy), and draw its panels.
#
#   PROVIDER=local k8s/e2e.sh   this machine's single-node cluster (k8s/local/cluster.sh up), images built on
#                               stand-in bases (k8s/standins/), Flink in standalone mode (no operator)
#   PROVIDER=kind  k8s/e2e.sh   a kind cluster on a machine with Docker and registry access (CI runners);
#                               FLINK_MODE=operator (the default there) installs cert-manager and the operator
#
# Environment: NS (ctr), RELEASE (ctr), OUT (directory for the report, pod list and dashboard check; default
# a temp dir), FLINK_MODE (standalone | operator), KEEP_CLUSTER (1: leave the cluster up), SECOND_RUN (1: then
# start a second, shorter run with `ctrbench cluster start` and check it too), CTRBENCH (the ctrbench command),
# HELM_SET (extra --set pairs, space-separated).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROVIDER=${PROVIDER:-local}
NS=${NS:-ctr}
RELEASE=${RELEASE:-ctr}
MON_NS=${MON_NS:-ctr-monitoring}
OUT=${OUT:-$(mktemp -d /tmp/ctrbench-e2e.XXXXXX)}
CTRBENCH=${CTRBENCH:-$ROOT/.venv/bin/ctrbench}
TAG=$(awk '/^appVersion:/ {gsub(/"/, "", $2); print $2}' "$ROOT/helm/Chart.yaml")
mkdir -p "$OUT"
started=$SECONDS

case $PROVIDER in
  local)
    FLINK_MODE=${FLINK_MODE:-standalone}
    log "local cluster"
    "$ROOT/k8s/local/cluster.sh" up
    eval "$("$ROOT/k8s/local/cluster.sh" env)"  # KUBECONFIG and PATH (kubectl, helm)
    eval "$("$ROOT/k8s/docker.sh" start)"
    "$ROOT/k8s/build-images.sh" --standins --tag "$TAG"
    images=("ctrbench/producer:$TAG" "ctrbench/flink:$TAG" ctrbench-standin/kafka:4.1.1 ctrbench-standin/postgres:16
            ctrbench-standin/prometheus:v3 ctrbench-standin/pushgateway:v1)
    "$ROOT/k8s/local/cluster.sh" load "${images[@]}"
    "$ROOT/k8s/docker.sh" stop  # the images are in the node now; stops only a daemon docker.sh started
    values=(-f "$ROOT/helm/ci/04-local-cluster-values.yaml")
    PROMETHEUS_IMAGE=ctrbench-standin/prometheus:v3 PUSHGATEWAY_IMAGE=ctrbench-standin/pushgateway:v1 PULL_POLICY=Never
    ;;
  kind)
    FLINK_MODE=${FLINK_MODE:-operator}
    need docker kind kubectl helm
    CLUSTER=${CLUSTER:-ctr}
    kind get clusters | grep -qx "$CLUSTER" || kind create cluster --config "$ROOT/k8s/kind-cluster.yaml" --name "$CLUSTER"
    [[ $FLINK_MODE == operator ]] && "$ROOT/k8s/install-operators.sh"
    "$ROOT/k8s/build-images.sh" --tag "$TAG"
    kind load docker-image --name "$CLUSTER" "ctrbench/producer:$TAG" "ctrbench/flink:$TAG"
    values=()
    PROMETHEUS_IMAGE=prom/prometheus:v3.5.0 PUSHGATEWAY_IMAGE=prom/pushgateway:v1.10.0 PULL_POLICY=IfNotPresent
    ;;
  *) die "PROVIDER=$PROVIDER: use local or kind" ;;
esac
need kubectl helm

# Whenever a step fails: what the cluster looked like, the events and the logs of pods that are not fine.
debug_and_show_logs() {
  log "failed after $((SECONDS - started)) s; pods, events and logs follow"
  kubectl get pods -A -o wide || true
  kubectl -n "$NS" get events --sort-by=.lastTimestamp | tail -40 || true
  for pod in $(kubectl -n "$NS" get pods -o name 2>/dev/null); do
    kubectl -n "$NS" logs "$pod" --all-containers --tail=30 --prefix 2>/dev/null | tail -60 || true
  done
}
trap debug_and_show_logs ERR

# A fresh namespace: a release left from an earlier run keeps its volumes (Kafka's data) after helm uninstall.
if kubectl get namespace "$NS" >/dev/null 2>&1; then
  log "removing namespace $NS left from an earlier run"
  helm uninstall "$RELEASE" -n "$NS" --wait >/dev/null 2>&1 || true
  kubectl delete namespace "$NS" --wait=true --timeout=300s >/dev/null
fi
kubectl create namespace "$NS" >/dev/null

log "Prometheus and Pushgateway in $MON_NS (scraping $NS)"
sed -e "s|__MONITORING_NS__|$MON_NS|g" -e "s|__TARGET_NS__|$NS|g" -e "s|__PROMETHEUS_IMAGE__|$PROMETHEUS_IMAGE|g" \
    -e "s|__PUSHGATEWAY_IMAGE__|$PUSHGATEWAY_IMAGE|g" -e "s|__PULL_POLICY__|$PULL_POLICY|g" \
    "$ROOT/k8s/monitoring/prometheus.yaml" | kubectl apply -f - >/dev/null
kubectl -n "$MON_NS" rollout status deployment/prometheus --timeout=180s
kubectl -n "$MON_NS" rollout status deployment/pushgateway --timeout=180s

if [[ $FLINK_MODE == operator ]]; then
  # The operator's RBAC for Flink pods lives in the namespaces it watches; give the job's account its rights here.
  kubectl -n "$NS" create serviceaccount flink --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl -n "$NS" create rolebinding flink-edit --clusterrole=edit --serviceaccount="$NS:flink" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
fi

log "helm install $RELEASE ./helm (flink.mode=$FLINK_MODE)"
sets=(--set "flink.mode=$FLINK_MODE" --set "monitoring.pushgateway.url=pushgateway.$MON_NS.svc:9091")
for pair in ${HELM_SET:-}; do sets+=(--set "$pair"); done
helm install "$RELEASE" "$ROOT/helm" -n "$NS" "${values[@]}" "${sets[@]}"

check_run() {  # <name>: follow the run, fetch its report, fail unless every cell verified
  local name=$1
  mkdir -p "$OUT/$name"
  "$CTRBENCH" cluster follow -n "$NS" --release "$RELEASE" --timeout "${RUN_TIMEOUT:-1500}"
  "$CTRBENCH" cluster report -n "$NS" --release "$RELEASE" --output-dir "$OUT/$name" | tee "$OUT/$name/verdict.txt"
}
run1_started=$SECONDS
check_run run-1

log "every dashboard query on the cluster's Prometheus"
# The API server's service proxy, through kubectl proxy on loopback (stopped by its pid at exit).
kubectl proxy --address=127.0.0.1 --port=0 >"$OUT/kubectl-proxy.log" 2>&1 &
proxy_pid=$!
trap 'kill "$proxy_pid" 2>/dev/null || true' EXIT
wait_for 30 "kubectl proxy" grep -q "Starting to serve" "$OUT/kubectl-proxy.log"
proxy_port=$(sed -nE 's/.*127\.0\.0\.1:([0-9]+).*/\1/p' "$OUT/kubectl-proxy.log" | head -1)
prometheus_url="http://127.0.0.1:$proxy_port/api/v1/namespaces/$MON_NS/services/prometheus:web/proxy"
# The run's whole range; the pushed report needs one scrape of the Pushgateway (5 s) to be queryable.
range_s=$((SECONDS - run1_started + 30))
check_dashboard() {
  "$CTRBENCH" dashboard check --prometheus "$prometheus_url" --last "$range_s" --scrape-interval 5 \
    >"$OUT/dashboard-check.txt" 2>&1
}
checked=0
for _ in $(seq 12); do check_dashboard && { checked=1; break; }; sleep 5; done
cat "$OUT/dashboard-check.txt"
(( checked )) || die "dashboard queries without data on the cluster's Prometheus (listed above)"
"$CTRBENCH" dashboard render --prometheus "$prometheus_url" --last "$range_s" --scrape-interval 5 \
  --out "$OUT/dashboard.png"

if [[ ${SECOND_RUN:-0} == 1 ]]; then
  log "a second run on the same release: ctrbench cluster start"
  "$CTRBENCH" cluster start -n "$NS" --release "$RELEASE" --num-producers 2 --events-per-producer 10000 --duration 20
  check_run run-2
  # The live monitor followed both runs although the second recreated the results topic.
  kubectl get --raw "/api/v1/namespaces/$NS/services/$RELEASE-monitor:metrics/proxy/metrics" \
    >"$OUT/monitor-metrics.txt"
fi

kubectl -n "$NS" get pods -o wide | tee "$OUT/pods.txt"
log "end-to-end run passed in $((SECONDS - started)) s; report in $OUT"

if [[ ${KEEP_CLUSTER:-1} == 0 ]]; then
  case $PROVIDER in
    local) "$ROOT/k8s/local/cluster.sh" down ;;
    kind) kind delete cluster --name "$CLUSTER" ;;
  esac
fi
