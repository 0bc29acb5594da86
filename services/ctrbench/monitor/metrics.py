"""Prometheus metrics of the live latency monitor, in their own registry.

Latencies use the report's definitions (:class:`ctrbench.schema.WindowResult`), observed per
(window, campaign) result as it lands, so ``rate()`` over them works while the run happens.
"""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["LIVE_LATENCY_BUCKETS_SECONDS", "MonitorMetrics"]

# 50 ms steps where a healthy job lands (0.5-1 s), coarser up to 30 s (a stalled or saturated job).
LIVE_LATENCY_BUCKETS_SECONDS: tuple[float, ...] = (
    0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.25, 1.5, 2.0, 2.5,
    3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0)

KINDS = ("end_to_end", "window_close")


class MonitorMetrics:
    """What the monitor serves on /metrics."""

    def __init__(self, with_backlog: bool) -> None:
        """``with_backlog``: serve the backlog gauges (only when the job's positions can be read)."""
        self.registry = CollectorRegistry()
        latency = Histogram(
            "ctr_window_latency_seconds",
            "Per (window, campaign) result as it lands: end_to_end = result append - newest source append; "
            "window_close = result append - window end (broker clock)",
            ["kind"], buckets=LIVE_LATENCY_BUCKETS_SECONDS, registry=self.registry)
        self.latency = {kind: latency.labels(kind) for kind in KINDS}
        self.results = Counter("ctr_results", "Results read from the results topic (first and re-emitted ones)",
                               registry=self.registry)
        self.duplicates = Counter("ctr_duplicate_results",
                                  "Results for a (window, campaign) that already had one (at-least-once re-emits)",
                                  registry=self.registry)
        self.malformed = Counter("ctr_malformed_results", "Records of the results topic that are no result",
                                 registry=self.registry)
        # NaN until the first result: no window, no latency yet (0 would read as "window 0, no latency").
        self.latest_window = Gauge("ctr_latest_window_id", "Id of the latest window (latest start) a result has "
                                   "arrived for", registry=self.registry)
        self.latest_window.set(math.nan)
        self.latest_cells = Gauge("ctr_latest_window_results", "Results (campaigns) of the latest window so far",
                                  registry=self.registry)
        latest_max = Gauge("ctr_latest_window_max_latency_seconds",
                           "Highest latency among the latest window's results so far", ["kind"],
                           registry=self.registry)
        self.latest_max = {kind: latest_max.labels(kind) for kind in KINDS}
        for gauge in self.latest_max.values():
            gauge.set(math.nan)
        self.backlog: Gauge | None = None
        self.written: Gauge | None = None
        if not with_backlog:
            return
        self.backlog = Gauge("ctr_job_backlog_records",
                             "Events written to the events topic and not yet read by the job: end offsets minus "
                             "the job's Kafka source positions", registry=self.registry)
        self.written = Gauge("ctr_events_end_offset",
                             "Sum of the events topic's end offsets (records written, markers included)",
                             registry=self.registry)

    def serve(self, port: int, addr: str) -> None:
        """Expose /metrics on ``addr:port`` from a daemon thread."""
        start_http_server(port, addr=addr, registry=self.registry)
