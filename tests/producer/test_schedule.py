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
