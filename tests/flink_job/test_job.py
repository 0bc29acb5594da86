"""The CTR job in Flink's local mini-cluster on hand-made events with known answers.

The same events must give the same results at parallelism 1 and 2 and with either delivery
guarantee; malformed events are skipped, listed in the rejected topic, and never stop the job.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.request import urlopen

import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from ctrbench import validity
from ctrbench.flink_job.job import connector_jars, submit, wait_running
from ctrbench.kafka.reading import read_all
from ctrbench.latency.results import collect_results
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.producer.events import encode_event
from ctrbench.schema import NS_PER_S

pytestmark = pytest.mark.integration

AD = "11111111-1111-4111-8111-111111111111"
S = NS_PER_S


def _event(campaign: int, kind: str, t_ns: int, base_ns: int) -> bytes:
    return encode_event(AD, AD, AD, campaign, "video", kind, t_ns, (t_ns - base_ns) // (10 * S), "10.0.0.1")


def _records(base: int) -> tuple[list[bytes], dict[int, str]]:
    """Events for windows 0 and 1, and malformed records by their offset in partition 0."""
    good_window_0 = [
        # campaign 1: 3 views, 1 click, 1 purchase -> ctr 1/3
        *(_event(1, "view", base + i * S, base) for i in range(3)),
        _event(1, "click", base + 4 * S, base),
        _event(1, "purchase", base + 5 * S, base),
        # campaign 2: clicks only -> ctr null, never a division by zero or by views+1
        _event(2, "click", base + 6 * S, base),
        _event(2, "click", base + 7 * S, base),
    ]
    malformed = [
        b"not json at all",  # dropped by the JSON format itself
        b'{"campaign_id": "abc", "event_type": "view"}',  # wrong type, no event time
        _event(1, "view", 4_000_000_000 * S, base),  # year 2096: must not move the watermark
        _event(1, "hover", base + 8 * S, base),  # unknown event type
    ]
    good_window_1 = [
        # campaign 1: 2 views, 2 clicks -> ctr 1.0 (after the absurd timestamp, so a watermark it
        # had moved would have dropped these as late)
        _event(1, "view", base + 11 * S, base),
        _event(1, "view", base + 12 * S, base),
        _event(1, "click", base + 13 * S, base),
        _event(1, "click", base + 14 * S, base),
    ]
    first = len(good_window_0)
    reasons = {first + 1: validity.REASONS[1], first + 2: validity.REASONS[3], first + 3: validity.REASONS[0]}
    return good_window_0 + malformed + good_window_1, reasons


@pytest.mark.parametrize(("parallelism", "guarantee"), [(1, "at-least-once"), (2, "at-least-once"),
                                                         (1, "exactly-once")])
def test_window_results_are_exact(kafka_settings, job_settings, pushgateway, parallelism, guarantee):
    now = time.time_ns()
    base = now - now % (10 * S) - 60 * S  # a minute ago: event times close to broker time
    records, reasons = _records(base)
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers})
    for r in records:
        producer.produce(kafka_settings.events_topic, r, partition=0)
    assert producer.flush(10) == 0
    job = job_settings.model_copy(update={"parallelism": parallelism, "delivery_guarantee": guarantee,
                                          "flink_pushgateway": pushgateway, "base_time_ns": base})

    result = submit(kafka_settings, job, connector_jars(job))
    try:
        wait_running(result)
        send_end_of_run(kafka_settings, base, base + 15 * S, 10, job.watermark_delay_ms)
        got = collect_results(kafka_settings, {(0, 1), (0, 2), (1, 1)}, 90, base, 10)
        rejected = [json.loads(m.value()) for m in read_all(kafka_settings, kafka_settings.rejected_topic)]
        metrics = urlopen(f"http://{pushgateway}/metrics", timeout=5).read().decode()
    finally:
        result.get_job_client().cancel().result()

    rows = {k: (r.views, r.clicks, r.purchases, r.ctr) for k, r in got.results.items()}
    assert rows == {(0, 1): (3, 1, 1, pytest.approx(1 / 3)), (0, 2): (0, 2, 0, None), (1, 1): (2, 2, 0, 1.0)}
    start = datetime.fromtimestamp(base // S, UTC)
    assert got.results[(0, 1)].window_start == start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert got.results[(1, 1)].window_end == datetime.fromtimestamp(base // S + 20, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    assert got.duplicates == [] and got.malformed == 0
    assert {(r["kafka_partition"], r["kafka_offset"]): r["reason"] for r in rejected} == {
        (0, offset): reason for offset, reason in reasons.items()}
    # Flink's own metrics (pushed by its Prometheus reporter): records in and out per operator.
    names = {s.name for fam in text_string_to_metric_families(metrics) for s in fam.samples}
    assert any(n.startswith("flink_taskmanager_job_task_operator_numRecordsIn") for n in names)
    assert any(n.startswith("flink_taskmanager_job_task_operator_numRecordsOut") for n in names)
