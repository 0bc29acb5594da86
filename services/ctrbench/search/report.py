"""The search's output: a table per step, CSV, JSON and a PNG of latency and backlog trend against load."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from ctrbench.search.cpu import ROLES
from ctrbench.search.strategy import SearchOutcome, Step

__all__ = ["render_search", "step_row", "write_search"]


def step_row(step: Step) -> dict[str, Any]:
    """One row per offered rate (medians over its repetitions for the latencies)."""
    runs = step.runs
    lat = {q: sorted(r.latency_p[q] for r in runs)[len(runs) // 2] for q in ("p50", "p95", "p99")}
    row: dict[str, Any] = {
        "offered_rate": round(step.rate),
        "delivered_rate": round(sorted(r.delivered_rate for r in runs)[len(runs) // 2]),
        "backlog_slope_pct": round(step.verdict.backlog_slope * 100, 3),
        "latency_slope_ms_per_s": round(step.verdict.latency_slope * 1000, 2),
        "latency_p50_ms": _ms(lat["p50"]),
        "latency_p95_ms": _ms(lat["p95"]),
        "latency_p99_ms": _ms(lat["p99"]),
        "lag_p99_ms": round(max(r.lag_p99_ms for r in runs), 1),
        "sustainable": step.verdict.sustainable,
        "reasons": "; ".join(step.verdict.reasons),
    }
    for role in ROLES:
        row[f"cpu_s_{role}"] = round(sum(r.cpu_seconds.get(role, 0.0) for r in runs) / len(runs), 1)
    return row


def _ms(seconds: float) -> int | None:
    return None if math.isnan(seconds) else round(seconds * 1000)


def render_search(outcome: SearchOutcome, title: str) -> str:
    """The table a terminal shows, then the verdict."""
    lines = [title, f"{'offered/s':>10} {'delivered/s':>11} {'backlog':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
             f"{'lag p99':>8}  cpu s (prod/broker/job/report)  verdict"]
    for step in sorted(outcome.steps, key=lambda s: s.rate):
        r = step_row(step)
        cpu = "/".join(f"{r[f'cpu_s_{role}']:.0f}" for role in ROLES)
        lines.append(f"{r['offered_rate']:>10,} {r['delivered_rate']:>11,} {r['backlog_slope_pct']:>7.2f}% "
                     f"{_cell(r['latency_p50_ms'])} {_cell(r['latency_p95_ms'])} {_cell(r['latency_p99_ms'])} "
                     f"{r['lag_p99_ms']:>6.1f}ms  {cpu:<30} "
                     f"{'sustainable' if r['sustainable'] else r['reasons']}")
    best = outcome.sustainable_step
    if best is None:
        lines.append("no sustainable rate: even the first step failed")
    else:
        r = step_row(best)
        lines.append(f"sustainable rate: {r['offered_rate']:,} events/s (p50 {r['latency_p50_ms']} ms, "
                     f"p99 {r['latency_p99_ms']} ms per window)"
                     + (" - the highest rate searched; the ceiling lies above" if outcome.reached_max else ""))
    if outcome.generator_limited_at is not None:
        lines.append(f"note: the producers could not keep to schedule at {outcome.generator_limited_at:,.0f} events/s "
                     "and above; the search stayed below, and the rate found may be the generator's limit rather "
                     "than the job's (give the producers CPU: more cores, or more --producers where cores are free)")
    return "\n".join(lines)


def _cell(value: int | None) -> str:
    return f"{'-' if value is None else value:>7}"


def write_search(outcome: SearchOutcome, params: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """CSV (one row per step), JSON (parameters, steps, verdict) and PNG into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [step_row(s) for s in sorted(outcome.steps, key=lambda s: s.rate)]
    csv_path = out_dir / f"{stem}.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["offered_rate"])
        writer.writeheader()
        writer.writerows(rows)
    json_path = out_dir / f"{stem}.json"
    best = outcome.sustainable_step
    json_path.write_text(json.dumps({
        "parameters": params,
        "steps_in_order_run": [round(s.rate) for s in outcome.steps],
        "steps": rows,
        "sustainable_rate": None if outcome.sustainable_rate is None else round(outcome.sustainable_rate),
        "sustainable_step": step_row(best) if best else None,
        "generator_limited_at": outcome.generator_limited_at,
        "reached_max_rate": outcome.reached_max,
    }, indent=2) + "\n")
    return [csv_path, json_path, _plot(rows, outcome, params, out_dir / f"{stem}.png")]


def _plot(rows: list[dict[str, Any]], outcome: SearchOutcome, params: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    rates = [r["offered_rate"] / 1000 for r in rows]
    for key, label, marker in (("latency_p50_ms", "p50", "o"), ("latency_p99_ms", "p99", "s")):
        points = [(x, r[key]) for x, r in zip(rates, rows, strict=True) if r[key] is not None]
        top.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label=f"window latency {label}")
    top.axhline(params["latency_slo_ms"], color="grey", linestyle="--", linewidth=1, label="SLO")
    top.set_ylabel("per-window end-to-end latency (ms)")
    top.set_ylim(bottom=0)
    bottom.plot(rates, [r["backlog_slope_pct"] for r in rows], marker="o", color="C2", label="backlog slope")
    bottom.axhline(params["backlog_slope_max_pct"], color="grey", linestyle="--", linewidth=1, label="threshold")
    bottom.set_ylabel("backlog growth (% of offered rate)")
    bottom.set_xlabel("offered load (thousand events/s)")
    for ax in (top, bottom):
        for x, r in zip(rates, rows, strict=True):
            if not r["sustainable"]:  # steps that failed the criterion, shaded
                ax.axvspan(x - 0.01 * rates[-1], x + 0.01 * rates[-1], color="red", alpha=0.1)
        if outcome.sustainable_rate is not None:
            ax.axvline(outcome.sustainable_rate / 1000, color="C3", linewidth=1.5,
                       label=f"sustainable: {outcome.sustainable_rate / 1000:,.0f}k events/s")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"Sustainable throughput: {params['engine']}, parallelism {params['parallelism']}, "
                 f"{params['producers']} producers, {params['distribution']}")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
