"""The sustainable-throughput search on synthetic series: the criterion and the strategy, no servers.

The measurements are made up on purpose (a model of a job with a known breaking point), so that
the search logic is checked against a known answer; tests/search/test_search_run.py runs it for real.
"""

from __future__ import annotations

import math

import pytest

from ctrbench.search.criterion import Criterion, StepMeasurement, judge, slope, slope_lower_bound
from ctrbench.search.strategy import search_sustainable_rate

CRITERION = Criterion(latency_slo_s=1.5)
MEASURED_S = 30


def _model(capacity: float, generator_limit: float = math.inf):  # type: ignore[no-untyped-def]
    """A job that drains ``capacity`` events/s behind producers that manage ``generator_limit``."""
    calls: list[float] = []

    def measure(rate: float) -> StepMeasurement:
        calls.append(rate)
        excess = max(rate - capacity, 0.0)
        backlog = [(t, 500.0 + excess * t) for t in range(MEASURED_S)]  # grows by the excess every second
        latency = [(10.0 * w, 0.7 + (excess / capacity) * w) for w in range(1, 4)]  # and so does latency
        lag = 5.0 if rate <= generator_limit else 400.0
        return StepMeasurement(rate, min(rate, generator_limit), backlog, latency, lag, verified=True)

    return measure, calls


def test_slope_is_the_least_squares_line():
    assert slope([(0, 1.0), (1, 3.0), (2, 5.0)]) == pytest.approx(2.0)
    assert slope([(5, 7.0)]) == 0.0
    assert slope([(0, 1.0), (0, 9.0)]) == 0.0


def test_a_known_breaking_point_is_found_within_the_precision():
    measure, calls = _model(capacity=137_000)
    outcome = search_sustainable_rate(measure, CRITERION, start_rate=20_000, max_rate=640_000, precision=0.05)
    assert outcome.sustainable_rate is not None
    assert 137_000 * 0.95 <= outcome.sustainable_rate <= 137_000
    # Ramp 20k, 40k, 80k, 160k (fails), then bisection between 80k and 160k.
    assert calls[:4] == [20_000, 40_000, 80_000, 160_000]
    assert all(80_000 < c < 160_000 for c in calls[4:])
    assert outcome.generator_limited_at is None and not outcome.reached_max
    failed = [s for s in outcome.steps if not s.verdict.sustainable]
    assert all(any("backlog grows" in r for r in s.verdict.reasons) for s in failed)


def test_a_saturated_generator_bounds_the_search_and_is_reported():
    measure, calls = _model(capacity=1_000_000, generator_limit=100_000)
    outcome = search_sustainable_rate(measure, CRITERION, start_rate=25_000, max_rate=640_000, precision=0.05)
    # Ramp to 200k (the producers fall behind), then bisection below it, never above.
    assert calls[:4] == [25_000, 50_000, 100_000, 200_000]
    assert all(100_000 < c < 200_000 for c in calls[4:])
    assert outcome.sustainable_rate == 100_000  # the generator's limit, found although the job could take more
    assert outcome.generator_limited_at == min(calls[3:])
    assert all(s.verdict.generator_limited for s in outcome.steps[3:])
    assert "the generator, not the job" in outcome.steps[3].verdict.reasons[0]


def test_the_max_rate_sustainable_is_said_so():
    measure, _calls = _model(capacity=1_000_000)
    outcome = search_sustainable_rate(measure, CRITERION, start_rate=50_000, max_rate=150_000)
    assert outcome.sustainable_rate == 150_000 and outcome.reached_max


def test_latency_over_the_slo_or_a_wrong_result_fails_a_step():
    steady = StepMeasurement(10_000, 10_000, [(t, 100.0) for t in range(30)], [(10.0, 2.0), (20.0, 2.0)], 3.0, True)
    verdict = judge([steady], CRITERION)
    assert not verdict.sustainable and verdict.reasons == ("p99 window latency 2.00 s over the SLO 1.50 s",)
    wrong = StepMeasurement(10_000, 10_000, [(t, 100.0) for t in range(30)], [(10.0, 0.7)], 3.0, False)
    assert judge([wrong], CRITERION).reasons == ("results differ from the truth",)
    no_windows = StepMeasurement(10_000, 10_000, [(0, 0.0), (1, 0.0)], [], 3.0, True)
    assert not judge([no_windows], CRITERION).sustainable


def test_repetitions_are_judged_by_their_median():
    measure, _ = _model(capacity=100_000)
    good, bad = measure(90_000), measure(150_000)
    assert judge([good, good, bad], CRITERION).sustainable
    assert not judge([good, bad, bad], CRITERION).sustainable


def test_latency_grows_only_when_the_trend_is_clear_of_the_scatter():
    flat_backlog = [(t, 100.0) for t in range(30)]
    # Two or three windows whose latencies differ by chance: not a trend (22 ms/s from two points failed a
    # 4,000 events/s step of a real run once).
    for windows in ([(10.0, 0.70), (20.0, 0.92)], [(10.0, 0.70), (20.0, 0.80), (30.0, 0.95)]):
        assert slope(windows) >= CRITERION.latency_slope_max  # the slope alone would call it growing
        step = StepMeasurement(4_000, 4_000, flat_backlog, windows, 3.0, True)
        assert judge([step], CRITERION).sustainable, windows
    # Latency climbing 100 ms per window (10 ms/s) with 20 ms of scatter, over six windows: growing.
    climbing = [(10.0 * w, 0.7 + 0.1 * w + (0.02 if w % 2 else -0.02)) for w in range(1, 7)]
    verdict = judge([StepMeasurement(4_000, 4_000, flat_backlog, climbing, 3.0, True)],
                    Criterion(latency_slo_s=5.0, latency_slope_max=0.005))
    assert not verdict.sustainable and verdict.reasons[0].startswith("window latency grows (10 ms/s, at least")
    # The bound: exact for points on a line, below the slope with scatter, -inf when no trend can be told.
    assert slope_lower_bound([(0, 1.0), (1, 3.0), (2, 5.0)]) == pytest.approx(2.0)
    assert slope_lower_bound(climbing) < slope(climbing)
    assert slope_lower_bound([(0, 1.0), (1, 3.0)]) == -math.inf
    assert slope_lower_bound([(5, 1.0), (5, 2.0), (5, 3.0)]) == -math.inf
