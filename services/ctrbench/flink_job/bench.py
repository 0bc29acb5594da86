"""Job throughput benchmark: how fast the CTR job drains a pre-filled ``events`` topic, at each
parallelism, against the same query over Flink's ``datagen`` source (the engine's ceiling here).

Both jobs are bounded (Kafka: ``scan.bounded.mode = latest-offset``; datagen: ``number-of-rows``),
so each is timed from RUNNING to FINISHED, startup excluded, and the ratio compares like with like.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from ctrbench import catalog
from ctrbench.embedded.kafka_broker import kafka_or_embedded
from ctrbench.flink_job.job import connector_jars, create_table_env, wait_running
from ctrbench.flink_job.sql import counted_view_ddl, ctr_insert, datagen_source_ddl, events_source_ddl, results_sink_ddl
from ctrbench.kafka.topics import clear_topics
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.producer.runner import build_schedule, send_unpaced
from ctrbench.schema import NS_PER_S
from ctrbench.settings import JobSettings, KafkaSettings, LoadSettings, load

__all__ = ["JobBenchResult", "run_job_benchmark"]

logger = logging.getLogger(__name__)

_SPAN_S = 600  # event times of the pre-filled events spread over the last ten minutes


@dataclass
class JobBenchResult:
    events: int
    kafka_seconds: dict[int, float] = field(default_factory=dict)
    datagen_seconds: dict[int, float] = field(default_factory=dict)

    def render(self) -> str:
        lines = [f"machine: {os.cpu_count()} cores; {self.events:,} events; timed from RUNNING to FINISHED"]
        for p in sorted(self.kafka_seconds):
            kafka = self.events / self.kafka_seconds[p]
            gen = self.events / self.datagen_seconds[p]
            lines.append(f"parallelism {p}: from Kafka {kafka:>10,.0f} events/s   "
                         f"datagen ceiling {gen:>10,.0f} events/s   ratio {kafka / gen:4.2f}")
        return "\n".join(lines)


def _prefill(kafka: KafkaSettings, n: int) -> tuple[int, int]:
    """Write ``n`` producer events with event times over the last ten minutes; returns (base, last)."""
    settings = load(LoadSettings, events_per_producer=n, duration_seconds=_SPAN_S)
    cat = catalog.generate(settings.seed, settings.num_campaigns, settings.ads_per_campaign)
    start = time.time_ns() - _SPAN_S * NS_PER_S
    base = start - start % (10 * NS_PER_S)
    events = build_schedule(settings, 0, cat, start, base, 10).events
    _acked, errors = send_unpaced(kafka, "throughput", events)
    if errors:
        raise RuntimeError(f"pre-fill: {errors} events were not acknowledged")
    return base, start + _SPAN_S * NS_PER_S


def _timed(env, insert: str) -> float:  # type: ignore[no-untyped-def]
    result = env.execute_sql(insert)
    wait_running(result)
    t0 = time.monotonic()
    result.wait()
    return time.monotonic() - t0


def run_job_benchmark(events: int, parallelisms: list[int], bootstrap: str | None) -> JobBenchResult:
    """Pre-fill once, then time the Kafka job and the datagen job at each parallelism."""
    out = JobBenchResult(events)
    with kafka_or_embedded(bootstrap) as kafka:
        clear_topics(kafka)
        logger.info("pre-filling %s with %d events", kafka.events_topic, events)
        base, last = _prefill(kafka, events)
        base_job = load(JobSettings, base_time_ns=base)
        send_end_of_run(kafka, base, last, base_job.window_seconds, base_job.watermark_delay_ms)
        jars = connector_jars(base_job)
        for p in parallelisms:
            job = base_job.model_copy(update={"parallelism": p, "consumer_group": f"ctr-bench-{p}-{time.time_ns()}"})
            env = create_table_env(job, jars)
            env.execute_sql(events_source_ddl(kafka, job, bounded=True))
            env.execute_sql(counted_view_ddl(job))
            env.execute_sql(results_sink_ddl(kafka, job))
            out.kafka_seconds[p] = _timed(env, ctr_insert(job))
            logger.info("parallelism %d from Kafka: %.2f s", p, out.kafka_seconds[p])

            env = create_table_env(job, jars)
            env.execute_sql(datagen_source_ddl(job, events, _SPAN_S, base // 1_000_000))
            env.execute_sql(results_sink_ddl(kafka, job))
            out.datagen_seconds[p] = _timed(env, ctr_insert(job))
            logger.info("parallelism %d datagen: %.2f s", p, out.datagen_seconds[p])
    return out
