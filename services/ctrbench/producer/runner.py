"""Run one producer: build its schedule, send each event at its scheduled time, report what happened.

Sending is open loop: an event is due at its event time (wall clock); the sender never waits for
the broker before the next event. Schedule lag (actual - scheduled send) is recorded for every
event, so a generator that fell behind is reported as saturated instead of silently producing
less load (coordinated omission).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, KafkaException, Producer

from ctrbench.catalog import AdCatalog
from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.config import producer_config
from ctrbench.producer.events import EventBatch, build_events
from ctrbench.producer.metrics import ProducerMetrics
from ctrbench.producer.schedule import MmppPath, mmpp_arrivals, poisson_arrivals
from ctrbench.schema import EVENT_TYPES, NS_PER_S
from ctrbench.settings import KafkaSettings, LoadSettings

__all__ = ["ProducerReport", "SATURATION_LAG_MS", "Schedule", "build_schedule", "producer_rng", "run_producer",
           "send_unpaced"]

logger = logging.getLogger(__name__)

# A producer whose p99 schedule lag exceeds this did not deliver the load it was asked for.
SATURATION_LAG_MS = 100.0
_MAX_SLEEP_S = 0.05
# Sleep at least this long when nothing is due. Waking for every event (every 100 µs at 10k events/s)
# cost a producer about 20 µs of Python per event; waking at most every millisecond sends the events
# due meanwhile in one batch, at the price of at most 1 ms of schedule lag, which is measured.
_MIN_SLEEP_S = 0.001
_TRANSACTION_S = 0.1  # commit cadence of the exactly-once profile
# How long the end of a run waits for the broker to acknowledge what is still queued: librdkafka's own
# message.timeout.ms (300 s), so that an event is given up only when the client itself gives it up (a broker
# pod being recreated takes tens of seconds). Stopped by a signal, a producer waits a minute at most.
_FLUSH_S = 305.0
_FLUSH_STOPPED_S = 60.0
# A client that acknowledges nothing for this long while events wait is taken for stalled: after the Kafka pod
# was recreated, a client was seen holding 6,152 events without a single connection to the new broker until
# they timed out. It is then replaced (see _resend_missing).
_STALL_S = 30.0


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
    # Events of the schedule found in the topic at start (a restarted producer): counted as acknowledged,
    # not sent again.
    already_in_topic: int = 0
    # Events sent again by a new client after the first one stalled (the topic lacked them): each exactly once.
    resent_after_stall: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Schedule:
    """A producer's events and, for MMPP, the chain path and rates behind them."""

    events: EventBatch
    start_time_ns: int
    path: MmppPath | None
    low_rate: float
    high_rate: float

    def rate_at(self, offset_s: float) -> tuple[bool, float]:
        """(high state?, scheduled rate) at ``offset_s`` seconds into the run."""
        if self.path is None:
            return False, self.low_rate
        high = bool(self.path.state_at(np.asarray([offset_s]))[0])
        return high, self.high_rate if high else self.low_rate


def producer_rng(seed: int, producer_id: int) -> np.random.Generator:
    """The random stream of one producer: a function of (run seed, producer id) only."""
    return np.random.default_rng([seed, producer_id])


def build_schedule(load: LoadSettings, producer_id: int, catalog: AdCatalog, start_time_ns: int,
                   base_time_ns: int, window_seconds: int) -> Schedule:
    """All events of one producer, deterministic in (configuration, seed, producer id, start time)."""
    rng = producer_rng(load.seed, producer_id)
    mean = load.mean_rate
    if load.distribution == "mmpp":
        offsets, path = mmpp_arrivals(rng, load.events_per_producer, load.duration_seconds, load.mmpp_rate_ratio,
                                      load.mmpp_mean_low_seconds, load.mmpp_mean_high_seconds)
        p_high = load.mmpp_mean_high_seconds / (load.mmpp_mean_low_seconds + load.mmpp_mean_high_seconds)
        low = mean / ((1 - p_high) + load.mmpp_rate_ratio * p_high)
        high = low * load.mmpp_rate_ratio
    else:
        offsets = poisson_arrivals(rng, load.events_per_producer, load.duration_seconds)
        path, low, high = None, mean, mean
    event_time_ns = start_time_ns + np.floor(offsets * NS_PER_S).astype(np.int64)
    events = build_events(rng, catalog, event_time_ns, base_time_ns, window_seconds)
    return Schedule(events, start_time_ns, path, low, high)


class _Deliveries:
    """Delivery callback state; librdkafka calls it from ``poll``/``flush`` on this thread."""

    def __init__(self, metrics: ProducerMetrics | None) -> None:
        self.errors = 0
        self.first_error: str | None = None
        self._metrics = metrics

    def __call__(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            self.errors += 1
            if self._metrics is not None:
                self._metrics.delivery_errors.inc()
            if self.first_error is None:
                self.first_error = str(err)


def _produce_range(producer: Producer, topic: str, events: EventBatch, start: int, stop: int) -> None:
    """Hand events ``[start, stop)`` to the client; when its queue is full, serve deliveries and retry."""
    produce, payloads, keys = producer.produce, events.payloads, events.keys
    i = start
    while i < stop:
        j = i
        try:
            # The hot loop: one call per event, nothing else. On BufferError ``j`` is the event
            # that did not fit; it is retried once deliveries have drained the queue.
            for j in range(i, stop):
                produce(topic, payloads[j], keys[j])
            i = stop
        except BufferError:
            i = j
            producer.poll(0.05)
    producer.poll(0)


def _new_producer(kafka: KafkaSettings, profile: str, producer_id: int,
                  deliveries: _Deliveries) -> tuple[Producer, bool]:
    config = producer_config(kafka, profile, producer_id, on_delivery=deliveries,
                             **{"delivery.report.only.error": True})
    producer = Producer(config)
    try:
        producer.list_topics(topic=kafka.events_topic, timeout=kafka.kafka_timeout_seconds)
    except Exception as exc:  # noqa: BLE001 - KafkaException carries the reason in its text
        raise ServiceUnavailable(
            f"Kafka broker unreachable at KAFKA_BOOTSTRAP_SERVERS={kafka.kafka_bootstrap_servers}: {exc}"
        ) from None
    transactional = "transactional.id" in config
    if transactional:
        producer.init_transactions(kafka.kafka_timeout_seconds)
        producer.begin_transaction()
    return producer, transactional


def run_producer(kafka: KafkaSettings, load: LoadSettings, producer_id: int, catalog: AdCatalog,
                 start_time_ns: int, base_time_ns: int, window_seconds: int,
                 stop: threading.Event | None = None, metrics: ProducerMetrics | None = None,
                 resume: bool = False) -> ProducerReport:
    """Send this producer's events paced in real time; on ``stop`` finish early but lose nothing.

    Every event handed to the client is flushed (and, with the exactly-once profile, committed)
    before returning; ``acknowledged`` counts only events the broker confirmed. With ``resume``,
    events of the schedule already in the topic are not sent again (:mod:`ctrbench.producer.resume`);
    those that are overdue go out at once, with their schedule lag measured.
    """
    stop = stop or threading.Event()
    schedule = build_schedule(load, producer_id, catalog, start_time_ns, base_time_ns, window_seconds)
    events = schedule.events
    already = 0
    if resume:
        from ctrbench.producer.resume import already_in_topic, remaining_events

        found = already_in_topic(kafka, events)
        already = int(found.sum())
        if already:
            logger.info("producer %d: %d of its %d events are already in %s (a restart): sending the other %d",
                        producer_id, already, len(events), kafka.events_topic, len(events) - already)
            events = remaining_events(events, found)
    deliveries = _Deliveries(metrics)
    producer, transactional = _new_producer(kafka, load.producer_profile, producer_id, deliveries)
    due, type_idx = events.event_time_ns, events.event_type_idx
    lag_ns = np.zeros(len(events), dtype=np.int64)
    n, sent = len(events), 0
    logger.info("producer %d: %d events over %.0f s (%s, profile %s)", producer_id, n, load.duration_seconds,
                load.distribution, load.producer_profile)
    t0 = time.monotonic()
    last_commit = last_gauges = t0
    sent_at_last_gauges = 0
    while sent < n and not stop.is_set():
        now = time.time_ns()
        upto = int(np.searchsorted(due, now, side="right"))
        if upto > sent:
            _produce_range(producer, kafka.events_topic, events, sent, upto)
            lag_ns[sent:upto] = time.time_ns() - due[sent:upto]
            if metrics is not None:
                metrics.record_batch(type_idx[sent:upto], lag_ns[sent:upto] / NS_PER_S)
            sent = upto
        else:
            time.sleep(min(max((int(due[sent]) - now) / NS_PER_S, _MIN_SLEEP_S), _MAX_SLEEP_S))
        mono = time.monotonic()
        if transactional and mono - last_commit >= _TRANSACTION_S:
            producer.commit_transaction()
            producer.begin_transaction()
            last_commit = mono
        if metrics is not None and mono - last_gauges >= 1.0:
            high, rate = schedule.rate_at((time.time_ns() - start_time_ns) / NS_PER_S)
            metrics.mmpp_high.set(int(high))
            metrics.target_rate.set(rate)
            metrics.actual_rate.set((sent - sent_at_last_gauges) / (mono - last_gauges))
            last_gauges, sent_at_last_gauges = mono, sent
    if transactional:
        producer.commit_transaction()
    deadline = time.monotonic() + (_FLUSH_STOPPED_S if stop.is_set() else _FLUSH_S)
    remaining = _flush(producer, deadline)
    acknowledged, errors, resent = already + sent - deliveries.errors - remaining, deliveries.errors + remaining, 0
    first_error = deliveries.first_error
    if remaining and not transactional and not stop.is_set() and time.monotonic() < deadline:
        logger.warning("producer %d: %d events unacknowledged and none acknowledged for %.0f s: replacing the Kafka "
                       "client and sending what the topic lacks", producer_id, remaining, _STALL_S)
        producer.purge()
        producer.poll(0)
        del producer  # closes the stalled client before the topic is read
        acknowledged, errors, resent, first_error = _resend_missing(kafka, load.producer_profile, producer_id,
                                                                    schedule.events, deadline, metrics)
    elapsed = time.monotonic() - t0
    report = _report(producer_id, events, sent, first_error, acknowledged, errors, start_time_ns,
                     elapsed, lag_ns, already, resent)
    logger.info("producer %d: sent %d, acknowledged %d, p99 schedule lag %.1f ms%s", producer_id, report.sent,
                report.acknowledged, report.lag_ms_p99, " (stopped early)" if report.interrupted else "")
    return report


def _flush(producer: Producer, deadline: float) -> int:
    """Serve deliveries until everything queued is acknowledged, ``deadline`` (monotonic) passes, or nothing has
    been acknowledged for _STALL_S; returns how many events are still unacknowledged."""
    remaining, progress_at = len(producer), time.monotonic()
    while remaining:
        left = producer.flush(1.0)
        now = time.monotonic()
        if left < remaining:
            progress_at = now
        remaining = left
        if now >= deadline or now - progress_at >= _STALL_S:
            break
    return remaining


def _resend_missing(kafka: KafkaSettings, profile: str, producer_id: int, schedule: EventBatch, deadline: float,
                    metrics: ProducerMetrics | None) -> tuple[int, int, int, str | None]:
    """After a stalled client was closed: wait for the broker, read which events of ``schedule`` the topic holds
    (resume's exact match, so none is sent twice), send the others with a new client and wait for them.

    Returns (events of the schedule acknowledged, events given up, events sent again, the first delivery error).
    """
    from ctrbench.producer.resume import already_in_topic, remaining_events

    while True:
        try:
            found = already_in_topic(kafka, schedule)
            break
        except (KafkaException, ServiceUnavailable) as exc:
            if time.monotonic() >= deadline:
                raise ServiceUnavailable(f"producer {producer_id}: the broker did not come back to read "
                                         f"{kafka.events_topic}: {exc}") from None
            time.sleep(1.0)
    missing = remaining_events(schedule, found)
    logger.info("producer %d: %d of its %d events are in %s; sending the other %d with a new client", producer_id,
                int(found.sum()), len(schedule), kafka.events_topic, len(missing))
    deliveries = _Deliveries(metrics)
    producer, _transactional = _new_producer(kafka, profile, producer_id, deliveries)
    _produce_range(producer, kafka.events_topic, missing, 0, len(missing))
    left = _flush(producer, max(deadline, time.monotonic() + _STALL_S))
    return (int(found.sum()) + len(missing) - deliveries.errors - left, deliveries.errors + left, len(missing),
            deliveries.first_error)


def _report(producer_id: int, events: EventBatch, sent: int, first_error: str | None, acknowledged: int,
            errors: int, start_time_ns: int, elapsed: float, lag_ns: np.ndarray, already: int = 0,
            resent: int = 0) -> ProducerReport:
    lag_ms = lag_ns[:sent] / 1e6 if sent else np.zeros(1)
    counts = np.bincount(events.event_type_idx[:sent], minlength=len(EVENT_TYPES))
    p99 = float(np.percentile(lag_ms, 99))
    return ProducerReport(
        producer_id=producer_id,
        scheduled=len(events) + already,
        sent=sent,
        acknowledged=acknowledged,
        delivery_errors=errors,
        by_event_type={name: int(c) for name, c in zip(EVENT_TYPES, counts, strict=True)},
        start_time_ns=start_time_ns,
        elapsed_seconds=round(elapsed, 3),
        lag_ms_p50=round(float(np.percentile(lag_ms, 50)), 3),
        lag_ms_p99=round(p99, 3),
        lag_ms_max=round(float(lag_ms.max()), 3),
        saturated=p99 > SATURATION_LAG_MS,
        interrupted=sent < len(events),
        first_error=first_error,
        already_in_topic=already,
        resent_after_stall=resent,
    )


def send_unpaced(kafka: KafkaSettings, profile: str, events: EventBatch) -> tuple[int, int]:
    """Send ``events`` as fast as the client takes them (benchmarks); returns (acknowledged, errors)."""
    deliveries = _Deliveries(None)
    producer, transactional = _new_producer(kafka, profile, 0, deliveries)
    step = 50_000
    for start in range(0, len(events), step):
        _produce_range(producer, kafka.events_topic, events, start, min(start + step, len(events)))
        if transactional:
            producer.commit_transaction()
            producer.begin_transaction()
    if transactional:
        producer.commit_transaction()
    remaining = producer.flush(120)
    return len(events) - deliveries.errors - remaining, deliveries.errors + remaining
