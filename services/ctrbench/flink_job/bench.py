"""Job throughput benchmark on Flink: how fast the CTR job drains a pre-filled ``events`` topic, against the same
query over Flink's ``datagen`` source (the engine's ceiling here).

Both jobs are bounded (Kafka: ``scan.bounded.mode = latest-offset``; datagen: ``number-of-rows``), so each is
timed from RUNNING to FINISHED, startup excluded, and the ratio compares like with like. The pre-fill and the
report are ctrbench.job_bench's, shared with the Spark job's benchmark.
"""

from __future__ import annotations

import logging
import time

from ctrbench.flink_job.job import connector_jars, create_table_env, wait_running
from ctrbench.flink_job.sql import counted_view_ddl, ctr_insert, datagen_source_ddl, events_source_ddl, results_sink_ddl
from ctrbench.settings import JobSettings, KafkaSettings

__all__ = ["drain_seconds"]

logger = logging.getLogger(__name__)


def _timed(env, insert: str) -> float:  # type: ignore[no-untyped-def]
    result = env.execute_sql(insert)
    wait_running(result)
    t0 = time.monotonic()
    result.wait()
    return time.monotonic() - t0


def drain_seconds(kafka: KafkaSettings, job: JobSettings, rows: int, span_s: int, base_ms: int) -> tuple[float, float]:
    """(seconds to drain the pre-filled topic, seconds for ``rows`` rows from datagen), RUNNING to FINISHED."""
    jars = connector_jars(job)
    env = create_table_env(job, jars)
    env.execute_sql(events_source_ddl(kafka, job, bounded=True))
    env.execute_sql(counted_view_ddl(job))
    env.execute_sql(results_sink_ddl(kafka, job))
    kafka_s = _timed(env, ctr_insert(job))
    logger.info("parallelism %d from Kafka: %.2f s", job.parallelism, kafka_s)

    env = create_table_env(job, jars)
    env.execute_sql(datagen_source_ddl(job, rows, span_s, base_ms))
    env.execute_sql(results_sink_ddl(kafka, job))
    gen_s = _timed(env, ctr_insert(job))
    logger.info("parallelism %d datagen: %.2f s", job.parallelism, gen_s)
    return kafka_s, gen_s
