"""Arrival schedules: when each event of a producer is due, as offsets in seconds from its start.

Both processes are conditioned on the original project's exact count (``EVENTS_PER_PRODUCER`` over
``DURATION_SECONDS``). Given the count, the arrival times of a Poisson process with intensity
``lambda(t)`` are i.i.d. with density proportional to ``lambda(t)``; we draw them by inverting the
piecewise-constant cumulative intensity, fully vectorized.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MmppPath", "mmpp_arrivals", "mmpp_path", "poisson_arrivals"]


@dataclass(frozen=True)
class MmppPath:
    """A realisation of the two-state chain: segment ``i`` spans ``[starts[i], ends[i])`` in ``high[i]``."""

    starts: np.ndarray
    ends: np.ndarray
    high: np.ndarray

    def state_at(self, t: np.ndarray) -> np.ndarray:
        """True where the chain is in the high state at times ``t``."""
        idx = np.searchsorted(self.ends, t, side="right")
        return self.high[np.minimum(idx, len(self.high) - 1)]


def mmpp_path(rng: np.random.Generator, duration: float, mean_low: float, mean_high: float) -> MmppPath:
    """Simulate the continuous-time chain on ``[0, duration)``, starting from its stationary law.

    Sojourns are exponential (memoryless), so the first one needs no special residual law.
    """
    state = bool(rng.random() < mean_high / (mean_low + mean_high))
    lengths, states = [], []
    total = 0.0
    # Draw sojourn pairs in chunks sized to cover the run in about one round.
    chunk = max(16, int(duration / (mean_low + mean_high)) + 16)
    while total < duration:
        first = rng.exponential(mean_high if state else mean_low, size=chunk)
        second = rng.exponential(mean_low if state else mean_high, size=chunk)
        seq = np.empty(2 * chunk)
        seq[0::2], seq[1::2] = first, second
        flags = np.empty(2 * chunk, dtype=bool)
        flags[0::2], flags[1::2] = state, not state
        lengths.append(seq)
        states.append(flags)
        total += float(seq.sum())
    ends = np.cumsum(np.concatenate(lengths))
    keep = int(np.searchsorted(ends, duration, side="left")) + 1
    ends = ends[:keep]
    ends[-1] = duration
    starts = np.concatenate(([0.0], ends[:-1]))
    return MmppPath(starts, ends, np.concatenate(states)[:keep])


def _sample_piecewise(rng: np.random.Generator, starts: np.ndarray, ends: np.ndarray,
                      rates: np.ndarray, n: int) -> np.ndarray:
    weights = (ends - starts) * rates
    cum = np.concatenate(([0.0], np.cumsum(weights)))
    u = np.sort(rng.random(n)) * cum[-1]
    seg = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(starts) - 1)
    return starts[seg] + (u - cum[seg]) / rates[seg]


def mmpp_arrivals(rng: np.random.Generator, n: int, duration: float, rate_ratio: float,
                  mean_low: float, mean_high: float) -> tuple[np.ndarray, MmppPath]:
    """``n`` sorted arrival offsets of an MMPP over ``[0, duration)`` and the chain path behind them.

    The rate in the high state is ``rate_ratio`` times the low rate; the absolute rates follow from
    ``n / duration`` being the mean (lambda_low = mean / (p_low + r * p_high)).
    """
    path = mmpp_path(rng, duration, mean_low, mean_high)
    rates = np.where(path.high, rate_ratio, 1.0)
    return _sample_piecewise(rng, path.starts, path.ends, rates, n), path


def poisson_arrivals(rng: np.random.Generator, n: int, duration: float) -> np.ndarray:
    """``n`` sorted arrival offsets of a homogeneous Poisson process over ``[0, duration)``."""
    return np.sort(rng.random(n)) * duration
