"""One start time for the producers of a StatefulSet.

Producer pods come up at different moments (image pulls, scheduling). If each started its schedule
on its own, the events of a late producer would lie far behind the others' in every partition: later
than the watermark delay allows, so the job would drop them as late. Instead producer 0 waits until
every producer pod is ready (the StatefulSet's headless service resolves to all of them; a producer is
ready once it has read the catalog and serves /metrics) and, when given, until the Flink job (or the
Spark job's queries) runs;
then it announces the run's start a few seconds ahead as the gauge
``ctr_producer_run_start_time_seconds`` on its /metrics. The others read it there and all begin at
that instant.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from ctrbench.errors import ServiceUnavailable
from ctrbench.schema import NS_PER_MS

__all__ = ["START_GAUGE", "PodIdentity", "flink_job_running", "pod_identity", "wait_for_start"]

logger = logging.getLogger(__name__)

START_GAUGE = "ctr_producer_run_start_time_seconds"
_LEAD_S = 3.0  # the start lies this far ahead of the announcement, so every producer reads it in time
_POLL_S = 0.5


class PodIdentity:
    """This pod's place in its StatefulSet, from its DNS name ``<set>-<ordinal>.<service>.<ns>.svc...``."""

    def __init__(self, fqdn: str) -> None:
        host, _, self.service_domain = fqdn.partition(".")
        self.stem, _, ordinal = host.rpartition("-")
        if not (self.service_domain and self.stem and ordinal.isdigit()):
            raise ServiceUnavailable(f"this pod's name {fqdn!r} is not <statefulset>-<ordinal>.<service>...: the "
                                     "start barrier works in a StatefulSet only; pass --start-time-ns instead")
        self.ordinal = int(ordinal)

    def peer(self, ordinal: int) -> str:
        return f"{self.stem}-{ordinal}.{self.service_domain}"


def pod_identity() -> PodIdentity:
    return PodIdentity(socket.getfqdn())


def _ready_producers(service_domain: str) -> int:
    try:
        return len({info[4][0] for info in socket.getaddrinfo(service_domain, None, proto=socket.IPPROTO_TCP)})
    except socket.gaierror:
        return 0


def flink_job_running(rest_url: str) -> bool:
    """Whether Flink's REST API at ``rest_url`` lists a RUNNING job."""
    try:
        with urllib.request.urlopen(f"{rest_url.rstrip('/')}/jobs/overview", timeout=5) as resp:
            jobs = json.load(resp).get("jobs", [])
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return any(job.get("state") == "RUNNING" for job in jobs)


def _announced(url: str) -> float | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == START_GAUGE and sample.value > 0:
                return sample.value
    return None


def _until(check: Callable[[], bool], what: str, deadline: float) -> None:
    last_log = 0.0
    while not check():
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"start barrier: gave up waiting for {what}")
        if time.monotonic() - last_log > 15:
            logger.info("start barrier: waiting for %s", what)
            last_log = time.monotonic()
        time.sleep(_POLL_S)


def wait_for_start(me: PodIdentity, producers: int, metrics_port: int, announce: Callable[[float], None],
                   wait_seconds: float, flink_rest_url: str = "", spark_metrics_url: str = "") -> int:
    """The run's common start time (ns since epoch); producer 0 decides it and ``announce``s it (seconds).

    Waits at most ``wait_seconds`` for the other producers, the job (Flink's REST API or the Spark job's
    /metrics, when given) and the announcement.
    """
    deadline = time.monotonic() + wait_seconds
    if me.ordinal == 0:
        _until(lambda: _ready_producers(me.service_domain) >= producers,
               f"all {producers} producers to be ready ({me.service_domain})", deadline)
        if flink_rest_url:
            _until(lambda: flink_job_running(flink_rest_url), f"a RUNNING Flink job at {flink_rest_url}", deadline)
        if spark_metrics_url:
            from ctrbench.spark_job.metrics import spark_job_running

            _until(lambda: spark_job_running(spark_metrics_url), f"the Spark job's queries ({spark_metrics_url})",
                   deadline)
        start_ms = (time.time_ns() + int(_LEAD_S * 1e9)) // NS_PER_MS
        announce(start_ms / 1000)
        logger.info("start barrier: every producer is ready; the run starts at %d ms", start_ms)
        return start_ms * NS_PER_MS
    url = f"http://{me.peer(0)}:{metrics_port}/metrics"
    found: list[float] = []

    def announced() -> bool:
        value = _announced(url)
        if value is not None:
            found.append(value)
        return value is not None

    _until(announced, f"producer 0 to announce the start ({url})", deadline)
    start_ms = round(found[0] * 1000)
    announce(start_ms / 1000)  # the same gauge on every producer: one query shows the whole run's start
    logger.info("start barrier: the run starts at %d ms (announced by producer 0)", start_ms)
    return start_ms * NS_PER_MS
