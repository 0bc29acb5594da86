"""Job throughput benchmark on Flink: how fast the CTR job drains a pre-filled ``events`` topic, against the same
query over Flink's ``datagen`` source (the engine's ceiling here).

Both jobs are bounded (Kafka: ``scan.bounded.mode = latest-offset``; datagen: ``number-of-rows``), so each is
timed from RUNNING to FINISHED, startup excluded, and the ratio compares like with like. The pre-fill, the report
and the fresh process (its own JVM) each source is timed in are ctrbench.job_bench's, shared with the Spark job's
benchmark.
"""

from __future__ import annotations

import logging
import time

from ctrbench.flink_job.job import connector_jars, create_table_env, wait_running
from ctrbench.flink_job.sql import counted_view_ddl, ctr_insert, datagen_source_ddl, events_source_ddl, results_sink_ddl
from ctrbench.settings import JobSettings, KafkaSettings

__all__ = ["source_seconds"]

logger = logging.getLogger(__name__)


def _timed(env, insert: str) -> float:  # type: ignore[no-untyped-def]
    result = env.execute_sql(insert)
    wait_running(result)
    t0 = time.monotonic()
    result.wait()
    return time.monotonic() - t0


def source_seconds(kafka: KafkaSettings, job: JobSettings, source: str, rows: int, span_s: int, base_ms: int,
                   warm_up: bool) -> float:
    """Seconds, RUNNING to FINISHED, for the CTR query over ``source``: "kafka" (drain the pre-filled topic) or
    "generator" (``rows`` rows from datagen). With ``warm_up`` the same job first runs once untimed, so the timed
    run sees code the JIT has compiled, as a long-running job does.
    """
    jars = connector_jars(job)

    def environment():  # type: ignore[no-untyped-def]
        env = create_table_env(job, jars)
        if source == "kafka":
            env.execute_sql(events_source_ddl(kafka, job, bounded=True))
            env.execute_sql(counted_view_ddl(job))
        else:
            env.execute_sql(datagen_source_ddl(job, rows, span_s, base_ms))
        env.execute_sql(results_sink_ddl(kafka, job))
        return env

    if warm_up:
        logger.info("parallelism %d %s: warm-up run, not counted: %.2f s", job.parallelism, source,
                    _timed(environment(), ctr_insert(job)))
    seconds = _timed(environment(), ctr_insert(job))
    logger.info("parallelism %d %s: %.2f s", job.parallelism, source, seconds)
    return seconds
