"""``ctrbench``: run the CTR pipeline benchmark, or any one of its parts.

(Named ``ctrbench``, not ``ctr``: containerd ships a ``ctr`` tool on Kubernetes nodes.)
Every option can also be set by the environment variable named in its help (the original project's names),
or by a YAML file named by ``CTR_CONFIG_FILE``. Errors print one line and exit non-zero.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from ctrbench.errors import ConfigError, CtrError, VerificationFailed
from ctrbench.logs import setup_logging as _setup_logging
from ctrbench.settings import (
    JobSettings,
    KafkaSettings,
    LatencySettings,
    LoadSettings,
    MonitorSettings,
    PostgresSettings,
    load,
)

__all__ = ["app", "main"]

logger = logging.getLogger("ctrbench")

_INTERRUPTED = 130

app = typer.Typer(
    name="ctrbench",
    help="Real-time CTR pipeline benchmark: Kafka -> PyFlink -> Kafka, with latency and correctness report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Impl(str, enum.Enum):
    flink = "flink"
    spark = "spark"
    none = "none"


class Dist(str, enum.Enum):
    mmpp = "mmpp"
    normal = "normal"


class Guarantee(str, enum.Enum):
    at_least_once = "at-least-once"
    exactly_once = "exactly-once"


# Options shared by several commands. None means "not given": the environment or default decides.
NumProducers = Annotated[int | None, typer.Option("--num-producers", help="Producer processes [NUM_PRODUCERS, 3]")]
EventsPerProducer = Annotated[int | None, typer.Option(
    "--events-per-producer", help="Events each producer sends [EVENTS_PER_PRODUCER, 60000]")]
Duration = Annotated[float | None, typer.Option(
    "--duration", help="Run length in seconds [DURATION_SECONDS, 60]")]
Distribution = Annotated[Dist | None, typer.Option(
    "--distribution", help="Arrival process: mmpp (bursty) or normal (Poisson) [DISTRIBUTION, mmpp]")]
Seed = Annotated[int | None, typer.Option("--seed", help="Run seed [SEED, 42]")]
Bootstrap = Annotated[str | None, typer.Option(
    "--bootstrap-servers", help="Kafka bootstrap servers [KAFKA_BOOTSTRAP_SERVERS, 127.0.0.1:9092]")]
ReportDir = Annotated[Path | None, typer.Option("--report-dir", help="Where report files go [REPORT_DIR, .]")]
Parallelism = Annotated[int | None, typer.Option("--parallelism", help="Flink parallelism [PARALLELISM, 1]")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging")]
MonitorPort = Annotated[int | None, typer.Option(
    "--monitor-port", help="Serve the live monitor's /metrics on this port (latency of each result as it lands, "
                           "backlog) [MONITOR_PORT, 0 = off]")]


def _load_settings(num_producers: int | None = None, events_per_producer: int | None = None,
                   duration: float | None = None, distribution: Dist | None = None, seed: int | None = None,
                   bootstrap: str | None = None, report_dir: Path | None = None,
                   parallelism: int | None = None, latency_timeout: float | None = None,
                   monitor_port: int | None = None) -> Any:
    from ctrbench.pipeline import RunSettings

    return RunSettings(
        kafka=load(KafkaSettings, kafka_bootstrap_servers=bootstrap),
        postgres=load(PostgresSettings),
        load=load(LoadSettings, num_producers=num_producers, events_per_producer=events_per_producer,
                  duration_seconds=duration, distribution=distribution.value if distribution else None, seed=seed),
        job=load(JobSettings, parallelism=parallelism),
        latency=load(LatencySettings, report_dir=str(report_dir) if report_dir else None,
                     latency_timeout_seconds=latency_timeout),
        monitor=load(MonitorSettings, monitor_port=monitor_port),
    )


@app.command()
def run(
    impl: Annotated[Impl, typer.Option(
        "--impl", help="Stream processor under test; none = producers only")] = Impl.flink,
    skip_consumers: Annotated[bool, typer.Option(
        "--skip-consumers", help="Skip the latency calculator and verification (produce and process only)")] = False,
    num_producers: NumProducers = None,
    events_per_producer: EventsPerProducer = None,
    duration: Duration = None,
    distribution: Distribution = None,
    seed: Seed = None,
    embedded: Annotated[bool, typer.Option(
        "--embedded/--external",
        help="Start a real Kafka broker and PostgreSQL on 127.0.0.1 (default), or use KAFKA_BOOTSTRAP_SERVERS "
             "and POSTGRES_* as given")] = True,
    report_dir: ReportDir = None,
    parallelism: Parallelism = None,
    monitor_port: MonitorPort = None,
    verbose: Verbose = False,
) -> None:
    """Run the whole benchmark: producers -> Kafka -> CTR job -> Kafka -> latency report.

    Writes latency_report_<producers>_<total_events>_<distribution>.csv (latency per window), a .json
    summary and a .png plot (latency and offered load per window) into --report-dir, and exits 4 when
    the job's results differ from the truth recomputed from the events. While it runs, the live monitor
    follows the results (on /metrics with --monitor-port) and must agree with the report at the end.
    """
    from ctrbench import pipeline, preflight

    _setup_logging(verbose)
    settings = _load_settings(num_producers, events_per_producer, duration, distribution, seed, None,
                              report_dir, parallelism, monitor_port=monitor_port)
    preflight.check_run(settings, impl.value, skip_consumers, embedded=embedded)
    with (pipeline.embedded_stack(settings) if embedded else contextlib.nullcontext(settings)) as s:
        result = pipeline.run(s, impl.value, skip_consumers)
    _print_run(result)


def _print_run(result: Any) -> None:
    sent = sum(p["acknowledged"] for p in result.producers)
    typer.echo(f"producers: {len(result.producers)}, events acknowledged: {sent}, "
               f"max p99 schedule lag: {max((p['lag_ms_p99'] for p in result.producers), default=0):.1f} ms")
    if result.saturated:
        typer.echo("WARNING: generator saturated: producers fell behind their schedule; "
                   "the offered load was lower than configured")
    report = result.report
    if report is None:
        return
    typer.echo(report.table)
    typer.echo(f"report: {report.csv_path} (summary {report.summary_path.name}, plot {report.plot_path.name})")
    if result.monitor_disagreements:
        typer.echo(f"WARNING: the live monitor saw {len(result.monitor_disagreements)} cells differently from the "
                   f"report, e.g. {result.monitor_disagreements[0]}")
    if not report.verification.ok:
        raise VerificationFailed(f"results differ from the truth: {report.verification.summary()}; "
                                 f"{report.verification.first_problems()}; details in {report.summary_path}")


def _producer_id_from_hostname() -> int:
    """StatefulSet pods are named <name>-<ordinal>; the ordinal is the producer id."""
    host = socket.gethostname()
    suffix = host.rsplit("-", 1)[-1]
    if not suffix.isdigit():
        raise ConfigError(f"--producer-id not given and hostname {host!r} has no -<ordinal> suffix; "
                          "pass --producer-id N")
    return int(suffix)


@app.command()
def produce(
    producer_id: Annotated[int | None, typer.Option(
        "--producer-id",
        help="This producer's id (seeds its stream); default: the pod ordinal from the hostname")] = None,
    start_time_ns: Annotated[int | None, typer.Option(
        "--start-time-ns", help="Wall-clock time (ns) of the schedule's start; default: now + 1 s")] = None,
    base_time_ns: Annotated[int | None, typer.Option(
        "--base-time-ns", help="Run base time (ns) window ids count from [BASE_TIME_NS]; "
                               "default: the window boundary before start")] = None,
    report_file: Annotated[Path | None, typer.Option(
        "--report-file", help="Write the producer report (JSON) here")] = None,
    wait_seconds: Annotated[float, typer.Option(
        "--wait-seconds",
        help="Wait this long for PostgreSQL and the mapping to be ready (pods start in any order)")] = 0,
    hold: Annotated[bool, typer.Option(
        "--hold", help="After sending, stay up until SIGTERM (a StatefulSet pod must not exit and resend)")] = False,
    events_per_producer: EventsPerProducer = None,
    duration: Duration = None,
    distribution: Distribution = None,
    seed: Seed = None,
    bootstrap: Bootstrap = None,
    verbose: Verbose = False,
) -> None:
    """Run one producer: read the ad catalog from PostgreSQL and send its events paced in real time.

    SIGTERM or Ctrl-C stops scheduling; every event already handed to Kafka is flushed and counted.
    """
    from ctrbench.preflight import check_password, check_port_free
    from ctrbench.producer.runner import run_producer
    from ctrbench.schema import start_times

    _setup_logging(verbose)
    s = _load_settings(None, events_per_producer, duration, distribution, seed, bootstrap)
    pid = producer_id if producer_id is not None else _producer_id_from_hostname()
    if pid < 0:
        raise ConfigError(f"--producer-id={pid}: must be >= 0")
    barrier = start_time_ns is None and s.load.start_barrier
    if barrier and not s.load.metrics_port:
        raise ConfigError("START_BARRIER needs METRICS_PORT: producer 0 announces the start on its /metrics")
    check_port_free("METRICS_PORT", s.load.metrics_addr, s.load.metrics_port)
    check_password(s.postgres)
    cat = _wait_for_catalog(s.postgres, wait_seconds)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    metrics = None
    if s.load.metrics_port:
        from ctrbench.producer.metrics import ProducerMetrics

        metrics = ProducerMetrics(pid, s.load)
        metrics.serve(s.load.metrics_port, s.load.metrics_addr)
        logger.info("metrics on http://%s:%d/metrics", s.load.metrics_addr, s.load.metrics_port)
    base = base_time_ns if base_time_ns is not None else s.load.base_time_ns
    start = None
    if barrier and metrics is not None:
        if s.load.producer_resume and base:
            # A recreated pod: the run started without it, so no barrier; its earlier events tell when.
            from ctrbench.producer.resume import earlier_start

            start = earlier_start(s.kafka, s.load, pid, cat, base, s.job.window_seconds)
        if start is None:
            from ctrbench.producer.barrier import pod_identity, wait_for_start

            start = wait_for_start(pod_identity(), s.load.num_producers, s.load.metrics_port,
                                   metrics.run_start.set, max(wait_seconds, 60.0), s.load.flink_rest_url,
                                   s.load.spark_metrics_url)
        else:
            metrics.run_start.set(start / 1e9)  # announced again, for a peer that restarts too
    else:
        start = start_time_ns if start_time_ns is not None else start_times(s.job.window_seconds, delay_s=1.0)[0]
    if not base:
        base = start - start % (s.job.window_seconds * 1_000_000_000)
    if base > start:
        raise ConfigError(f"BASE_TIME_NS={base} is after the producer's start {start}: it must be earlier")
    report = run_producer(s.kafka, s.load, pid, cat, start, base, s.job.window_seconds, stop, metrics,
                          resume=s.load.producer_resume)
    text = json.dumps(report.to_dict(), indent=2)
    if report_file:
        report_file.write_text(text + "\n")
    else:
        typer.echo(text)
    if hold:
        stop.wait()


def _wait_for_catalog(pg: PostgresSettings, wait_seconds: float) -> Any:
    from ctrbench.catalog import read_catalog
    from ctrbench.errors import ServiceUnavailable

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return read_catalog(pg)
        except ServiceUnavailable as exc:
            if time.monotonic() >= deadline:
                raise
            logger.info("waiting for the ad catalog: %s", exc)
            time.sleep(2)


@app.command()
def process(
    impl: Annotated[Impl, typer.Option(
        "--impl", help="flink: Flink's local mini-cluster; spark: Spark's local mode")] = Impl.flink,
    bootstrap: Bootstrap = None,
    parallelism: Parallelism = None,
    verbose: Verbose = False,
) -> None:
    """Run the CTR job locally until Ctrl-C or SIGTERM (it then stops the job)."""
    from ctrbench.kafka.topics import ensure_topics

    _setup_logging(verbose)
    s = _load_settings(bootstrap=bootstrap, parallelism=parallelism)
    if impl is Impl.none:
        raise ConfigError("--impl none: there is no job to run; use --impl flink or spark")
    if s.job.campaign_source == "postgres":
        from ctrbench.preflight import check_password

        check_password(s.postgres)
    ensure_topics(s.kafka)
    if impl is Impl.spark:
        _process_spark(s)
        return
    from ctrbench.flink_job.job import connector_jars, submit, wait_running

    result = submit(s.kafka, s.job, connector_jars(s.job), s.postgres)
    wait_running(result)
    typer.echo("CTR job running; Ctrl-C to stop")
    try:
        result.wait()
    except KeyboardInterrupt:
        client = result.get_job_client()
        if client is not None:
            client.cancel().result()


def _process_spark(s: Any) -> None:
    from ctrbench.flink_job.job import with_base_time
    from ctrbench.spark_job.job import start

    handle = start(s.kafka, with_base_time(s.job), postgres=s.postgres)
    typer.echo("CTR job running on Spark; Ctrl-C to stop")
    try:
        while True:
            handle.check()
            time.sleep(1)
    finally:
        handle.stop()


@app.command()
def latency(
    num_producers: NumProducers = None,
    distribution: Distribution = None,
    bootstrap: Bootstrap = None,
    report_dir: ReportDir = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help="Seconds to wait for missing windows [LATENCY_TIMEOUT_SECONDS, 120]")] = None,
    end_of_run: Annotated[bool, typer.Option(
        "--end-of-run", help="First wait until `events` holds NUM_PRODUCERS x EVENTS_PER_PRODUCER events, then "
                             "write the end-of-run markers that close the last window (Kubernetes Job)")] = False,
    verbose: Verbose = False,
) -> None:
    """Verify the job's results against the events in Kafka and write the latency report.

    --num-producers and --distribution also name the report file, as in the original project.
    """
    from ctrbench.latency.calculator import run_latency
    from ctrbench.preflight import check_port_free, check_writable_dir
    from ctrbench.producer.end_of_run import close_run

    _setup_logging(verbose)
    s = _load_settings(num_producers=num_producers, distribution=distribution, bootstrap=bootstrap,
                       report_dir=report_dir, latency_timeout=timeout)
    check_writable_dir("REPORT_DIR", s.latency.report_dir)
    check_port_free("LATENCY_METRICS_PORT", s.latency.latency_metrics_addr, s.latency.latency_metrics_port)
    if end_of_run:
        close_run(s.kafka, s.load, s.job, s.latency.latency_timeout_seconds)
    if not s.job.base_time_ns:
        logger.warning("BASE_TIME_NS is not set: window ids in the report count from the epoch, and results' "
                       "own window ids are not checked")
    report = run_latency(s.kafka, s.latency, s.job, s.load.num_producers, s.load.distribution)
    typer.echo(report.table)
    typer.echo(f"report: {report.csv_path} (summary {report.summary_path.name}, plot {report.plot_path.name})")
    if not report.verification.ok:
        raise VerificationFailed(f"results differ from the truth: {report.verification.summary()}; "
                                 f"{report.verification.first_problems()}")


@app.command()
def monitor(
    port: Annotated[int | None, typer.Option("--port", help="/metrics port [MONITOR_PORT; required]")] = None,
    addr: Annotated[str | None, typer.Option(
        "--addr", help="/metrics address; 0.0.0.0 in a pod [MONITOR_ADDR, 127.0.0.1]")] = None,
    flink_rest_url: Annotated[str | None, typer.Option(
        "--flink-rest-url", help="Flink's REST address, for the backlog [FLINK_REST_URL; empty: no backlog]")] = None,
    bootstrap: Bootstrap = None,
    verbose: Verbose = False,
) -> None:
    """Follow the results topic and serve live latency on /metrics until stopped (Ctrl-C, SIGTERM).

    For every result as it lands: end-to-end and window-close latency (histograms), the latest window's id
    and max latency, results and duplicate results; with --flink-rest-url also the job's backlog (events
    written minus the Kafka source's positions). Starts before the topic exists and follows new runs.
    """
    from ctrbench.monitor.live import LiveMonitor
    from ctrbench.preflight import check_port_free

    _setup_logging(verbose)
    kafka = load(KafkaSettings, kafka_bootstrap_servers=bootstrap)
    settings = load(MonitorSettings, monitor_port=port, monitor_addr=addr, flink_rest_url=flink_rest_url)
    if not settings.monitor_port:
        raise ConfigError("MONITOR_PORT=0: `ctrbench monitor` serves /metrics and needs a port; "
                          "pass --port 9250 or set MONITOR_PORT")
    check_port_free("MONITOR_PORT", settings.monitor_addr, settings.monitor_port)
    with LiveMonitor(kafka, settings) as live:
        live.wait()


@app.command("clear-topics")
def clear_topics_cmd(bootstrap: Bootstrap = None, verbose: Verbose = False) -> None:
    """Delete and re-create the events and results topics (LogAppendTime), waiting for each step."""
    from ctrbench.kafka.topics import clear_topics

    _setup_logging(verbose)
    clear_topics(_load_settings(bootstrap=bootstrap).kafka)
    typer.echo("topics cleared")


@app.command()
def setup(
    topics: Annotated[bool, typer.Option("--topics/--no-topics", help="Create the topics if missing")] = True,
    recreate_topics: Annotated[bool, typer.Option(
        "--recreate-topics", help="Delete the topics first (a new run; nothing may be reading them)")] = False,
    db: Annotated[bool, typer.Option(
        "--db/--no-db", help="Write the ad -> campaign mapping (NUM_CAMPAIGNS x ADS_PER_CAMPAIGN ads)")] = True,
    seed: Seed = None,
    bootstrap: Bootstrap = None,
    verbose: Verbose = False,
) -> None:
    """Prepare a run: create the topics (LogAppendTime) and write the mapping to PostgreSQL. Idempotent."""
    from ctrbench import catalog
    from ctrbench.kafka.topics import clear_topics, ensure_topics

    _setup_logging(verbose)
    s = _load_settings(seed=seed, bootstrap=bootstrap)
    if db:
        from ctrbench.preflight import check_password

        check_password(s.postgres)  # before the topics: a refused setup changes nothing
    if recreate_topics:
        clear_topics(s.kafka)
        typer.echo(f"topics {s.kafka.events_topic}, {s.kafka.results_topic} and {s.kafka.rejected_topic} recreated")
    elif topics:
        ensure_topics(s.kafka)
        typer.echo(f"topics {s.kafka.events_topic} and {s.kafka.results_topic} ready")
    if db:
        catalog.write_catalog(s.postgres, catalog.generate(s.load.seed, s.load.num_campaigns,
                                                           s.load.ads_per_campaign))
        typer.echo(f"wrote {s.load.num_campaigns * s.load.ads_per_campaign} ads to PostgreSQL")


@app.command()
def search(
    engine: Annotated[Impl, typer.Option("--engine", help="Stream processor under test")] = Impl.flink,
    parallelism: Parallelism = None,
    producers: Annotated[int, typer.Option("--producers", min=1, help="Producer processes for every step")] = 2,
    distribution: Annotated[Dist, typer.Option(
        "--distribution", help="normal: constant-rate Poisson; mmpp: bursty, judged on its mean rate")] = Dist.normal,
    window: Annotated[int | None, typer.Option("--window", help="Window size in s [WINDOW_SECONDS, 10]")] = None,
    watermark_ms: Annotated[int | None, typer.Option(
        "--watermark-ms", help="Watermark delay in ms [WATERMARK_DELAY_MS, 500]")] = None,
    partitions: Annotated[int | None, typer.Option(
        "--partitions", help="Partitions of the events topic [EVENTS_PARTITIONS, 3]")] = None,
    start_rate: Annotated[float, typer.Option("--start-rate", min=100, help="First step, events/s in total")] = 20_000,
    max_rate: Annotated[float, typer.Option("--max-rate", min=100, help="Highest step, events/s")] = 640_000,
    warmup: Annotated[float, typer.Option("--warmup", min=0, help="Seconds of each step discarded")] = 10.0,
    measure: Annotated[float, typer.Option("--measure", min=10, help="Measured seconds of each step")] = 40.0,
    repetitions: Annotated[int, typer.Option("--repetitions", min=1, help="Runs per step; medians decide")] = 1,
    precision: Annotated[float, typer.Option(
        "--precision", min=0.01, max=1.0, help="Stop bisecting when the bounds are this close (relative)")] = 0.1,
    slo_ms: Annotated[float | None, typer.Option(
        "--slo-ms", help="p99 per-window latency SLO in ms [watermark delay + 1000]")] = None,
    backlog_slope_max: Annotated[float, typer.Option(
        "--backlog-slope-max", help="Backlog growth allowed, relative to the offered rate")] = 0.01,
    lag_p99_max_ms: Annotated[float, typer.Option(
        "--lag-p99-max-ms", help="Producers' p99 schedule lag above which a step measures the generator")] = 100.0,
    embedded: Annotated[bool, typer.Option(
        "--embedded/--external", help="Start Kafka and PostgreSQL here (default), or use the configured ones")] = True,
    report_dir: ReportDir = None,
    verbose: Verbose = False,
) -> None:
    """Find the highest sustainable rate: steady loads, exponential ramp then bisection (as OMB and Theodolite).

    Each step runs the whole pipeline for --warmup + --measure seconds. It is sustainable when over the measured
    period the job's backlog does not grow (least-squares slope below --backlog-slope-max of the offered rate),
    per-window latency does not grow (a trend clear of the windows' scatter at 95% confidence, which takes three
    windows or more) and its p99 stays under the SLO, the producers kept to schedule, and every result verified.
    Writes search_<engine>_p<parallelism>.csv/.json/.png into --report-dir.
    """
    from ctrbench import pipeline, preflight
    from ctrbench.search.criterion import Criterion
    from ctrbench.search.report import render_search, write_search
    from ctrbench.search.steps import PipelineStep
    from ctrbench.search.strategy import search_sustainable_rate

    _setup_logging(verbose)
    if engine is Impl.none:
        raise ConfigError("--engine none: a search needs a job to measure; use --engine flink or spark")
    if start_rate > max_rate:
        raise ConfigError(f"--start-rate {start_rate:.0f} is above --max-rate {max_rate:.0f}: lower the start")
    base = _load_settings(num_producers=producers, distribution=distribution, report_dir=report_dir,
                          parallelism=parallelism)
    job = load(JobSettings, parallelism=parallelism, window_seconds=window, watermark_delay_ms=watermark_ms)
    kafka = load(KafkaSettings, events_partitions=partitions)
    settings = pipeline.RunSettings(kafka, base.postgres, base.load, job, base.latency, base.monitor)
    # Each step's load runs warm-up + measured period + one window (steps.py); it must end on a window boundary.
    if (warmup + measure) % job.window_seconds:
        raise ConfigError(f"--warmup {warmup:g} + --measure {measure:g} = {warmup + measure:g} s is not a whole "
                          f"number of windows (WINDOW_SECONDS={job.window_seconds}): every step would end in a "
                          "cut-short window; make the sum a multiple of the window")
    step = base.load.model_copy(update={"duration_seconds": warmup + measure + job.window_seconds})
    preflight.check_run(pipeline.RunSettings(kafka, base.postgres, step, job, base.latency, base.monitor),
                        engine.value, False, embedded=embedded)
    criterion = Criterion(latency_slo_s=(slo_ms if slo_ms is not None else job.watermark_delay_ms + 1000) / 1000,
                          backlog_slope_max=backlog_slope_max, lag_p99_max_ms=lag_p99_max_ms)
    params = {"engine": engine.value, "parallelism": job.parallelism, "producers": producers,
              "distribution": distribution.value, "window_seconds": job.window_seconds,
              "watermark_delay_ms": job.watermark_delay_ms, "events_partitions": kafka.events_partitions,
              "warmup_seconds": warmup, "measure_seconds": measure, "repetitions": repetitions,
              "precision": precision, "latency_slo_ms": criterion.latency_slo_s * 1000,
              "backlog_slope_max_pct": backlog_slope_max * 100, "lag_p99_max_ms": lag_p99_max_ms,
              "cpus": len(os.sched_getaffinity(0))}
    with (pipeline.embedded_stack(settings) if embedded else contextlib.nullcontext(settings)) as s:
        outcome = search_sustainable_rate(
            PipelineStep(s, warmup, measure, engine.value), criterion, start_rate, max_rate, precision, repetitions,
            on_step=lambda step: typer.echo(f"step {step.rate:,.0f} events/s: "
                                            + ("sustainable" if step.verdict.sustainable
                                               else "; ".join(step.verdict.reasons))))
    title = (f"{engine.value}, parallelism {job.parallelism}, {producers} producers, {distribution.value}, "
             f"{params['cpus']} CPUs; {warmup:.0f} s warm-up + {measure:.0f} s measured per step")
    typer.echo(render_search(outcome, title))
    files = write_search(outcome, params, Path(settings.latency.report_dir),
                         f"search_{engine.value}_p{job.parallelism}")
    typer.echo("wrote " + ", ".join(str(f) for f in files))


@app.command()
def soak(
    rate: Annotated[float, typer.Option("--rate", min=100, help="Events/s in total (constant-rate Poisson); "
                                        "about half the sustainable rate `ctrbench search` found")] = 60_000,
    duration: Annotated[float, typer.Option("--duration", min=60, help="Seconds of load")] = 600.0,
    warmup: Annotated[float, typer.Option("--warmup", min=0, help="First seconds not judged (JVM heaps, caches "
                                          "settle)")] = 60.0,
    sample_interval: Annotated[float, typer.Option("--sample-interval", min=0.5, help="Seconds between memory "
                                                   "samples")] = 10.0,
    producers: Annotated[int, typer.Option("--producers", min=1, help="Producer processes")] = 2,
    parallelism: Parallelism = None,
    report_dir: ReportDir = None,
    verbose: Verbose = False,
) -> None:
    """Soak: one steady load for a long time; every process's memory must stay flat, latency stable, results exact.

    Runs the whole pipeline once on the embedded stack, samples the resident memory of every process (producers,
    broker, job, this process with the live monitor) every --sample-interval seconds, and judges after --warmup:
    memory growth over the run under 10% of its mean for every process, the second half's per-window p99 latency
    within 20% (+50 ms) of the first half's, every cell verified. Writes soak_<rate>.json, soak_<rate>_memory.csv
    and soak_<rate>.png into --report-dir; exits 1 when the verdict is not ok.
    """
    from ctrbench import pipeline, preflight
    from ctrbench.search.soak import render_soak, run_soak, write_soak

    _setup_logging(verbose)
    base = _load_settings(num_producers=producers, distribution=Dist.normal, report_dir=report_dir,
                          parallelism=parallelism, duration=duration)
    preflight.check_run(base, "flink", False, embedded=True)
    if warmup >= duration / 2:
        raise ConfigError(f"--warmup {warmup:g} is not below half of --duration {duration:g}: the second half must be "
                          "compared with a judged first half; shorten the warm-up or run longer")
    with pipeline.embedded_stack(base) as s:
        result = run_soak(s, rate, duration, warmup, sample_interval)
    typer.echo(render_soak(result))
    params = {"rate": rate, "duration_seconds": duration, "warmup_seconds": warmup, "producers": producers,
              "parallelism": base.job.parallelism, "sample_interval_seconds": sample_interval,
              "cpus": len(os.sched_getaffinity(0))}
    files = write_soak(result, params, Path(base.latency.report_dir), f"soak_{rate:.0f}")
    typer.echo("wrote " + ", ".join(str(f) for f in files))
    if not result.ok:
        raise CtrError("soak verdict: not ok (see above)")


@app.command("bench-producer")
def bench_producer(
    events: Annotated[int, typer.Option("--events", min=1000, help="Events ctrbench's producer sends")] = 1_000_000,
    baseline_events: Annotated[int, typer.Option(
        "--baseline-events", min=1000, help="Events the naive baseline sends (it is slow)")] = 200_000,
    profile: Annotated[str, typer.Option("--profile", help="Client profile for ctrbench's producer")] = "throughput",
    bootstrap: Bootstrap = None,
    verbose: Verbose = False,
) -> None:
    """Benchmark: acknowledged events/s of one producer process vs the original project's naive producer, same broker.

    Starts an embedded broker unless --bootstrap-servers is given. Prints both rates and their ratio.
    """
    from ctrbench.producer.bench import run_benchmark

    _setup_logging(verbose)
    result = run_benchmark(events, baseline_events, profile, bootstrap)
    typer.echo(result.render())


@app.command("bench-job")
def bench_job(
    events: Annotated[int, typer.Option("--events", min=10_000, help="Events to pre-fill and drain")] = 2_000_000,
    parallelism: Annotated[list[int] | None, typer.Option(
        "--parallelism", help="Parallelism to measure; repeat for several")] = None,
    impl: Annotated[list[Impl] | None, typer.Option(
        "--impl", help="Engine to measure (flink, spark); repeat for both")] = None,
    warm_up: Annotated[bool, typer.Option(
        "--warm-up/--no-warm-up", help="Run each job once untimed before its timed run, so both sides are timed on "
        "code the JIT has compiled (--no-warm-up: time the first, cold run). Each source runs in a fresh process "
        "(its own JVM) either way")] = True,
    bootstrap: Bootstrap = None,
    verbose: Verbose = False,
) -> None:
    """Benchmark: events/s the CTR job drains from Kafka vs the same aggregation over the engine's own generator
    (Flink: datagen; Spark: rate-micro-batch), the engine's ceiling here.

    Starts an embedded broker unless --bootstrap-servers is given; every engine drains the same pre-filled events.
    Each source is timed in a fresh process after an untimed warm-up run. Defaults: --impl flink, parallelism 1 and 2.
    """
    from ctrbench.job_bench import run_job_benchmark

    _setup_logging(verbose)
    engines = [i.value for i in impl or [Impl.flink]]
    if "none" in engines:
        raise ConfigError("--impl none: there is no job to measure; use --impl flink or --impl spark")
    typer.echo(run_job_benchmark(events, parallelism or [1, 2], bootstrap, engines, warm_up).render())


@app.command("bench-verify")
def bench_verify(
    events: Annotated[int, typer.Option(
        "--events", min=1000, help="Events to write to Kafka and recompute")] = 2_000_000,
    bootstrap: Bootstrap = None,
    verbose: Verbose = False,
) -> None:
    """Benchmark: recomputing the truth from N events in Kafka vs a naive consumer with json.loads (same events).

    Starts an embedded broker unless --bootstrap-servers is given; the events topic is cleared first.
    Also times the parse-and-count step alone on the first million records in memory.
    """
    from ctrbench.latency.bench import run_verify_benchmark

    _setup_logging(verbose)
    typer.echo(run_verify_benchmark(events, bootstrap).render())


@app.command()
def stack(verbose: Verbose = False) -> None:
    """Start the embedded Kafka and PostgreSQL, print their settings as env exports, run until Ctrl-C."""
    from ctrbench.pipeline import embedded_stack, settings_env

    _setup_logging(verbose)
    with embedded_stack(_load_settings()) as s:
        for name, value in settings_env(s.kafka, s.postgres).items():
            if name.startswith(("KAFKA_BOOTSTRAP", "POSTGRES_")):
                typer.echo(f"export {name}={value}")
        typer.echo("# stack running; Ctrl-C to stop", err=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


dashboard_app = typer.Typer(
    name="dashboard",
    help="The Grafana dashboard: build its JSON, prove every query returns data on a Prometheus, draw its panels.",
    no_args_is_help=True,
)
app.add_typer(dashboard_app, name="dashboard")

PrometheusUrl = Annotated[str, typer.Option("--prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9090")]
Last = Annotated[float, typer.Option("--last", min=10, help="Time range: the last N seconds")]
ScrapeInterval = Annotated[float, typer.Option(
    "--scrape-interval", min=0.1, help="Prometheus scrape interval in seconds (Grafana's $__rate_interval uses it)")]
DashboardFile = Annotated[Path | None, typer.Option(
    "--dashboard", help="Dashboard JSON [the chart's helm/files/dashboards/ctr-pipeline.json]")]


def _dashboard_results(prometheus: str, last: float, scrape_interval: float, dashboard: Path | None) -> Any:
    from ctrbench.dashboard.queries import default_dashboard_path, evaluate

    path = dashboard or default_dashboard_path()
    if not path.is_file():
        raise ConfigError(f"--dashboard {path}: no such file; pass the dashboard JSON")
    end = time.time()
    return evaluate(json.loads(path.read_text()), prometheus, end - last, end, scrape_interval)


@dashboard_app.command("build")
def dashboard_build(
    out: Annotated[Path | None, typer.Option("--out", help="Write here [the chart's dashboard file]")] = None,
) -> None:
    """Generate the dashboard JSON from ctrbench/dashboard/panels.py with grafana-foundation-sdk."""
    from ctrbench.dashboard.grafana import dashboard_json
    from ctrbench.dashboard.queries import default_dashboard_path

    path = out or default_dashboard_path()
    path.write_text(dashboard_json())
    typer.echo(f"wrote {path}")


@dashboard_app.command("check")
def dashboard_check(
    prometheus: PrometheusUrl,
    last: Last = 900.0,
    scrape_interval: ScrapeInterval = 15.0,
    dashboard: DashboardFile = None,
) -> None:
    """Evaluate every query of the dashboard over the last N seconds as Grafana would; exit 1 if any has no data."""
    results = _dashboard_results(prometheus, last, scrape_interval, dashboard)
    empty = [r for r in results if r.empty]
    for r in results:
        typer.echo(f"{'ok   ' if not r.empty else 'EMPTY'} {len(r.series):3d} series  {r.query.title}: {r.expr}")
    if empty:
        raise CtrError(f"{len(empty)} of {len(results)} dashboard queries returned no data, e.g. "
                       f"{empty[0].query.title!r}: {empty[0].expr}")
    typer.echo(f"all {len(results)} queries returned data")


@dashboard_app.command("render")
def dashboard_render(
    prometheus: PrometheusUrl,
    out: Annotated[Path, typer.Option("--out", help="PNG to write")] = Path("dashboard.png"),
    last: Last = 900.0,
    scrape_interval: ScrapeInterval = 15.0,
    dashboard: DashboardFile = None,
) -> None:
    """Draw the dashboard's panels from Prometheus over the last N seconds into a PNG (no Grafana needed)."""
    from ctrbench.dashboard.render import render_panels

    results = _dashboard_results(prometheus, last, scrape_interval, dashboard)
    typer.echo(f"wrote {render_panels(results, 'CTR pipeline', out)}")


cluster_app = typer.Typer(
    name="cluster",
    help="Drive a release of the Helm chart through the Kubernetes API: start a run, follow it, fetch its report.",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")

Kubeconfig = Annotated[str | None, typer.Option(
    "--kubeconfig", help="kubeconfig file [KUBECONFIG; default ~/.kube/config, or in-cluster]")]
Namespace = Annotated[str | None, typer.Option(
    "--namespace", "-n", help="Namespace of the release [CLUSTER_NAMESPACE, default]")]
Release = Annotated[str | None, typer.Option("--release", help="Helm release name [CLUSTER_RELEASE, ctr]")]


def _release(kubeconfig: str | None, namespace: str | None, release: str | None) -> Any:
    from ctrbench.cluster.release import connect
    from ctrbench.settings import ClusterSettings

    return connect(load(ClusterSettings, kubeconfig=kubeconfig, cluster_namespace=namespace,
                        cluster_release=release))


@cluster_app.command("start")
def cluster_start(
    num_producers: NumProducers = None,
    events_per_producer: EventsPerProducer = None,
    duration: Duration = None,
    distribution: Distribution = None,
    seed: Seed = None,
    delivery_guarantee: Annotated[Guarantee | None, typer.Option(
        "--delivery-guarantee", help="Kafka sink guarantee of the Flink job [DELIVERY_GUARANTEE]")] = None,
    checkpoint_interval_ms: Annotated[int | None, typer.Option(
        "--checkpoint-interval-ms", min=0, help="Flink checkpoint interval; 0 = off, exactly-once then uses 2000 "
        "[CHECKPOINT_INTERVAL_MS]")] = None,
    kubeconfig: Kubeconfig = None,
    namespace: Namespace = None,
    release: Release = None,
    verbose: Verbose = False,
) -> None:
    """Start a new run on an installed release: stop the current one, write the new parameters into the run's
    ConfigMap, recreate the topics and the mapping, then start the Flink job, the producers and the report Job.

    Options not given keep their current value. Follow it with `ctrbench cluster follow`.
    """
    from ctrbench.cluster.run import start_run

    _setup_logging(verbose)
    new = start_run(_release(kubeconfig, namespace, release),
                    {"num_producers": num_producers, "events_per_producer": events_per_producer,
                     "duration_seconds": duration, "distribution": distribution.value if distribution else None,
                     "seed": seed, "delivery_guarantee": delivery_guarantee.value if delivery_guarantee else None,
                     "checkpoint_interval_ms": checkpoint_interval_ms}, echo=typer.echo)
    typer.echo(f"run started (base time {new['base_time_ns']})")


@cluster_app.command("follow")
def cluster_follow(
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help="Give up after this many seconds [CLUSTER_TIMEOUT_SECONDS, 1800]")] = None,
    kubeconfig: Kubeconfig = None,
    namespace: Namespace = None,
    release: Release = None,
    verbose: Verbose = False,
) -> None:
    """Print the run's progress (pods, events sent, the Flink job's state, the report Job) until the report is done.

    Exit 0 when the report Job completed, 4 when it found results that differ from the truth, 1 when a pod
    cannot start or the report failed otherwise, 3 on timeout.
    """
    from ctrbench.cluster.follow import follow
    from ctrbench.settings import ClusterSettings

    _setup_logging(verbose)
    limit = timeout if timeout is not None else load(ClusterSettings).cluster_timeout_seconds
    follow(_release(kubeconfig, namespace, release), limit, echo=typer.echo)
    typer.echo("report complete")


@cluster_app.command("report")
def cluster_report(
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Where the report files go")] = Path("."),
    kubeconfig: Kubeconfig = None,
    namespace: Namespace = None,
    release: Release = None,
    verbose: Verbose = False,
) -> None:
    """Fetch the last run's report (CSV and JSON summary) from its ConfigMap and print its verdict.

    Exit 4 when the report found results that differ from the truth.
    """
    from ctrbench.cluster.report import fetch_report

    _setup_logging(verbose)
    files, summary = fetch_report(_release(kubeconfig, namespace, release), output_dir)
    v = summary.get("verification", {})
    lat = summary.get("latency_ms", {}).get("end_to_end_per_cell", {})
    typer.echo(f"report: {', '.join(str(f) for f in files)}")
    typer.echo(f"events in Kafka: {summary.get('events_in_kafka', 0):,}; end-to-end latency per cell (ms): "
               + ", ".join(f"{k} {lat[k]:.0f}" for k in ("p50", "p95", "p99", "max") if k in lat))
    typer.echo(f"verification: {v.get('matched', 0)} matched, {len(v.get('wrong', []))} wrong, "
               f"{len(v.get('missing', []))} missing, {len(v.get('unexpected', []))} unexpected, "
               f"{v.get('duplicates', 0)} duplicates")
    if not v.get("ok"):
        raise VerificationFailed("the report found results that differ from the truth; details in "
                                 + ", ".join(str(f) for f in files if f.suffix == ".json"))


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that every ``finally`` and context manager stops what it started."""


_TERMINATED = 143  # 128 + SIGTERM
_signals: list[int] = []


def _on_sigterm(signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up short
    _signals.append(signum)
    raise _Terminated


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors, meaningful exit codes, no stack traces.

    SIGTERM (``kill PID``) stops a command the way Ctrl-C does: the embedded broker, PostgreSQL,
    the job and the producers are all stopped (producers flush first). ``produce`` replaces this
    with its own handler, which finishes sending gracefully.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="ctrbench", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        ctx_cmd = f" {exc.ctx.command_path}" if getattr(exc, "ctx", None) else ""
        print(f"error: {exc.format_message()} (see{ctx_cmd or ' ctrbench'} --help)", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except CtrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        code = _INTERRUPTED
    # Typer turns Ctrl-C into an exit code it *returns* when not in standalone mode.
    if code == _INTERRUPTED:
        if _signals:
            print("error: terminated; stopped everything that was started", file=sys.stderr)
            sys.exit(_TERMINATED)
        print("error: interrupted; stopped everything that was started", file=sys.stderr)
    if isinstance(code, int) and code:
        sys.exit(code)
