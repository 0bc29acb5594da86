"""Run one producer: build its schedule, send each event at its scheduled time, report what happened.

Sending is open loop: an event is due at its event time (wall clock); the sender never waits for
the broker before the next event. Schedule lag (actual send - scheduled send) is recorded for
every event, so a generator that fell behind is reported as saturated instead of silently
producing less load (coordinated omission).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, Producer

from ctrbench.catalog import AdCatalog
from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.config import producer_config
from ctrbench.producer.events import EventBatch, build_events
from ctrbench.producer.schedule import mmpp_arrivals, poisson_arrivals
from ctrbench.schema import EVENT_TYPES, NS_PER_S
from ctrbench.settings import KafkaSettings, LoadSettings

__all__ = ["ProducerReport", "SATURATION_LAG_MS", "build_schedule", "producer_rng", "run_producer"]

logger = logging.getLogger(__name__)

# A producer whose p99 schedule lag exceeds this did not deliver the load it was asked for.
SATURATION_LAG_MS = 100.0
_MAX_SLEEP_S = 0.05


@dataclass
class ProducerReport:
    """What one producer did; written as JSON and merged into the run's summary."""

    producer_id: int
    scheduled: int
    sent: int
    acknowledged: int
    delivery_errors: int
    by_event_type: dict[str, int]
    start_time_ns: int
    elapsed_seconds: float
    lag_ms_p50: float
    lag_ms_p99: float
    lag_ms_max: float
    saturated: bool
    interrupted: bool
    first_error: str | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def producer_rng(seed: int, producer_id: int) -> np.random.Generator:
    """The random stream of one producer: a function of (run seed, producer id) only."""
    return np.random.default_rng([seed, producer_id])


def build_schedule(load: LoadSettings, producer_id: int, catalog: AdCatalog, start_time_ns: int,
                   base_time_ns: int, window_seconds: int) -> EventBatch:
    """All events of one producer, deterministic in (configuration, seed, producer id, start time)."""
    rng = producer_rng(load.seed, producer_id)
    if load.distribution == "mmpp":
        offsets, _ = mmpp_arrivals(rng, load.events_per_producer, load.duration_seconds, load.mmpp_rate_ratio,
                                   load.mmpp_mean_low_seconds, load.mmpp_mean_high_seconds)
    else:
        offsets = poisson_arrivals(rng, load.events_per_producer, load.duration_seconds)
    event_time_ns = start_time_ns + np.floor(offsets * NS_PER_S).astype(np.int64)
    return build_events(rng, catalog, event_time_ns, base_time_ns, window_seconds)


class _Deliveries:
    """Delivery callback state; librdkafka calls it from ``poll``/``flush`` on this thread."""

    def __init__(self) -> None:
        self.errors = 0
        self.first_error: str | None = None

    def __call__(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            self.errors += 1
            if self.first_error is None:
                self.first_error = str(err)


def run_producer(kafka: KafkaSettings, load: LoadSettings, producer_id: int, catalog: AdCatalog,
                 start_time_ns: int, base_time_ns: int, window_seconds: int,
                 stop: threading.Event | None = None) -> ProducerReport:
    """Send this producer's events paced in real time; on ``stop`` finish early but lose nothing.

    Every event handed to the client is flushed before returning, and ``acknowledged`` counts only
    events the broker confirmed.
    """
    stop = stop or threading.Event()
    batch = build_schedule(load, producer_id, catalog, start_time_ns, base_time_ns, window_seconds)
    deliveries = _Deliveries()
    producer = Producer(producer_config(kafka, load.producer_profile, on_delivery=deliveries,
                                        **{"delivery.report.only.error": True}))
    _check_reachable(producer, kafka)
    due = batch.event_time_ns
    lag_ns = np.zeros(len(batch), dtype=np.int64)
    topic, payloads, keys = kafka.events_topic, batch.payloads, batch.keys
    produce, poll = producer.produce, producer.poll
    sent = 0
    n = len(batch)
    logger.info("producer %d: %d events over %.0f s (%s)", producer_id, n, load.duration_seconds,
                load.distribution)
    t0 = time.monotonic()
    while sent < n and not stop.is_set():
        now = time.time_ns()
        upto = int(np.searchsorted(due, now, side="right"))
        if upto <= sent:
            time.sleep(min((int(due[sent]) - now) / NS_PER_S, _MAX_SLEEP_S))
            continue
        for i in range(sent, upto):
            while True:
                try:
                    produce(topic, payloads[i], keys[i])
                    break
                except BufferError:
                    poll(0.05)  # local queue full: let deliveries drain, then retry this event
        lag_ns[sent:upto] = time.time_ns() - due[sent:upto]
        sent = upto
        poll(0)
    remaining = producer.flush(60)
    elapsed = time.monotonic() - t0
    lag_ms = lag_ns[:sent] / 1e6 if sent else np.zeros(1)
    counts = np.bincount(batch.event_type_idx[:sent], minlength=len(EVENT_TYPES))
    report = ProducerReport(
        producer_id=producer_id,
        scheduled=n,
        sent=sent,
        acknowledged=sent - deliveries.errors - remaining,
        delivery_errors=deliveries.errors + remaining,
        by_event_type={name: int(c) for name, c in zip(EVENT_TYPES, counts, strict=True)},
        start_time_ns=start_time_ns,
        elapsed_seconds=round(elapsed, 3),
        lag_ms_p50=round(float(np.percentile(lag_ms, 50)), 3),
        lag_ms_p99=round(float(np.percentile(lag_ms, 99)), 3),
        lag_ms_max=round(float(lag_ms.max()), 3),
        saturated=bool(np.percentile(lag_ms, 99) > SATURATION_LAG_MS),
        interrupted=sent < n,
        first_error=deliveries.first_error,
    )
    logger.info("producer %d: sent %d, acknowledged %d, p99 schedule lag %.1f ms",
                producer_id, report.sent, report.acknowledged, report.lag_ms_p99)
    return report


def _check_reachable(producer: Producer, kafka: KafkaSettings) -> None:
    try:
        producer.list_topics(topic=kafka.events_topic, timeout=kafka.kafka_timeout_seconds)
    except Exception as exc:  # noqa: BLE001 - KafkaException carries the reason in its text
        raise ServiceUnavailable(
            f"Kafka broker unreachable at KAFKA_BOOTSTRAP_SERVERS={kafka.kafka_bootstrap_servers}: {exc}"
        ) from None
