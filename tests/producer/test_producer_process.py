"""A producer process against the real broker: SIGTERM loses nothing, /metrics tells the truth."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ctrbench import catalog
from ctrbench.embedded.process import free_port, wait_until
from ctrbench.kafka.reading import read_all
from ctrbench.pipeline import settings_env

pytestmark = pytest.mark.integration


def _start(kafka, pg, tmp_path, *extra: str, **env: str) -> subprocess.Popen[bytes]:
    catalog.write_catalog(pg, catalog.generate(42, 10, 100))
    full_env = os.environ | settings_env(kafka, pg) | env
    cmd = [sys.executable, "-m", "ctrbench", "produce", "--producer-id", "1",
           "--report-file", str(tmp_path / "report.json"), *extra]
    return subprocess.Popen(cmd, env=full_env)


def test_sigterm_flushes_and_counts_every_acknowledged_event(kafka_settings, postgres_settings, tmp_path):
    proc = _start(kafka_settings, postgres_settings, tmp_path, EVENTS_PER_PRODUCER="200000",
                  DURATION_SECONDS="60")
    time.sleep(6)  # a few seconds into the 60 s schedule
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["interrupted"] is True
    assert 0 < report["acknowledged"] < 200_000
    assert report["delivery_errors"] == 0
    in_topic = sum(1 for _ in read_all(kafka_settings, kafka_settings.events_topic))
    assert in_topic == report["acknowledged"] == report["sent"]
    assert sum(report["by_event_type"].values()) == report["sent"]


def _scrape(port: int) -> dict[str, list]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {fam.name: fam.samples for fam in text_string_to_metric_families(text)}


def test_metrics_endpoint_counts_what_was_sent(kafka_settings, postgres_settings, tmp_path):
    port = free_port()
    proc = _start(kafka_settings, postgres_settings, tmp_path, "--hold", EVENTS_PER_PRODUCER="3000",
                  DURATION_SECONDS="4", METRICS_PORT=str(port))
    try:
        wait_until(lambda: (tmp_path / "report.json").exists(), 60, "producer report")
        metrics = _scrape(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    report = json.loads((tmp_path / "report.json").read_text())
    sent = {s.labels["event_type"]: s.value for s in metrics["ctr_producer_events_sent"]
            if s.name == "ctr_producer_events_sent_total"}
    assert sent == {k: float(v) for k, v in report["by_event_type"].items()}
    lag = {s.name: s for s in metrics["ctr_producer_schedule_lag_seconds"]}
    assert lag["ctr_producer_schedule_lag_seconds_count"].value == 3000
    assert lag["ctr_producer_schedule_lag_seconds_count"].labels == {"producer": "1"}
    inf = [s for s in metrics["ctr_producer_schedule_lag_seconds"] if s.labels.get("le") == "+Inf"]
    assert inf[0].value == 3000
    assert [s.value for s in metrics["ctr_producer_delivery_errors"] if s.name.endswith("_total")] == [0.0]
    assert "ctr_producer_mmpp_high_state" in metrics and "ctr_producer_target_rate_events_per_second" in metrics


def test_exactly_once_profile_commits_everything(kafka_settings, postgres_settings, tmp_path):
    proc = _start(kafka_settings, postgres_settings, tmp_path, EVENTS_PER_PRODUCER="5000",
                  DURATION_SECONDS="3", PRODUCER_PROFILE="exactly-once")
    assert proc.wait(timeout=60) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    # read_all reads read_committed: only committed transactions count.
    in_topic = sum(1 for _ in read_all(kafka_settings, kafka_settings.events_topic))
    assert in_topic == report["acknowledged"] == 5000


def test_full_client_queue_retries_without_loss_or_duplicates(kafka_settings):
    """A 500-message client queue overflows at once; every event must still arrive exactly once."""
    from confluent_kafka import Producer

    from ctrbench.producer.events import EventBatch
    from ctrbench.producer.runner import _produce_range

    values = [b'{"n":%d}' % i for i in range(20_000)]
    batch = EventBatch(values, [b"k"] * len(values), None, None)  # type: ignore[arg-type]
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers,
                         "queue.buffering.max.messages": 500, "enable.idempotence": True})
    _produce_range(producer, kafka_settings.events_topic, batch, 0, len(values))
    assert producer.flush(30) == 0
    got = [m.value() for m in read_all(kafka_settings, kafka_settings.events_topic)]
    assert got == values  # one key, one partition: order kept, nothing lost, nothing twice
