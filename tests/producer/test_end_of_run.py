"""End-of-run markers: past the last window plus the watermark delay, and on every partition."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ctrbench.producer.end_of_run import marker_time_ns, send_end_of_run
from ctrbench.schema import END_OF_RUN, NS_PER_MS, NS_PER_S


def test_marker_time_closes_the_last_window():
    base = 1_000 * NS_PER_S
    last_event = base + 23 * NS_PER_S + 5  # in window 2, which ends at base + 30 s
    at = marker_time_ns(base, last_event, 10, 700)
    assert at == base + 30 * NS_PER_S + 700 * NS_PER_MS + NS_PER_S


@pytest.mark.integration
def test_markers_reach_every_partition(kafka_settings):
    base = 1_000 * NS_PER_S
    assert send_end_of_run(kafka_settings, base, base + 5 * NS_PER_S, 10, 500) == 3
    consumer = Consumer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers, "group.id": "t"})
    consumer.assign([TopicPartition(kafka_settings.events_topic, p, OFFSET_BEGINNING) for p in range(3)])
    got = {}
    while len(got) < 3:
        msg = consumer.poll(10)
        assert msg is not None and msg.error() is None
        got[msg.partition()] = json.loads(msg.value())
    consumer.close()
    assert {ev["event_type"] for ev in got.values()} == {END_OF_RUN}
    assert {ev["event_time_ns"] for ev in got.values()} == {base + 11_500 * NS_PER_MS}
