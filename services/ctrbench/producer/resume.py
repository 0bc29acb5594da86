"""A restarted producer sends only what the broker does not have yet.

A producer's schedule is deterministic: the same seed, id, start and base give the same events, byte
for byte. So a producer that starts again (its process killed, its pod recreated) rebuilds the schedule,
reads ``events`` and skips every event of it already there. Exact, with no field added to the events:
an event the broker appended before the kill is found (acknowledged or not), one that was lost in the
client's queue is not, and is sent. Events of other producers never match (their ids seed other streams).
"""

from __future__ import annotations

import logging

import numpy as np

from ctrbench.kafka.reading import offset_ranges, read_range
from ctrbench.producer.events import EventBatch
from ctrbench.settings import KafkaSettings

__all__ = ["already_in_topic", "remaining_events"]

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
