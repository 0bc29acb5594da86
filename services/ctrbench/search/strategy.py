"""The search for the highest sustainable rate: exponential ramp, then bisection.

As OpenMessaging Benchmark and Theodolite do: double the rate from ``start_rate`` until a step is not
sustainable (or ``max_rate`` is reached), then bisect between the last sustainable and the first
unsustainable rate until they are within ``precision`` of each other. A step where the producers fell
behind their schedule is an upper bound like a failed one, but of the generator, not of the job: the
search never goes above it, and the outcome says that the rate found may be the generator's limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ctrbench.search.criterion import Criterion, StepMeasurement, Verdict, judge

__all__ = ["SearchOutcome", "Step", "search_sustainable_rate"]

logger = logging.getLogger(__name__)


@dataclass
class Step:
    """One offered rate: its repetitions and the verdict on them."""

    rate: float
    runs: list[StepMeasurement]
    verdict: Verdict


@dataclass
class SearchOutcome:
    """Every step in the order run, and what they add up to."""

    steps: list[Step] = field(default_factory=list)
    sustainable_rate: float | None = None  # highest sustainable rate found; None if even the first failed
    generator_limited_at: float | None = None  # the lowest rate where the producers fell behind, if any
    reached_max: bool = False  # max_rate itself was sustainable: the ceiling lies above the range searched

    @property
    def sustainable_step(self) -> Step | None:
        return next((s for s in self.steps if s.rate == self.sustainable_rate), None)


def search_sustainable_rate(measure: Callable[[float], StepMeasurement], criterion: Criterion, start_rate: float,
                            max_rate: float, precision: float = 0.05, repetitions: int = 1,
                            on_step: Callable[[Step], None] | None = None) -> SearchOutcome:
    """Find the highest sustainable rate in [start_rate, max_rate] with ``measure(rate)`` per repetition."""
    if not 0 < start_rate <= max_rate:
        raise ValueError(f"start rate {start_rate} must be positive and at most the max rate {max_rate}")
    out = SearchOutcome()

    def run(rate: float) -> Verdict:
        runs = [measure(rate) for _ in range(repetitions)]
        step = Step(rate, runs, judge(runs, criterion))
        out.steps.append(step)
        logger.info("%.0f events/s: %s", rate, "sustainable" if step.verdict.sustainable
                    else "; ".join(step.verdict.reasons))
        if on_step is not None:
            on_step(step)
        if step.verdict.generator_limited:
            out.generator_limited_at = min(rate, out.generator_limited_at or rate)
        return step.verdict

    low, high = None, None
    rate = start_rate
    while True:  # ramp
        verdict = run(rate)
        if not verdict.sustainable:
            high = rate
            break
        low = rate
        if rate >= max_rate:
            out.reached_max = True
            break
        rate = min(rate * 2, max_rate)
    while low is not None and high is not None and (high - low) / low > precision:  # bisection
        rate = (low + high) / 2
        verdict = run(rate)
        if verdict.sustainable:
            low = rate
        else:
            high = rate
    out.sustainable_rate = low
    return out
