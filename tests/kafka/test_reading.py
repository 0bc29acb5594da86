"""Reading a topic in offset ranges (the truth's parallel read) against the real broker."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.reading import offset_ranges, read_all, read_range

pytestmark = pytest.mark.integration


def _by_partition(kafka_settings) -> dict[int, list[bytes]]:
    got: dict[int, list[bytes]] = {}
    for msg in read_all(kafka_settings, kafka_settings.events_topic):
        got.setdefault(msg.partition(), []).append(msg.value())
    return got


def _read_ranges(kafka_settings, pieces: int) -> tuple[list, dict[int, list[bytes]]]:
    ranges = offset_ranges(kafka_settings, kafka_settings.events_topic, pieces)
    got: dict[int, list[bytes]] = {}
    for span in ranges:
        for values, times in read_range(kafka_settings, kafka_settings.events_topic, span):
            assert len(times) == len(values) and all(t > 1_700_000_000_000 for t in times)  # broker time, ms
            got.setdefault(span.partition, []).extend(values)
    return ranges, got


def test_ranges_cover_every_record_once_and_skip_empty_partitions(kafka_settings):
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers})
    for partition, count in ((0, 100), (1, 7)):  # partition 2 stays empty
        for i in range(count):
            producer.produce(kafka_settings.events_topic, b"p%d-%d" % (partition, i), partition=partition)
    assert producer.flush(10) == 0

    ranges, got = _read_ranges(kafka_settings, 4)

    assert {r.partition for r in ranges} == {0, 1}
    sizes = [r.end - r.start for r in ranges]
    assert sum(sizes) == 107 and max(sizes) <= 27  # about a quarter each, cut within partition 0
    assert got == _by_partition(kafka_settings)
    assert got[0] == [b"p0-%d" % i for i in range(100)]


def test_ranges_with_transaction_markers_and_aborted_records(kafka_settings):
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers,
                         "transactional.id": f"test-ranges-{kafka_settings.events_topic}"})
    producer.init_transactions(10)
    committed = []
    for txn in range(6):
        producer.begin_transaction()
        for i in range(5):
            value = b"t%d-%d" % (txn, i)
            producer.produce(kafka_settings.events_topic, value, partition=0)
            if txn != 3:
                committed.append(value)
        if txn == 3:
            producer.abort_transaction(10)  # read_committed never delivers these
        else:
            producer.commit_transaction(10)

    # 30 records plus 6 markers: cut in many places, some ranges end on a marker or inside the abort.
    ranges, got = _read_ranges(kafka_settings, 9)

    assert len(ranges) >= 8 and ranges[0].start == 0
    assert all(a.end == b.start for a, b in zip(ranges, ranges[1:], strict=False))
    assert got == {0: committed}


def test_a_missing_topic_is_a_clear_error(kafka_settings):
    missing = kafka_settings.model_copy(update={"events_topic": "no-such-topic"})
    with pytest.raises(ServiceUnavailable, match="topic no-such-topic does not exist"):
        offset_ranges(missing, missing.events_topic, 2)
