"""The live monitor during a real 60 s run (``live_run``: Kafka, Flink mini-cluster, producers, Prometheus).

Its /metrics was polled every 100 ms while the run happened; these tests compare what it showed,
and when, with the report computed at the end from the same topic.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from ctrbench.monitor.backlog import backlog
from ctrbench.monitor.live import CellLatency, disagreements
from ctrbench.schema import WindowResult

pytestmark = pytest.mark.integration


def _first_seen(polls, name: str) -> dict[int, float]:  # type: ignore[no-untyped-def]
    """Wall time each value of gauge ``name`` first appeared on /metrics."""
    seen: dict[int, float] = {}
    for t, samples in polls:
        if not math.isnan(samples.get(name, math.nan)):
            seen.setdefault(int(samples[name]), t)
    return seen


def test_each_window_shows_within_a_second_of_its_result_landing(live_run):
    cells = list(live_run.result.report.collected.results.values())
    landed: dict[int, float] = defaultdict(lambda: float("inf"))
    for r in cells:
        landed[r.window_id] = min(landed[r.window_id], r.result_log_append_time_ms / 1000)
    seen = _first_seen(live_run.polls, "ctr_latest_window_id")
    assert set(seen) >= set(landed), f"windows never shown live: {sorted(set(landed) - set(seen))}"
    delays = {w: seen[w] - landed[w] for w in landed}
    assert all(d < 1.0 for d in delays.values()), f"seconds from landing to /metrics: {delays}"
    assert len(landed) >= 5, f"a 60 s run has at least 5 whole windows, got {sorted(landed)}"


def test_latest_window_latency_is_the_windows_max(live_run):
    """While window w was the latest, its max latency gauges ended at the max over w's results
    (window-close: over the results appended after the window's end; none: NaN, as the report leaves it empty)."""
    expected: dict[str, dict[int, float]] = {"end_to_end": {}, "window_close": {}}
    for r in live_run.result.report.collected.results.values():
        e2e = expected["end_to_end"]
        e2e[r.window_id] = max(e2e.get(r.window_id, 0.0), r.end_to_end_latency_ms / 1000)
        close = expected["window_close"]
        close.setdefault(r.window_id, math.nan)
        if r.window_close_latency_ms >= 0:
            close[r.window_id] = max(r.window_close_latency_ms / 1000, 0 if math.isnan(close[r.window_id])
                                     else close[r.window_id])
    for kind, per_window in expected.items():
        shown: dict[int, float] = {}
        gauge = f"ctr_latest_window_max_latency_seconds{{kind={kind}}}"
        for _t, samples in live_run.polls:
            if not math.isnan(samples.get("ctr_latest_window_id", math.nan)):
                shown[int(samples["ctr_latest_window_id"])] = samples[gauge]
        assert shown == pytest.approx(per_window, abs=1e-9, nan_ok=True), kind


def test_monitor_agrees_with_the_report(live_run):
    result = live_run.result
    cells = list(result.report.collected.results.values())
    assert result.report.verification.ok, result.report.verification.summary()
    assert result.monitor_disagreements == []
    assert len(result.monitor.cells) == len(cells) == len(result.report.expected.counts)
    final = live_run.polls[-1][1]
    assert final["ctr_window_latency_seconds_count{kind=end_to_end}"] == len(cells)
    assert final["ctr_window_latency_seconds_sum{kind=end_to_end}"] == pytest.approx(
        sum(r.end_to_end_latency_ms for r in cells) / 1000)
    assert final["ctr_results_total"] == len(cells) + len(result.report.collected.duplicates)


def test_backlog_rises_during_the_run_and_ends_at_zero(live_run):
    values = [s["ctr_job_backlog_records"] for _t, s in live_run.polls if "ctr_job_backlog_records" in s]
    assert values, "the monitor never measured the backlog"
    assert max(values) > 0, "3,000 events/s with metrics refreshed each second: some backlog must show"
    final = live_run.polls[-1][1]
    assert final["ctr_job_backlog_records"] == 0
    expected = live_run.result.report.expected
    # Every record of the events topic: events, end-of-run markers and malformed ones.
    assert final["ctr_events_end_offset"] == expected.events + expected.skipped


def _result(window_start: str, campaign: int, e2e: int) -> WindowResult:
    return WindowResult(0, window_start, "2026-01-01T00:00:10.000Z", campaign, 1, 0, 0, 0.0, 1000, 1000 + e2e)


def test_disagreements_name_each_difference():
    same = _result("2026-01-01T00:00:00.000Z", 1, 700)
    other = _result("2026-01-01T00:00:00.000Z", 2, 800)
    cells = {("2026-01-01T00:00:00.000Z", 1): CellLatency(0, 700, same.window_close_latency_ms, 0),
             ("2026-01-01T00:00:00.000Z", 2): CellLatency(0, 801, other.window_close_latency_ms, 0),
             ("2026-01-01T00:00:10.000Z", 3): CellLatency(1, 5, 5, 0)}
    problems = disagreements(cells, [same, other, _result("2026-01-01T00:00:00.000Z", 4, 1)])
    assert problems == [
        "window 0 campaign 2: live 801/" f"{other.window_close_latency_ms} ms, report 800/"
        f"{other.window_close_latency_ms} ms (end-to-end/window-close)",
        "window 0 campaign 4: in the report, not seen live",
        "window 1 campaign 3: seen live, not in the report",
    ]


def test_backlog_counts_from_the_next_offset_to_read():
    # currentOffset is the last record read: partition 0 read 0..9 of 10, partition 1 read 0..4 of 8,
    # partition 2 never read (3 records).
    assert backlog({0: 10, 1: 8, 2: 3}, {0: 9, 1: 4}) == 0 + 3 + 3
