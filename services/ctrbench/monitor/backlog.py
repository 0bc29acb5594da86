"""The job's backlog: events written to Kafka that the job has not read yet.

backlog = sum over the events topic's partitions of (end offset - the job's position), where the
end offset comes from the broker and the position from the Flink Kafka source's own per-partition
``currentOffset`` metric (the offset of the last record it fetched), read through Flink's REST API;
for the Spark job, from the end offsets of its latest completed micro-batch (:class:`SourcePositions`
is what either provides).
Flink's REST API serves metrics from a store it refreshes on request when it is older than
``metrics.fetcher.update-interval`` (500 ms in this project's configurations, 10 s by default), so
the monitor asks twice, 200 ms apart, and reads the end offsets right after: the positions are then
about 200 ms older than the end offsets, and the backlog overstates by the events of those 200 ms
(about 600 at 3,000 events/s); its trend, which decides whether the job keeps up, is unaffected.
This counts records, unlike consumer-group lag (Flink commits offsets only at checkpoints) and
unlike Flink's ``pendingRecords`` (the consumer's lag as of its last fetch request).
Control records (transaction markers, with the exactly-once producer profile) occupy offsets too
and count as one event each.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.request
from typing import Any, Protocol

from confluent_kafka import Consumer

from ctrbench.kafka.config import consumer_config
from ctrbench.kafka.reading import watermarks
from ctrbench.settings import KafkaSettings

__all__ = ["FlinkSourcePositions", "JobBacklog", "SourcePositions", "backlog"]

logger = logging.getLogger(__name__)

_TIMEOUT_S = 5.0
# Time Flink's JobManager needs to collect the TaskManagers' metrics after a refresh was asked for.
_REFRESH_WAIT_S = 0.2


def backlog(end_offsets: dict[int, int], positions: dict[int, int]) -> int:
    """Records between each partition's position and its end; a partition never read counts from 0.

    ``positions`` are offsets of the last record read (Flink's ``currentOffset``), so the next one
    to read is ``position + 1``.
    """
    return sum(max(end - (positions.get(p, -1) + 1), 0) for p, end in end_offsets.items())


class SourcePositions(Protocol):
    """Where a running job's Kafka source is in the events topic."""

    def read(self) -> dict[int, int] | None:
        """{partition: offset of the last record read}, or None while it cannot tell."""


class FlinkSourcePositions:
    """Per-partition positions of a running Flink job's Kafka source on ``topic``, from its REST API."""

    def __init__(self, rest_url: str, topic: str) -> None:
        self._base = rest_url.rstrip("/")
        self._metric = re.compile(
            r"KafkaSourceReader\.topic\." + re.escape(topic) + r"\.partition\.(\d+)\.currentOffset$")
        self._vertex: tuple[str, str] | None = None  # (job id, source vertex id)
        self._names: list[str] = []

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self._base + path, timeout=_TIMEOUT_S) as resp:
            return json.load(resp)

    def _find_source(self) -> tuple[str, str] | None:
        running = [j for j in self._get("/jobs/overview")["jobs"] if j["state"] == "RUNNING"]
        for job in running:
            for vertex in self._get(f"/jobs/{job['jid']}")["vertices"]:
                if not vertex["name"].startswith("Source:"):
                    continue
                path = f"/jobs/{job['jid']}/vertices/{vertex['id']}/subtasks/metrics"
                names = [m["id"] for m in self._get(path) if self._metric.search(m["id"])]
                if names:
                    self._names = names
                    return job["jid"], vertex["id"]
        return None

    def read(self) -> dict[int, int] | None:
        """{partition: offset of the last record read}, or None while no running job reads the topic."""
        try:
            if self._vertex is None:
                self._vertex = self._find_source()
                if self._vertex is None:
                    return None
            jid, vid = self._vertex
            # The list of partition metrics grows as splits are assigned: refresh it each time.
            self._names = [m["id"] for m in self._get(f"/jobs/{jid}/vertices/{vid}/subtasks/metrics")
                           if self._metric.search(m["id"])]
            if not self._names:
                return None
            query = f"/jobs/{jid}/vertices/{vid}/subtasks/metrics?get={','.join(self._names)}&agg=max"
            # A REST request answers from Flink's metric store and, when that is older than
            # metrics.fetcher.update-interval, starts a refresh in the background: ask once to refresh,
            # then again for the fresh values.
            self._get(query)
            time.sleep(_REFRESH_WAIT_S)
            values = self._get(query)
        except (OSError, urllib.error.URLError, KeyError, ValueError) as exc:
            # The job restarted or is gone (a new run): find it again next time.
            logger.debug("Flink REST %s: %s", self._base, exc)
            self._vertex = None
            return None
        out = {}
        for item in values:
            match = self._metric.search(item["id"])
            if match and "max" in item:
                out[int(match.group(1))] = int(float(item["max"]))
        return out


class JobBacklog:
    """Measures :func:`backlog` for the events topic against a running job's source positions."""

    def __init__(self, kafka: KafkaSettings, positions: SourcePositions) -> None:
        self._kafka = kafka
        self._offsets = Consumer(consumer_config(kafka, "ctrbench-monitor-offsets"))
        self._positions = positions

    def end_offsets(self) -> dict[int, int]:
        """The events topic's end offset per partition ({} while the topic does not exist)."""
        return {p: high for p, (_low, high) in watermarks(self._kafka, self._kafka.events_topic, self._offsets).items()}

    def measure(self) -> tuple[int, int] | None:
        """(records written, backlog), or None while the job's positions cannot be read."""
        positions = self._positions.read()
        if positions is None:
            return None
        ends = self.end_offsets()
        return sum(ends.values()), backlog(ends, positions)

    def close(self) -> None:
        self._offsets.close()
