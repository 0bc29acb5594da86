"""A restarted producer sends only what the broker does not have yet.

A producer's schedule is deterministic: the same seed, id, start and base give the same events, byte
for byte. So a producer that starts again (its process killed, its pod recreated) rebuilds the schedule,
reads ``events`` and skips every event of it already there. Exact, with no field added to the events:
an event the broker appended before the kill is found (acknowledged or not), one that was lost in the
client's queue is not, and is sent. Events of other producers never match (their ids seed other streams).

A restarted pod of a StatefulSet is not told its start time (the first incarnation learned it from the start
barrier), so it reads that from the topic as well: an event's user id is random and does not depend on the
start, while its event time is the start plus an offset that does not depend on it either. The first of its
own events found in the topic gives the start back exactly.
"""

from __future__ import annotations

import logging

import numpy as np

from ctrbench.catalog import AdCatalog
from ctrbench.kafka.reading import offset_ranges, read_range
from ctrbench.producer.events import EventBatch
from ctrbench.settings import KafkaSettings, LoadSettings

__all__ = ["already_in_topic", "earlier_start", "remaining_events"]

# A producer's record starts with '{"user_id":"' and a 36-character UUID; event_time_ns follows its key.
_USER_ID = slice(12, 48)
_TIME_KEY = b'"event_time_ns":'
_TIME_DIGITS = 19

logger = logging.getLogger(__name__)


def already_in_topic(kafka: KafkaSettings, events: EventBatch) -> np.ndarray:
    """A mask over ``events``: True where that exact event is in the topic (committed records)."""
    found = np.zeros(len(events), dtype=bool)
    spans = offset_ranges(kafka, kafka.events_topic, 1)
    if not spans:  # a fresh run: nothing to look for
        return found
    index = {payload: i for i, payload in enumerate(events.payloads)}
    for span in spans:
        for values, _times in read_range(kafka, kafka.events_topic, span, group="ctrbench-resume"):
            for value in values:
                i = index.get(value)  # type: ignore[arg-type]
                if i is not None:
                    found[i] = True
    return found


def remaining_events(events: EventBatch, sent: np.ndarray) -> EventBatch:
    """``events`` without those marked in ``sent``, in the same order."""
    keep = np.flatnonzero(~sent)
    return EventBatch([events.payloads[i] for i in keep], [events.keys[i] for i in keep],
                      events.event_time_ns[keep], events.event_type_idx[keep])


def earlier_start(kafka: KafkaSettings, load: LoadSettings, producer_id: int, catalog: AdCatalog,
                  base_time_ns: int, window_seconds: int) -> int | None:
    """The start time (ns) of this producer's earlier incarnation in this run, read from ``events``;
    None when the topic holds none of its events (a fresh start: the topic is recreated for every run)."""
    from ctrbench.producer.runner import build_schedule

    spans = offset_ranges(kafka, kafka.events_topic, 1)
    if not spans:
        return None
    # Any start gives the same user ids and offsets; the base time only has to lie before it.
    probe = build_schedule(load, producer_id, catalog, base_time_ns, base_time_ns, window_seconds)
    index = {payload[_USER_ID]: i for i, payload in enumerate(probe.events.payloads)}
    for span in spans:
        for values, _times in read_range(kafka, kafka.events_topic, span, group="ctrbench-resume"):
            for value in values:
                i = index.get(value[_USER_ID]) if value else None
                if i is None:
                    continue
                at = value.find(_TIME_KEY) + len(_TIME_KEY)  # type: ignore[union-attr]
                event_time_ns = int(value[at:at + _TIME_DIGITS])  # type: ignore[index]
                start = event_time_ns - int(probe.events.event_time_ns[i] - base_time_ns)
                logger.info("producer %d: its events are already in %s: it started at %d ns (a restart)",
                            producer_id, kafka.events_topic, start)
                return start
    return None
