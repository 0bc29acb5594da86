"""Campaign lookup from PostgreSQL (JDBC lookup join) gives the same results as the event's field."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer

from ctrbench import catalog
from ctrbench.flink_job.job import connector_jars, submit, wait_running
from ctrbench.kafka.topics import ensure_topics
from ctrbench.latency.results import collect_results
from ctrbench.latency.truth import expected_results
from ctrbench.latency.verify import verify
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.producer.runner import build_schedule
from ctrbench.schema import NS_PER_S
from ctrbench.settings import LoadSettings, load

pytestmark = pytest.mark.integration


def _run(kafka, job, postgres, expected_keys):
    result = submit(kafka, job, connector_jars(job), postgres)
    try:
        wait_running(result)
        return collect_results(kafka, expected_keys, 90, job.base_time_ns, job.window_seconds)
    finally:
        result.get_job_client().cancel().result()


def test_postgres_lookup_equals_event_campaign(kafka_settings, postgres_settings, job_settings):
    load_settings = load(LoadSettings, events_per_producer=3000, duration_seconds=15, num_campaigns=5,
                         ads_per_campaign=20, seed=3)
    cat = catalog.generate(load_settings.seed, load_settings.num_campaigns, load_settings.ads_per_campaign)
    catalog.write_catalog(postgres_settings, cat)
    now = time.time_ns()
    start = now - 30 * NS_PER_S
    base = start - start % (10 * NS_PER_S)
    events = build_schedule(load_settings, 0, cat, start, base, 10).events
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers})
    for value, key in zip(events.payloads, events.keys, strict=True):
        producer.produce(kafka_settings.events_topic, value, key)
    assert producer.flush(10) == 0
    send_end_of_run(kafka_settings, base, start + 15 * NS_PER_S, 10, job_settings.watermark_delay_ms)
    job_settings = job_settings.model_copy(update={"base_time_ns": base})
    truth = expected_results(kafka_settings, job_settings)

    by_event = _run(kafka_settings, job_settings, None, set(truth.counts))
    lookup_kafka = kafka_settings.model_copy(update={"results_topic": kafka_settings.results_topic + "-lookup",
                                                     "rejected_topic": kafka_settings.rejected_topic + "-lookup"})
    ensure_topics(lookup_kafka)
    lookup_job = job_settings.model_copy(update={"campaign_source": "postgres",
                                                 "consumer_group": job_settings.consumer_group + "-lookup"})
    by_lookup = _run(lookup_kafka, lookup_job, postgres_settings, set(truth.counts))

    assert verify(truth, by_event).ok and verify(truth, by_lookup).ok
    def cells(c):
        return {k: (r.views, r.clicks, r.purchases, r.ctr) for k, r in c.results.items()}
    assert cells(by_lookup) == cells(by_event)
    assert len(cells(by_event)) == len(truth.counts) >= 10
