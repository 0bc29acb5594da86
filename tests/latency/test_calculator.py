"""The report against the real broker: events and results written by the test, known answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer

from ctrbench.embedded.process import free_port
from ctrbench.latency.calculator import run_latency
from ctrbench.pipeline import settings_env
from ctrbench.producer.events import encode_event
from ctrbench.schema import NS_PER_S
from ctrbench.settings import JobSettings, LatencySettings, load

pytestmark = pytest.mark.integration

AD = "22222222-2222-4222-8222-222222222222"
# (window, campaign) -> (views, clicks, purchases)
CELLS = {(0, 1): (4, 1, 0), (0, 2): (2, 2, 1), (1, 1): (5, 0, 0)}


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS_PER_S, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _write(kafka, base: int, wrong_ctr_for: tuple[int, int] | None = None) -> None:
    """Events of CELLS in windows of ``base``, and the results a correct job would write for them."""
    producer = Producer({"bootstrap.servers": kafka.kafka_bootstrap_servers})
    for (w, c), counts in CELLS.items():
        t = base + w * 10 * NS_PER_S + NS_PER_S
        for kind, n in zip(("view", "click", "purchase"), counts, strict=True):
            for _ in range(n):
                producer.produce(kafka.events_topic, encode_event(AD, AD, AD, c, "video", kind, t, w, "1.1.1.1"))
    assert producer.flush(10) == 0
    for (w, c), (views, clicks, purchases) in CELLS.items():
        ctr = clicks / views if views else None
        if (w, c) == wrong_ctr_for:
            ctr = clicks / (views + 1)  # the seed's defect
        start = base + w * 10 * NS_PER_S
        result = {"window_id": w, "window_start": _iso(start),
                  "window_end": _iso(start + 10 * NS_PER_S), "campaign_id": c, "views": views,
                  "clicks": clicks, "purchases": purchases, "ctr": ctr, "max_source_log_append_time_ms": 1000}
        producer.produce(kafka.results_topic, json.dumps(result).encode())
    assert producer.flush(10) == 0


def _base() -> int:
    now = time.time_ns()
    return now - now % (10 * NS_PER_S) - 60 * NS_PER_S


def test_report_files_and_pushed_metrics_agree(kafka_settings, pushgateway, tmp_path):
    base = _base()
    _write(kafka_settings, base)
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers})
    producer.produce(kafka_settings.events_topic, b"not json")  # one malformed record among the events
    assert producer.flush(10) == 0
    port = free_port()
    settings = load(LatencySettings, report_dir=str(tmp_path), latency_timeout_seconds=30,
                    pushgateway_url=pushgateway, latency_metrics_port=port)

    report = run_latency(kafka_settings, settings, load(JobSettings, base_time_ns=base), 2, "normal")

    assert report.verification.ok and report.verification.matched == 3
    assert report.csv_path.name == "latency_report_2_15_normal.csv"
    assert (report.expected.skipped, report.expected.not_objects) == (1, 1)
    assert report.csv_path.read_text().splitlines()[0].startswith("window_id,max_latency_ms,")
    summary = json.loads(report.summary_path.read_text())
    assert summary["verification"]["matched"] == 3 and summary["events_in_kafka"] == 15
    assert report.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    text = urlopen(f"http://{pushgateway}/metrics", timeout=5).read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.labels.get("job") == "ctr_latency" and s.labels.get("producers") == "2"}

    def value(name: str, **labels: str) -> float:
        want = {"job": "ctr_latency", "producers": "2", "distribution": "normal", "instance": ""} | labels
        return samples[(name, tuple(sorted(want.items())))]

    assert value("ctr_windows_verified_total") == 3
    assert value("ctr_windows_mismatched_total") == 0
    assert value("ctr_report_window_latency_seconds_count", kind="end_to_end") == 3
    e2e = summary["latency_ms"]["end_to_end_per_cell"]
    assert value("ctr_last_run_latency_ms", quantile="p99") == e2e["p99"]
    assert value("ctr_last_run_latency_ms", quantile="max") == e2e["max"]
    # Sum of the histogram equals the sum of the cells' latencies.
    total_s = sum(r.end_to_end_latency_ms for r in report.collected.results.values()) / 1000
    assert value("ctr_report_window_latency_seconds_sum", kind="end_to_end") == pytest.approx(total_s)
    assert value("ctr_events_non_event_records") == 1

    # The same numbers on the report's own /metrics endpoint.
    served = {s.name: s.value for fam in text_string_to_metric_families(
        urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()) for s in fam.samples if not s.labels}
    assert served["ctr_windows_verified_total"] == 3 and served["ctr_events_non_event_records"] == 1


def test_corrupted_ctr_fails_verification_and_names_the_cell(kafka_settings, tmp_path):
    base = _base()
    _write(kafka_settings, base, wrong_ctr_for=(0, 1))
    env = os.environ | settings_env(kafka_settings) | {"REPORT_DIR": str(tmp_path), "LATENCY_TIMEOUT_SECONDS": "30",
                                                        "BASE_TIME_NS": str(base)}

    proc = subprocess.run([sys.executable, "-m", "ctrbench", "latency", "--num-producers", "2"],
                          capture_output=True, text=True, env=env, timeout=120)

    assert proc.returncode == 4
    error = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(error) == 1
    assert "2 matched, 1 wrong" in error[0]
    assert "window 0 campaign 1: ctr expected 0.25, got 0.2" in error[0]
    summary = json.loads((tmp_path / "latency_report_2_15_mmpp.json").read_text())
    assert summary["verification"]["ok"] is False
    assert summary["verification"]["wrong"] == ["window 0 campaign 1: ctr expected 0.25, got 0.2"]
