"""Job throughput benchmark on Spark: how fast the CTR job drains a pre-filled ``events`` topic, against the same
aggregation over Spark's own ``rate-micro-batch`` source (the engine's ceiling here), as ctrbench.flink_job.bench
does for Flink with ``datagen`` (ctrbench.job_bench runs both).

Both queries read the same number of rows in the same number of micro-batches (Kafka: ``availableNow`` with
``maxOffsetsPerTrigger``; the generator: ``rowsPerBatch``) and are timed by the sum of their micro-batches'
durations as Spark's progress reports them, so query start-up is left out on both sides and the ratio compares
like with like. Each source is timed in a fresh process of its own (ctrbench.job_bench).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ctrbench.settings import JobSettings, KafkaSettings
from ctrbench.spark_job.job import create_session, stop_session
from ctrbench.spark_job.queries import counted_events, events, results_output

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["source_seconds"]

logger = logging.getLogger(__name__)

_BATCHES = 10


def _generated(spark: SparkSession, rows: int, span_s: int, base_ms: int) -> DataFrame:
    """Rows shaped as the job's events, from ``rate-micro-batch``: event times advance evenly over the span, the
    event-type mix and the campaigns match the producers' (as the Flink benchmark's datagen table does)."""
    per_batch = -(-rows // _BATCHES)
    raw = (spark.readStream.format("rate-micro-batch")
           .option("rowsPerBatch", per_batch)
           .option("numPartitions", 3)
           .option("startTimestamp", base_ms)
           .option("advanceMillisPerBatch", span_s * 1000 // _BATCHES)
           .load())
    return raw.selectExpr(
        "CAST(NULL AS STRING) AS ad_id",
        "CAST(value % 10 + 1 AS INT) AS campaign",
        "CASE WHEN value * 7919 % 100 < 86 THEN 'view' WHEN value * 7919 % 100 < 97 THEN 'click' "
        "ELSE 'purchase' END AS event_type",
        "timestamp AS event_time",
        "timestamp",
        "CAST(NULL AS STRING) AS reason",
    )


def _start(output: DataFrame, kafka: KafkaSettings, checkpoint: str, available_now: bool) -> Any:
    writer = (output.writeStream.format("kafka").option("kafka.bootstrap.servers", kafka.kafka_bootstrap_servers)
              .option("topic", kafka.results_topic).option("checkpointLocation", checkpoint).outputMode("append"))
    return (writer.trigger(availableNow=True) if available_now else writer).start()


def _timed(query: Any, rows: int, ends_by_itself: bool, timeout: float = 1800) -> float:
    """Sum of the durations (s) of the query's micro-batches that read data: until it ends by itself (a Kafka
    query with availableNow, after its last batch), or else until it has read ``rows`` rows, when it is stopped."""
    seen: dict[int, tuple[int, int]] = {}  # batch id -> (rows, ms)
    deadline = time.monotonic() + timeout
    try:
        while True:
            for progress in query.recentProgress:
                if progress.numInputRows:
                    seen[progress.batchId] = (progress.numInputRows, progress.batchDuration)
            if query.exception() is not None:
                raise RuntimeError(f"benchmark query failed: {str(query.exception()).splitlines()[0]}")
            if not query.isActive:
                break
            if sum(r for r, _ms in seen.values()) >= rows and not ends_by_itself:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"benchmark query read {sum(r for r, _ in seen.values())} of {rows} rows "
                                   f"in {timeout:.0f} s")
            time.sleep(0.2)
    finally:
        query.stop()
    read = sum(r for r, _ms in seen.values())
    if read < rows:
        raise RuntimeError(f"benchmark query read {read} of {rows} rows")
    return sum(ms for _r, ms in seen.values()) / 1000


def source_seconds(kafka: KafkaSettings, job: JobSettings, source: str, rows: int, base_ms: int, checkpoints: str,
                   span_s: int, warm_up: bool) -> float:
    """Seconds in micro-batches for the CTR job's aggregation over ``source``, ten micro-batches writing results to
    Kafka: "kafka" (drain ``rows`` pre-filled events) or "generator" (as many rows from ``rate-micro-batch``).
    With ``warm_up`` the same query first runs once untimed, so the timed run sees code the JIT has compiled.
    """
    per_batch = -(-rows // _BATCHES)
    spark = create_session(job)
    try:
        def timed(run: str) -> float:
            if source == "kafka":
                counted = counted_events(events(spark, kafka, job, max_offsets_per_trigger=per_batch), job)
            else:
                counted = counted_events(_generated(spark, rows, span_s, base_ms), job)
            query = _start(results_output(counted, job), kafka, f"{checkpoints}/{source}-p{job.parallelism}-{run}",
                           available_now=source == "kafka")
            return _timed(query, rows, ends_by_itself=source == "kafka")

        if warm_up:
            logger.info("parallelism %d %s: warm-up run, not counted: %.2f s in micro-batches", job.parallelism,
                        source, timed("warm-up"))
        seconds = timed("timed")
        logger.info("parallelism %d %s: %.2f s in micro-batches", job.parallelism, source, seconds)
        return seconds
    finally:
        stop_session(spark)
