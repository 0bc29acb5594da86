"""Topic administration against the real broker."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import ConfigResource, ResourceType

from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.reading import read_all
from ctrbench.kafka.topics import admin_client, clear_topics, partitions_of
from ctrbench.settings import KafkaSettings, load

pytestmark = pytest.mark.integration


def test_topics_use_log_append_time_and_the_configured_partitions(kafka_settings):
    admin = admin_client(kafka_settings)
    assert len(partitions_of(admin, kafka_settings.events_topic)) == 3
    assert len(partitions_of(admin, kafka_settings.results_topic)) == 1
    for topic in (kafka_settings.events_topic, kafka_settings.results_topic):
        res = ConfigResource(ResourceType.TOPIC, topic)
        assert admin.describe_configs([res])[res].result()["message.timestamp.type"].value == "LogAppendTime"


def test_clear_topics_empties_them(kafka_settings):
    producer = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap_servers})
    for i in range(10):
        producer.produce(kafka_settings.events_topic, b"x%d" % i)
    assert producer.flush(10) == 0
    assert len(list(read_all(kafka_settings, kafka_settings.events_topic))) == 10

    clear_topics(kafka_settings)

    assert list(read_all(kafka_settings, kafka_settings.events_topic)) == []
    assert len(partitions_of(admin_client(kafka_settings), kafka_settings.events_topic)) == 3


def test_unreachable_broker_is_a_clear_error():
    dead = load(KafkaSettings, kafka_bootstrap_servers="127.0.0.1:1", kafka_timeout_seconds=2)
    with pytest.raises(ServiceUnavailable, match="unreachable at KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1"):
        admin_client(dead)
