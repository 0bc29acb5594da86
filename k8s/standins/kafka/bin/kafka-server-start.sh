#!/usr/bin/env bash
# kafka-server-start.sh of the kafka stand-in: the broker (kafka.Kafka) in the foreground.
# Defaults as in Kafka's script: KAFKA_HEAP_OPTS=-Xmx1G -Xms1G, KAFKA_LOG4J_OPTS=config/log4j2.yaml.
# Usage: kafka-server-start.sh server.properties [--override property=value]...
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 server.properties [--override property=value]..." >&2; exit 1; }
base_dir=$(cd "$(dirname "$0")/.." && pwd)
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/config/log4j2.yaml}
exec "$base_dir/bin/kafka-run-class.sh" -name kafkaServer -loggc kafka.Kafka "$@"
