"""The whole chain, for real, once per engine: producers (processes) -> Kafka -> the CTR job (PyFlink
mini-cluster, or Spark in local mode) -> Kafka -> report.

The expected values are recomputed here, independently of ctrbench's verifier, from the events
the broker actually holds, using a plain consumer and ``json``.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from urllib.request import urlopen

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from ctrbench.pipeline import RunSettings, run
from ctrbench.settings import KafkaSettings
from tests.jobs import ENGINES

pytestmark = pytest.mark.integration


def _read_topic(kafka: KafkaSettings, topic: str) -> list[tuple[bytes, int]]:
    """(value, timestamp ms) of every record in ``topic``, read to its current end."""
    consumer = Consumer({"bootstrap.servers": kafka.kafka_bootstrap_servers, "group.id": "test-reader",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
    ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
    consumer.assign(parts)
    out, seen = [], Counter()
    while any(seen[p] < end for p, end in ends.items()):
        msg = consumer.poll(5)
        assert msg is not None, f"stalled reading {topic}: {dict(seen)} of {ends}"
        assert msg.error() is None, msg.error()
        seen[msg.partition()] = msg.offset() + 1
        out.append((msg.value(), msg.timestamp()[1]))
    consumer.close()
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_run_results_equal_truth_and_report_latency(kafka_settings, postgres_settings, small_load, job_settings,
                                                    latency_settings, pushgateway, engine):
    latency_settings = latency_settings.model_copy(update={"pushgateway_url": pushgateway})
    settings = RunSettings(kafka_settings, postgres_settings, small_load, job_settings, latency_settings)

    result = run(settings, engine, skip_consumers=False)

    # Producers: everything scheduled was acknowledged.
    assert [p["acknowledged"] for p in result.producers] == [small_load.events_per_producer] * 2

    # Truth from the events topic (markers excluded).
    truth: Counter[tuple[int, int, str]] = Counter()
    for value, _ts in _read_topic(kafka_settings, kafka_settings.events_topic):
        ev = json.loads(value)
        if ev["event_type"] in ("view", "click", "purchase"):
            truth[(ev["window_id"], ev["campaign_id"], ev["event_type"])] += 1
    assert sum(truth.values()) == 2 * small_load.events_per_producer
    cells = {(w, c) for (w, c, _t) in truth}

    results = {}
    for value, ts in _read_topic(kafka_settings, kafka_settings.results_topic):
        rec = json.loads(value)
        key = (rec["window_id"], rec["campaign_id"])
        assert key not in results, f"duplicate result for {key}"
        results[key] = (rec, ts)
    assert set(results) == cells

    for (w, c), (rec, ts) in results.items():
        views, clicks, purchases = truth[(w, c, "view")], truth[(w, c, "click")], truth[(w, c, "purchase")]
        assert (rec["views"], rec["clicks"], rec["purchases"]) == (views, clicks, purchases), (w, c)
        assert rec["ctr"] == (pytest.approx(clicks / views) if views else None), (w, c)
        assert 0 < ts - rec["max_source_log_append_time_ms"] < 60_000

    # The report: seed file name from the run's values, one row per window, positive latency.
    report = result.report
    assert report is not None and report.verification.ok
    assert report.csv_path.name == f"latency_report_2_{2 * small_load.events_per_producer}_mmpp.csv"
    with report.csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:2] == ["window_id", "max_latency_ms"]
    assert sorted(int(r["window_id"]) for r in rows) == sorted({w for w, _c in cells})
    assert all(int(r["max_latency_ms"]) > 0 for r in rows)
    expected_max = {w: max(ts - rec["max_source_log_append_time_ms"] for (ww, _c), (rec, ts) in results.items()
                           if ww == w) for w in {w for w, _c in cells}}
    assert {int(r["window_id"]): int(r["max_latency_ms"]) for r in rows} == expected_max
    summary = json.loads(report.summary_path.read_text())
    assert summary["verification"]["matched"] == len(cells)
    assert summary["run"]["impl"] == engine
    if engine == "spark":
        assert summary["run"]["engine_late_rows_dropped"] == 0  # producers on time: nothing behind the watermark
    # The live monitor measured the job's backlog (Flink: its REST API; Spark: its micro-batches' offsets).
    assert result.monitor.backlog_history and result.monitor.backlog_history[-1][1] == 0
    assert summary["events_in_kafka"] == 2 * small_load.events_per_producer
    # Events reach the broker a few ms after their event time here; "disturbed" names any that took over 1 s.
    assert 0 <= summary["ingest_delay_ms"]["p50"] < 1000
    assert (summary["disturbed"] == "") == (report.expected.late_ingest == 0)
    assert summary["latency_ms"]["end_to_end_per_window_max"]["max"] == max(expected_max.values())

    # The metrics pushed at the end agree with the files.
    text = urlopen(f"http://{pushgateway}/metrics", timeout=5).read().decode()
    pushed = {(s.name, s.labels.get("kind"), s.labels.get("quantile")): s.value
              for fam in text_string_to_metric_families(text) for s in fam.samples
              if s.labels.get("job") == "ctr_latency" and s.labels.get("producers") == "2"
              and s.labels.get("distribution") == "mmpp"}
    assert pushed[("ctr_windows_verified_total", None, None)] == len(cells)
    assert pushed[("ctr_report_window_latency_seconds_count", "end_to_end", None)] == len(cells)
    assert pushed[("ctr_last_run_latency_ms", None, "max")] == max(expected_max.values())
