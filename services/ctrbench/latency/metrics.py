"""Prometheus metrics of a run's report: served while it runs, pushed to a Pushgateway at the end."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, push_to_gateway, start_http_server

from ctrbench.errors import ServiceUnavailable

__all__ = ["LATENCY_BUCKETS_SECONDS", "PUSH_JOB", "ReportMetrics"]

logger = logging.getLogger(__name__)

# Window latencies run from tens of milliseconds (tuned job) to minutes (a stalled one).
LATENCY_BUCKETS_SECONDS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
PUSH_JOB = "ctr_latency"


class ReportMetrics:
    """The report's metrics in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "ctr_report_window_latency_seconds",
            "Per (window, campaign): end_to_end = result append - newest source append; "
            "window_close = result append - window end (broker clock)",
            ["kind"], buckets=LATENCY_BUCKETS_SECONDS, registry=self.registry)
        self.verified = Counter("ctr_windows_verified", "(window, campaign) results equal to the truth",
                                registry=self.registry)
        self.mismatched = Counter("ctr_windows_mismatched", "(window, campaign) results with a wrong value",
                                  registry=self.registry)
        self.missing = Counter("ctr_windows_missing", "(window, campaign) cells with no result",
                               registry=self.registry)
        self.unexpected = Counter("ctr_windows_unexpected", "Results for cells no event belongs to",
                                  registry=self.registry)
        self.duplicates = Counter("ctr_windows_duplicate_results", "Re-emitted results (not double counted)",
                                  registry=self.registry)
        self.non_events = Gauge("ctr_events_non_event_records",
                                "Records in the events topic that are no event: end-of-run markers and malformed ones",
                                registry=self.registry)
        self.percentile = Gauge("ctr_last_run_latency_ms", "Percentiles of the last run's end-to-end latency",
                                ["quantile"], registry=self.registry)

    def serve(self, port: int, addr: str) -> None:
        start_http_server(port, addr=addr, registry=self.registry)

    def observe_latencies(self, end_to_end_ms: Iterable[int], window_close_ms: Iterable[int]) -> None:
        for value in end_to_end_ms:
            self.latency.labels("end_to_end").observe(value / 1000)
        for value in window_close_ms:
            self.latency.labels("window_close").observe(value / 1000)

    def set_percentiles(self, stats: dict[str, float]) -> None:
        for name, value in stats.items():
            if name != "count":
                self.percentile.labels(name).set(value)

    def push(self, gateway: str, grouping: dict[str, str]) -> None:
        """Push everything to the Pushgateway (replacing this job's previous push)."""
        try:
            push_to_gateway(gateway, job=PUSH_JOB, registry=self.registry, grouping_key=grouping, timeout=10)
        except OSError as exc:
            raise ServiceUnavailable(f"PUSHGATEWAY_URL={gateway}: push failed: {exc}") from None
        logger.info("pushed report metrics to %s", gateway)
