"""Prometheus metrics of one producer, updated per send batch (never per event on the hot path).

``Histogram.observe`` per event would cost more than sending the event, so schedule lag is kept
as numpy bucket counts and exposed through a custom collector as a regular Prometheus histogram.
"""

from __future__ import annotations

import threading

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Info, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from ctrbench.schema import EVENT_TYPES
from ctrbench.settings import LoadSettings

__all__ = ["LAG_BUCKETS_SECONDS", "ProducerMetrics"]

# Schedule lag buckets: sub-millisecond (healthy) up to 10 s (generator badly saturated).
LAG_BUCKETS_SECONDS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _LagHistogram(Collector):
    """``ctr_producer_schedule_lag_seconds`` from bulk numpy updates."""

    def __init__(self, producer: str) -> None:
        self._producer = producer
        self._edges = np.asarray(LAG_BUCKETS_SECONDS)
        self._counts = np.zeros(len(self._edges) + 1, dtype=np.int64)  # last slot: +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, lag_seconds: np.ndarray) -> None:
        idx = np.searchsorted(self._edges, lag_seconds, side="left")
        counts = np.bincount(idx, minlength=len(self._counts))
        with self._lock:
            self._counts += counts
            self._sum += float(lag_seconds.sum())

    def collect(self):  # type: ignore[no-untyped-def]
        with self._lock:
            cumulative = np.cumsum(self._counts)
            total = self._sum
        family = HistogramMetricFamily(
            "ctr_producer_schedule_lag_seconds",
            "Actual minus scheduled send time of each event (coordinated-omission guard)",
            labels=["producer"])
        buckets = [(repr(float(e)), int(c)) for e, c in zip(self._edges, cumulative[:-1], strict=True)]
        buckets.append(("+Inf", int(cumulative[-1])))
        family.add_metric([self._producer], buckets, total)
        yield family


class ProducerMetrics:
    """All metrics of one producer in their own registry (several producers can share a process)."""

    def __init__(self, producer_id: int, run: LoadSettings | None = None) -> None:
        """``run``: the run's load settings, served as the run's configuration (dashboard's "Run" row)."""
        pid = str(producer_id)
        self.registry = CollectorRegistry()
        if run is not None:
            self._describe_run(run)
        sent = Counter("ctr_producer_events_sent", "Events handed to the Kafka client",
                       ["producer", "event_type"], registry=self.registry)
        self._sent = [sent.labels(pid, t) for t in EVENT_TYPES]
        self.delivery_errors = Counter("ctr_producer_delivery_errors", "Events the broker did not acknowledge",
                                       ["producer"], registry=self.registry).labels(pid)
        self.mmpp_high = Gauge("ctr_producer_mmpp_high_state", "1 while the MMPP is in its high-rate state",
                               ["producer"], registry=self.registry).labels(pid)
        self.target_rate = Gauge("ctr_producer_target_rate_events_per_second",
                                 "Scheduled event rate right now (the current state's rate)",
                                 ["producer"], registry=self.registry).labels(pid)
        self.actual_rate = Gauge("ctr_producer_actual_rate_events_per_second",
                                 "Events sent over the last second", ["producer"], registry=self.registry).labels(pid)
        self.run_start = Gauge("ctr_producer_run_start_time_seconds",
                               "When the run's schedule starts (epoch seconds; 0 until the start barrier decided)",
                               ["producer"], registry=self.registry).labels(pid)
        self.lag = _LagHistogram(pid)
        self.registry.register(self.lag)

    def _describe_run(self, run: LoadSettings) -> None:
        # The same values on every producer of a run: dashboards take max() across them.
        Gauge("ctr_run_producers", "Producer processes of the run (NUM_PRODUCERS)",
              registry=self.registry).set(run.num_producers)
        Gauge("ctr_run_target_rate_events_per_second", "Mean events/s all producers are scheduled to offer",
              registry=self.registry).set(run.mean_rate * run.num_producers)
        Info("ctr_run", "The run's load configuration", registry=self.registry).info({
            "distribution": run.distribution,
            "producers": str(run.num_producers),
            "events_per_producer": str(run.events_per_producer),
            "duration_seconds": f"{run.duration_seconds:g}",
            "seed": str(run.seed),
        })

    def record_batch(self, type_idx: np.ndarray, lag_seconds: np.ndarray) -> None:
        """Count a batch of sent events by type and add their schedule lags."""
        for counter, n in zip(self._sent, np.bincount(type_idx, minlength=len(EVENT_TYPES)).tolist(), strict=True):
            if n:
                counter.inc(n)
        self.lag.observe_many(lag_seconds)

    def serve(self, port: int, addr: str) -> None:
        """Expose /metrics on ``addr:port`` from a daemon thread."""
        start_http_server(port, addr=addr, registry=self.registry)
