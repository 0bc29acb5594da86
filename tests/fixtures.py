"""Session fixtures: one real Kafka broker and one real PostgreSQL for the whole test run.

Tests get their own topic names from ``kafka_settings`` so they never see each other's records.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ctrbench.embedded.kafka_broker import EmbeddedKafka
from ctrbench.embedded.postgres import EmbeddedPostgres
from ctrbench.embedded.process import free_port, stop_process, wait_until
from ctrbench.kafka.topics import ensure_topics
from ctrbench.settings import JobSettings, KafkaSettings, LatencySettings, LoadSettings, PostgresSettings, load

_topic_ids = itertools.count()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[EmbeddedKafka]:
    with EmbeddedKafka() as broker:
        yield broker


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A real Prometheus Pushgateway (Debian's package) on a free loopback port; yields host:port."""
    binary = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
    if not Path(binary).exists():
        pytest.fail("prometheus-pushgateway is not installed: run `make test-deps`")
    port = free_port()
    log = (tmp_path_factory.mktemp("pushgateway") / "log").open("wb")
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    try:
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{port}/-/ready"), 30, "pushgateway",
                   alive=lambda: proc.poll() is None)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc, "pushgateway")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture
def postgres_settings(postgres_server: EmbeddedPostgres) -> PostgresSettings:
    return postgres_server.settings()


@pytest.fixture
def kafka_settings(kafka_broker: EmbeddedKafka) -> KafkaSettings:
    """Settings pointing at the session broker, with topics unique to this test (created)."""
    n = next(_topic_ids)
    settings = load(KafkaSettings, kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
                    events_topic=f"events-t{n}", results_topic=f"results-t{n}",
                    rejected_topic=f"rejected-t{n}")
    ensure_topics(settings)
    return settings


@pytest.fixture
def job_settings() -> JobSettings:
    # A short watermark delay keeps test runs short; disorder on loopback is a few ms.
    return load(JobSettings, watermark_delay_ms=500, consumer_group=f"ctr-flink-t{next(_topic_ids)}")


@pytest.fixture
def small_load() -> LoadSettings:
    return load(LoadSettings, num_producers=2, events_per_producer=3000, duration_seconds=20.0,
                num_campaigns=4, ads_per_campaign=25, seed=7)


@pytest.fixture
def latency_settings(tmp_path) -> LatencySettings:  # type: ignore[no-untyped-def]
    return load(LatencySettings, report_dir=str(tmp_path), latency_timeout_seconds=90)


class PrometheusServer:
    """Debian's Prometheus on loopback, scraping the given targets every second."""

    SCRAPE_SECONDS = 1.0

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture(scope="session")
def prometheus_factory(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Start a real Prometheus (Debian's package) on a free loopback port for given scrape jobs.

    Call it with ``{job name: ([host:port, ...], honor_labels)}``; every server started is stopped
    at the end of the session.
    """
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.fail("prometheus is not installed: run `make test-deps`")
    procs: list[subprocess.Popen[bytes]] = []

    def start(jobs: dict[str, tuple[list[str], bool]]) -> PrometheusServer:
        import yaml

        work = tmp_path_factory.mktemp("prometheus")
        config = {
            "global": {"scrape_interval": f"{PrometheusServer.SCRAPE_SECONDS:g}s",
                       "evaluation_interval": f"{PrometheusServer.SCRAPE_SECONDS:g}s"},
            "scrape_configs": [{"job_name": name, "honor_labels": honor, "static_configs": [{"targets": targets}]}
                               for name, (targets, honor) in jobs.items()],
        }
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        log = (work / "log").open("wb")
        proc = subprocess.Popen([binary, f"--config.file={work / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=log)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _http_ok(f"{url}/-/ready"), 60, "prometheus", alive=lambda: proc.poll() is None)
        return PrometheusServer(url)

    yield start
    for proc in procs:
        stop_process(proc, "prometheus")


@dataclass
class LiveRun:
    """A 60 s pipeline run scraped by a real Prometheus, with the monitor's /metrics polled meanwhile."""

    settings: Any
    result: Any
    prometheus: str
    started: float
    finished: float
    # Every poll of the monitor's /metrics during the run: (wall time, {sample name + labels: value}).
    polls: list[tuple[float, dict[str, float]]]


def _sample_key(name: str, labels: dict[str, str]) -> str:
    return name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else "")


def _poll_monitor(url: str, stop: threading.Event, out: list[tuple[float, dict[str, float]]]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    while not stop.wait(0.1):
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            continue  # not serving yet
        now = time.time()
        out.append((now, {_sample_key(s.name, s.labels): s.value
                          for fam in text_string_to_metric_families(text) for s in fam.samples}))


@pytest.fixture(scope="session")
def live_run(kafka_broker, postgres_server, pushgateway, prometheus_factory, tmp_path_factory) -> LiveRun:  # type: ignore[no-untyped-def]
    """The README's default run shape for 60 s (3 producers, 1,000 events/s each, MMPP), every part
    serving metrics: producers and the live monitor scraped, Flink and the report through the Pushgateway."""
    from ctrbench.pipeline import RunSettings, run
    from ctrbench.settings import MonitorSettings

    n = next(_topic_ids)
    kafka = load(KafkaSettings, kafka_bootstrap_servers=kafka_broker.bootstrap_servers, events_topic=f"events-t{n}",
                 results_topic=f"results-t{n}", rejected_topic=f"rejected-t{n}")
    ensure_topics(kafka)
    producer_port, monitor_port = free_port(), free_port()
    while monitor_port in range(producer_port, producer_port + 3):
        monitor_port = free_port()
    prom = prometheus_factory({
        "producers": ([f"127.0.0.1:{producer_port + i}" for i in range(3)], False),
        "monitor": ([f"127.0.0.1:{monitor_port}"], False),
        "pushgateway": ([pushgateway], True),
    })
    settings = RunSettings(
        kafka, postgres_server.settings(),
        load(LoadSettings, num_producers=3, events_per_producer=60_000, duration_seconds=60.0, seed=11,
             metrics_port=producer_port),
        load(JobSettings, consumer_group=f"ctr-flink-t{n}", flink_pushgateway=pushgateway),
        load(LatencySettings, report_dir=str(tmp_path_factory.mktemp("live-report")), latency_timeout_seconds=120,
             pushgateway_url=pushgateway),
        load(MonitorSettings, monitor_port=monitor_port))
    polls: list[tuple[float, dict[str, float]]] = []
    stop = threading.Event()
    poller = threading.Thread(target=_poll_monitor, args=(f"http://127.0.0.1:{monitor_port}/metrics", stop, polls),
                              daemon=True)
    poller.start()
    started = time.time()
    try:
        result = run(settings, "flink", skip_consumers=False)
    finally:
        stop.set()
        poller.join(timeout=10)
    # Four scrape intervals: the report's push and the last samples are in Prometheus.
    time.sleep(5 * PrometheusServer.SCRAPE_SECONDS)
    return LiveRun(settings, result, prom.url, started, time.time(), polls)
