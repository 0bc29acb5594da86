"""The expected results, recomputed from the events the producers actually wrote to Kafka.

Reading ``events`` back (rather than trusting the producers' own counts) checks the whole chain:
what the broker holds is exactly what the job could have seen.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

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


def expected_results(kafka: KafkaSettings) -> Expected:
    """Read the whole ``events`` topic and aggregate it."""
    values = [msg.value() for msg in read_all(kafka, kafka.events_topic, group="ctrbench-truth")]
    expected = expected_from_records(values)
    logger.info("truth: %d events in %d (window, campaign) cells, %d other records",
                expected.events, len(expected.counts), expected.skipped)
    return expected
