"""End-of-run markers: past the last window plus the watermark delay, and on every partition."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ctrbench.producer.end_of_run import marker_time_ns, send_end_of_run
from ctrbench.schema import END_OF_RUN, NS_PER_MS, NS_PER_S


def test_marker_time_closes_the_last_window():
    base = 1_000 * NS_PER_S
    last_event = base + 23 * NS_PER_S + 5  # in window 2, which ends at base + 30 s
    at = marker_time_ns(base, last_event, 10, 700)
    assert at == base + 30 * NS_PER_S + 700 * NS_PER_MS + NS_PER_S


@pytest.mark.integration
def test_markers_reach_every_partition(kafka_settings):
    base = 1_000 * NS_PER_S
    assert send_end_of_run(kafka_settings, base, base + 5 * NS_PER_S, 10, 500) == 3
    consumer = Consumer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers, "group.id": "t"})
    consumer.assign([TopicPartition(kafka_settings.events_topic, p, OFFSET_BEGINNING) for p in range(3)])
    got = {}
    while len(got) < 3:
        msg = consumer.poll(10)
        assert msg is not None and msg.error() is None
        got[msg.partition()] = json.loads(msg.value())
    consumer.close()
    assert {ev["event_type"] for ev in got.values()} == {END_OF_RUN}
    assert {ev["event_time_ns"] for ev in got.values()} == {base + 11_500 * NS_PER_MS}


@pytest.mark.integration
def test_close_run_waits_for_all_events_then_writes_markers(kafka_settings):
    """The Kubernetes report Job's path: count events, then end the run."""
    from confluent_kafka import Producer

    from ctrbench.producer.end_of_run import close_run, event_count
    from ctrbench.settings import JobSettings, LoadSettings, load

    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers})
    for i in range(6):
        producer.produce(kafka_settings.events_topic, b"e%d" % i, partition=i % 3)
    assert producer.flush(10) == 0
    assert event_count(kafka_settings) == 6
    run = load(LoadSettings, num_producers=2, events_per_producer=3, base_time_ns=1_000 * NS_PER_S)
    close_run(kafka_settings, run, load(JobSettings), timeout=30)
    assert event_count(kafka_settings) == 9  # one marker per partition
    with pytest.raises(Exception, match="only 9 of 20 events"):
        close_run(kafka_settings, run.model_copy(update={"events_per_producer": 10}), load(JobSettings), timeout=2)


@pytest.mark.integration
def test_close_run_waits_through_a_broker_restart():
    """The Kafka pod recreated while the report Job waits for the producers: it keeps waiting, and ends the run
    once the rest of the events arrive (it used to fail on the first metadata request the broker missed)."""
    import threading
    import time

    from confluent_kafka import Producer

    from ctrbench.embedded.kafka_broker import EmbeddedKafka
    from ctrbench.kafka.topics import ensure_topics
    from ctrbench.producer.end_of_run import close_run, event_count
    from ctrbench.settings import JobSettings, KafkaSettings, LoadSettings, load

    with EmbeddedKafka() as broker:
        kafka = load(KafkaSettings, kafka_bootstrap_servers=broker.bootstrap_servers, kafka_timeout_seconds=5)
        ensure_topics(kafka)
        producer = Producer({"bootstrap.servers": kafka.kafka_bootstrap_servers})

        def send(n: int) -> None:
            for i in range(n):
                producer.produce(kafka.events_topic, b"e%d" % i, partition=i % 3)
            assert producer.flush(60) == 0

        send(3)
        run = load(LoadSettings, num_producers=1, events_per_producer=6, base_time_ns=1_000 * NS_PER_S)
        errors: list[BaseException] = []
        waiting = threading.Thread(target=lambda: _record(errors, close_run, kafka, run, load(JobSettings), 120))
        waiting.start()
        time.sleep(2)
        broker.halt()
        time.sleep(8)  # several of close_run's polls find no broker
        broker.resume()
        send(3)
        waiting.join(timeout=120)
        assert not waiting.is_alive() and errors == []
        assert event_count(kafka) == 6 + 3  # and the markers


def _record(errors: list[BaseException], fn, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        errors.append(exc)
