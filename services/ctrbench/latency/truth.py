"""The expected results, recomputed from the events the producers actually wrote to Kafka.

Reading ``events`` back (rather than trusting the producers' own counts) checks the whole chain:
what the broker holds is exactly what the job could have seen. Each partition is read and
aggregated by its own process (spawned, so no librdkafka or JVM threads are forked), and each
record is parsed once, for its cell and its event time.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import orjson

from ctrbench.kafka.reading import read_all
from ctrbench.kafka.topics import admin_client, partitions_of
from ctrbench.schema import EVENT_TYPES
from ctrbench.settings import KafkaSettings

__all__ = ["Expected", "WindowKey", "disorder", "expected_from_records", "expected_results"]

logger = logging.getLogger(__name__)

WindowKey = tuple[int, int]  # (window_id, campaign_id)
_TYPES = frozenset(EVENT_TYPES)


@dataclass(frozen=True)
class Expected:
    """Counts per (window, campaign) and per event type, plus how many records were not events."""

    counts: dict[WindowKey, dict[str, int]]
    events: int
    skipped: int
    # How far behind the partition's largest event time so far each event arrived (ms): the
    # out-of-orderness the watermark delay must cover. Filled by expected_results.
    disorder_ms: dict[str, float] = field(default_factory=dict)

    def ctr(self, key: WindowKey) -> float | None:
        c = self.counts[key]
        return c["click"] / c["view"] if c["view"] else None


@dataclass
class _Tally:
    """Aggregation state of one stream of records (one partition, or a list in tests)."""

    cells: Counter[tuple[int, int, str]] = field(default_factory=Counter)
    skipped: int = 0
    lateness_ns: list[int] = field(default_factory=list)

    def add_all(self, values: Iterable[bytes]) -> _Tally:
        cells, lateness = self.cells, self.lateness_ns
        newest = None
        for raw in values:
            try:
                ev = orjson.loads(raw)
                key = (int(ev["window_id"]), int(ev["campaign_id"]), ev["event_type"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                self.skipped += 1
                continue
            if key[2] not in _TYPES:
                self.skipped += 1
                continue
            cells[key] += 1
            t = ev.get("event_time_ns")
            if isinstance(t, int):
                newest = t if newest is None or t > newest else newest
                lateness.append(newest - t)
        return self


def _expected(tallies: Iterable[_Tally]) -> Expected:
    cells: Counter[tuple[int, int, str]] = Counter()
    skipped = 0
    lateness: list[int] = []
    for tally in tallies:
        cells.update(tally.cells)
        skipped += tally.skipped
        lateness.extend(tally.lateness_ns)
    counts: dict[WindowKey, dict[str, int]] = {}
    for (window, campaign, kind), n in cells.items():
        counts.setdefault((window, campaign), dict.fromkeys(EVENT_TYPES, 0))[kind] = n
    return Expected(counts, sum(cells.values()), skipped, _percentiles_ms(lateness))


def _percentiles_ms(lateness_ns: list[int]) -> dict[str, float]:
    if not lateness_ns:
        return {}
    ms = np.asarray(lateness_ns, dtype=np.int64) / 1e6
    return {"p50": round(float(np.percentile(ms, 50)), 3), "p99": round(float(np.percentile(ms, 99)), 3),
            "max": round(float(ms.max()), 3)}


def expected_from_records(values: Iterable[bytes]) -> Expected:
    """Aggregate raw event records (JSON bytes, one partition's order) the way the job is meant to."""
    return _expected([_Tally().add_all(values)])


def disorder(partitions: list[int], event_time_ns: list[int]) -> dict[str, float]:
    """p50/p99/max of event-time lateness behind each partition's running maximum, in ms."""
    lateness: list[int] = []
    for p in sorted(set(partitions)):
        newest = None
        for part, t in zip(partitions, event_time_ns, strict=True):
            if part == p:
                newest = t if newest is None or t > newest else newest
                lateness.append(newest - t)
    return _percentiles_ms(lateness)


def _partition_tally(kafka: KafkaSettings, partition: int) -> _Tally:
    """One worker: read one partition of ``events`` to its end and aggregate it."""
    records = (m.value() for m in read_all(kafka, kafka.events_topic, group="ctrbench-truth",
                                            partitions=[partition]))
    return _Tally().add_all(records)


def expected_results(kafka: KafkaSettings) -> Expected:
    """Read the whole ``events`` topic, a process per partition, and aggregate it."""
    parts = partitions_of(admin_client(kafka), kafka.events_topic, timeout=kafka.kafka_timeout_seconds)
    workers = max(1, min(len(parts), os.cpu_count() or 1))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        tallies = list(pool.map(_partition_tally, [kafka] * len(parts), parts))
    expected = _expected(tallies)
    logger.info("truth: %d events in %d (window, campaign) cells, %d other records; event-time disorder %s ms",
                expected.events, len(expected.counts), expected.skipped, expected.disorder_ms)
    return expected
