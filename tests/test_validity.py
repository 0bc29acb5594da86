"""One rule for what counts as an event (ctrbench.validity), followed alike by the real job and the truth.

The integration test writes one mixed batch to a real broker, runs the real CTR job (in Flink's
mini-cluster, and in Spark's local mode) and the truth over the same topic, and compares both with
labels written by hand next to each record (the independent oracle): counts per event-time window,
and the reason of every rejected record.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from confluent_kafka import Producer

from ctrbench import validity
from ctrbench.kafka.reading import read_all
from ctrbench.latency.results import collect_results
from ctrbench.latency.truth import expected_from_records, expected_results
from ctrbench.latency.verify import verify
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.producer.events import encode_event
from ctrbench.schema import END_OF_RUN, EVENT_TYPES, NS_PER_MS, NS_PER_S
from tests.jobs import ENGINES, start_job

AD = "44444444-4444-4444-8444-444444444444"
S = NS_PER_S
HOUR = 3600 * S
EVENT_TYPE, CAMPAIGN, TIME, SKEW = validity.REASONS


@dataclass(frozen=True)
class Labelled:
    """A record and what the rule must make of it: an event (campaign, type, time) or a reason."""

    raw: bytes | None
    event: tuple[int, str, int] | None = None  # (campaign, event type, event time ns)
    reason: str | None = None  # rejected with this reason
    not_object: bool = False


def _obj(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def _event(campaign: int, kind: str, t: int, window_id: int = 0, **extra: object) -> Labelled:
    fields = {"user_id": AD, "ad_id": AD, "campaign_id": campaign, "event_type": kind, "event_time_ns": t,
              "window_id": window_id} | extra
    return Labelled(_obj(**fields), event=(campaign, kind, t))


def _batch(base: int, now: int) -> list[Labelled]:
    """Every kind of record, in one partition's order. Event times lie in windows 0 and 1 of ``base``."""
    good = encode_event(AD, AD, AD, 1, "video", "view", base + 2 * S, 0, "10.0.0.1")
    return [
        # Events as the producers write them, and events that only differ in what the rule ignores.
        Labelled(good, event=(1, "view", base + 2 * S)),
        Labelled(encode_event(AD, AD, AD, 1, "video", "click", base + 3 * S, 0, "10.0.0.1"),
                 event=(1, "click", base + 3 * S)),
        _event(1, "view", base + 4 * S, window_id=7),  # window_id contradicts the time: counted by time
        _event(1, "purchase", base + 5 * S, window_id=-3),
        _event(2, "click", base + 6 * S, window_id="not a number"),
        Labelled(_obj(campaign_id="2", event_type="view", event_time_ns=str(base + 7 * S)),
                 event=(2, "view", base + 7 * S)),  # integers written as strings
        _event(2, "view", base + 8 * S, user_id="u" * 200_000),  # an oversized field
        _event(3, "click", base + 9 * S, extra={"nested": [1, {"a": None}]}, zzz=1.5),  # unknown fields
        Labelled(b"\xef\xbb\xbf" + _obj(campaign_id=3, event_type="view", event_time_ns=base + 9 * S),
                 event=(3, "view", base + 9 * S)),  # a byte-order mark, as Jackson tolerates
        Labelled(_obj(campaign_id=3, event_type="view", event_time_ns=base + 9 * S) + b" trailing",
                 event=(3, "view", base + 9 * S)),  # data after the object
        Labelled(b'{"campaign_id": 3, "event_type": "click", "event_time_ns": %d, "user_id": "a\x01b"}'
                 % (base + 9 * S), event=(3, "click", base + 9 * S)),  # a raw control character
        # Every kind of JSON whitespace (the Flink job decodes it itself) and an escape (left to Jackson there).
        Labelled(b'\t{ "campaign_id" :\t1 ,\n"event_type" : "cl\\u0069ck" ,\r\n"event_time_ns" : %d }\n'
                 % (base + 5 * S), event=(1, "click", base + 5 * S)),
        # Absurd times, early in the partition: had they moved the watermark, what follows would be late.
        Labelled(_obj(campaign_id=1, event_type="view", event_time_ns=now + 24 * HOUR), reason=SKEW),
        Labelled(_obj(campaign_id=1, event_type="view", event_time_ns=now - 24 * HOUR), reason=SKEW),
        Labelled(_obj(campaign_id=1, event_type="view", event_time_ns=4_000_000_000 * S), reason=SKEW),
        Labelled(_obj(campaign_id=1, event_type="view", event_time_ns=-5), reason=SKEW),
        # Wrong event types.
        Labelled(_obj(campaign_id=1, event_type="hover", event_time_ns=base + 11 * S), reason=EVENT_TYPE),
        Labelled(_obj(campaign_id=1, event_type="VIEW", event_time_ns=base + 11 * S), reason=EVENT_TYPE),
        Labelled(_obj(campaign_id=1, event_type=5, event_time_ns=base + 11 * S), reason=EVENT_TYPE),
        Labelled(_obj(campaign_id=1, event_time_ns=base + 11 * S), reason=EVENT_TYPE),
        Labelled(_obj(), reason=EVENT_TYPE),
        # Campaigns that are not integers.
        *(Labelled(_obj(campaign_id=c, event_type="view", event_time_ns=base + 12 * S), reason=CAMPAIGN)
          for c in ("abc", 7.0, 7.9, " 7", "7 ", "+7", "-", "", "--7", "7-", "\u0667", True, None, [1], 2**31,
                    "-2147483649", "99999999999999999999999")),
        # Integers at the edges of the rule: leading zeros, a minus zero, the smallest INT, as text.
        Labelled(_obj(campaign_id="007", event_type="view", event_time_ns=base + 12 * S),
                 event=(7, "view", base + 12 * S)),
        Labelled(_obj(campaign_id="-0", event_type="click", event_time_ns=base + 12 * S),
                 event=(0, "click", base + 12 * S)),
        Labelled(b'{"campaign_id":-0,"event_type":"purchase","event_time_ns":%d}' % (base + 12 * S),
                 event=(0, "purchase", base + 12 * S)),  # a JSON number minus zero
        Labelled(_obj(campaign_id=str(-(2**31)), event_type="view", event_time_ns=str(base + 12 * S)),
                 event=(-(2**31), "view", base + 12 * S)),
        Labelled(_obj(event_type="view", event_time_ns=base + 12 * S), reason=CAMPAIGN),
        # Times that are not integers.
        *(Labelled(_obj(campaign_id=1, event_type="view", event_time_ns=t), reason=TIME)
          for t in (float(base + 12 * S), "soon", str(base + 12 * S) + ".5", 2**70, str(2**63), "-", None,
                    {"ns": 1})),
        Labelled(_obj(campaign_id=1, event_type="click"), reason=TIME),
        # Events in window 1, after all of the above.
        _event(1, "view", base + 11 * S),
        _event(1, "click", base + 12 * S),
        _event(4, "view", base + 13 * S),
        # Records that are not JSON objects: the JSON format drops them, the report counts them.
        *(Labelled(raw, not_object=True) for raw in (
            b"not json at all", b"", None, b"[1, 2]", b"5", b'"view"', b"null",
            b'{"campaign_id": NaN, "event_type": "view", "event_time_ns": 1}',
            b'{"campaign_id": 1, "event_type": "view"', b"{'campaign_id': 1}",
            b'{"campaign_id": 01, "event_type": "view", "event_time_ns": 1}',
            b'{"campaign_id": 1, "event_type": "view", "user_id": "\xff\xfe"}',
        )),
        # An end-of-run marker written by someone else: not counted, not rejected.
        Labelled(_obj(campaign_id=0, event_type=END_OF_RUN, event_time_ns=base + 14 * S)),
    ]


def _counts_by_event_time(batch: list[Labelled], base: int) -> dict[tuple[int, int], tuple[int, int, int]]:
    """The oracle: (window by event time, campaign) -> (views, clicks, purchases) from the labels alone."""
    cells: Counter[tuple[int, int, str]] = Counter()
    for rec in batch:
        if rec.event:
            campaign, kind, t = rec.event
            cells[((t - base) // (10 * S), campaign, kind)] += 1
    keys = {(w, c) for w, c, _ in cells}
    return {k: (cells[(*k, "view")], cells[(*k, "click")], cells[(*k, "purchase")]) for k in keys}


@pytest.mark.integration
@pytest.mark.parametrize("engine", ENGINES)
def test_the_job_and_the_truth_follow_the_same_rule(kafka_settings, job_settings, engine):
    now = time.time_ns()
    base = now - now % (10 * S) - 60 * S
    batch = _batch(base, now)
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers})
    for rec in batch:
        producer.produce(kafka_settings.events_topic, rec.raw, partition=0)
    assert producer.flush(10) == 0
    job = job_settings.model_copy(update={"base_time_ns": base})
    oracle = _counts_by_event_time(batch, base)
    assert set(oracle) == {(0, 1), (0, 2), (0, 3), (1, 1), (1, 4), (1, 7), (1, 0), (1, -(2**31))}

    stop = start_job(engine, kafka_settings, job)
    try:
        send_end_of_run(kafka_settings, base, base + 15 * S, 10, job.watermark_delay_ms)
        truth = expected_results(kafka_settings, job)
        got = collect_results(kafka_settings, set(truth.counts), 90, base, 10)
        # The rejected sink writes as records arrive; the results above came later, so all are in.
        rejected = [json.loads(m.value()) for m in read_all(kafka_settings, kafka_settings.rejected_topic)]
    finally:
        stop()

    # Every cell: the job, the truth and the oracle (counted by event-time window) agree.
    assert {k: tuple(c.values()) for k, c in truth.counts.items()} == oracle
    assert {k: (r.views, r.clicks, r.purchases) for k, r in got.results.items()} == oracle
    assert {k: r.window_id for k, r in got.results.items()} == {k: k[0] for k in oracle}  # derived, not read
    outcome = verify(truth, got)
    assert outcome.ok and outcome.matched == len(oracle) and outcome.duplicates == 0

    # Every record accounted for exactly once: an event, rejected with its reason, a marker, or not an object.
    want_rejected = {i: rec.reason for i, rec in enumerate(batch) if rec.reason}
    assert {(r["kafka_partition"], r["kafka_offset"]): r["reason"] for r in rejected} == {
        (0, i): reason for i, reason in want_rejected.items()}
    assert len(rejected) == len(want_rejected)  # none listed twice
    assert truth.rejected == dict(Counter(want_rejected.values()))
    assert truth.events == sum(1 for rec in batch if rec.event)
    assert truth.not_objects == sum(1 for rec in batch if rec.not_object)
    assert truth.markers == 1 + 3  # the one in the batch and send_end_of_run's, one per partition
    assert truth.events + sum(truth.rejected.values()) + truth.markers + truth.not_objects == len(batch) + 3


def test_classify_matches_the_labels_record_by_record():
    now = time.time_ns()
    base = now - now % (10 * S) - 60 * S
    batch = _batch(base, now)

    found = validity.classify([r.raw for r in batch], [now // NS_PER_MS] * len(batch), 3_600_000)

    for i, rec in enumerate(batch):
        kind, reason = int(found.kind[i]), int(found.reason[i])
        if rec.event:
            campaign, event_type, t = rec.event
            assert (kind, found.campaign_id[i], found.event_time_ns[i]) == (
                EVENT_TYPES.index(event_type), campaign, t), i
        elif rec.reason:
            assert (kind, validity.REASONS[reason]) == (validity.REJECTED, rec.reason), i
        elif rec.not_object:
            assert kind == validity.NOT_AN_OBJECT, i
        else:
            assert kind == validity.MARKER, i


def test_the_skew_bounds_are_inclusive_and_exact():
    append_ms = 1_800_000_000_000
    skew_ms = 1000
    times = [append_ms * NS_PER_MS + d for d in (-skew_ms * NS_PER_MS - 1, -skew_ms * NS_PER_MS,
                                                   skew_ms * NS_PER_MS, skew_ms * NS_PER_MS + 1)]
    found = validity.classify([_obj(campaign_id=1, event_type="view", event_time_ns=t) for t in times],
                              [append_ms] * 4, skew_ms)
    assert found.events.tolist() == [False, True, True, False]


def test_disorder_uses_only_the_events_the_job_accepts(job_settings):
    """One valid-JSON event a day in the future must not make every later event look a day late."""
    now = time.time_ns()
    base = now - now % (10 * S)
    job = job_settings.model_copy(update={"base_time_ns": base})
    times = [base + i * 10 * NS_PER_MS for i in range(100)]
    times[50] -= 30 * NS_PER_MS  # one event 30 ms late
    records = [_obj(campaign_id=1, event_type="view", event_time_ns=t) for t in times]
    future = _obj(campaign_id=1, event_type="view", event_time_ns=now + 24 * HOUR)
    append = [now // NS_PER_MS] * 101

    clean = expected_from_records(records, append[:100], job)
    disturbed = expected_from_records(records[:10] + [future] + records[10:], append, job)

    assert clean.disorder_ms["max"] == 20.0  # 30 ms before its predecessor's 10 ms step
    assert disturbed.disorder_ms == clean.disorder_ms
    assert disturbed.rejected == {SKEW: 1} and disturbed.counts == clean.counts
