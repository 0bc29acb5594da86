"""The verifier: exact matches pass; wrong, missing, unexpected and duplicate results are named."""

from __future__ import annotations

import json
import time

import pytest

from ctrbench.latency.results import Collected
from ctrbench.latency.truth import expected_from_records
from ctrbench.latency.verify import verify
from ctrbench.schema import NS_PER_MS, NS_PER_S, WindowResult
from ctrbench.settings import JobSettings, load

NOW = time.time_ns()
BASE = NOW - NOW % (10 * NS_PER_S) - 30 * NS_PER_S


def _ev(window: int, campaign: int, kind: str, window_field: int = 0) -> bytes:
    """An event in ``window`` of BASE; its own window_id field says ``window_field`` (not read)."""
    t = BASE + window * 10 * NS_PER_S + NS_PER_S
    return json.dumps({"window_id": window_field, "campaign_id": campaign, "event_type": kind,
                       "event_time_ns": t}).encode()


def _res(window: int, campaign: int, views: int, clicks: int, purchases: int, ctr: float | None) -> WindowResult:
    return WindowResult(window, "s", "e", campaign, views, clicks, purchases, ctr, 1000, 1500)


EVENTS = ([_ev(0, 1, "view")] * 3 + [_ev(0, 1, "view", window_field=9)] + [_ev(0, 1, "click")]
          + [_ev(0, 2, "click")] + [b"garbage", _ev(0, 1, "end_of_run")])


@pytest.fixture
def job() -> JobSettings:
    return load(JobSettings, base_time_ns=BASE)


def _expected(job: JobSettings):  # type: ignore[no-untyped-def]
    return expected_from_records(EVENTS, [NOW // NS_PER_MS] * len(EVENTS), job)


def test_truth_counts_events_by_event_time_and_skips_everything_else(job):
    expected = _expected(job)
    assert expected.counts == {(0, 1): {"view": 4, "click": 1, "purchase": 0},
                               (0, 2): {"view": 0, "click": 1, "purchase": 0}}
    assert (expected.events, expected.skipped, expected.markers, expected.not_objects) == (6, 2, 1, 1)
    assert expected.ctr((0, 1)) == 0.25 and expected.ctr((0, 2)) is None


def test_exact_results_verify(job):
    collected = Collected()
    collected.add((0, 1), _res(0, 1, 4, 1, 0, 0.25))
    collected.add((0, 2), _res(0, 2, 0, 1, 0, None))
    outcome = verify(_expected(job), collected)
    assert outcome.ok and outcome.matched == 2


def test_wrong_ctr_missing_unexpected_and_duplicates_are_reported(job):
    collected = Collected()
    collected.add((0, 1), _res(0, 1, 4, 1, 0, 1 / 5))  # the seed's clicks / (views + 1)
    collected.add((0, 1), _res(0, 1, 4, 1, 0, 0.25))  # re-emitted: a duplicate, not a second vote
    collected.add((7, 3), _res(7, 3, 1, 0, 0, 0.0))
    outcome = verify(_expected(job), collected)
    assert not outcome.ok
    assert [str(m) for m in outcome.mismatches] == ["window 0 campaign 1: ctr expected 0.25, got 0.2"]
    assert outcome.missing == [(0, 2)] and outcome.unexpected == [(7, 3)] and outcome.duplicates == 1
    assert outcome.summary() == "0 matched, 1 wrong, 1 missing, 1 unexpected, 1 duplicates"


def test_a_reemitted_result_must_repeat_the_first_never_double_count(job):
    collected = Collected()
    collected.add((0, 1), _res(0, 1, 4, 1, 0, 0.25))
    collected.add((0, 1), _res(0, 1, 4, 1, 0, 0.25))  # re-emitted after a restart: the same counts
    collected.add((0, 2), _res(0, 2, 0, 1, 0, None))
    assert verify(_expected(job), collected).ok
    collected.add((0, 2), _res(0, 2, 0, 2, 0, None))  # re-emitted with a click counted twice
    outcome = verify(_expected(job), collected)
    assert not outcome.ok and outcome.duplicates == 2 and outcome.matched == 2
    assert [str(m) for m in outcome.mismatches] == [
        "window 0 campaign 2: re-emitted (views, clicks, purchases) expected (0, 1, 0), got (0, 2, 0)"]


def test_a_cell_may_be_short_only_by_events_that_came_later_than_the_watermark_allows(job):
    t = BASE + 2 * NS_PER_S
    late_view = json.dumps({"campaign_id": 1, "event_type": "view", "event_time_ns": t}).encode()
    # Partition 0 in offset order: window 0's events, then window 1's (13 s newer), then one view of
    # window 0 that was held up: 13 s behind its partition's newest event, far beyond the 500 ms delay.
    records = [_ev(0, 1, "view")] * 3 + [_ev(1, 1, "view")] + [late_view]
    expected = expected_from_records(records, [NOW // NS_PER_MS] * len(records), job)
    assert expected.late_counts == {(0, 1): 1} and expected.counts[(0, 1)]["view"] == 4

    def outcome(views_in_window_0: int):  # type: ignore[no-untyped-def]
        collected = Collected()
        collected.add((0, 1), _res(0, 1, views_in_window_0, 0, 0, 0.0))
        collected.add((1, 1), _res(1, 1, 1, 0, 0, 0.0))
        return verify(expected, collected)

    assert outcome(4).ok and outcome(4).short_by_late == []
    dropped = outcome(3)  # the late view dropped by the window: by design, and reported
    assert dropped.ok and dropped.short_by_late == [(0, 1)] and dropped.late_dropped == 1
    assert dropped.summary() == "1 matched, 0 wrong, 0 missing, 0 unexpected, 0 duplicates, 1 short by 1 late events"
    assert [str(m) for m in outcome(2).mismatches] == [  # short by more than came late: wrong
        "window 0 campaign 1: views expected 4, got 2"]
    assert not outcome(5).ok  # an excess is never explained


def test_a_result_whose_window_id_disagrees_with_its_window_is_wrong(job):
    collected = Collected()
    collected.add((0, 1), _res(5, 1, 4, 1, 0, 0.25))  # right counts, window_id counted from another base
    collected.add((0, 2), _res(0, 2, 0, 1, 0, None))
    assert [str(m) for m in verify(_expected(job), collected).mismatches] == [
        "window 0 campaign 1: window_id expected 0, got 5"]
    assert verify(_expected(job), collected, check_window_ids=False).ok


def test_disorder_is_lateness_behind_each_partitions_running_max():
    from ctrbench.latency.truth import disorder

    ms = 1_000_000
    # partition 0: 10, 30, 25 (5 late), 40; partition 1: 100, 60 (40 late)
    got = disorder([0, 0, 0, 0, 1, 1], [10 * ms, 30 * ms, 25 * ms, 40 * ms, 100 * ms, 60 * ms])
    assert got["max"] == 40.0 and got["p50"] == 0.0
