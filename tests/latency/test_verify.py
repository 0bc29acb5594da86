"""The verifier: exact matches pass; wrong, missing, unexpected and duplicate results are named."""

from __future__ import annotations

import json

from ctrbench.latency.results import Collected
from ctrbench.latency.truth import expected_from_records
from ctrbench.latency.verify import verify
from ctrbench.schema import WindowResult


def _ev(window: int, campaign: int, kind: str) -> bytes:
    return json.dumps({"window_id": window, "campaign_id": campaign, "event_type": kind}).encode()


def _res(window: int, campaign: int, views: int, clicks: int, purchases: int, ctr: float | None) -> WindowResult:
    return WindowResult(window, "s", "e", campaign, views, clicks, purchases, ctr, 1000, 1500)


EVENTS = [_ev(0, 1, "view")] * 4 + [_ev(0, 1, "click")] + [_ev(0, 2, "click")] + [b"garbage", _ev(0, 1, "end_of_run")]


def test_truth_counts_events_and_skips_everything_else():
    expected = expected_from_records(EVENTS)
    assert expected.counts == {(0, 1): {"view": 4, "click": 1, "purchase": 0},
                               (0, 2): {"view": 0, "click": 1, "purchase": 0}}
    assert (expected.events, expected.skipped) == (6, 2)
    assert expected.ctr((0, 1)) == 0.25 and expected.ctr((0, 2)) is None


def test_exact_results_verify():
    collected = Collected()
    collected.add(_res(0, 1, 4, 1, 0, 0.25))
    collected.add(_res(0, 2, 0, 1, 0, None))
    outcome = verify(expected_from_records(EVENTS), collected)
    assert outcome.ok and outcome.matched == 2


def test_wrong_ctr_missing_unexpected_and_duplicates_are_reported():
    collected = Collected()
    collected.add(_res(0, 1, 4, 1, 0, 1 / 5))  # the seed's clicks / (views + 1)
    collected.add(_res(0, 1, 4, 1, 0, 0.25))  # re-emitted: a duplicate, not a second vote
    collected.add(_res(7, 3, 1, 0, 0, 0.0))
    outcome = verify(expected_from_records(EVENTS), collected)
    assert not outcome.ok
    assert [str(m) for m in outcome.mismatches] == ["window 0 campaign 1: ctr expected 0.25, got 0.2"]
    assert outcome.missing == [(0, 2)] and outcome.unexpected == [(7, 3)] and outcome.duplicates == 1
    assert outcome.summary() == "0 matched, 1 wrong, 1 missing, 1 unexpected, 1 duplicates"


def test_disorder_is_lateness_behind_each_partitions_running_max():
    from ctrbench.latency.truth import disorder

    ms = 1_000_000
    # partition 0: 10, 30, 25 (5 late), 40; partition 1: 100, 60 (40 late)
    got = disorder([0, 0, 0, 0, 1, 1], [10 * ms, 30 * ms, 25 * ms, 40 * ms, 100 * ms, 60 * ms])
    assert got["max"] == 40.0 and got["p50"] == 0.0
