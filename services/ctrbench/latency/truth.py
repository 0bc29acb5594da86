"""The expected results, recomputed from the events the producers actually wrote to Kafka.

Reading ``events`` back (rather than trusting the producers' own counts) checks the whole chain:
what the broker holds is exactly what the job could have seen.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import orjson

from ctrbench.kafka.reading import read_all
from ctrbench.schema import EVENT_TYPES
from ctrbench.settings import KafkaSettings

__all__ = ["Expected", "WindowKey", "expected_results", "expected_from_records"]

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


def expected_from_records(values: list[bytes]) -> Expected:
    """Aggregate raw event records (JSON bytes) the same way the job is meant to."""
    tally: Counter[tuple[int, int, str]] = Counter()
    skipped = 0
    for raw in values:
        try:
            ev = orjson.loads(raw)
            key = (int(ev["window_id"]), int(ev["campaign_id"]), ev["event_type"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            skipped += 1
            continue
        if key[2] in _TYPES:
            tally[key] += 1
        else:
            skipped += 1
    counts: dict[WindowKey, dict[str, int]] = {}
    for (window, campaign, kind), n in tally.items():
        counts.setdefault((window, campaign), dict.fromkeys(EVENT_TYPES, 0))[kind] = n
    return Expected(counts, sum(tally.values()), skipped)


def disorder(partitions: list[int], event_time_ns: list[int]) -> dict[str, float]:
    """p50/p99/max of event-time lateness behind each partition's running maximum, in ms."""
    if not event_time_ns:
        return {}
    part = np.asarray(partitions)
    times = np.asarray(event_time_ns, dtype=np.int64)
    late = np.zeros(len(times), dtype=np.int64)
    for p in np.unique(part):
        idx = np.flatnonzero(part == p)
        late[idx] = np.maximum.accumulate(times[idx]) - times[idx]
    ms = late / 1e6
    return {"p50": round(float(np.percentile(ms, 50)), 3), "p99": round(float(np.percentile(ms, 99)), 3),
            "max": round(float(ms.max()), 3)}


def _event_time(raw: bytes) -> int | None:
    try:
        value = orjson.loads(raw).get("event_time_ns")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def expected_results(kafka: KafkaSettings) -> Expected:
    """Read the whole ``events`` topic, aggregate it, and measure its event-time disorder."""
    values, partitions = [], []
    for msg in read_all(kafka, kafka.events_topic, group="ctrbench-truth"):
        values.append(msg.value())
        partitions.append(msg.partition())
    expected = expected_from_records(values)
    timed = [(p, t) for p, t in zip(partitions, map(_event_time, values), strict=True) if t is not None]
    expected.disorder_ms.update(disorder([p for p, _ in timed], [t for _, t in timed]))
    logger.info("truth: %d events in %d (window, campaign) cells, %d other records; event-time disorder %s ms",
                expected.events, len(expected.counts), expected.skipped, expected.disorder_ms)
    return expected
