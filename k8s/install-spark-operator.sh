#!/usr/bin/env bash
# Installs the Kubeflow Spark Operator (v2), which runs the chart's SparkApplication when engine=spark, from the
# operator's Go module (the Go module proxy serves it; its Helm chart and CRDs are inside). Its admission webhook is
# left out: the chart puts everything Spark's pods need into pod templates.
#
#   PROVIDER=local k8s/install-spark-operator.sh   this machine's cluster: the controller image is a stand-in
#                                                  (k8s/standins/spark-operator, built on the Spark stand-in with
#                                                  the controller compiled from the module), loaded into the node
#   PROVIDER=kind  k8s/install-spark-operator.sh   any cluster that can pull ghcr.io: the official image
#
# Environment: SPARK_OPERATOR_NS (spark-operator), JOB_NAMESPACES (comma-separated namespaces whose
# SparkApplications it runs; default ctr; they must exist), SPARK_OPERATOR_VERSION (v2.4.0).
source "$(dirname "$0")/lib.sh"
K8S=$(cd "$(dirname "$0")" && pwd)
PROVIDER=${PROVIDER:-local}
OPERATOR_NS=${SPARK_OPERATOR_NS:-spark-operator}
JOB_NAMESPACES=${JOB_NAMESPACES:-ctr}
need helm kubectl

module=$(spark_operator_module) || die "could not download github.com/kubeflow/spark-operator/v2@$SPARK_OPERATOR_VERSION"
chart=$module/charts/spark-operator-chart
[[ -d $chart ]] || die "no chart at $chart"
values=(--set webhook.enable=false --set "spark.jobNamespaces={$JOB_NAMESPACES}"
        # the chart's SparkApplication brings its own service account and role
        --set spark.serviceAccount.create=false --set spark.rbac.create=false
        # one controller on a small node: no leader election, few workers, a small request
        --set controller.replicas=1 --set controller.leaderElection.enable=false --set controller.workers=2
        --set controller.resources.requests.cpu=50m --set controller.resources.requests.memory=128Mi)
case $PROVIDER in
  local)
    # shellcheck source=standins/images.sh
    source "$K8S/standins/images.sh"
    image=${STANDIN_TAG[spark-operator]}
    "$K8S/standins/build.sh" spark-operator
    "$K8S/local/cluster.sh" load "$image"
    values+=(--set image.registry=docker.io --set "image.repository=${image%:*}" --set "image.tag=${image##*:}"
             --set image.pullPolicy=Never)
    ;;
  kind) ;;
  *) die "PROVIDER=$PROVIDER: use local or kind" ;;
esac
log "Spark operator ${SPARK_OPERATOR_VERSION#v} into $OPERATOR_NS (jobs in $JOB_NAMESPACES)"
helm upgrade --install spark-operator "$chart" -n "$OPERATOR_NS" --create-namespace --wait --timeout 5m \
  "${values[@]}" >/dev/null
kubectl wait --for=condition=Established crd/sparkapplications.sparkoperator.k8s.io --timeout=60s >/dev/null
log "Spark operator ready"
