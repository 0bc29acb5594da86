"""PNG of a run: latency per window on top, the events per window (the offered load) beneath."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and in pods

import matplotlib.pyplot as plt  # noqa: E402

from ctrbench.latency.report import WindowLatency  # noqa: E402

__all__ = ["plot_run"]


def plot_run(rows: list[WindowLatency], window_seconds: int, title: str, path: Path) -> Path:
    """Write the two-panel plot of ``rows`` to ``path``."""
    windows = [r.window_id for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), height_ratios=[2, 1],
                                      constrained_layout=True)
    top.plot(windows, [r.max_latency_ms for r in rows], marker="o", label="end-to-end (max over campaigns)")
    closed = [r for r in rows if r.max_window_close_latency_ms is not None]
    top.plot([r.window_id for r in closed], [r.max_window_close_latency_ms for r in closed], marker="s",
             linestyle="--", label="window close (max over campaigns)")
    top.set_ylabel("latency (ms)")
    top.set_ylim(bottom=0)
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    top.set_title(title)
    bottom.bar(windows, [r.events / window_seconds for r in rows], color="tab:gray")
    bottom.set_ylabel("load (events/s)")
    bottom.set_xlabel(f"window id ({window_seconds} s windows)")
    bottom.grid(alpha=0.3, axis="y")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
