"""PNG of a run: latency per window on top, the offered load per window beneath."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and in pods

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ctrbench.latency.report import WindowLatency, replacing  # noqa: E402
from ctrbench.schema import NS_PER_S  # noqa: E402

__all__ = ["covered_seconds", "plot_run"]


def covered_seconds(window_id: int, window_seconds: int, base_time_ns: int, first_event_ns: int,
                    last_event_ns: int) -> float:
    """How long the load ran within a window: the window cut to [first event, last event] of the run.

    The first and last windows are partial; dividing their events by the full window length would
    draw a rate far below what was sent.
    """
    start = base_time_ns + window_id * window_seconds * NS_PER_S
    end = start + window_seconds * NS_PER_S
    covered = min(end, last_event_ns) - max(start, first_event_ns)
    return max(covered / NS_PER_S, 1e-3)


def plot_run(rows: list[WindowLatency], window_seconds: int, base_time_ns: int, first_event_ns: int,
             last_event_ns: int, title: str, path: Path) -> Path:
    """Write the two-panel plot of ``rows`` to ``path``."""
    windows = [r.window_id for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5), height_ratios=[2, 1],
                                      layout="constrained")
    top.plot(windows, [r.max_latency_ms for r in rows], marker="o", clip_on=False,
             label="end-to-end (max over campaigns)")
    closed = [r for r in rows if r.max_window_close_latency_ms is not None]
    top.plot([r.window_id for r in closed], [r.max_window_close_latency_ms for r in closed], marker="s",
             linestyle="--", clip_on=False, label="window close (max over campaigns)")
    highest = max([r.max_latency_ms for r in rows] + [r.max_window_close_latency_ms or 0 for r in rows] + [1])
    top.set_ylim(0, highest * 1.12)  # headroom: the highest marker is never cut by the frame
    top.set_ylabel("latency (ms)")
    top.grid(alpha=0.3)
    top.set_title(title)
    # Above the axes, never over the data (window 0 often holds the highest latency).
    fig.legend(loc="outside upper center", ncols=2, frameon=False)
    rates = [r.events / covered_seconds(r.window_id, window_seconds, base_time_ns, first_event_ns, last_event_ns)
             for r in rows]
    bottom.bar(windows, rates, color="tab:gray")
    bottom.set_ylabel("offered load (events/s)")
    bottom.set_xlabel(f"window id ({window_seconds} s windows; rate over the part of the window the load covered)")
    bottom.grid(alpha=0.3, axis="y")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    with replacing(path) as partial:
        fig.savefig(partial, dpi=110, format="png")
    plt.close(fig)
    return path
