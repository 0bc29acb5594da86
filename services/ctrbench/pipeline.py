"""One benchmark run, end to end: stack, topics, mapping, job, producers, end-of-run, report.

Every stage is a real component: the embedded stack is a real Kafka broker and a real PostgreSQL
server, the job runs in Flink's local mini-cluster, and each producer is its own OS process
started with the same ``ctrbench produce`` command a Kubernetes pod runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from ctrbench import catalog, preflight
from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.topics import clear_topics
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.schema import NS_PER_S
from ctrbench.settings import (
    JobSettings,
    KafkaSettings,
    LatencySettings,
    LoadSettings,
    MonitorSettings,
    PostgresSettings,
    load,
)

__all__ = ["Impl", "RunResult", "RunSettings", "embedded_stack", "run", "run_base_time_ns", "settings_env"]

logger = logging.getLogger(__name__)

Impl = Literal["flink", "spark", "none"]
# Producers need a moment to start (imports, catalog read, schedule) before their first event;
# on a loaded 2-core machine that can take a few seconds, and a late start shows as schedule lag.
_PRODUCER_START_DELAY_S = 5.0


def schedule_build_seconds(load: LoadSettings, cat: catalog.AdCatalog, cpus: int | None = None) -> float:
    """How long the producers will take to build their schedules before the first event, measured here.

    A producer encodes its whole schedule before it starts (about 2 µs per event on this project's 2-core
    machine, and producers share the cores): 18 million events took 38 s. Started on a fixed 5 s delay,
    such a producer began 33 s behind schedule and sent those events in a burst. So the run's start
    leaves room for it: samples are built here and scaled to the schedule and to the producers per core,
    with a 2.5x margin (alone here a sample builds at about 1.1 µs per event; two producers beside the
    broker and the job took 2.1 µs, and a margin only delays the start).
    """
    from ctrbench.producer.runner import build_schedule

    def seconds(events: int) -> float:
        probe = load.model_copy(update={"events_per_producer": events, "duration_seconds":
                                        load.duration_seconds * events / load.events_per_producer})
        now = time.time_ns()
        started = time.perf_counter()
        build_schedule(probe, 0, cat, now, now - now % NS_PER_S, 1)
        return time.perf_counter() - started

    if load.events_per_producer <= 100_000:
        return 2.5 * seconds(load.events_per_producer)
    # The slope between two sizes: a small schedule's fixed costs would overstate a large one.
    per_event = max(seconds(100_000) - seconds(25_000), 1e-3) / 75_000
    per_core = -(-load.num_producers // (cpus or len(os.sched_getaffinity(0))))
    return 2.5 * per_event * load.events_per_producer * per_core


def run_base_time_ns(window_seconds: int, now_ns: int) -> int:
    """The run's base time: the first window boundary at least the producers' start delay from now.

    Chosen before the job is submitted (the job derives its result window ids from it), and the
    producers start on it when the job is ready in time, so window 0 is a whole window.
    """
    window_ns = window_seconds * NS_PER_S
    earliest = now_ns + int(_PRODUCER_START_DELAY_S * NS_PER_S)
    return -(-earliest // window_ns) * window_ns


@dataclass(frozen=True)
class RunSettings:
    """All settings of a run, one object per service."""

    kafka: KafkaSettings
    postgres: PostgresSettings
    load: LoadSettings
    job: JobSettings
    latency: LatencySettings
    monitor: MonitorSettings = field(default_factory=lambda: load(MonitorSettings))


@dataclass
class RunResult:
    """What a run produced: producer reports and, unless skipped, the latency report."""

    producers: list[dict[str, Any]] = field(default_factory=list)
    report: Any = None  # LatencyReport, imported lazily: producers must start fast
    monitor: Any = None  # the LiveMonitor that followed the results while the run happened
    monitor_disagreements: list[str] = field(default_factory=list)

    @property
    def saturated(self) -> bool:
        return any(p.get("saturated") for p in self.producers)


def settings_env(*objs: Any) -> dict[str, str]:
    """Settings objects as the environment variables they are read from (for child processes)."""
    env: dict[str, str] = {}
    for obj in objs:
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            env[name.upper()] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return env


@contextlib.contextmanager
def embedded_stack(settings: RunSettings) -> Iterator[RunSettings]:
    """Start a real Kafka broker and PostgreSQL on loopback; yield settings pointing at them."""
    from ctrbench.embedded.kafka_broker import EmbeddedKafka
    from ctrbench.embedded.postgres import EmbeddedPostgres

    with EmbeddedKafka() as kafka, EmbeddedPostgres() as pg:
        yield RunSettings(
            kafka=settings.kafka.model_copy(update={"kafka_bootstrap_servers": kafka.bootstrap_servers}),
            postgres=pg.settings(),
            load=settings.load,
            job=settings.job,
            latency=settings.latency,
            monitor=settings.monitor,
        )


def _start_producers(s: RunSettings, start_ns: int, base_ns: int, report_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = os.environ | settings_env(s.kafka, s.postgres, s.load, s.job)
    procs = []
    for pid in range(s.load.num_producers):
        # Producers share a host here: give each its own metrics port (METRICS_PORT + id).
        port = {"METRICS_PORT": str(s.load.metrics_port + pid)} if s.load.metrics_port else {}
        cmd = [sys.executable, "-m", "ctrbench", "produce", "--producer-id", str(pid),
               "--start-time-ns", str(start_ns), "--base-time-ns", str(base_ns),
               "--report-file", str(report_dir / f"producer-{pid}.json")]
        procs.append(subprocess.Popen(cmd, env=env | port))
    return procs


def _wait_producers(procs: list[subprocess.Popen[bytes]], report_dir: Path) -> list[dict[str, Any]]:
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        # Producers flush and report on SIGTERM; give them time so nothing is lost.
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=90)
        raise
    failed = [i for i, c in enumerate(codes) if c != 0]
    if failed:
        raise ServiceUnavailable(f"producers {failed} exited with errors (see their messages above)")
    return [json.loads((report_dir / f"producer-{i}.json").read_text()) for i in range(len(procs))]


def run(settings: RunSettings, impl: Impl, skip_consumers: bool) -> RunResult:
    """Run the benchmark against the Kafka and PostgreSQL named in ``settings``."""
    s = settings
    preflight.check_run(s, impl, skip_consumers, embedded=False)
    clear_topics(s.kafka)
    ads = catalog.generate(s.load.seed, s.load.num_campaigns, s.load.ads_per_campaign)
    catalog.write_catalog(s.postgres, ads)
    result = RunResult()
    build_ns = int(schedule_build_seconds(s.load, ads) * NS_PER_S)
    if build_ns > 2 * NS_PER_S:
        logger.info("producers need about %.0f s to build their schedules: the run starts that much later",
                    build_ns / NS_PER_S)
    base_ns = run_base_time_ns(s.job.window_seconds, time.time_ns() + build_ns)
    job = s.job.model_copy(update={"base_time_ns": base_ns})
    monitor_settings = s.monitor
    positions = None  # where the Spark job reads, for the live monitor's backlog
    spark_job = None
    with contextlib.ExitStack() as stack:
        if impl == "spark":
            from ctrbench.spark_job.job import start as start_spark

            spark_job = start_spark(s.kafka, job, postgres=s.postgres)
            stack.callback(spark_job.stop)
            positions = spark_job
        if impl == "flink":
            from ctrbench.embedded.process import free_port
            from ctrbench.flink_job.job import connector_jars, submit, wait_running

            job = job.model_copy(update={"local_rest_port": job.local_rest_port or free_port()})
            table_result = submit(s.kafka, job, connector_jars(job), s.postgres)
            stack.callback(_cancel, table_result)
            wait_running(table_result)
            monitor_settings = monitor_settings.model_copy(
                update={"flink_rest_url": f"http://127.0.0.1:{job.local_rest_port}"})
        if impl != "none" and not skip_consumers:
            from ctrbench.monitor.live import LiveMonitor

            result.monitor = stack.enter_context(LiveMonitor(s.kafka, monitor_settings, positions))
        report_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ctrbench-run-")))
        # On a window boundary (base + k windows) even when the job took longer to start than planned, so
        # that the load's first and last windows are whole.
        late_ns = time.time_ns() + int(_PRODUCER_START_DELAY_S * NS_PER_S) + build_ns - base_ns
        window_ns = s.job.window_seconds * NS_PER_S
        start_ns = base_ns + max(0, -(-late_ns // window_ns)) * window_ns
        procs = _start_producers(s, start_ns, base_ns, report_dir)
        result.producers = _wait_producers(procs, report_dir)
        last_event_ns = start_ns + int(s.load.duration_seconds * NS_PER_S)
        send_end_of_run(s.kafka, base_ns, last_event_ns, s.job.window_seconds, s.job.watermark_delay_ms)
        if impl != "none" and not skip_consumers:
            from ctrbench.latency.calculator import run_latency

            run_info = {
                "impl": impl,
                "num_producers": s.load.num_producers,
                "events_per_producer": s.load.events_per_producer,
                "duration_seconds": s.load.duration_seconds,
                "distribution": s.load.distribution,
                "seed": s.load.seed,
                "base_time_ns": base_ns,
                "producers": result.producers,
                "generator_saturated": result.saturated,
            }
            if spark_job is not None:
                # Spark's watermark is the maximum event time over all partitions: an event more than the delay
                # behind the furthest partition is dropped. Counted here, so the verifier's findings are explained.
                run_info["engine_late_rows_dropped"] = spark_job.late_rows_dropped
            result.report = run_latency(s.kafka, s.latency, job, s.load.num_producers, s.load.distribution,
                                        run_info)
            if spark_job is not None:
                spark_job.check()
            result.monitor_disagreements = _compare_with_monitor(result.monitor, result.report)
    return result


def _compare_with_monitor(monitor: Any, report: Any) -> list[str]:
    """The report and the live monitor read the same topic: they must have seen the same cells."""
    from ctrbench.monitor.live import disagreements

    cells = list(report.collected.results.values())
    # The monitor reads on its own; give it a moment to catch up with the report's last read.
    monitor.wait_for({(r.window_start, r.campaign_id) for r in cells}, timeout=10.0)
    problems = disagreements(monitor.snapshot(), cells)
    if problems:
        logger.warning("live monitor and report disagree on %d cells: %s", len(problems), "; ".join(problems[:3]))
    else:
        logger.info("live monitor saw the same %d cells with the same latencies as the report", len(cells))
    return problems


def _cancel(table_result: Any) -> None:
    client = table_result.get_job_client()
    if client is None:
        return
    try:
        client.cancel().result()
        logger.info("Flink job cancelled")
    except Exception as exc:  # noqa: BLE001 - the job may already be gone; shutting down anyway
        logger.debug("cancelling the Flink job: %s", exc)
