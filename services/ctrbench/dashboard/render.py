"""Draw a dashboard's panels from Prometheus data with matplotlib: the picture without Grafana.

Time series panels become line charts (legend from each target's ``legendFormat``), stat panels
a box with each target's last value, in the dashboard's order, three panels per line.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from ctrbench.dashboard.queries import QueryResult

__all__ = ["render_panels"]

_COLUMNS = 3
_UNITS = {"s": "seconds", "rps": "", "short": "", "none": "", "suffix: ev/s": "events/s"}


def _format(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    text = f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2f}"
    return text + (" ev/s" if unit == "suffix: ev/s" else "")


def render_panels(results: list[QueryResult], title: str, out: Path) -> Path:
    """Write a PNG of every panel of ``results`` (as :func:`~ctrbench.dashboard.queries.evaluate` returns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    panels: dict[int, list[QueryResult]] = defaultdict(list)
    for result in results:
        panels[result.query.panel_id].append(result)
    rows = math.ceil(len(panels) / _COLUMNS)
    fig, axes = plt.subplots(rows, _COLUMNS, figsize=(6 * _COLUMNS, 3.2 * rows), squeeze=False)
    for ax, (_pid, targets) in zip(axes.flat, panels.items(), strict=False):
        first = targets[0].query
        unit = _UNITS.get(first.unit, first.unit)
        ax.set_title(first.title + (f" ({unit})" if unit else ""), fontsize=10)
        if first.kind == "stat":
            lines = []
            for target in targets:
                for name, points in target.series or [(target.query.legend, [])]:
                    last = next((v for _t, v in reversed(points) if math.isfinite(v)), math.nan)
                    lines.append(name if first.unit == "none" and "{{" in target.query.legend
                                 else f"{name}: {_format(last, first.unit)}")
            ax.text(0.5, 0.5, "\n".join(lines) or "no data", ha="center", va="center", fontsize=13,
                    transform=ax.transAxes)
            ax.set_axis_off()
            continue
        drawn = 0
        right = ax.twinx() if first.right_axis else None
        for target in targets:
            for name, points in target.series:
                finite = [(t, v * 1000 if first.unit == "s" else v) for t, v in points if math.isfinite(v)]
                if not finite:
                    continue
                on = right if right is not None and name in first.right_axis else ax
                color = f"C{drawn}"
                on.plot([datetime.fromtimestamp(t, tz=timezone.utc) for t, _v in finite], [v for _t, v in finite],
                        label=name + (" (right)" if on is right else ""), linewidth=1.2, color=color)
                drawn += 1
        if right is not None:
            right.set_ylim(bottom=0)
            right.tick_params(labelsize=7)
            handles = ax.get_legend_handles_labels()
            extra = right.get_legend_handles_labels()
            ax.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=7, loc="upper left", ncol=2)
        if first.unit == "s":
            ax.set_title(first.title + " (ms)", fontsize=10)
        if not drawn:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        elif right is None:
            ax.legend(fontsize=7, loc="upper left", ncol=2)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
