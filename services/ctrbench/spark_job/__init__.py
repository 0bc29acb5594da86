"""The CTR job on Spark Structured Streaming (``--impl spark``): same topics, rule and results as the Flink job."""
