"""Both engines' CTR jobs behind one call, and the hand-made events with known answers that both must get right.

The cases (NULL ctr, malformed records, an absurd time that must not move the watermark, the last window closed
by the end-of-run marker) are written once here; tests/flink_job and tests/spark_job run them on each engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from ctrbench import validity
from ctrbench.producer.events import encode_event
from ctrbench.schema import NS_PER_S
from ctrbench.settings import JobSettings, KafkaSettings, PostgresSettings

__all__ = ["ENGINES", "HAND_MADE_CELLS", "check_hand_made", "hand_made_records", "start_job", "write_hand_made"]

ENGINES = ("flink", "spark")
AD = "11111111-1111-4111-8111-111111111111"
S = NS_PER_S


def start_job(engine: str, kafka: KafkaSettings, job: JobSettings,
              postgres: PostgresSettings | None = None) -> Callable[[], None]:
    """Start the CTR job on ``engine`` in this process and wait until it runs; returns what stops it."""
    if engine == "flink":
        from ctrbench.flink_job.job import connector_jars, submit, wait_running

        result = submit(kafka, job, connector_jars(job), postgres)
        wait_running(result)
        return lambda: result.get_job_client().cancel().result()
    from ctrbench.spark_job.job import start

    return start(kafka, job, postgres=postgres).stop


def _event(campaign: int, kind: str, t_ns: int, base_ns: int) -> bytes:
    return encode_event(AD, AD, AD, campaign, "video", kind, t_ns, (t_ns - base_ns) // (10 * S), "10.0.0.1")


def hand_made_records(base: int) -> tuple[list[bytes], dict[int, str]]:
    """Events for windows 0 and 1, and malformed records by their offset in partition 0."""
    good_window_0 = [
        # campaign 1: 3 views, 1 click, 1 purchase -> ctr 1/3
        *(_event(1, "view", base + i * S, base) for i in range(3)),
        _event(1, "click", base + 4 * S, base),
        _event(1, "purchase", base + 5 * S, base),
        # campaign 2: clicks only -> ctr null, never a division by zero or by views+1
        _event(2, "click", base + 6 * S, base),
        _event(2, "click", base + 7 * S, base),
    ]
    malformed = [
        b"not json at all",  # dropped by the JSON format itself
        b'{"campaign_id": "abc", "event_type": "view"}',  # wrong type, no event time
        _event(1, "view", 4_000_000_000 * S, base),  # year 2096: must not move the watermark
        _event(1, "hover", base + 8 * S, base),  # unknown event type
    ]
    good_window_1 = [
        # campaign 1: 2 views, 2 clicks -> ctr 1.0 (after the absurd timestamp, so a watermark it
        # had moved would have dropped these as late)
        _event(1, "view", base + 11 * S, base),
        _event(1, "view", base + 12 * S, base),
        _event(1, "click", base + 13 * S, base),
        _event(1, "click", base + 14 * S, base),
    ]
    first = len(good_window_0)
    reasons = {first + 1: validity.REASONS[1], first + 2: validity.REASONS[3], first + 3: validity.REASONS[0]}
    return good_window_0 + malformed + good_window_1, reasons


HAND_MADE_CELLS = {(0, 1), (0, 2), (1, 1)}


def write_hand_made(kafka: KafkaSettings) -> tuple[int, list[bytes], dict[int, str]]:
    """Write the hand-made records to partition 0 of ``events``, their base time a minute ago (event times close
    to broker time); returns (base, records, rejected reasons by offset)."""
    from confluent_kafka import Producer

    now = time.time_ns()
    base = now - now % (10 * S) - 60 * S
    records, reasons = hand_made_records(base)
    producer = Producer({"bootstrap.servers": kafka.kafka_bootstrap_servers})
    for r in records:
        producer.produce(kafka.events_topic, r, partition=0)
    assert producer.flush(10) == 0
    return base, records, reasons


def check_hand_made(got, rejected: list[dict], reasons: dict[int, str], base: int) -> None:  # type: ignore[no-untyped-def]
    """The known answers: counts and ctr per cell (NULL without views), window bounds, rejected records."""
    rows = {k: (r.views, r.clicks, r.purchases, r.ctr) for k, r in got.results.items()}
    assert rows == {(0, 1): (3, 1, 1, pytest.approx(1 / 3)), (0, 2): (0, 2, 0, None), (1, 1): (2, 2, 0, 1.0)}
    start = datetime.fromtimestamp(base // S, UTC)
    assert got.results[(0, 1)].window_start == start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert got.results[(1, 1)].window_end == datetime.fromtimestamp(base // S + 20, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    assert got.duplicates == [] and got.malformed == 0
    assert {(r["kafka_partition"], r["kafka_offset"]): r["reason"] for r in rejected} == {
        (0, offset): reason for offset, reason in reasons.items()}
