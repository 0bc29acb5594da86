"""The live latency monitor: follows ``results`` (read_committed) and records each result as it lands.

It subscribes rather than assigns partitions, so it can start before the topic exists and keeps
following when a new run recreates it (the position then resets to the new topic's beginning).
Its group never commits: every start reads the topic from the beginning.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass

import orjson
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaError, KafkaException

from ctrbench.errors import ConfigError
from ctrbench.kafka.config import consumer_config
from ctrbench.latency.results import parse_result
from ctrbench.monitor.backlog import FlinkSourcePositions, JobBacklog, SourcePositions
from ctrbench.monitor.metrics import MonitorMetrics
from ctrbench.schema import WindowResult, epoch_ms
from ctrbench.settings import KafkaSettings, MonitorSettings

__all__ = ["CellLatency", "LiveMonitor", "disagreements"]

logger = logging.getLogger(__name__)

_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class CellLatency:
    """What the monitor saw for one (window, campaign): the first result's latencies, in ms."""

    window_id: int
    end_to_end_ms: int
    window_close_ms: int
    seen_at_ms: int  # wall clock when the monitor read it


class LiveMonitor:
    """Follows the results topic in a thread, updates :class:`MonitorMetrics`, measures the backlog.

    Use as a context manager, or ``start()`` / ``stop()``. ``cells`` maps
    (window_start, campaign_id) to the first result's :class:`CellLatency`. The backlog is measured
    against ``positions`` when given (the Spark job in this process), else against the Spark job's /metrics
    at SPARK_METRICS_URL or the Flink job at FLINK_REST_URL.
    """

    def __init__(self, kafka: KafkaSettings, settings: MonitorSettings,
                 positions: SourcePositions | None = None) -> None:
        self._kafka = kafka
        self._settings = settings
        if positions is None and settings.spark_metrics_url:
            from ctrbench.spark_job.metrics import SparkMetricsPositions

            positions = SparkMetricsPositions(settings.spark_metrics_url)
        elif positions is None and settings.flink_rest_url:
            positions = FlinkSourcePositions(settings.flink_rest_url, kafka.events_topic)
        self._positions = positions
        self.metrics = MonitorMetrics(with_backlog=positions is not None)
        self.cells: dict[tuple[str, int], CellLatency] = {}
        self.duplicates = 0
        # (wall time s, backlog) of every measurement: the sustainable-throughput search fits its trend.
        self.backlog_history: list[tuple[float, int]] = []
        # The latest window is the one that starts last (window ids restart with each run).
        self._latest_start_ms = -1
        self._latest_cells = 0
        self._latest_max = {"end_to_end": math.nan, "window_close": math.nan}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> LiveMonitor:
        """Serve /metrics (when a port is set) and start following."""
        if self._settings.monitor_port:
            try:
                self.metrics.serve(self._settings.monitor_port, self._settings.monitor_addr)
            except OSError as exc:
                raise ConfigError(f"MONITOR_PORT={self._settings.monitor_port} MONITOR_ADDR="
                                  f"{self._settings.monitor_addr}: cannot listen there ({exc.strerror}); "
                                  "choose a free port") from None
            logger.info("live monitor on http://%s:%d/metrics", self._settings.monitor_addr,
                        self._settings.monitor_port)
        consumer = self._consumer()  # created here so a bad address fails the caller, not a thread
        self._threads.append(threading.Thread(target=self._guard, args=(self._follow, consumer),
                                              name="monitor-results", daemon=True))
        if self._positions is not None:
            backlog = JobBacklog(self._kafka, self._positions)
            self._threads.append(threading.Thread(target=self._guard, args=(self._measure, backlog),
                                                  name="monitor-backlog", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop following and wait for the threads (the /metrics endpoint stays until exit)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def __enter__(self) -> LiveMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until stopped (Ctrl-C / SIGTERM) or a thread failed; re-raise its error."""
        while not self._stop.wait(1.0):
            pass
        if self._error is not None:
            raise self._error

    def wait_for(self, keys: set[tuple[str, int]], timeout: float) -> bool:
        """True once every (window_start, campaign) in ``keys`` has been seen, False after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if keys <= self.cells.keys():
                    return True
            time.sleep(0.05)
        return False

    def snapshot(self) -> dict[tuple[str, int], CellLatency]:
        """A copy of ``cells`` (the follower thread may still add to it)."""
        with self._lock:
            return dict(self.cells)

    def _guard(self, target, resource) -> None:  # type: ignore[no-untyped-def]
        try:
            target(resource)
        except BaseException as exc:  # noqa: BLE001 - reported through wait() and the log
            logger.error("live monitor: %s", exc)
            self._error = exc
            self._stop.set()
        finally:
            resource.close()

    # -- results ---------------------------------------------------------------------------------

    def _consumer(self) -> Consumer:
        # A group of its own per process: the monitor never shares partitions and never commits.
        group = f"ctrbench-monitor-{socket.gethostname()}-{os.getpid()}"
        consumer = Consumer(consumer_config(self._kafka, group, **{"enable.partition.eof": False,
                                                                   "topic.metadata.refresh.interval.ms": 5000}))
        consumer.subscribe([self._kafka.results_topic])
        return consumer

    def _follow(self, consumer: Consumer) -> None:
        while not self._stop.is_set():
            for msg in consumer.consume(500, timeout=_POLL_S):
                err = msg.error()
                if err is not None:
                    if err.code() not in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._PARTITION_EOF):
                        logger.warning("live monitor reading %s: %s", self._kafka.results_topic, err.str())
                    continue
                ts_type, ts = msg.timestamp()
                try:
                    result = parse_result(msg.value(), ts)
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    self.metrics.malformed.inc()
                    continue
                if ts_type != TIMESTAMP_LOG_APPEND_TIME:
                    logger.debug("result without LogAppendTime: latencies mix clocks")
                self.record(result)

    def record(self, result: WindowResult) -> None:
        """Count one result; the first per (window, campaign) sets its latencies, later ones are duplicates."""
        self.metrics.results.inc()
        key = (result.window_start, result.campaign_id)
        e2e, close = result.end_to_end_latency_ms, result.window_close_latency_ms
        with self._lock:
            if key in self.cells:
                self.duplicates += 1
                self.metrics.duplicates.inc()
                return
            self.cells[key] = CellLatency(result.window_id, e2e, close, time.time_ns() // 1_000_000)
            start_ms = epoch_ms(result.window_start)
            if start_ms > self._latest_start_ms:
                self._latest_start_ms = start_ms
                self._latest_cells = 0
                self._latest_max = {"end_to_end": math.nan, "window_close": math.nan}
            if start_ms == self._latest_start_ms:
                self._latest_cells += 1
                self._latest_max["end_to_end"] = _nanmax(self._latest_max["end_to_end"], e2e / 1000)
                if close >= 0:  # as in the report: no close latency for a result before its window's end
                    self._latest_max["window_close"] = _nanmax(self._latest_max["window_close"], close / 1000)
                for kind, value in self._latest_max.items():
                    self.metrics.latest_max[kind].set(value)
                self.metrics.latest_cells.set(self._latest_cells)
                self.metrics.latest_window.set(result.window_id)
        self.metrics.latency["end_to_end"].observe(e2e / 1000)
        # Like the report: a result appended before its window's end in broker time has no close latency.
        if close >= 0:
            self.metrics.latency["window_close"].observe(close / 1000)

    # -- backlog ---------------------------------------------------------------------------------

    def _measure(self, backlog: JobBacklog) -> None:
        stopping = False
        while not stopping:
            stopping = self._stop.wait(self._settings.backlog_interval_seconds)
            # One last sample when stopped: the run stops the monitor once the last results are in, which can
            # be most of an interval after the previous sample (Spark reads the end-of-run markers in one
            # micro-batch and emits the last window in the next), so the history ends with the final backlog.
            try:
                measured = backlog.measure()
            except KafkaException as exc:
                # A broker restart or a topic being recreated: skip this sample, keep following.
                logger.debug("live monitor: end offsets unavailable: %s", exc)
                continue
            if measured is None:
                continue
            written, behind = measured
            self.backlog_history.append((time.time(), behind))
            assert self.metrics.backlog is not None and self.metrics.written is not None
            self.metrics.written.set(written)
            self.metrics.backlog.set(behind)


def _nanmax(a: float, b: float) -> float:
    return b if math.isnan(a) else max(a, b)


def disagreements(cells: dict[tuple[str, int], CellLatency], report_cells: list[WindowResult]) -> list[str]:
    """How what the monitor saw differs from the report's first result per cell ([] when they agree)."""
    problems = []
    report_keys = set()
    for r in report_cells:
        key = (r.window_start, r.campaign_id)
        report_keys.add(key)
        seen = cells.get(key)
        if seen is None:
            problems.append(f"window {r.window_id} campaign {r.campaign_id}: in the report, not seen live")
        elif (seen.end_to_end_ms, seen.window_close_ms) != (r.end_to_end_latency_ms, r.window_close_latency_ms):
            problems.append(f"window {r.window_id} campaign {r.campaign_id}: live {seen.end_to_end_ms}/"
                            f"{seen.window_close_ms} ms, report {r.end_to_end_latency_ms}/"
                            f"{r.window_close_latency_ms} ms (end-to-end/window-close)")
    problems += [f"window {cells[k].window_id} campaign {k[1]}: seen live, not in the report"
                 for k in sorted(cells.keys() - report_keys)]
    return problems
