"""The CTR job on Spark (local mode) on the hand-made events the Flink job is tested with (tests/jobs.py).

Same known answers: NULL ctr without views, malformed records skipped and listed with their reasons, a year-2096
event time that must not move the watermark, the last window closed by the end-of-run marker. Also what only
Spark reports: micro-batches, rows it dropped as late (none here), and where its source is (the backlog).
"""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Producer

from ctrbench.kafka.reading import read_all, watermarks
from ctrbench.latency.results import collect_results
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.schema import NS_PER_S
from ctrbench.spark_job.job import start
from tests.jobs import HAND_MADE_CELLS, check_hand_made, hand_made_records

pytestmark = pytest.mark.integration

S = NS_PER_S


@pytest.mark.parametrize("parallelism", [1, 2])
def test_window_results_are_exact(kafka_settings, job_settings, parallelism):
    now = time.time_ns()
    base = now - now % (10 * S) - 60 * S  # a minute ago: event times close to broker time
    records, reasons = hand_made_records(base)
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers})
    for r in records:
        producer.produce(kafka_settings.events_topic, r, partition=0)
    assert producer.flush(10) == 0
    job = job_settings.model_copy(update={"parallelism": parallelism, "base_time_ns": base})

    handle = start(kafka_settings, job)
    try:
        send_end_of_run(kafka_settings, base, base + 15 * S, 10, job.watermark_delay_ms)
        got = collect_results(kafka_settings, HAND_MADE_CELLS, 90, base, 10)
        rejected = [json.loads(m.value()) for m in read_all(kafka_settings, kafka_settings.rejected_topic)]
        ends = {p: high for p, (_low, high) in watermarks(kafka_settings, kafka_settings.events_topic).items()}
        deadline = time.monotonic() + 30
        while handle.read() != {p: end - 1 for p, end in ends.items()}:  # every record read, markers included
            assert time.monotonic() < deadline, (handle.read(), ends)
            time.sleep(0.2)
    finally:
        handle.stop()

    check_hand_made(got, rejected, reasons, base)
    assert handle.batches >= 2 and handle.late_rows_dropped == 0
