"""Decoding event records into arrays: producer records, other spellings, and what is not an event."""

from __future__ import annotations

import json
import time

import numpy as np

from ctrbench import catalog
from ctrbench.latency.decode import decode_events
from ctrbench.producer.runner import build_schedule
from ctrbench.schema import EVENT_TYPES, NS_PER_S
from ctrbench.settings import LoadSettings, load


def _ev(**fields: object) -> bytes:
    return json.dumps({"window_id": 3, "campaign_id": 7, "event_type": "click", "event_time_ns": 5} | fields).encode()


def test_producer_records_decode_to_the_values_json_reads():
    settings = load(LoadSettings, events_per_producer=2000, duration_seconds=20, seed=11)
    cat = catalog.generate(settings.seed, settings.num_campaigns, settings.ads_per_campaign)
    start = time.time_ns()
    payloads = build_schedule(settings, 0, cat, start, start - start % (10 * NS_PER_S), 10).events.payloads
    parsed = [json.loads(p) for p in payloads]

    got = decode_events(payloads)

    assert got.window_id.tolist() == [p["window_id"] for p in parsed]
    assert got.campaign_id.tolist() == [p["campaign_id"] for p in parsed]
    assert [EVENT_TYPES[k] for k in got.event_type.tolist()] == [p["event_type"] for p in parsed]
    assert got.event_time_ns.tolist() == [p["event_time_ns"] for p in parsed]
    assert got.has_time.all() and got.events.all()


def test_what_is_not_an_event_is_marked_and_the_rest_still_counts():
    records = [
        _ev(),
        b"not json",
        b"[1, 2]",
        _ev(event_type="end_of_run"),
        _ev(event_type="hover"),
        json.dumps({"window_id": 3, "event_type": "view"}).encode(),  # no campaign
        _ev(window_id="4", campaign_id=8.0),  # what int() takes is taken
        _ev(window_id="four"),
        _ev(window_id=10**30),  # outside int64: never written by a producer
        _ev(event_time_ns="soon"),  # an event, without a time
        _ev(event_type="view", event_time_ns=2**70),
    ]

    got = decode_events(records)

    assert got.events.tolist() == [True, False, False, False, False, False, True, False, False, True, True]
    assert got.window_id[[0, 6, 9]].tolist() == [3, 4, 3]
    assert got.campaign_id[[0, 6, 9]].tolist() == [7, 8, 7]
    assert got.event_type[[0, 10]].tolist() == [EVENT_TYPES.index("click"), EVENT_TYPES.index("view")]
    assert got.has_time.tolist() == [True, False, False, False, False, False, True, False, False, False, False]
    assert got.event_time_ns[0] == 5


def test_empty_batch():
    got = decode_events([])
    assert len(got.window_id) == 0 and got.event_type.dtype == np.int8
