#!/usr/bin/env bash
# Entrypoint of the Spark stand-in, to the official image's contract. Spark on Kubernetes starts its pods with
# these arguments and environment:
#   driver <spark-submit arguments>   the driver pod: spark-submit in client mode inside the pod, bound to the
#                                     pod's address (SPARK_DRIVER_BIND_ADDRESS)
#   executor                          an executor pod: the executor backend, told where the driver is and who
#                                     it is by SPARK_DRIVER_URL, SPARK_EXECUTOR_ID, SPARK_EXECUTOR_CORES,
#                                     SPARK_EXECUTOR_MEMORY, SPARK_APPLICATION_ID, SPARK_EXECUTOR_POD_IP,
#                                     SPARK_RESOURCE_PROFILE_ID, SPARK_EXECUTOR_POD_NAME; JVM options come as
#                                     SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ... in that order
# Anything else is run as given (the Spark operator's image runs its controller this way).
set -euo pipefail

# Spark's classpath: its own jars, and what a user adds with SPARK_CLASSPATH / SPARK_EXTRA_CLASSPATH.
classpath="$SPARK_HOME/jars/*"
[[ -n ${SPARK_EXTRA_CLASSPATH:-} ]] && classpath="$classpath:$SPARK_EXTRA_CLASSPATH"
[[ -n ${SPARK_CLASSPATH:-} ]] && classpath="$classpath:$SPARK_CLASSPATH"

case ${1:-} in
  driver)
    shift
    exec tini -s -- "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:?Spark sets it on the driver pod}" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=${SPARK_DRIVER_BIND_ADDRESS}" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift
    java_opts=()
    for i in $(env | sed -n 's/^SPARK_JAVA_OPT_\([0-9]*\)=.*/\1/p' | sort -n); do
      var="SPARK_JAVA_OPT_$i"
      java_opts+=("${!var}")
    done
    exec tini -s -- "${JAVA_HOME}/bin/java" "${java_opts[@]}" \
      -Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" -cp "$classpath" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" --cores "$SPARK_EXECUTOR_CORES" \
      --app-id "$SPARK_APPLICATION_ID" --hostname "$SPARK_EXECUTOR_POD_IP" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" --podName "${SPARK_EXECUTOR_POD_NAME:-}"
    ;;
  *)
    exec "$@"
    ;;
esac
