"""The CTR job in Flink's local mini-cluster on hand-made events with known answers."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from ctrbench.flink_job.job import connector_jars, submit, wait_running
from ctrbench.latency.results import collect_results
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.producer.events import encode_event
from ctrbench.schema import NS_PER_S

pytestmark = pytest.mark.integration

AD = "11111111-1111-4111-8111-111111111111"


def _event(campaign: int, kind: str, t_ns: int, base_ns: int) -> bytes:
    return encode_event(AD, AD, AD, campaign, "video", kind, t_ns, (t_ns - base_ns) // (10 * NS_PER_S), "10.0.0.1")


def test_window_counts_null_ctr_and_malformed_records(kafka_settings, job_settings):
    base = (1_800_000_000 * NS_PER_S) // (10 * NS_PER_S) * (10 * NS_PER_S)
    s = NS_PER_S
    records = [
        # window 0, campaign 1: 3 views, 1 click, 1 purchase -> ctr 1/3
        *(_event(1, "view", base + i * s, base) for i in range(3)),
        _event(1, "click", base + 4 * s, base),
        _event(1, "purchase", base + 5 * s, base),
        # window 0, campaign 2: clicks only -> ctr null, never a division by zero or by views+1
        _event(2, "click", base + 6 * s, base),
        _event(2, "click", base + 7 * s, base),
        # records the job must skip without failing
        b"not json at all",
        b'{"campaign_id": "abc"}',
        # window 1, campaign 1: 2 views, 2 clicks -> ctr 1.0
        _event(1, "view", base + 11 * s, base),
        _event(1, "view", base + 12 * s, base),
        _event(1, "click", base + 13 * s, base),
        _event(1, "click", base + 14 * s, base),
    ]
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers})
    for r in records:
        producer.produce(kafka_settings.events_topic, r, partition=0)
    assert producer.flush(10) == 0

    result = submit(kafka_settings, job_settings, connector_jars(job_settings))
    try:
        wait_running(result)
        send_end_of_run(kafka_settings, base, base + 15 * s, 10, job_settings.watermark_delay_ms)
        got = collect_results(kafka_settings, {(0, 1), (0, 2), (1, 1)}, timeout=90)
    finally:
        result.get_job_client().cancel().result()

    rows = {k: (r.views, r.clicks, r.purchases, r.ctr) for k, r in got.results.items()}
    assert rows == {(0, 1): (3, 1, 1, pytest.approx(1 / 3)), (0, 2): (0, 2, 0, None), (1, 1): (2, 2, 0, 1.0)}
    first = got.results[(0, 1)]
    assert first.window_start == "2027-01-15T08:00:00.000Z"
    assert first.window_end == "2027-01-15T08:00:10.000Z"
    assert got.duplicates == [] and got.malformed == 0
