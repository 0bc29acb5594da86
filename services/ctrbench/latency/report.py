"""The run's report: per-window CSV (seed name and first columns), JSON summary, printed table.

Latencies, all from the broker's clock (LogAppendTime):

* end-to-end = result record's append time - newest source event append time of the cell;
* window-close = result record's append time - the window's end (event time).

Percentiles are exact (numpy over all values), never a mean of means.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctrbench.latency.results import Collected
from ctrbench.latency.verify import Verification

__all__ = ["PERCENTILES", "WindowLatency", "csv_name", "per_window", "percentiles", "render_table", "replacing",
           "write_csv", "write_summary"]

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class WindowLatency:
    """One CSV row: the worst latencies over the campaigns of a window.

    ``max_window_close_latency_ms`` is None when the result came before the window's end in broker
    time: the end-of-run marker closes the last, partial window early, so "late after the window
    closed" does not apply to it (end-to-end latency still does).
    """

    window_id: int
    max_latency_ms: int
    max_window_close_latency_ms: int | None
    campaigns: int
    events: int


def csv_name(producers: int, total_events: int, distribution: str) -> str:
    """The original project's report name, from the run's actual values."""
    return f"latency_report_{producers}_{total_events}_{distribution}.csv"


def per_window(collected: Collected) -> list[WindowLatency]:
    """Group the (window, campaign) results by window."""
    groups: dict[int, list[Any]] = defaultdict(list)
    for (window, _campaign), r in collected.results.items():
        groups[window].append(r)
    rows = []
    for window_id in sorted(groups):
        cells = groups[window_id]
        close = max(r.window_close_latency_ms for r in cells)
        rows.append(WindowLatency(
            window_id=window_id,
            max_latency_ms=max(r.end_to_end_latency_ms for r in cells),
            max_window_close_latency_ms=close if close >= 0 else None,
            campaigns=len(cells),
            events=sum(r.views + r.clicks + r.purchases for r in cells),
        ))
    return rows


def percentiles(values: list[int] | np.ndarray) -> dict[str, float]:
    """count, p50/p90/p95/p99 and max of ``values`` (empty input gives count 0 only)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"count": 0}
    out: dict[str, float] = {"count": int(arr.size)}
    out.update({f"p{p}": round(float(np.percentile(arr, p)), 1) for p in PERCENTILES})
    out["max"] = float(arr.max())
    return out


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Write ``path`` whole or not at all: the caller writes the yielded file, which then replaces ``path``.

    A report killed mid-write leaves at most ``.<name>.partial``, which its next run overwrites, never a
    truncated report under the real name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    yield partial
    os.replace(partial, path)


def write_csv(path: Path, rows: list[WindowLatency]) -> Path:
    """``window_id,max_latency_ms`` first, as the original project wrote them, then the further columns."""
    with replacing(path) as partial, partial.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["window_id", "max_latency_ms", "max_window_close_latency_ms", "campaigns", "events"])
        for r in rows:
            close = "" if r.max_window_close_latency_ms is None else r.max_window_close_latency_ms
            writer.writerow([r.window_id, r.max_latency_ms, close, r.campaigns, r.events])
    return path


def write_summary(path: Path, summary: dict[str, Any]) -> Path:
    """The JSON summary next to the CSV."""
    with replacing(path) as partial:
        partial.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path


def render_table(end_to_end: dict[str, float], window_close: dict[str, float], per_window_max: dict[str, float],
                 verification: Verification, collected: Collected) -> str:
    """A small fixed-width table for the terminal."""
    cols = ["count", *(f"p{p}" for p in PERCENTILES), "max"]
    lines = [f"{'latency (ms)':<30}" + "".join(f"{c:>10}" for c in cols)]
    for name, stats in (("end-to-end per cell", end_to_end), ("end-to-end per window (max)", per_window_max),
                        ("window-close per window (max)", window_close)):
        lines.append(f"{name:<30}" + "".join(f"{stats.get(c, float('nan')):>10.0f}" for c in cols))
    lines.append(f"verification: {verification.summary()}"
                 + (f"; {collected.malformed} malformed results" if collected.malformed else ""))
    return "\n".join(lines)
