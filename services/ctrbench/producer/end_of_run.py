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
import time

from confluent_kafka import KafkaException, Producer

from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.config import producer_config
from ctrbench.kafka.topics import admin_client, partitions_of
from ctrbench.producer.events import encode_event
from ctrbench.schema import END_OF_RUN, NS_PER_MS, NS_PER_S, window_id_of
from ctrbench.settings import JobSettings, KafkaSettings, LoadSettings

__all__ = ["close_run", "event_count", "marker_time_ns", "send_end_of_run"]

logger = logging.getLogger(__name__)

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
    logger.info("end-of-run markers written to %d partitions", len(partitions))
    return len(partitions)


def event_count(kafka: KafkaSettings) -> int:
    """Records in ``events`` (sum of partition end offsets; producers are idempotent)."""
    from ctrbench.kafka.reading import watermarks

    return sum(high for _low, high in watermarks(kafka, kafka.events_topic).values())


def close_run(kafka: KafkaSettings, load: LoadSettings, job: JobSettings, timeout: float) -> None:
    """For producers started elsewhere (a StatefulSet): wait for all their events, then end the run.

    Every event is in Kafka by then and was sent no earlier than its event time, so "now" bounds
    the last event time from above.
    """
    expected = load.num_producers * load.events_per_producer
    deadline = time.monotonic() + timeout
    last_logged = 0.0
    have = 0
    while True:
        try:
            have = event_count(kafka)
        except KafkaException as exc:
            # The broker restarting (its pod recreated): the producers' clients wait for it, so does this.
            logger.warning("waiting for producers: the broker is unreachable (%s); trying again", exc)
        else:
            if have >= expected:
                break
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"only {have} of {expected} events arrived in {kafka.events_topic} "
                                     f"within {timeout:.0f} s; are all {load.num_producers} producers running?")
        if time.monotonic() - last_logged > 10:
            logger.info("waiting for producers: %d of %d events in %s", have, expected, kafka.events_topic)
            last_logged = time.monotonic()
        time.sleep(1)
    base = load.base_time_ns
    if not base:
        raise ServiceUnavailable("BASE_TIME_NS is not set: the producers' base time is needed to end the run")
    send_end_of_run(kafka, base, time.time_ns(), job.window_seconds, job.watermark_delay_ms)
