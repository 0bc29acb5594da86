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
# start a second, shorter run with `ctrbench cluster start` and check it too), FAULTS (1: then three runs with
# one fault each, mid-run: a producer pod, the TaskManager pod, the Kafka pod deleted; their reports in
# $OUT/fault-*, the times in $OUT/faults.tsv), SPARK_RUN (1: then the release uninstalled, the Kubeflow Spark
# Operator installed (k8s/install-spark-operator.sh) and the chart installed again with engine=spark in SPARK_NS
# (default $NS-spark), its run checked; the report in $OUT/spark), CTRBENCH (the ctrbench command), HELM_SET
# (extra --set pairs, space-separated).
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
    images=("ctrbench/producer:$TAG" "ctrbench/flink:$TAG" ctrbench-standin/kafka:4.1.1 ctrbench-standin/postgres:16
            ctrbench-standin/prometheus:v3 ctrbench-standin/pushgateway:v1)
    if [[ ${SPARK_RUN:-0} == 1 ]]; then
      "$ROOT/k8s/build-images.sh" --standins --spark --tag "$TAG"
      images+=("ctrbench/spark:$TAG")
    else
      "$ROOT/k8s/build-images.sh" --standins --tag "$TAG"
    fi
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
    if [[ ${SPARK_RUN:-0} == 1 ]]; then
      "$ROOT/k8s/build-images.sh" --spark --tag "$TAG"
      kind load docker-image --name "$CLUSTER" "ctrbench/producer:$TAG" "ctrbench/flink:$TAG" "ctrbench/spark:$TAG"
    else
      "$ROOT/k8s/build-images.sh" --tag "$TAG"
      kind load docker-image --name "$CLUSTER" "ctrbench/producer:$TAG" "ctrbench/flink:$TAG"
    fi
    values=()
    PROMETHEUS_IMAGE=prom/prometheus:v3.5.0 PUSHGATEWAY_IMAGE=prom/pushgateway:v1.10.0 PULL_POLICY=IfNotPresent
    ;;
  *) die "PROVIDER=$PROVIDER: use local or kind" ;;
esac
need kubectl helm

# Whenever a step fails: what the cluster looked like, the events and the logs of pods that are not fine, in
# $OUT/cluster-at-failure.txt (the failed step's own message stays the last thing in the log).
debug_and_show_logs() {
  log "failed after $((SECONDS - started)) s; pods, events and logs in $OUT/cluster-at-failure.txt"
  {
    kubectl get pods -A -o wide || true
    echo "## warning events in kube-system"
    kubectl -n kube-system get events --field-selector type=Warning --sort-by=.lastTimestamp | tail -10 || true
    local ns
    for ns in "$NS" ${SPARK_NS:+"$SPARK_NS"}; do
      echo "## warning events in $ns"
      kubectl -n "$ns" get events --field-selector type=Warning --sort-by=.lastTimestamp | tail -30 || true
      for pod in $(kubectl -n "$ns" get pods -o name 2>/dev/null); do
        kubectl -n "$ns" logs "$pod" --all-containers --tail=30 --prefix 2>/dev/null | tail -60 || true
      done
    done
  } >"$OUT/cluster-at-failure.txt" 2>&1
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

check_run() {  # <name> [namespace]: follow the run, fetch its report, fail unless every cell verified
  local name=$1 ns=${2:-$NS}
  mkdir -p "$OUT/$name"
  # Its error names the pods that are not fine, with their events and logs; the trap is not called in functions.
  "$CTRBENCH" cluster follow -n "$ns" --release "$RELEASE" --timeout "${RUN_TIMEOUT:-1500}" ||
    { debug_and_show_logs; die "run $name did not complete (above)"; }
  "$CTRBENCH" cluster report -n "$ns" --release "$RELEASE" --output-dir "$OUT/$name" | tee "$OUT/$name/verdict.txt"
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

# The run's start (ms since epoch) as producer 0 announced it, once it has.
run_start_ms() {
  kubectl -n "$NS" logs "$RELEASE-producer-0" 2>/dev/null | sed -nE 's/.*the run starts at ([0-9]+) ms.*/\1/p' | tail -1
}

# Whether every task of the Flink job runs (a RUNNING job may still wait for slots), through the API server's
# service proxy to Flink's REST API.
flink_tasks_running() {
  local service overview total running
  if [[ $FLINK_MODE == standalone ]]; then service="$RELEASE-flink-jobmanager:rest"; else service="$RELEASE-flink-rest:rest"; fi
  overview=$(kubectl get --raw "/api/v1/namespaces/$NS/services/$service/proxy/jobs/overview" 2>/dev/null) || return 1
  total=$(sed -nE 's/.*"total":([0-9]+).*/\1/p' <<<"$overview")
  running=$(sed -nE 's/.*"running":([0-9]+).*/\1/p' <<<"$overview")
  [[ $overview == *'"state":"RUNNING"'* && -n $total && $total == "$running" ]]
}

pod_ready() {  # <pod>: exists, is not the one deleted (uid), and is Ready
  local uid
  uid=$(kubectl -n "$NS" get pod "$1" -o jsonpath='{.metadata.uid}' 2>/dev/null) || return 1
  [[ -n $uid && $uid != "$2" ]] || return 1
  kubectl -n "$NS" get pod "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True
}

# inject_fault <name> <pod>: once the run has sent for FAULT_AFTER_S seconds, delete <pod> and wait until what
# it ran works again: a producer or the broker pod Ready again, the Flink job RUNNING again. Appends
# "<name> <pod> <seconds into the run> <seconds to recover>" to $OUT/faults.tsv.
inject_fault() {
  local name=$1 pod=$2 start_ms="" uid deleted recovered
  local deadline=$((SECONDS + 600))
  until [[ -n $start_ms ]]; do
    (( SECONDS < deadline )) || die "fault $name: the run did not start within 600 s"
    sleep 2
    start_ms=$(run_start_ms)
  done
  while (( $(date +%s%3N) < start_ms + ${FAULT_AFTER_S:-15} * 1000 )); do sleep 0.5; done
  uid=$(kubectl -n "$NS" get pod "$pod" -o jsonpath='{.metadata.uid}')
  deleted=$(date +%s%3N)
  log "fault $name: deleting pod $pod, $(( (deleted - start_ms) / 1000 )) s into the run"
  kubectl -n "$NS" delete pod "$pod" --wait=false >/dev/null
  case $name in
    taskmanager)
      # The JobManager notices the lost TaskManager, the Deployment starts another, the job restarts on it.
      local noticed=$((SECONDS + 120))
      while flink_tasks_running; do
        (( SECONDS < noticed )) || die "fault $name: the Flink job ran on as if nothing happened for 120 s"
        sleep 0.5
      done
      WAIT_INTERVAL=1 wait_for 600 "every task of the Flink job running again" flink_tasks_running ;;
    *)
      WAIT_INTERVAL=1 wait_for 600 "pod $pod recreated and Ready" pod_ready "$pod" "$uid" ;;
  esac
  recovered=$(date +%s%3N)
  printf '%s\t%s\t%s\t%s\n' "$name" "$pod" "$(( (deleted - start_ms) / 1000 ))" \
    "$(awk -v ms=$((recovered - deleted)) 'BEGIN { printf "%.1f", ms / 1000 }')" >>"$OUT/faults.tsv"
}

if [[ ${FAULTS:-0} == 1 ]]; then
  : >"$OUT/faults.tsv"
  # name | pod deleted | the run's Flink settings (exactly-once: results visible once, from checkpoints)
  for fault in "producer|$RELEASE-producer-0|" \
               "taskmanager|taskmanager|--delivery-guarantee exactly-once" \
               "kafka|$RELEASE-kafka-0|--delivery-guarantee exactly-once"; do
    IFS='|' read -r name pod flink_args <<<"$fault"
    log "fault run: $name"
    # shellcheck disable=SC2086  # flink_args is a list of options
    "$CTRBENCH" cluster start -n "$NS" --release "$RELEASE" --num-producers 2 --events-per-producer 15000 \
      --duration 30 --checkpoint-interval-ms "${FAULT_CHECKPOINT_MS:-2000}" $flink_args
    if [[ $pod == taskmanager ]]; then
      pod=$(kubectl -n "$NS" get pods -l ctrbench.io/flink-role=taskmanager -o jsonpath='{.items[0].metadata.name}')
    fi
    inject_fault "$name" "$pod" &
    fault_pid=$!
    check_run "fault-$name"
    wait "$fault_pid" || die "fault $name: injecting it failed (above)"
  done
  column -t "$OUT/faults.tsv" >&2
fi

if [[ ${SPARK_RUN:-0} == 1 ]]; then
  # A release of its own in a namespace of its own; the Flink release makes room first (a 2-core node holds one).
  SPARK_NS=${SPARK_NS:-$NS-spark}
  log "the chart with engine=spark in $SPARK_NS: the Spark operator, helm install, a run"
  helm uninstall "$RELEASE" -n "$NS" --wait >/dev/null
  if kubectl get namespace "$SPARK_NS" >/dev/null 2>&1; then
    kubectl delete namespace "$SPARK_NS" --wait=true --timeout=300s >/dev/null
  fi
  kubectl create namespace "$SPARK_NS" >/dev/null
  JOB_NAMESPACES=$SPARK_NS PROVIDER=$PROVIDER "$ROOT/k8s/install-spark-operator.sh"
  if [[ $PROVIDER == local ]]; then "$ROOT/k8s/docker.sh" stop; fi  # it built the controller's image
  helm install "$RELEASE" "$ROOT/helm" -n "$SPARK_NS" "${values[@]}" "${sets[@]}" --set engine=spark \
    --set run.numProducers=2 --set run.eventsPerProducer=10000 --set run.durationSeconds=20 >/dev/null
  check_run spark "$SPARK_NS"
  kubectl -n "$SPARK_NS" get sparkapplication -o wide | tee "$OUT/spark/sparkapplication.txt"
  kubectl -n "$SPARK_NS" get pods -o wide >"$OUT/spark/pods.txt"
fi
log "end-to-end run passed in $((SECONDS - started)) s; report in $OUT"

if [[ ${KEEP_CLUSTER:-1} == 0 ]]; then
  case $PROVIDER in
    local) "$ROOT/k8s/local/cluster.sh" down ;;
    kind) kind delete cluster --name "$CLUSTER" ;;
  esac
fi
