"""Create, delete and wait for topics. Every wait polls the broker; there is no sleep-and-hope."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from ctrbench.errors import ServiceUnavailable
from ctrbench.kafka.config import admin_config
from ctrbench.settings import KafkaSettings

__all__ = ["admin_client", "clear_topics", "ensure_topics", "partitions_of"]

logger = logging.getLogger(__name__)

# Both topics stamp records with the broker's clock, so every latency uses one clock.
TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}


def admin_client(kafka: KafkaSettings) -> AdminClient:
    """An AdminClient that has proven it can reach the cluster (else ServiceUnavailable)."""
    admin = AdminClient(admin_config(kafka))
    try:
        admin.list_topics(timeout=kafka.kafka_timeout_seconds)
    except KafkaException as exc:
        raise ServiceUnavailable(
            f"Kafka broker unreachable at KAFKA_BOOTSTRAP_SERVERS={kafka.kafka_bootstrap_servers} "
            f"(waited {kafka.kafka_timeout_seconds:.0f} s: {exc.args[0].str() if exc.args else exc}); "
            "start one or use `ctrbench run` with the embedded stack"
        ) from None
    return admin


def _wanted(kafka: KafkaSettings) -> dict[str, int]:
    return {kafka.events_topic: kafka.events_partitions, kafka.results_topic: kafka.results_partitions,
            kafka.rejected_topic: 1}


def partitions_of(admin: AdminClient, topic: str, timeout: float = 10.0) -> list[int]:
    """Partition ids of ``topic`` (empty when it does not exist)."""
    md = admin.list_topics(topic=topic, timeout=timeout).topics.get(topic)
    if md is None or md.error is not None:
        return []
    return sorted(md.partitions)


def _wait(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"Kafka: {what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)


def ensure_topics(kafka: KafkaSettings) -> None:
    """Create the events and results topics (LogAppendTime) if missing and wait until they are usable."""
    admin = admin_client(kafka)
    existing = set(admin.list_topics(timeout=kafka.kafka_timeout_seconds).topics)
    new = [NewTopic(name, num_partitions=parts, replication_factor=1, config=TOPIC_CONFIG)
           for name, parts in _wanted(kafka).items() if name not in existing]
    for name, fut in admin.create_topics(new, request_timeout=kafka.kafka_timeout_seconds).items() if new else []:
        try:
            fut.result()
            logger.info("created topic %s", name)
        except KafkaException as exc:
            raise ServiceUnavailable(f"could not create topic {name}: {exc.args[0].str()}") from None
    for name, parts in _wanted(kafka).items():
        _wait(lambda n=name, p=parts: len(partitions_of(admin, n)) >= p, f"topic {name} ready",
              kafka.kafka_timeout_seconds)
        if name in existing:
            _check_timestamp_type(admin, name)


def _check_timestamp_type(admin: AdminClient, topic: str) -> None:
    res = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([res])[res].result()
    kind = configs["message.timestamp.type"].value
    if kind != "LogAppendTime":
        logger.warning("topic %s uses %s timestamps, not LogAppendTime: latencies would mix clocks; "
                       "run `ctrbench clear-topics` to recreate it", topic, kind)


def clear_topics(kafka: KafkaSettings) -> None:
    """Delete both topics, wait until the broker no longer lists them, then create them afresh."""
    admin = admin_client(kafka)
    existing = set(admin.list_topics(timeout=kafka.kafka_timeout_seconds).topics)
    doomed = [name for name in _wanted(kafka) if name in existing]
    if doomed:
        for name, fut in admin.delete_topics(doomed, request_timeout=kafka.kafka_timeout_seconds).items():
            fut.result()
            logger.info("deleted topic %s", name)
        # Deletion is asynchronous: re-creating before it finishes fails or resurrects old data.
        _wait(lambda: not (set(admin.list_topics(timeout=5).topics) & set(doomed)),
              "topic deletion", kafka.kafka_timeout_seconds * 2)
    ensure_topics(kafka)
