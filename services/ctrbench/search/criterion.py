"""When is a load step sustainable? The criterion, on measurements alone (no servers here).

A step is sustainable when, over its measured period (warm-up discarded):

* the job's backlog has no upward trend: the slope of a least-squares line through the backlog
  samples, relative to the offered rate, stays below ``backlog_slope_max`` (1%: the backlog grows by
  less than 1% of what is offered; Theodolite's lag-trend SLO);
* window latency has no upward trend and its p99 stays under the SLO (default: watermark delay + 1 s).
  A trend is the slope of per-window latency against window end, and it counts only when it is clear of
  the windows' own scatter: the slope's one-sided 95% lower confidence bound must reach
  ``latency_slope_max``. Two windows always lie on a line, so at least three are needed; a short step
  whose latencies merely differ by chance (0.7 s, then 0.9 s) is not called growing;
* the producers kept to schedule (p99 schedule lag below ``lag_p99_max_ms``); otherwise the step
  measured the generator, not the system under test, and says so;
* every result verified.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Criterion", "StepMeasurement", "Verdict", "judge", "slope", "slope_lower_bound"]


@dataclass(frozen=True)
class Criterion:
    """Thresholds of the sustainability criterion."""

    latency_slo_s: float
    backlog_slope_max: float = 0.01  # backlog growth per second / offered events per second
    latency_slope_max: float = 0.01  # seconds of latency gained per second of run
    lag_p99_max_ms: float = 100.0


@dataclass
class StepMeasurement:
    """What one run at one offered rate measured over its measured period."""

    offered_rate: float  # events/s asked of the producers
    delivered_rate: float  # events/s acknowledged by the broker, over the run
    backlog: list[tuple[float, float]]  # (time s, events not yet read by the job)
    window_latency: list[tuple[float, float]]  # (window end s, the window's max end-to-end latency s)
    lag_p99_ms: float
    verified: bool
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def latency_p(self) -> dict[str, float]:
        """p50/p95/p99 (s) of the per-window latencies of the measured period (NaN without windows)."""
        values = np.asarray([v for _t, v in self.window_latency], dtype=float)
        if not len(values):
            return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
        return {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}


@dataclass(frozen=True)
class Verdict:
    """A step's outcome and, when not sustainable, why."""

    sustainable: bool
    generator_limited: bool
    backlog_slope: float  # relative to the offered rate
    latency_slope: float  # s per s
    reasons: tuple[str, ...]


def slope(points: list[tuple[float, float]]) -> float:
    """Slope of the least-squares line through ``points`` (0 with fewer than two distinct times)."""
    if len(points) < 2:
        return 0.0
    t = np.asarray([p[0] for p in points], dtype=float)
    y = np.asarray([p[1] for p in points], dtype=float)
    if np.ptp(t) == 0:
        return 0.0
    return float(np.polyfit(t - t[0], y, 1)[0])


# One-sided 95% quantiles of Student's t for 1..30 degrees of freedom; beyond, the normal's (within 3%).
_T95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
        1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725,
        1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697)
_Z95 = 1.645


def slope_lower_bound(points: list[tuple[float, float]]) -> float:
    """One-sided 95% lower confidence bound of the least-squares slope through ``points``.

    ``-inf`` with fewer than three points or fewer than two distinct times: no trend can be told apart
    from scatter there.
    """
    if len(points) < 3:
        return -math.inf
    t = np.asarray([p[0] for p in points], dtype=float)
    y = np.asarray([p[1] for p in points], dtype=float)
    t = t - t.mean()
    spread = float(np.sum(t * t))
    if spread == 0:
        return -math.inf
    b = float(np.sum(t * (y - y.mean()))) / spread
    residual = y - y.mean() - b * t
    dof = len(points) - 2
    standard_error = math.sqrt(float(np.sum(residual * residual)) / dof / spread)
    return b - (_T95[dof - 1] if dof <= len(_T95) else _Z95) * standard_error


def judge(steps: list[StepMeasurement], criterion: Criterion) -> Verdict:
    """The verdict on one offered rate from its repetitions: the median of each measure decides."""
    backlog_slope = statistics.median(slope(s.backlog) / s.offered_rate for s in steps)
    latency_slope = statistics.median(slope(s.window_latency) for s in steps)
    latency_rise = statistics.median(slope_lower_bound(s.window_latency) for s in steps)
    p99 = statistics.median(s.latency_p["p99"] for s in steps)
    lag = statistics.median(s.lag_p99_ms for s in steps)
    reasons = []
    generator_limited = lag >= criterion.lag_p99_max_ms
    if generator_limited:
        reasons.append(f"producers fell behind (p99 schedule lag {lag:.0f} ms >= {criterion.lag_p99_max_ms:.0f} ms):"
                       " the generator, not the job, limited this step")
    if backlog_slope >= criterion.backlog_slope_max:
        reasons.append(f"backlog grows ({backlog_slope:.1%} of the offered rate >= {criterion.backlog_slope_max:.0%})")
    if latency_rise >= criterion.latency_slope_max:
        reasons.append(f"window latency grows ({latency_slope * 1000:.0f} ms/s, at least {latency_rise * 1000:.0f}"
                       f" ms/s at 95% confidence >= {criterion.latency_slope_max * 1000:.0f} ms/s)")
    if not p99 < criterion.latency_slo_s:  # NaN (no window measured) fails too
        reasons.append(f"p99 window latency {p99:.2f} s over the SLO {criterion.latency_slo_s:.2f} s")
    if not all(s.verified for s in steps):
        reasons.append("results differ from the truth")
    return Verdict(not reasons, generator_limited, backlog_slope, latency_slope, tuple(reasons))
