"""Collect the job's results from Kafka with the broker's append time of each record."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import orjson
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME

from ctrbench.kafka.reading import read_until
from ctrbench.latency.truth import WindowKey
from ctrbench.schema import NS_PER_MS, WindowResult, epoch_ms
from ctrbench.settings import KafkaSettings

__all__ = ["Collected", "collect_results", "parse_result", "window_key"]

logger = logging.getLogger(__name__)


@dataclass
class Collected:
    """First result per (window, campaign); re-emitted ones are counted as duplicates, not used.

    The key's window is the one the result's ``window_start`` names, counted from the run's base
    time as the truth counts it, so results match the truth even where their own ``window_id``
    was counted from another base (the verifier checks that field separately).
    """

    results: dict[WindowKey, WindowResult] = field(default_factory=dict)
    duplicates: list[WindowResult] = field(default_factory=list)
    # Re-emitted results whose counts differ from the first: a re-emission after a restart must repeat
    # the same counts, else the job counted some events twice (or lost some) across the restart.
    conflicts: list[tuple[WindowKey, WindowResult]] = field(default_factory=list)
    malformed: int = 0
    not_log_append_time: int = 0

    def add(self, key: WindowKey, result: WindowResult) -> None:
        first = self.results.get(key)
        if first is None:
            self.results[key] = result
            return
        self.duplicates.append(result)
        if _counts(first) != _counts(result):
            self.conflicts.append((key, result))


def _counts(r: WindowResult) -> tuple[int, int, int]:
    return r.views, r.clicks, r.purchases


def window_key(result: WindowResult, base_time_ns: int, window_seconds: int) -> WindowKey:
    """(window, campaign) of a result: its window_start counted from ``base_time_ns`` in windows."""
    window_ms = window_seconds * 1000
    return (epoch_ms(result.window_start) - base_time_ns // NS_PER_MS) // window_ms, result.campaign_id


def parse_result(value: bytes, log_append_time_ms: int) -> WindowResult:
    """One record of ``results`` into a :class:`WindowResult` (raises ValueError/KeyError if malformed)."""
    rec = orjson.loads(value)
    return WindowResult(
        window_id=int(rec["window_id"]),
        window_start=str(rec["window_start"]),
        window_end=str(rec["window_end"]),
        campaign_id=int(rec["campaign_id"]),
        views=int(rec["views"]),
        clicks=int(rec["clicks"]),
        purchases=int(rec["purchases"]),
        ctr=None if rec["ctr"] is None else float(rec["ctr"]),
        max_source_log_append_time_ms=int(rec["max_source_log_append_time_ms"]),
        result_log_append_time_ms=log_append_time_ms,
    )


def collect_results(kafka: KafkaSettings, expected: set[WindowKey], timeout: float, base_time_ns: int,
                    window_seconds: int) -> Collected:
    """Read ``results`` until every expected (window, campaign) is in, or ``timeout`` seconds pass.

    ``base_time_ns`` and ``window_seconds`` place each result's window as the truth does.
    """
    out = Collected()
    missing = set(expected)
    for msg in read_until(kafka, kafka.results_topic, lambda: not missing, timeout):
        ts_type, ts = msg.timestamp()
        if ts_type != TIMESTAMP_LOG_APPEND_TIME:
            out.not_log_append_time += 1
        try:
            result = parse_result(msg.value(), ts)
            key = window_key(result, base_time_ns, window_seconds)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            out.malformed += 1
            continue
        out.add(key, result)
        missing.discard(key)
    if out.not_log_append_time:
        logger.warning("%d results carried CreateTime, not LogAppendTime: latencies mix clocks",
                       out.not_log_append_time)
    return out
