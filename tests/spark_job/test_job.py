"""The CTR job on Spark (local mode) on the hand-made events the Flink job is tested with (tests/jobs.py).

Same known answers: NULL ctr without views, malformed records skipped and listed with their reasons, a year-2096
event time that must not move the watermark, the last window closed by the end-of-run marker. Also what only
Spark reports: micro-batches, rows it dropped as late (none here), and where its source is (the backlog).
"""

from __future__ import annotations

import json
import threading
import time
from urllib.error import URLError
from urllib.request import urlopen

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ctrbench.embedded.process import free_port
from ctrbench.kafka.reading import read_all, watermarks
from ctrbench.latency.results import collect_results
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.schema import NS_PER_S
from ctrbench.spark_job.job import start
from ctrbench.spark_job.metrics import SparkMetricsPositions, spark_job_running
from tests.jobs import HAND_MADE_CELLS, check_hand_made, write_hand_made

pytestmark = pytest.mark.integration

S = NS_PER_S


def _scraped_while(url: str, action) -> int:  # type: ignore[no-untyped-def]
    """Scrape ``url`` in a loop while ``action`` runs (as the live monitor may); returns how many scrapes answered."""
    done = threading.Event()
    answered = 0

    def scrape() -> None:
        nonlocal answered
        while not done.is_set():
            try:
                urlopen(url, timeout=5).read()
                answered += 1
            except (URLError, ConnectionError):
                time.sleep(0.01)

    thread = threading.Thread(target=scrape)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while answered == 0 and time.monotonic() < deadline:  # scraping before the action starts
            time.sleep(0.01)
        action()
    finally:
        done.set()
        thread.join()
    return answered


@pytest.mark.parametrize("parallelism", [1, 2])
def test_window_results_are_exact(kafka_settings, job_settings, parallelism, caplog):
    base, records, reasons = write_hand_made(kafka_settings)
    job = job_settings.model_copy(update={"parallelism": parallelism, "base_time_ns": base,
                                          "job_metrics_port": free_port()})
    metrics_url = f"http://127.0.0.1:{job.job_metrics_port}/metrics"

    handle = start(kafka_settings, job)
    try:
        assert spark_job_running(metrics_url)  # what the producers' start barrier waits for
        send_end_of_run(kafka_settings, base, base + 15 * S, 10, job.watermark_delay_ms)
        got = collect_results(kafka_settings, HAND_MADE_CELLS, 90, base, 10)
        rejected = [json.loads(m.value()) for m in read_all(kafka_settings, kafka_settings.rejected_topic)]
        ends = {p: high for p, (_low, high) in watermarks(kafka_settings, kafka_settings.events_topic).items()}
        deadline = time.monotonic() + 30
        while handle.read() != {p: end - 1 for p, end in ends.items()}:  # every record read, markers included
            assert time.monotonic() < deadline, (handle.read(), ends)
            time.sleep(0.2)
        # The same positions on /metrics, for the live monitor in a cluster; the counters as the listener saw them.
        assert SparkMetricsPositions(metrics_url).read() == handle.read()
        served = {s.name: s.value for f in text_string_to_metric_families(urlopen(metrics_url).read().decode())
                  for s in f.samples}
        assert served["ctr_spark_micro_batches_total"] == handle.batches >= 2
        assert served["ctr_spark_input_rows_total"] == len(records) + 3  # and one marker per partition
        assert served["ctr_spark_late_rows_dropped_total"] == 0
    finally:
        # Stopped while /metrics is scraped: nothing may call into the driver JVM as it goes (py4j logs a traceback
        # for every call that finds it gone, as an interrupted run once printed).
        scrapes = _scraped_while(metrics_url, handle.stop)

    assert scrapes > 0
    assert [r.getMessage() for r in caplog.records if r.name in ("root", "py4j.java_gateway")] == []
    check_hand_made(got, rejected, reasons, base)
    assert handle.late_rows_dropped == 0
    assert not spark_job_running(metrics_url)  # stopped: nothing serves any more
