#!/usr/bin/env bash
# Install what the `ctr` chart expects in the cluster: cert-manager (the Flink operator's webhook
# needs it) and the Flink Kubernetes Operator 1.15. Optional: kube-prometheus-stack for Grafana.
#   k8s/install-operators.sh [--with-monitoring]
source "$(dirname "$0")/lib.sh"
need kubectl helm

CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.16.2}
FLINK_OPERATOR_VERSION=${FLINK_OPERATOR_VERSION:-1.15.0}

log "cert-manager ${CERT_MANAGER_VERSION}"
kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/${CERT_MANAGER_VERSION}/cert-manager.yaml"
wait_for_rollout cert-manager deployment/cert-manager-webhook 300

log "Flink Kubernetes Operator ${FLINK_OPERATOR_VERSION}"
helm repo add flink-operator-repo \
  "https://downloads.apache.org/flink/flink-kubernetes-operator-${FLINK_OPERATOR_VERSION}/" --force-update
helm upgrade --install flink-kubernetes-operator flink-operator-repo/flink-kubernetes-operator \
  --namespace flink-operator --create-namespace --version "${FLINK_OPERATOR_VERSION}" \
  --set watchNamespaces=null --wait --timeout 10m

if [[ ${1:-} == --with-monitoring ]]; then
  log "kube-prometheus-stack (Grafana sidecar picks up the ctr dashboard)"
  helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
  helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
    --namespace monitoring --create-namespace --wait --timeout 15m \
    --set prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues=false
fi
log "operators installed"
