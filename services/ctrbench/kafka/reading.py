"""Read a topic's records from the beginning with partition assignment (no group rebalance wait)."""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.config import consumer_config
from ctrbench.kafka.topics import admin_client, partitions_of
from ctrbench.settings import KafkaSettings

__all__ = ["OffsetRange", "offset_ranges", "read_all", "read_range", "read_until", "watermarks"]

logger = logging.getLogger(__name__)

_BATCH = 10_000
# consume() waits this long whenever fewer than _BATCH records are ready (it does not return
# early at a partition's end), so every read ends with one such wait: keep it short.
_WAIT_SECONDS = 0.1


def _existing_partitions(kafka: KafkaSettings, topic: str) -> list[int]:
    parts = partitions_of(admin_client(kafka), topic, timeout=kafka.kafka_timeout_seconds)
    if not parts:
        raise ServiceUnavailable(f"topic {topic} does not exist on {kafka.kafka_bootstrap_servers}")
    return parts


def _assigned(kafka: KafkaSettings, topic: str, group: str) -> Consumer:
    parts = _existing_partitions(kafka, topic)
    consumer = Consumer(consumer_config(kafka, group))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    return consumer


# Errors the client reports while it reconnects to a broker that went away (a restart): it recovers on its own.
_TRANSIENT = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE, KafkaError._TIMED_OUT}


def _data(msgs: list[Message]) -> Iterator[Message]:
    for msg in msgs:
        err = msg.error()
        if err is None:
            yield msg
        elif err.code() in _TRANSIENT and not err.fatal():
            logger.warning("reading %s: %s; the client reconnects", msg.topic(), err.str())
        elif err.code() != KafkaError._PARTITION_EOF:
            raise ServiceUnavailable(f"reading {msg.topic()}: {err.str()}")


def read_all(kafka: KafkaSettings, topic: str, group: str = "ctrbench-reader") -> Iterator[Message]:
    """Every committed record of ``topic`` up to its end at the time of the call."""
    consumer = _assigned(kafka, topic, group)
    try:
        ends = {}
        for tp in consumer.assignment():
            _low, high = consumer.get_watermark_offsets(tp, timeout=kafka.kafka_timeout_seconds)
            if high > 0:  # empty partitions have nothing to wait for
                ends[tp.partition] = high
        done: set[int] = set()
        while len(done) < len(ends):
            msgs = consumer.consume(_BATCH, timeout=_WAIT_SECONDS)
            for msg in msgs:
                # Only partitions we wait for count: empty ones report EOF at once.
                if (msg.error() is not None and msg.error().code() == KafkaError._PARTITION_EOF
                        and msg.partition() in ends):
                    done.add(msg.partition())
            for msg in _data(msgs):
                yield msg
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
    finally:
        consumer.close()


def read_until(kafka: KafkaSettings, topic: str, complete: Callable[[], bool], timeout: float,
               group: str = "ctrbench-latency") -> Iterator[Message]:
    """Records of ``topic`` as they arrive, until ``complete()`` is true or ``timeout`` s pass."""
    consumer = _assigned(kafka, topic, group)
    deadline = time.monotonic() + timeout
    try:
        while not complete() and time.monotonic() < deadline:
            yield from _data(consumer.consume(_BATCH, timeout=_WAIT_SECONDS))
    finally:
        consumer.close()


@dataclass(frozen=True)
class OffsetRange:
    """Offsets ``[start, end)`` of one partition: a unit of work for parallel readers."""

    partition: int
    start: int
    end: int


def watermarks(kafka: KafkaSettings, topic: str, consumer: Consumer | None = None) -> dict[int, tuple[int, int]]:
    """{partition: (low, high) offsets} of ``topic`` now, from the broker ({} when it does not exist).

    ``consumer``: one to reuse (callers that ask every second); otherwise one is made and closed.
    """
    own = consumer is None
    client = Consumer(consumer_config(kafka, "ctrbench-offsets")) if own else consumer
    try:
        # The consumer answers the metadata request too (same call as an AdminClient's): one connection.
        parts = partitions_of(client, topic, timeout=kafka.kafka_timeout_seconds)  # type: ignore[arg-type]
        return {p: client.get_watermark_offsets(TopicPartition(topic, p), timeout=kafka.kafka_timeout_seconds,
                                                cached=False) for p in parts}
    finally:
        if own:
            client.close()


def offset_ranges(kafka: KafkaSettings, topic: str, pieces: int) -> list[OffsetRange]:
    """Split ``topic``'s current contents into about ``pieces`` ranges of similar size.

    Partitions are rarely balanced (nor a multiple of the reader count), so whole partitions
    per reader would leave cores idle; ranges are cut across partitions, in partition order.
    """
    _existing_partitions(kafka, topic)
    bounds = {p: (low, high) for p, (low, high) in watermarks(kafka, topic).items() if high > low}
    total = sum(high - low for low, high in bounds.values())
    target = max(1, math.ceil(total / max(1, pieces)))
    ranges = []
    for p, (low, high) in sorted(bounds.items()):
        cuts = math.ceil((high - low) / target)
        edges = [low + (high - low) * i // cuts for i in range(cuts + 1)]
        ranges.extend(OffsetRange(p, a, b) for a, b in itertools.pairwise(edges))
    return ranges


def read_range(kafka: KafkaSettings, topic: str, span: OffsetRange,
               group: str = "ctrbench-reader") -> Iterator[tuple[list[bytes | None], list[int]]]:
    """The committed records of one offset range, a consumer batch at a time: (values, broker times in ms).

    In offset order, with no per-record Python work beyond taking the value and the timestamp.
    Offsets with no record to deliver (transaction markers, aborted records under read_committed)
    are skipped by the client, so the range ends at the first record at or past ``end`` or at the
    partition's end, whichever comes first.
    """
    consumer = Consumer(consumer_config(kafka, group))
    consumer.assign([TopicPartition(topic, span.partition, span.start)])
    try:
        while True:
            msgs = consumer.consume(_BATCH, timeout=_WAIT_SECONDS)
            data = list(_data(msgs))  # raises on any error but the end of the partition
            at_end = len(data) < len(msgs)  # the partition's end: nothing more was written when we started
            last = data and data[-1].offset() + 1 >= span.end
            if last:
                data = [m for m in data if m.offset() < span.end]
            if data:
                yield [m.value() for m in data], [m.timestamp()[1] for m in data]
            if last or at_end:
                return
    finally:
        consumer.close()
