"""The live latency monitor: latency of each result as it lands, and the job's backlog, on /metrics."""
