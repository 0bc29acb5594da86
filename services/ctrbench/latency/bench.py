"""Verifier benchmark: recomputing the truth from N events in Kafka, against a naive recompute of
the same events in the same run.

The naive baseline is what one would write first: one consumer with librdkafka's defaults,
``poll()`` per record, ``json.loads`` and a ``Counter``. ctrbench reads offset ranges in a worker
process per core with fetch settings that keep the client busy, parses with orjson and counts
with numpy. A second pair of figures times only the parse-and-count step on records in memory.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from ctrbench import catalog
from ctrbench.embedded.kafka_broker import kafka_or_embedded
from ctrbench.errors import CtrError
from ctrbench.kafka.topics import admin_client, clear_topics, partitions_of
from ctrbench.latency.truth import Expected, expected_from_records, expected_results
from ctrbench.producer.runner import build_schedule, send_unpaced
from ctrbench.schema import EVENT_TYPES, NS_PER_MS, NS_PER_S
from ctrbench.settings import JobSettings, KafkaSettings, LoadSettings, load

__all__ = ["VerifyBenchResult", "naive_truth", "run_verify_benchmark"]

logger = logging.getLogger(__name__)

_PER_PRODUCER = 1_000_000
_T = TypeVar("_T")
_Cells = Counter[tuple[int, int, str]]


@dataclass(frozen=True)
class VerifyBenchResult:
    events: int
    partitions: int
    seconds: float
    baseline_seconds: float
    memory_events: int
    memory_seconds: float
    memory_baseline_seconds: float

    def render(self) -> str:
        per_event = self.seconds / self.events * 1e6
        return "\n".join([
            f"machine: {os.cpu_count()} cores (broker on the same machine); {self.events:,} events in Kafka, "
            f"{self.partitions} partitions",
            f"from Kafka, ctrbench : {self.seconds:7.2f} s  ({per_event:.2f} us/event, 10M events ~ "
            f"{per_event * 10:.0f} s)  {self.baseline_seconds / self.seconds:5.2f}x baseline",
            f"from Kafka, naive    : {self.baseline_seconds:7.2f} s  "
            f"({self.baseline_seconds / self.events * 1e6:.2f} us/event; one consumer, poll + json.loads + Counter)",
            f"in memory, ctrbench  : {self.memory_seconds:7.2f} s  for {self.memory_events:,} records "
            f"({self.memory_seconds / self.memory_events * 1e6:.2f} us/event)  "
            f"{self.memory_baseline_seconds / self.memory_seconds:5.2f}x baseline",
            f"in memory, naive     : {self.memory_baseline_seconds:7.2f} s  (json.loads + Counter)",
        ])


def _naive_count(values: Iterable[bytes]) -> _Cells:
    tally: _Cells = Counter()
    for raw in values:
        ev = json.loads(raw)
        if ev.get("event_type") in EVENT_TYPES:
            tally[(ev["window_id"], ev["campaign_id"], ev["event_type"])] += 1
    return tally


def naive_truth(kafka: KafkaSettings) -> _Cells:
    """The baseline: one consumer with default fetch settings, a poll per record."""
    parts = partitions_of(admin_client(kafka), kafka.events_topic, timeout=kafka.kafka_timeout_seconds)
    consumer = Consumer({"bootstrap.servers": kafka.kafka_bootstrap_servers, "group.id": "ctrbench-naive-truth",
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(kafka.events_topic, p, OFFSET_BEGINNING) for p in parts])

    def values() -> Iterable[bytes]:
        at_end: set[int] = set()
        while len(at_end) < len(parts):
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    raise CtrError(msg.error().str())
                at_end.add(msg.partition())
                continue
            yield msg.value()

    try:
        return _naive_count(values())
    finally:
        consumer.close()


def _cells(expected: Expected) -> _Cells:
    return Counter({(w, c, t): n for (w, c), counts in expected.counts.items() for t, n in counts.items() if n})


def _fill(kafka: KafkaSettings, events: int) -> tuple[list[bytes], int]:
    """Write ``events`` producer events to ``events``; returns the first producer's records and the base time."""
    settings = load(LoadSettings, events_per_producer=min(events, _PER_PRODUCER), duration_seconds=600)
    cat = catalog.generate(settings.seed, settings.num_campaigns, settings.ads_per_campaign)
    start = time.time_ns()
    base = start - start % (10 * NS_PER_S)
    first: list[bytes] = []
    written = 0
    producer = 0
    while written < events:
        share = settings.model_copy(update={"events_per_producer": min(_PER_PRODUCER, events - written)})
        batch = build_schedule(share, producer, cat, start, base, 10).events
        acked, errors = send_unpaced(kafka, "throughput", batch)
        if errors:
            raise CtrError(f"{errors} delivery errors while filling {kafka.events_topic}")
        first = first or batch.payloads
        written += acked
        producer += 1
        logger.info("filled %d of %d events", written, events)
    return first, base


def _timed(fn: Callable[..., _T], *args: Any) -> tuple[_T, float]:
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


def run_verify_benchmark(events: int, bootstrap: str | None) -> VerifyBenchResult:
    """Fill ``events`` with N producer events (not timed), then time both recomputes and check they agree."""
    with kafka_or_embedded(bootstrap) as kafka:
        clear_topics(kafka)
        records, base = _fill(kafka, events)
        job = load(JobSettings, base_time_ns=base)
        partitions = len(partitions_of(admin_client(kafka), kafka.events_topic, timeout=kafka.kafka_timeout_seconds))

        expected, seconds = _timed(expected_results, kafka, job)
        naive, baseline_seconds = _timed(naive_truth, kafka)
        if expected.events != events or _cells(expected) != naive:
            raise CtrError(f"the recomputes disagree: ctrbench counted {expected.events:,} events, "
                               f"the baseline {sum(naive.values()):,}, of {events:,} written")

    # In memory there is no broker: each record's append time is its own event time (within the skew).
    append_ms = [orjson.loads(r)["event_time_ns"] // NS_PER_MS for r in records]
    in_memory, memory_seconds = _timed(expected_from_records, records, append_ms, job)
    naive_memory, memory_baseline_seconds = _timed(_naive_count, records)
    if _cells(in_memory) != naive_memory:
        raise CtrError("the in-memory recomputes disagree")
    return VerifyBenchResult(events, partitions, seconds, baseline_seconds, len(records), memory_seconds,
                             memory_baseline_seconds)
