"""A soak run: one steady load for a long time, watching for what short runs cannot show.

The whole pipeline runs once (``ctrbench run`` on the embedded stack) at a constant-rate Poisson
load while a sampler records every process's resident memory (the producers, the broker's JVM, the
job's JVM, and this process with the live monitor) every ``sample_interval`` seconds. Afterwards:

- memory: per process, the least-squares slope of its RSS after the warm-up, and the growth that slope
  makes over the measured span relative to its mean there (flat: under ``MAX_GROWTH``);
- latency: per-window end-to-end latency in the first and second half of the run (stable: the
  second half's p99 within ``MAX_P99_DRIFT`` of the first's, plus 50 ms of noise) and its slope;
- correctness: every cell verified, and whether the run was disturbed.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ctrbench.latency.report import per_window, replacing
from ctrbench.pipeline import RunSettings, run
from ctrbench.schema import NS_PER_S
from ctrbench.search.cpu import CpuSampler
from ctrbench.search.criterion import slope

__all__ = ["MAX_GROWTH", "MAX_P99_DRIFT", "ProcessMemory", "SoakResult", "render_soak", "run_soak", "write_soak"]

logger = logging.getLogger(__name__)

MAX_GROWTH = 0.10  # RSS growth over the measured span, relative to its mean there
MAX_P99_DRIFT = 0.20  # second half's per-window p99 latency over the first half's
_MB = 1 << 20


@dataclass(frozen=True)
class ProcessMemory:
    """One process's resident memory over the measured span."""

    role: str
    pid: int
    first_mb: float
    last_mb: float
    max_mb: float
    slope_mb_per_min: float
    growth_pct: float  # slope x measured span / mean RSS there

    @property
    def flat(self) -> bool:
        return self.growth_pct < MAX_GROWTH * 100


@dataclass
class SoakResult:
    """What the soak run measured; ``ok`` when memory was flat, latency stable and every cell exact."""

    rate: float
    duration_s: float
    warmup_s: float
    processes: list[ProcessMemory]
    window_latency_ms: list[tuple[float, int]]  # (seconds since the load started, max latency of the window)
    first_half_ms: dict[str, float]
    second_half_ms: dict[str, float]
    latency_slope_ms_per_min: float
    verification: str
    verified: bool
    disturbed: str
    lag_p99_ms: float
    memory_samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (s, {"role-pid": MB})

    @property
    def memory_flat(self) -> bool:
        return all(p.flat for p in self.processes)

    @property
    def latency_stable(self) -> bool:
        first, second = self.first_half_ms.get("p99", 0.0), self.second_half_ms.get("p99", 0.0)
        return second <= first * (1 + MAX_P99_DRIFT) + 50

    @property
    def ok(self) -> bool:
        return self.memory_flat and self.latency_stable and self.verified


def _percentiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50": round(float(p50), 1), "p99": round(float(p99), 1), "max": float(max(values))}


def _memory(samples: list[tuple[float, dict[tuple[str, int], int]]], begin: float,
            end: float) -> list[ProcessMemory]:
    series: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for t, by_process in samples:
        if begin <= t <= end:
            for key, rss in by_process.items():
                series.setdefault(key, []).append((t, rss / _MB))
    out = []
    for (role, pid), points in sorted(series.items()):
        if len(points) < 3:
            continue  # a process that lived only moments (a producer's start, a helper)
        mb = [v for _t, v in points]
        per_s = slope(points)
        span = points[-1][0] - points[0][0]
        mean = float(np.mean(mb))
        out.append(ProcessMemory(role, pid, round(mb[0], 1), round(mb[-1], 1), round(max(mb), 1),
                                 round(per_s * 60, 2), round(100 * per_s * span / mean, 1) if mean else 0.0))
    return out


def run_soak(settings: RunSettings, rate: float, duration_s: float, warmup_s: float = 60.0,
             sample_interval_s: float = 10.0) -> SoakResult:
    """Run the pipeline at ``rate`` events/s for ``duration_s`` and measure memory, latency and correctness."""
    s = settings
    per_producer = max(1, round(rate * duration_s / s.load.num_producers))
    load = s.load.model_copy(update={"events_per_producer": per_producer, "duration_seconds": duration_s,
                                     "distribution": "normal"})
    with tempfile.TemporaryDirectory(prefix="ctrbench-soak-") as report_dir:
        run_settings = RunSettings(s.kafka, s.postgres, load, s.job,
                                   s.latency.model_copy(update={"report_dir": report_dir}), s.monitor)
        logger.info("soak: %.0f events/s for %.0f s (%d producers), memory sampled every %.0f s", rate, duration_s,
                    load.num_producers, sample_interval_s)
        with CpuSampler(sample_interval_s) as sampler:
            result = run(run_settings, "flink", skip_consumers=False)
    report = result.report
    start_s = min(p["start_time_ns"] for p in result.producers) / NS_PER_S
    base_s = report.summary["run"]["base_time_ns"] / NS_PER_S
    window = s.job.window_seconds
    # Only windows the load itself closed (its events passed their end by the watermark delay); the last
    # is closed by the end-of-run marker after the producers exit, and measures the shutdown instead.
    closes_after = window + s.job.watermark_delay_ms / 1000
    windows = [(base_s + (r.window_id + 1) * window - start_s, r.max_latency_ms)
               for r in per_window(report.collected)
               if base_s + r.window_id * window + closes_after <= start_s + duration_s]
    half = duration_s / 2
    measured = [(t, v) for t, v in windows if t > warmup_s]
    return SoakResult(
        rate=rate, duration_s=duration_s, warmup_s=warmup_s,
        # Judged on the times written to the CSV (seconds since the load started, to 0.1 s), so that a
        # sample at the warm-up's edge is in or out of both alike.
        processes=_memory([(round(t - start_s, 1), m) for t, m in sampler.memory], warmup_s, duration_s),
        window_latency_ms=[(round(t, 1), v) for t, v in windows],
        first_half_ms=_percentiles([v for t, v in measured if t <= half]),
        second_half_ms=_percentiles([v for t, v in measured if t > half]),
        latency_slope_ms_per_min=round(slope([(t, float(v)) for t, v in measured]) * 60, 2)
        if len(measured) > 1 else 0.0,
        verification=report.verification.summary(), verified=report.verification.ok,
        disturbed=report.summary["disturbed"], lag_p99_ms=max(p["lag_ms_p99"] for p in result.producers),
        memory_samples=[(round(t - start_s, 1), {f"{role}-{pid}": round(b / _MB, 1) for (role, pid), b in m.items()})
                        for t, m in sampler.memory],
    )


def render_soak(r: SoakResult) -> str:
    """The soak's verdict as a table for the terminal (and the README)."""
    lines = [f"soak: {r.rate:,.0f} events/s for {r.duration_s:.0f} s (first {r.warmup_s:.0f} s not judged)",
             "", f"{'process':<22} {'first MB':>9} {'last MB':>8} {'max MB':>7} {'MB/min':>7} {'growth':>7}"]
    for p in r.processes:
        lines.append(f"{p.role + ' ' + str(p.pid):<22} {p.first_mb:>9.1f} {p.last_mb:>8.1f} {p.max_mb:>7.1f} "
                     f"{p.slope_mb_per_min:>7.2f} {p.growth_pct:>6.1f}%" + ("" if p.flat else "  GROWING"))
    lines += ["",
              f"per-window latency (ms), first half: p50 {r.first_half_ms.get('p50', 0):.0f}, "
              f"p99 {r.first_half_ms.get('p99', 0):.0f}; second half: p50 {r.second_half_ms.get('p50', 0):.0f}, "
              f"p99 {r.second_half_ms.get('p99', 0):.0f}; slope {r.latency_slope_ms_per_min:+.1f} ms/min",
              f"producers' p99 schedule lag: {r.lag_p99_ms:.1f} ms",
              f"verification: {r.verification}",
              f"memory {'flat' if r.memory_flat else 'GROWING'}, "
              f"latency {'stable' if r.latency_stable else 'DRIFTING'}, results {'exact' if r.verified else 'WRONG'}"
              + (f"; disturbed: {r.disturbed}" if r.disturbed else "")]
    return "\n".join(lines)


def write_soak(r: SoakResult, params: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """``<stem>.json`` (everything), ``<stem>_memory.csv`` (every sample) and ``<stem>.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, csv_path, png_path = out_dir / f"{stem}.json", out_dir / f"{stem}_memory.csv", out_dir / f"{stem}.png"
    summary = {"params": params, "ok": r.ok, "memory_flat": r.memory_flat, "latency_stable": r.latency_stable,
               **{k: v for k, v in asdict(r).items() if k != "memory_samples"}}
    with replacing(json_path) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")
    names = sorted({name for _t, m in r.memory_samples for name in m})
    with replacing(csv_path) as partial, partial.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["seconds", *[f"{n}_mb" for n in names]])
        for t, m in r.memory_samples:
            writer.writerow([t, *[m.get(n, "") for n in names]])
    return [json_path, csv_path, _plot(r, names, png_path)]


def _plot(r: SoakResult, names: list[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (mem, lat) = plt.subplots(2, 1, sharex=True, figsize=(10, 7), layout="constrained")
    for name in names:
        points = [(t, m[name]) for t, m in r.memory_samples if name in m]
        mem.plot([t for t, _ in points], [v for _, v in points], label=name)
    mem.axvline(r.warmup_s, color="gray", linestyle=":", label="end of warm-up")
    mem.set_ylabel("resident memory (MiB)")
    mem.grid(alpha=0.3)
    mem.legend(fontsize="small", ncols=2)
    mem.set_title(f"soak: {r.rate:,.0f} events/s for {r.duration_s:.0f} s; {r.verification}")
    lat.plot([t for t, _ in r.window_latency_ms], [v for _, v in r.window_latency_ms], marker=".")
    lat.set_ylabel("per-window end-to-end latency (ms)")
    lat.set_xlabel("seconds since the load started")
    lat.set_ylim(bottom=0)
    lat.grid(alpha=0.3)
    with replacing(path) as partial:
        fig.savefig(partial, dpi=100, format="png")
    plt.close(fig)
    return path
