"""The Spark job's /metrics: what its queries' progress reports, for Prometheus, the start barrier and the backlog.

Spark has no Prometheus endpoint of its own for Structured Streaming progress, and in a cluster the driver runs in
its own pod, so the job serves these from the driver (JOB_METRICS_PORT):

* ``ctr_spark_queries_active``: queries running (2 when the job is up; the producers' start barrier waits for it);
* ``ctr_spark_source_offset{partition}``: the events topic's offset of the last record the results query's latest
  completed micro-batch read (the live monitor's backlog, as Flink's ``currentOffset``);
* ``ctr_spark_micro_batches_total``, ``ctr_spark_input_rows_total``;
* ``ctr_spark_late_rows_dropped_total``: events dropped as later than Spark's watermark.

:class:`SparkMetricsPositions` and :func:`spark_job_running` read them back over HTTP.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ctrbench.spark_job.job import SparkJob

__all__ = ["SparkMetricsPositions", "serve", "spark_job_running"]

logger = logging.getLogger(__name__)

_TIMEOUT_S = 5.0
_ACTIVE = "ctr_spark_queries_active"
_OFFSET = "ctr_spark_source_offset"


class _JobCollector(Collector):
    def __init__(self, job: SparkJob) -> None:
        self._job = job

    def collect(self) -> Iterator[Metric]:
        job = self._job
        active = GaugeMetricFamily(_ACTIVE, "Streaming queries of the CTR job that are running")
        active.add_metric([], sum(1 for q in job.queries if q.isActive))
        yield active
        offsets = GaugeMetricFamily(_OFFSET, "Offset of the last events record read by the latest completed "
                                             "micro-batch of the results query", labels=["partition"])
        for partition, offset in sorted((job.read() or {}).items()):
            offsets.add_metric([str(partition)], offset)
        yield offsets
        snapshot = job.progress_totals()
        for name, text, value in (
                ("ctr_spark_micro_batches", "Completed micro-batches of the results query", snapshot["batches"]),
                ("ctr_spark_input_rows", "Records the results query read", snapshot["input_rows"]),
                ("ctr_spark_late_rows_dropped", "Events dropped as later than Spark's watermark (the newest event "
                 "time over all partitions minus the delay)", snapshot["late_rows_dropped"])):
            counter = CounterMetricFamily(name, text)
            counter.add_metric([], value)
            yield counter


def serve(job: SparkJob, port: int, addr: str) -> Callable[[], None]:
    """Serve ``job``'s metrics on http://addr:port/metrics (a daemon thread); returns what stops serving."""
    registry = CollectorRegistry()
    registry.register(_JobCollector(job))
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    logger.info("Spark job metrics on http://%s:%d/metrics", addr, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop


def _samples(url: str) -> dict[str, list[tuple[dict[str, str], float]]] | None:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as resp:
            text = resp.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def spark_job_running(url: str) -> bool:
    """Whether the Spark job serving /metrics at ``url`` has both queries running."""
    samples = _samples(url)
    return bool(samples) and any(value >= 2 for _labels, value in samples.get(_ACTIVE, []))


class SparkMetricsPositions:
    """The Spark job's source positions, from its /metrics (for the live monitor's backlog in a cluster)."""

    def __init__(self, url: str) -> None:
        self._url = url

    def read(self) -> dict[int, int] | None:
        samples = _samples(self._url)
        if not samples or not samples.get(_OFFSET):
            return None
        return {int(labels["partition"]): int(value) for labels, value in samples[_OFFSET]}
