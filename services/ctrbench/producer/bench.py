"""Producer throughput benchmark: ctrbench's producer against the original project's naive one, same broker, same run.

Both measure acknowledged events per second from one process: the clock stops after ``flush``.
The baseline builds a dict per event, calls ``json.dumps`` and ``produce`` as the original project
did, with the same client profile. For ctrbench two figures are reported: *send*, the delivery rate
of a built schedule (a paced run builds its schedule before its start time, so this bounds the load
it can offer), and *build + send*, which also counts generating the events.
A warm-up send runs first so neither side pays for the broker's first-use costs.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Producer

from ctrbench import catalog
from ctrbench.embedded.kafka_broker import kafka_or_embedded
from ctrbench.kafka.config import producer_config
from ctrbench.kafka.topics import clear_topics
from ctrbench.producer.runner import build_schedule, send_unpaced
from ctrbench.schema import AD_TYPES, EVENT_TYPES, NS_PER_S
from ctrbench.settings import KafkaSettings, LoadSettings, load

__all__ = ["BenchResult", "naive_producer", "run_benchmark"]


@dataclass(frozen=True)
class BenchResult:
    events: int
    seconds: float
    build_seconds: float
    baseline_events: int
    baseline_seconds: float
    cores: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def rate_with_build(self) -> float:
        return self.events / (self.seconds + self.build_seconds)

    @property
    def baseline_rate(self) -> float:
        return self.baseline_events / self.baseline_seconds

    def render(self) -> str:
        return "\n".join([
            f"machine: {self.cores} cores (broker on the same machine)",
            f"ctrbench send          : {self.rate:>10,.0f} events/s acknowledged "
            f"({self.events:,} in {self.seconds:.2f} s)  {self.rate / self.baseline_rate:5.2f}x baseline",
            f"ctrbench build + send  : {self.rate_with_build:>10,.0f} events/s "
            f"(build {self.build_seconds:.2f} s)  {self.rate_with_build / self.baseline_rate:5.2f}x baseline",
            f"naive baseline         : {self.baseline_rate:>10,.0f} events/s acknowledged "
            f"({self.baseline_events:,} in {self.baseline_seconds:.2f} s)",
        ])


def naive_producer(kafka: KafkaSettings, n: int, ads: dict[str, int], profile: str) -> int:
    """The original project's way: a dict per event, ``json.dumps``, ``produce``; returns acknowledged."""
    errors = []
    producer = Producer(producer_config(kafka, profile, on_delivery=lambda err, _m: err and errors.append(err)))
    ad_ids = list(ads)
    for _ in range(n):
        ad = random.choice(ad_ids)
        event = {
            "user_id": str(uuid.uuid4()), "page_id": str(uuid.uuid4()), "ad_id": ad, "campaign_id": ads[ad],
            "ad_type": random.choice(AD_TYPES), "event_type": random.choice(EVENT_TYPES),
            "event_time_ns": time.time_ns(), "window_id": 0,
            "ip_address": ".".join(str(random.randint(1, 254)) for _ in range(4)),
        }
        while True:
            try:
                producer.produce(kafka.events_topic, json.dumps(event).encode(), ad.encode())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(120)
    return n - len(errors) - remaining


def run_benchmark(events: int, baseline_events: int, profile: str, bootstrap: str | None) -> BenchResult:
    """Measure both producers against one broker (topics cleared before each)."""
    with kafka_or_embedded(bootstrap) as kafka:
        settings = load(LoadSettings, events_per_producer=events, duration_seconds=60)
        cat = catalog.generate(settings.seed, settings.num_campaigns, settings.ads_per_campaign)

        clear_topics(kafka)
        naive_producer(kafka, 2_000, cat.as_mapping(), profile)  # warm-up: producer ids, leaders, JIT

        clear_topics(kafka)
        t0 = time.perf_counter()
        start = time.time_ns()
        schedule = build_schedule(settings, 0, cat, start, start - start % (10 * NS_PER_S), 10)
        build_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        acked, errors = send_unpaced(kafka, profile, schedule.events)
        seconds = time.perf_counter() - t0
        if errors:
            raise RuntimeError(f"ctrbench producer: {errors} delivery errors")

        clear_topics(kafka)
        t0 = time.perf_counter()
        baseline_acked = naive_producer(kafka, baseline_events, cat.as_mapping(), profile)
        baseline_seconds = time.perf_counter() - t0
    return BenchResult(acked, seconds, build_seconds, baseline_acked, baseline_seconds, os.cpu_count() or 0)
