"""Job throughput benchmark, for each engine: how fast the CTR job drains a pre-filled ``events`` topic, against the
same aggregation over the engine's own generator source (Flink: ``datagen``; Spark: ``rate-micro-batch``), its
ceiling on this machine. The ratio says how much of the engine's speed the Kafka and JSON path leaves.

The topic is filled once (producer events with event times over the last ten minutes, and end-of-run markers) and
every engine and parallelism drains the same records. Each source is timed in a fresh process of its own (its own
JVM: a TaskManager runs one job, and in a shared JVM whichever job runs later meets code the JIT compiled for the
other), after an untimed warm-up run of the same job unless told otherwise. How each engine is timed is in its own
module (ctrbench.flink_job.bench, ctrbench.spark_job.bench).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from ctrbench import catalog
from ctrbench.embedded.kafka_broker import kafka_or_embedded
from ctrbench.kafka.topics import clear_topics
from ctrbench.logs import setup_logging
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
    warm_up: bool = True
    # (engine, parallelism) -> (seconds from Kafka, seconds from the engine's generator)
    seconds: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)

    def rates(self, engine: str, parallelism: int) -> tuple[float, float]:
        """(events/s from Kafka, events/s from the generator)."""
        kafka_s, gen_s = self.seconds[(engine, parallelism)]
        return self.events / kafka_s, self.events / gen_s

    def render(self) -> str:
        warm = "each job timed after an untimed warm-up run" if self.warm_up else "cold: no warm-up run"
        lines = [f"machine: {os.cpu_count()} cores; {self.events:,} events; {warm}"]
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


def _source_seconds(engine: str, source: str, kafka: KafkaSettings, job: JobSettings, events: int, base_ms: int,
                    scratch: str, warm_up: bool, verbose: bool) -> float:
    """One engine's seconds over one source (``kafka`` or ``generator``); runs in a fresh process. ``scratch`` holds
    Spark's checkpoints (one directory per source, parallelism and run)."""
    if not logging.getLogger("ctrbench").handlers:  # a spawned process: log as the command does
        setup_logging(verbose)
    if engine == "flink":
        from ctrbench.flink_job.bench import source_seconds as flink_seconds

        return flink_seconds(kafka, job, source, events, SPAN_S, base_ms, warm_up)
    from ctrbench.spark_job.bench import source_seconds as spark_seconds

    return spark_seconds(kafka, job, source, events, base_ms, scratch, SPAN_S, warm_up)


def run_job_benchmark(events: int, parallelisms: list[int], bootstrap: str | None,
                      engines: list[str] | None = None, warm_up: bool = True) -> JobBenchResult:
    """Pre-fill once, then time each engine's job from Kafka and over its generator, at each parallelism, each in a
    fresh process (see the module's docstring); with ``warm_up``, after an untimed run of the same job."""
    out = JobBenchResult(events, warm_up)
    spawn = multiprocessing.get_context("spawn")
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
                seconds = []
                for source in ("kafka", "generator"):
                    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                        seconds.append(pool.submit(
                            _source_seconds, engine, source, kafka, job, events, base // NS_PER_MS,
                            scratch, warm_up, logger.isEnabledFor(logging.DEBUG)).result())
                out.seconds[(engine, p)] = (seconds[0], seconds[1])
    return out
