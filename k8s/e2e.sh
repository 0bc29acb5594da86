#!/usr/bin/env bash
# End-to-end on kind: build both images, load them, install the chart, wait for the report Job.
# Needs docker, kind, kubectl and helm (a CI runner, not this project's sandbox).
#   k8s/e2e.sh            # create the cluster, run, keep the cluster
#   KEEP_CLUSTER=0 k8s/e2e.sh
source "$(dirname "$0")/lib.sh"
need docker kind kubectl helm
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER=${CLUSTER:-ctr}
NS=${NS:-ctr}
TAG=${TAG:-e2e}

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --config "$ROOT/k8s/kind-cluster.yaml" --name "$CLUSTER"
"$ROOT/k8s/install-operators.sh"

log "building images"
docker build -f "$ROOT/Dockerfile.producer" -t "ctrbench/producer:$TAG" "$ROOT"
docker build -f "$ROOT/Dockerfile.flink" -t "ctrbench/flink:$TAG" "$ROOT"
kind load docker-image --name "$CLUSTER" "ctrbench/producer:$TAG" "ctrbench/flink:$TAG"

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
# The operator's RBAC for Flink pods lives in the namespaces it watches; create the account here.
kubectl -n "$NS" create serviceaccount flink --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" create rolebinding flink-edit --clusterrole=edit --serviceaccount="$NS:flink" \
  --dry-run=client -o yaml | kubectl apply -f -

helm upgrade --install ctr "$ROOT/helm" -n "$NS" \
  --set image.producer.tag="$TAG" --set image.flink.tag="$TAG" \
  --set run.eventsPerProducer=30000 --set run.durationSeconds=30

wait_for_rollout "$NS" statefulset/ctr-kafka 300
wait_for_rollout "$NS" statefulset/ctr-postgresql 300
wait_for_job "$NS" ctr-setup 300
wait_for_flink_job "$NS" ctr-flink 600
wait_for_job "$NS" ctr-latency 1200
kubectl -n "$NS" logs job/ctr-latency | tail -20

if [[ ${KEEP_CLUSTER:-1} == 0 ]]; then kind delete cluster --name "$CLUSTER"; fi
