#!/usr/bin/env bash
# The operator's controller under tini (it reaps the spark-submit processes it starts), with the chart's arguments.
set -euo pipefail
exec tini -s -- /usr/bin/spark-operator "$@"
