"""A producer SIGKILLed mid-run and started again with the same id resends nothing the broker has.

Real broker and database; the producer is `ctrbench produce` in its own session, killed with its whole
process group. The restarted one rebuilds the same schedule (same seed, id, start and base), finds the
events already in the topic and sends the rest: afterwards the topic holds exactly the schedule, each
event once. With PRODUCER_RESUME=false the same restart would resend everything (checked, so this test
can tell the two apart).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest

from ctrbench import catalog
from ctrbench.kafka.reading import read_all, watermarks
from ctrbench.pipeline import settings_env
from ctrbench.producer.resume import earlier_start, remaining_events
from ctrbench.producer.runner import build_schedule, send_unpaced
from ctrbench.schema import NS_PER_S
from ctrbench.settings import LoadSettings, load

pytestmark = pytest.mark.integration


def _produce(env: dict[str, str], start: int, base: int, report) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "ctrbench", "produce", "--producer-id", "0", "--start-time-ns", str(start),
           "--base-time-ns", str(base), "--report-file", str(report)]
    return subprocess.Popen(cmd, env=env, start_new_session=True)


def _in_topic(kafka) -> int:  # type: ignore[no-untyped-def]
    return sum(high - low for low, high in watermarks(kafka, kafka.events_topic).values())


@pytest.mark.parametrize("resume", [True, False])
def test_killed_producer_restarts_and_the_topic_holds_its_schedule_once(kafka_settings, postgres_settings,
                                                                         tmp_path, resume):
    load_settings = load(LoadSettings, events_per_producer=10_000, duration_seconds=20, distribution="normal",
                         seed=21, producer_resume=resume)
    cat = catalog.generate(load_settings.seed, load_settings.num_campaigns, load_settings.ads_per_campaign)
    catalog.write_catalog(postgres_settings, cat)
    env = os.environ | settings_env(kafka_settings, postgres_settings, load_settings)
    start = time.time_ns() + 3 * NS_PER_S
    base = start - start % (10 * NS_PER_S)

    first = _produce(env, start, base, tmp_path / "first.json")
    while _in_topic(kafka_settings) < 3_000:
        assert first.poll() is None, "the producer ended before it was killed"
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(1)  # anything the broker was still appending is in
    before = _in_topic(kafka_settings)
    assert 3_000 <= before < 10_000

    second = _produce(env, start, base, tmp_path / "second.json")
    assert second.wait(timeout=120) == 0
    report = json.loads((tmp_path / "second.json").read_text())
    topic = Counter(m.value() for m in read_all(kafka_settings, kafka_settings.events_topic))
    # The schedule as the producer builds it: from the mapping as PostgreSQL returns it.
    schedule = Counter(build_schedule(load_settings, 0, catalog.read_catalog(postgres_settings), start, base,
                                      10).events.payloads)
    if resume:
        assert topic == schedule  # every scheduled event, each exactly once
        assert report["already_in_topic"] == before and report["sent"] == 10_000 - before
        assert report["acknowledged"] == report["scheduled"] == 10_000
    else:
        assert sum(topic.values()) == before + 10_000 and set(topic) == set(schedule)
        assert report["already_in_topic"] == 0


def test_a_recreated_producer_pod_reads_its_start_time_from_the_topic(kafka_settings, postgres_settings):
    """The StatefulSet case: the restarted pod is given no start time. Events 500-599 of producer 1 are in the
    topic (not its first: a restart finds whatever got through); the start comes back to the nanosecond."""
    load_settings = load(LoadSettings, events_per_producer=2_000, duration_seconds=10, distribution="normal", seed=23)
    cat = catalog.generate(load_settings.seed, load_settings.num_campaigns, load_settings.ads_per_campaign)
    base = (time.time_ns() // (10 * NS_PER_S) - 1) * 10 * NS_PER_S
    start = base + 1_234_567_891

    def find(producer_id: int) -> int | None:
        return earlier_start(kafka_settings, load_settings, producer_id, cat, base, 10)

    assert find(1) is None  # an empty topic: a fresh start
    events = build_schedule(load_settings, 1, cat, start, base, 10).events
    keep = np.ones(len(events), dtype=bool)
    keep[500:600] = False
    assert send_unpaced(kafka_settings, "throughput", remaining_events(events, keep)) == (100, 0)
    assert find(1) == start
    assert find(0) is None  # producer 0 has no events there: another producer's never match


def test_a_stalled_client_is_replaced_and_the_topic_holds_the_schedule_once(monkeypatch):
    """The client acknowledges nothing for a while (here: its broker is down for 12 s, with the stall limit set to
    3 s), so the producer replaces it, reads what the topic holds once the broker is back, and sends only the rest.
    In the cluster a client was seen stalled with no connection at all after the Kafka pod was recreated; the
    replacement is the same either way. A broker of the test's own, so the session's is never stopped."""
    import threading

    from ctrbench.embedded.kafka_broker import EmbeddedKafka
    from ctrbench.kafka.topics import ensure_topics
    from ctrbench.producer import runner
    from ctrbench.settings import KafkaSettings

    monkeypatch.setattr(runner, "_STALL_S", 3.0)
    load_settings = load(LoadSettings, events_per_producer=6_000, duration_seconds=6, distribution="normal", seed=31)
    cat = catalog.generate(load_settings.seed, load_settings.num_campaigns, load_settings.ads_per_campaign)
    with EmbeddedKafka() as broker:
        kafka = load(KafkaSettings, kafka_bootstrap_servers=broker.bootstrap_servers, kafka_timeout_seconds=5)
        ensure_topics(kafka)
        start = time.time_ns() + 2 * NS_PER_S
        base = start - start % (10 * NS_PER_S)

        def outage() -> None:
            time.sleep(5)  # about half the events sent
            broker.halt()
            time.sleep(12)
            broker.resume()

        fault = threading.Thread(target=outage)
        fault.start()
        report = runner.run_producer(kafka, load_settings, 0, cat, start, base, 10)
        fault.join()
        topic = Counter(m.value() for m in read_all(kafka, kafka.events_topic))
    schedule = Counter(build_schedule(load_settings, 0, cat, start, base, 10).events.payloads)
    assert topic == schedule  # every event of the schedule, each exactly once
    assert report.resent_after_stall > 0 and report.delivery_errors == 0
    assert report.acknowledged == report.scheduled == 6_000
