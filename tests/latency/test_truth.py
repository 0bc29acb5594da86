"""The truth recomputed from the real broker, read in parallel offset ranges."""

from __future__ import annotations

import logging
import random
import time

import numpy as np
import pytest
from confluent_kafka import Producer

from ctrbench.latency.truth import expected_results
from ctrbench.producer.events import encode_event
from ctrbench.schema import EVENT_TYPES, NS_PER_MS, NS_PER_S

pytestmark = pytest.mark.integration

AD = "33333333-3333-4333-8333-333333333333"


@pytest.mark.parametrize("workers", [2, 1])
def test_counts_and_disorder_are_exact_across_range_boundaries(kafka_settings, job_settings, workers, caplog):
    rng = random.Random(5)
    now = time.time_ns()
    base = now - now % (10 * NS_PER_S) - 60 * NS_PER_S
    job = job_settings.model_copy(update={"base_time_ns": base})
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers, "linger.ms": 50})
    written: dict[int, list[tuple[int, int, str, int]]] = {0: [], 1: [], 2: []}
    for partition, count in ((0, 700), (1, 250), (2, 50)):
        newest = 0
        for i in range(count):
            # Mostly increasing event times with some late ones, so lateness depends on the
            # events before it in the partition, including those in an earlier range.
            t = newest + rng.randint(1, 20) * NS_PER_MS if i % 7 else newest - rng.randint(0, 300) * NS_PER_MS
            newest = max(newest, t)
            # The window_id field is noise: the truth counts by event time alone.
            ev = (rng.randint(0, 3), rng.randint(1, 4), rng.choice(EVENT_TYPES), base + t)
            written[partition].append(ev)
            producer.produce(kafka_settings.events_topic, encode_event(AD, AD, AD, ev[1], "video", ev[2], ev[3],
                                                                      ev[0], "1.1.1.1"), partition=partition)
    producer.produce(kafka_settings.events_topic, b"garbage", partition=1)
    assert producer.flush(10) == 0

    # Cut partition 0 into about nine ranges, read by spawned workers (as for big topics) or in this process.
    caplog.set_level(logging.INFO, logger="ctrbench.latency.truth")
    got = expected_results(kafka_settings, job, workers=workers, pieces=13)

    counts: dict[tuple[int, int], dict[str, int]] = {}
    lateness_ms = []
    for events in written.values():
        newest = None
        for _field, c, kind, t in events:
            counts.setdefault(((t - base) // (10 * NS_PER_S), c), dict.fromkeys(EVENT_TYPES, 0))[kind] += 1
            newest = t if newest is None else max(newest, t)
            lateness_ms.append((newest - t) / 1e6)
    assert got.counts == counts
    assert (got.events, got.skipped) == (1000, 1)
    assert got.disorder_ms == {"p50": round(float(np.percentile(lateness_ms, 50)), 3),
                               "p99": round(float(np.percentile(lateness_ms, 99)), 3),
                               "max": round(max(lateness_ms), 3)}
    assert got.disorder_ms["max"] > 250  # the late events really are late
    assert f"({workers} workers, " in caplog.text


def test_an_empty_topic_has_no_events(kafka_settings, job_settings):
    got = expected_results(kafka_settings, job_settings)
    assert (got.counts, got.events, got.skipped, got.disorder_ms) == ({}, 0, 0, {})


def test_verify_benchmark_runs_both_recomputes_and_they_agree(kafka_broker):
    """The benchmark itself (small): it raises if ctrbench and the naive baseline disagree."""
    from ctrbench.latency.bench import run_verify_benchmark

    result = run_verify_benchmark(5000, kafka_broker.bootstrap_servers)

    assert (result.events, result.partitions, result.memory_events) == (5000, 3, 5000)
    lines = result.render().splitlines()
    assert lines[0].endswith("5,000 events in Kafka, 3 partitions")
    assert "x baseline" in lines[1] and "x baseline" in lines[3]


def test_usable_cpus_follow_a_cgroup_cpu_limit(tmp_path):
    """cgroup files written here, in the kernel's formats (v2 cpu.max, v1 quota and period)."""
    from ctrbench.latency.truth import usable_cpus

    unlimited = usable_cpus(tmp_path / "none")  # no cgroup files: the affinity
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")  # a 1.5 CPU limit
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "max").mkdir()
    (tmp_path / "max" / "cpu.max").write_text("max 100000\n")

    assert unlimited >= 1
    assert usable_cpus(v2) == min(unlimited, 2)
    assert usable_cpus(tmp_path / "v1") == 1
    assert usable_cpus(tmp_path / "max") == unlimited
