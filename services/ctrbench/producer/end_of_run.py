"""End-of-run markers: let the last window close once every producer has stopped.

Event-time windows close when the watermark passes their end, and the watermark only moves with
new records. After the last producer stops, we write one marker to every partition of ``events``:
a well-formed record (valid event time, never null) whose event time lies past the last window's
end plus the watermark delay. The job drops markers before aggregating (``event_type`` is not
view/click/purchase), but its watermark moves past the last window, which then fires.

Markers must be sent only after *all* producers finished: a marker raises its partition's
watermark for good, so a lagging producer's later events would arrive late and be dropped.
"""

from __future__ import annotations

import logging

from confluent_kafka import Producer

from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.config import producer_config
from ctrbench.kafka.topics import admin_client, partitions_of
from ctrbench.producer.events import encode_event
from ctrbench.schema import END_OF_RUN, NS_PER_MS, NS_PER_S, window_id_of
from ctrbench.settings import KafkaSettings

__all__ = ["marker_time_ns", "send_end_of_run"]

_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def marker_time_ns(base_time_ns: int, last_event_ns: int, window_seconds: int, watermark_delay_ms: int) -> int:
    """Event time of the markers: end of the last window + watermark delay + 1 s of margin."""
    window_ns = window_seconds * NS_PER_S
    last_window_end = base_time_ns + (window_id_of(last_event_ns, base_time_ns, window_seconds) + 1) * window_ns
    return last_window_end + watermark_delay_ms * NS_PER_MS + NS_PER_S


def send_end_of_run(kafka: KafkaSettings, base_time_ns: int, last_event_ns: int, window_seconds: int,
                    watermark_delay_ms: int) -> int:
    """Write one marker to each partition of ``events``; returns how many were acknowledged."""
    at = marker_time_ns(base_time_ns, last_event_ns, window_seconds, watermark_delay_ms)
    record = encode_event(_ZERO_UUID, _ZERO_UUID, _ZERO_UUID, 0, "banner", END_OF_RUN, at,
                          window_id_of(at, base_time_ns, window_seconds), "0.0.0.0")
    partitions = partitions_of(admin_client(kafka), kafka.events_topic)
    producer = Producer(producer_config(kafka, "latency"))
    for p in partitions:
        producer.produce(kafka.events_topic, record, partition=p)
    if producer.flush(kafka.kafka_timeout_seconds) != 0:
        raise ServiceUnavailable("end-of-run markers were not acknowledged by the broker")
    logging.getLogger(__name__).info("end-of-run markers written to %d partitions", len(partitions))
    return len(partitions)
