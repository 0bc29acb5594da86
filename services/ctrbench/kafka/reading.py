"""Read a topic's records from the beginning with partition assignment (no group rebalance wait)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.config import consumer_config
from ctrbench.kafka.topics import admin_client, partitions_of
from ctrbench.settings import KafkaSettings

__all__ = ["read_all", "read_until"]

_BATCH = 10_000


def _assigned(kafka: KafkaSettings, topic: str, group: str, partitions: list[int] | None = None) -> Consumer:
    parts = partitions if partitions is not None else partitions_of(
        admin_client(kafka), topic, timeout=kafka.kafka_timeout_seconds)
    if not parts:
        raise ServiceUnavailable(f"topic {topic} does not exist on {kafka.kafka_bootstrap_servers}")
    consumer = Consumer(consumer_config(kafka, group))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    return consumer


def _data(msgs: list[Message]) -> Iterator[Message]:
    for msg in msgs:
        err = msg.error()
        if err is None:
            yield msg
        elif err.code() != KafkaError._PARTITION_EOF:
            raise ServiceUnavailable(f"reading {msg.topic()}: {err.str()}")


def read_all(kafka: KafkaSettings, topic: str, group: str = "ctrbench-reader",
             partitions: list[int] | None = None) -> Iterator[Message]:
    """Every committed record of ``topic`` (or of ``partitions`` of it) up to its end at the time of the call."""
    consumer = _assigned(kafka, topic, group, partitions)
    try:
        ends = {}
        for tp in consumer.assignment():
            _low, high = consumer.get_watermark_offsets(tp, timeout=kafka.kafka_timeout_seconds)
            if high > 0:  # empty partitions have nothing to wait for
                ends[tp.partition] = high
        done: set[int] = set()
        while len(done) < len(ends):
            msgs = consumer.consume(_BATCH, timeout=1.0)
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
            yield from _data(consumer.consume(_BATCH, timeout=0.5))
    finally:
        consumer.close()
