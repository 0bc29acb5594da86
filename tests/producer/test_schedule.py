"""Arrival schedules: exact counts, bounds, order, and the MMPP's time in the high state."""

from __future__ import annotations

import numpy as np
import pytest

from ctrbench.producer.schedule import mmpp_arrivals, mmpp_path, poisson_arrivals


def test_mmpp_arrivals_are_sorted_within_the_run_and_exact_in_count():
    t, _ = mmpp_arrivals(np.random.default_rng(1), 50_000, 100.0, 5.0, 8.0, 2.0)
    assert len(t) == 50_000
    assert t.min() >= 0.0 and t.max() < 100.0
    assert np.all(np.diff(t) >= 0)


def test_mmpp_high_state_share_matches_the_chain():
    # Stationary share of the high state = mean_high / (mean_low + mean_high) = 0.2. Over 20,000 s
    # (2,000 cycles of 10 s) the share's standard error is about 0.004; allow 4 of them.
    path = mmpp_path(np.random.default_rng(3), 20_000.0, 8.0, 2.0)
    share = float(((path.ends - path.starts) * path.high).sum() / 20_000.0)
    assert share == pytest.approx(0.2, abs=0.016)
    assert np.all(path.high[1:] != path.high[:-1]), "states must alternate"
    assert path.ends[-1] == 20_000.0


def test_mmpp_is_burstier_than_poisson():
    rng = np.random.default_rng(5)
    bursty, _ = mmpp_arrivals(rng, 200_000, 2_000.0, 5.0, 8.0, 2.0)
    flat = poisson_arrivals(rng, 200_000, 2_000.0)

    def dispersion(t: np.ndarray) -> float:
        counts = np.bincount(t.astype(int), minlength=2_000)
        return float(counts.var() / counts.mean())

    assert dispersion(flat) == pytest.approx(1.0, abs=0.15)
    assert dispersion(bursty) > 10


def test_rate_in_high_state_is_ratio_times_low():
    rng = np.random.default_rng(9)
    t, path = mmpp_arrivals(rng, 400_000, 4_000.0, 5.0, 8.0, 2.0)
    in_high = path.state_at(t)
    high_time = float(((path.ends - path.starts) * path.high).sum())
    ratio = (in_high.sum() / high_time) / ((~in_high).sum() / (4_000.0 - high_time))
    assert ratio == pytest.approx(5.0, rel=0.03)


def _mmpp_idc(window: float, low: float, high: float, mean_low: float, mean_high: float) -> float:
    """Index of dispersion of counts in windows of ``window`` s for a two-state MMPP (theory).

    IDC(t) = 1 + 2 (l1 - l2)^2 r1 r2 / ((r1 + r2)^3 m) * (1 - (1 - exp(-(r1 + r2) t)) / ((r1 + r2) t)),
    with switching rates r1 = 1/mean_low (low->high), r2 = 1/mean_high and mean rate m.
    """
    r1, r2 = 1 / mean_low, 1 / mean_high
    s = r1 + r2
    mean = (low * r2 + high * r1) / s
    return 1 + 2 * (high - low) ** 2 * r1 * r2 / (s**3 * mean) * (1 - (1 - np.exp(-s * window)) / (s * window))


@pytest.mark.parametrize("window", [1.0, 10.0])
def test_mmpp_dispersion_matches_theory(window):
    # Mean 100 events/s, ratio 5, sojourns 8 s / 2 s -> low 55.6/s, high 277.8/s. Over 40,000 s
    # (4,000 switching cycles) the variance estimate's relative error is a few percent; 10% bounds it.
    duration, n = 40_000.0, 4_000_000
    t, _ = mmpp_arrivals(np.random.default_rng(11), n, duration, 5.0, 8.0, 2.0)
    counts = np.bincount((t // window).astype(int), minlength=int(duration / window))
    low = (n / duration) / (0.8 + 5.0 * 0.2)
    theory = _mmpp_idc(window, low, 5.0 * low, 8.0, 2.0)
    assert counts.var() / counts.mean() == pytest.approx(theory, rel=0.10)
    assert counts.mean() == pytest.approx(n / duration * window)
