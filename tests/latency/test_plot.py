"""The run's plot: the offered load of partial windows is drawn over the time the load really covered."""

from __future__ import annotations

from ctrbench.latency.plot import covered_seconds, plot_run
from ctrbench.latency.report import WindowLatency
from ctrbench.schema import NS_PER_MS, NS_PER_S

BASE = 1_800_000_000 * NS_PER_S


def test_partial_windows_count_only_the_time_the_load_covered():
    first = BASE + 9_770 * NS_PER_MS  # the run starts 0.23 s before window 0 ends
    last = BASE + 25 * NS_PER_S  # and stops halfway through window 2
    assert covered_seconds(0, 10, BASE, first, last) == 0.23
    assert covered_seconds(1, 10, BASE, first, last) == 10.0
    assert covered_seconds(2, 10, BASE, first, last) == 5.0
    assert covered_seconds(7, 10, BASE, first, last) == 1e-3  # a window without load never divides by zero


def test_plot_of_three_windows_is_a_png(tmp_path):
    rows = [WindowLatency(0, 2385, 2540, 10, 517), WindowLatency(1, 700, 710, 10, 30_000),
            WindowLatency(2, 900, None, 10, 15_000)]
    path = plot_run(rows, 10, BASE, BASE + 9_770 * NS_PER_MS, BASE + 25 * NS_PER_S, "t", tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
