# shellcheck shell=bash
# Shared helpers for the k8s scripts. Source it; every wait has a timeout and says what it waited for.
set -euo pipefail

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() {
  for cmd in "$@"; do command -v "$cmd" >/dev/null || die "$cmd is required on PATH"; done
}

# wait_for <seconds> <description> <command...>: retry the command until it succeeds.
wait_for() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || die "timed out after ${timeout}s waiting for ${what}"
    sleep 5
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
