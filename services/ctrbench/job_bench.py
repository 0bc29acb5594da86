"""Job throughput benchmark, for each engine: how fast the CTR job drains a pre-filled ``events`` topic, against the
same aggregation over the engine's own generator source (Flink: ``datagen``; Spark: ``rate-micro-batch``), its
ceiling on this machine. The ratio says how much of the engine's speed the Kafka and JSON path leaves.

The topic is filled once (producer events with event times over the last ten minutes, and end-of-run markers) and
every engine and parallelism drains the same records. How each engine is timed is in its own module
(ctrbench.flink_job.bench, ctrbench.spark_job.bench).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field

from ctrbench import catalog
from ctrbench.embedded.kafka_broker import kafka_or_embedded
from ctrbench.kafka.topics import clear_topics
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.producer.runner import build_schedule, send_unpaced
from ctrbench.schema import NS_PER_MS, NS_PER_S
from ctrbench.settings import JobSettings, KafkaSettings, LoadSettings, load

__all__ = ["JobBenchResult", "run_job_benchmark"]

logger = logging.getLogger(__name__)

SPAN_S = 600  # event times of the pre-filled events spread over the last ten minutes
# What each engine's ceiling is, and how it is timed, for the report.
_CEILING = {"flink": "datagen", "spark": "rate-micro-batch"}
_TIMING = {"flink": "from RUNNING to FINISHED", "spark": "sum of its micro-batches (10 each)"}


@dataclass
class JobBenchResult:
    events: int
    # (engine, parallelism) -> (seconds from Kafka, seconds from the engine's generator)
    seconds: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)

    def rates(self, engine: str, parallelism: int) -> tuple[float, float]:
        """(events/s from Kafka, events/s from the generator)."""
        kafka_s, gen_s = self.seconds[(engine, parallelism)]
        return self.events / kafka_s, self.events / gen_s

    def render(self) -> str:
        lines = [f"machine: {os.cpu_count()} cores; {self.events:,} events"]
        for engine in dict.fromkeys(e for e, _p in self.seconds):
            lines.append(f"{engine} (timed {_TIMING[engine]}):")
            for (e, p) in sorted(k for k in self.seconds if k[0] == engine):
                kafka, gen = self.rates(e, p)
                lines.append(f"  parallelism {p}: from Kafka {kafka:>10,.0f} events/s   {_CEILING[e]} ceiling "
                             f"{gen:>10,.0f} events/s   ratio {kafka / gen:4.2f}")
        return "\n".join(lines)


def _prefill(kafka: KafkaSettings, n: int) -> tuple[int, int]:
    """Write ``n`` producer events with event times over the last ten minutes; returns (base, last)."""
    settings = load(LoadSettings, events_per_producer=n, duration_seconds=SPAN_S)
    cat = catalog.generate(settings.seed, settings.num_campaigns, settings.ads_per_campaign)
    start = time.time_ns() - SPAN_S * NS_PER_S
    base = start - start % (10 * NS_PER_S)
    events = build_schedule(settings, 0, cat, start, base, 10).events
    _acked, errors = send_unpaced(kafka, "throughput", events)
    if errors:
        raise RuntimeError(f"pre-fill: {errors} events were not acknowledged")
    return base, start + SPAN_S * NS_PER_S


def run_job_benchmark(events: int, parallelisms: list[int], bootstrap: str | None,
                      engines: list[str] | None = None) -> JobBenchResult:
    """Pre-fill once, then time each engine's job from Kafka and over its generator, at each parallelism."""
    out = JobBenchResult(events)
    with kafka_or_embedded(bootstrap) as kafka, tempfile.TemporaryDirectory(prefix="ctrbench-bench-") as scratch:
        clear_topics(kafka)
        logger.info("pre-filling %s with %d events", kafka.events_topic, events)
        base, last = _prefill(kafka, events)
        base_job = load(JobSettings, base_time_ns=base)
        send_end_of_run(kafka, base, last, base_job.window_seconds, base_job.watermark_delay_ms)
        for engine in engines or ["flink"]:
            for p in parallelisms:
                job = base_job.model_copy(update={"parallelism": p,
                                                  "consumer_group": f"ctr-bench-{p}-{time.time_ns()}"})
                if engine == "flink":
                    from ctrbench.flink_job.bench import drain_seconds as flink_drain

                    out.seconds[(engine, p)] = flink_drain(kafka, job, events, SPAN_S, base // NS_PER_MS)
                else:
                    from ctrbench.spark_job.bench import drain_seconds as spark_drain

                    out.seconds[(engine, p)] = spark_drain(kafka, job, events, base // NS_PER_MS,
                                                           f"{scratch}/spark-p{p}", SPAN_S)
    return out
