#!/usr/bin/env bash
# kafka-run-class.sh of the kafka stand-in (written for ctrbench; the distribution's scripts are not on
# Maven Central). Runs CLASS with every jar of /opt/kafka/libs on the classpath and honours the variables
# of Kafka's own script: JAVA_HOME, KAFKA_HEAP_OPTS (default -Xmx256M), KAFKA_JVM_PERFORMANCE_OPTS,
# KAFKA_GC_LOG_OPTS, KAFKA_JMX_OPTS and JMX_PORT, KAFKA_LOG4J_OPTS (default: config/tools-log4j2.yaml),
# KAFKA_OPTS, LOG_DIR, CLASSPATH, KAFKA_DEBUG. Usage: kafka-run-class.sh [-name NAME] [-loggc] CLASS [ARGS...]
set -euo pipefail

base_dir=$(cd "$(dirname "$0")/.." && pwd)
while [[ $# -gt 0 ]]; do
  case $1 in
    -name) shift 2 ;;         # names the daemon's log files in Kafka's script; nothing to name here
    -loggc) shift ;;          # GC logging only through KAFKA_GC_LOG_OPTS
    -daemon) echo "kafka-run-class.sh: -daemon is not supported in this image" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { echo "usage: $0 [-name NAME] [-loggc] CLASS [ARGS...]" >&2; exit 2; }

LOG_DIR=${LOG_DIR:-$base_dir/logs}
mkdir -p "$LOG_DIR" 2>/dev/null || true
classpath="$base_dir/libs/*${CLASSPATH:+:$CLASSPATH}"

heap_opts=${KAFKA_HEAP_OPTS:--Xmx256M}
performance_opts=${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}
jmx_opts=${KAFKA_JMX_OPTS:--Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false}
if [[ -n ${JMX_PORT:-} ]]; then
  jmx_opts+=" -Dcom.sun.management.jmxremote.port=$JMX_PORT"
  [[ -n ${KAFKA_JMX_OPTS:-} && $KAFKA_JMX_OPTS == *rmi.port* ]] || jmx_opts+=" -Dcom.sun.management.jmxremote.rmi.port=$JMX_PORT"
fi
log4j_opts=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/config/tools-log4j2.yaml}
debug_opts=
if [[ -n ${KAFKA_DEBUG:-} ]]; then
  debug_opts="-agentlib:jdwp=transport=dt_socket,server=y,suspend=${DEBUG_SUSPEND_FLAG:-n},address=${JAVA_DEBUG_PORT:-5005}"
fi
java=java
[[ -n ${JAVA_HOME:-} ]] && java=$JAVA_HOME/bin/java

# The option strings are word-split on purpose, as Kafka's script does.
# shellcheck disable=SC2086
exec "$java" $heap_opts $performance_opts ${KAFKA_GC_LOG_OPTS:-} $jmx_opts $debug_opts \
  -Dkafka.logs.dir="$LOG_DIR" $log4j_opts ${KAFKA_OPTS:-} \
  -cp "$classpath" "$@"
