# shellcheck shell=bash
# Shared helpers for the k8s scripts. Source it; every wait has a timeout and says what it waited for.
set -euo pipefail

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() {
  for cmd in "$@"; do command -v "$cmd" >/dev/null || die "$cmd is required on PATH"; done
}

# wait_for <seconds> <description> <command...>: retry the command (every WAIT_INTERVAL s, default 5) until it
# succeeds.
wait_for() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || die "timed out after ${timeout}s waiting for ${what}"
    sleep "${WAIT_INTERVAL:-5}"
  done
  log "ready: ${what}"
}

# wait_for_rollout <namespace> <kind/name> <seconds>
wait_for_rollout() {
  kubectl -n "$1" rollout status "$2" --timeout="${3}s" || die "$2 did not become ready"
}

# wait_for_job <namespace> <job> <seconds>: succeed when complete, fail fast when failed.
wait_for_job() {
  local ns=$1 job=$2 timeout=$3 deadline=$((SECONDS + $3))
  while (( SECONDS < deadline )); do
    if kubectl -n "$ns" get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}' | grep -q True; then
      log "job $job complete"; return 0
    fi
    if kubectl -n "$ns" get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}' | grep -q True; then
      kubectl -n "$ns" logs "job/$job" --tail=50 || true
      die "job $job failed"
    fi
    sleep 10
  done
  die "job $job not complete after ${timeout}s"
}

# wait_for_flink_job <namespace> <flinkdeployment> <seconds>: the job state reported by the operator.
wait_for_flink_job() {
  wait_for "$3" "FlinkDeployment $2 RUNNING" \
    bash -c "kubectl -n '$1' get flinkdeployment '$2' -o jsonpath='{.status.jobStatus.state}' | grep -q RUNNING"
}

# duration <seconds>: "42s" or "3m07s".
duration() {
  if (( $1 >= 60 )); then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi
}

# pid_alive <pid>: the process exists and is not a zombie (one that its parent has not reaped yet).
pid_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# stop_pid <pid> <name> <seconds>: SIGTERM, then SIGKILL when still alive after that many seconds.
stop_pid() {
  local pid=$1 name=$2 timeout=$3
  pid_alive "$pid" || return 0
  kill "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + timeout))
  while pid_alive "$pid"; do
    if (( SECONDS >= deadline )); then
      log "$name ($pid) ignored SIGTERM for ${timeout}s: killing it"
      kill -9 "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.2
  done
  log "stopped $name ($pid)"
}

# The Kubeflow Spark Operator (engine=spark): its Go module holds the controller's source, its Helm chart and CRDs.
SPARK_OPERATOR_VERSION=${SPARK_OPERATOR_VERSION:-v2.4.0}

# spark_operator_module: download the operator's module into the Go module cache (once); prints its directory.
spark_operator_module() {
  local out
  need go
  out=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/kubeflow/spark-operator/v2@$SPARK_OPERATOR_VERSION") \
    || return 1
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$out"
}
