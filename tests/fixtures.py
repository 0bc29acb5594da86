"""Session fixtures: one real Kafka broker and one real PostgreSQL for the whole test run.

Tests get their own topic names from ``kafka_settings`` so they never see each other's records.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

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
    return load(LoadSettings, num_producers=2, events_per_producer=3000, duration_seconds=12.0,
                num_campaigns=4, ads_per_campaign=25, seed=7)


@pytest.fixture
def latency_settings(tmp_path) -> LatencySettings:  # type: ignore[no-untyped-def]
    return load(LatencySettings, report_dir=str(tmp_path), latency_timeout_seconds=90)
