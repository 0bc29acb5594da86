"""Verifier benchmark: recomputing the truth from N raw event records, against a naive baseline
(``json.loads`` and a dict of counters per record) on the same records, in the same run."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass

from ctrbench import catalog
from ctrbench.latency.truth import expected_from_records
from ctrbench.producer.runner import build_schedule
from ctrbench.schema import EVENT_TYPES, NS_PER_S
from ctrbench.settings import LoadSettings, load

__all__ = ["VerifyBenchResult", "run_verify_benchmark"]

_PER_PRODUCER = 1_000_000


@dataclass(frozen=True)
class VerifyBenchResult:
    events: int
    seconds: float
    baseline_seconds: float

    def render(self) -> str:
        per_event = self.seconds / self.events * 1e6
        return "\n".join([
            f"machine: {os.cpu_count()} cores; {self.events:,} events (records in memory, Kafka read not included)",
            f"ctrbench truth : {self.seconds:7.2f} s  ({per_event:.2f} us/event, "
            f"10M events ~ {per_event * 10:.0f} s)",
            f"naive baseline : {self.baseline_seconds:7.2f} s  (json.loads + Counter per record)",
            f"ratio          : {self.baseline_seconds / self.seconds:7.2f}x",
        ])


def _naive(values: list[bytes]) -> Counter[tuple[int, int, str]]:
    tally: Counter[tuple[int, int, str]] = Counter()
    for raw in values:
        ev = json.loads(raw)
        if ev.get("event_type") in EVENT_TYPES:
            tally[(ev["window_id"], ev["campaign_id"], ev["event_type"])] += 1
    return tally


def run_verify_benchmark(events: int) -> VerifyBenchResult:
    """Build ``events`` producer records (not timed), then time both aggregations and check they agree."""
    settings = load(LoadSettings, events_per_producer=min(events, _PER_PRODUCER), duration_seconds=600)
    cat = catalog.generate(settings.seed, settings.num_campaigns, settings.ads_per_campaign)
    start = time.time_ns()
    base = start - start % (10 * NS_PER_S)
    values: list[bytes] = []
    producer = 0
    while len(values) < events:
        values.extend(build_schedule(settings, producer, cat, start, base, 10).events.payloads)
        producer += 1
    del values[events:]

    t0 = time.perf_counter()
    expected = expected_from_records(values)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = _naive(values)
    baseline_seconds = time.perf_counter() - t0
    flat = {(w, c, t): n for (w, c), counts in expected.counts.items() for t, n in counts.items() if n}
    if flat != dict(naive):
        raise RuntimeError("the verifier and the naive baseline disagree")
    return VerifyBenchResult(events, seconds, baseline_seconds)
