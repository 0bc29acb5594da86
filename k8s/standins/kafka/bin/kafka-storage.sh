#!/usr/bin/env bash
# kafka-storage.sh of the kafka stand-in: kafka.tools.StorageTool (format, info, random-uuid, ...).
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
