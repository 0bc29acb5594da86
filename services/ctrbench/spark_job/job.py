"""Start and stop the CTR job on Spark Structured Streaming.

The same module runs in two places:

* in this process, in Spark's local mode (``ctrbench run --impl spark``, ``ctrbench process --impl spark``): the
  driver JVM is a child of this process, the Kafka connector jars are resolved from Maven Central;
* on Kubernetes, as the application file of a SparkApplication (Kubeflow Spark Operator) or of ``spark-submit``,
  where the jars are in the image's ``$SPARK_HOME/jars`` and settings arrive as environment variables and the
  mounted run configuration.

Two streaming queries: the windowed aggregation into ``results`` (append mode: each window once, after the
watermark passed it) and the rejected records into ``events-rejected``. Spark's Kafka sink is at-least-once: a
restarted query may write a window again, which the report counts as a duplicate, never twice.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctrbench.errors import ServiceUnavailable
from ctrbench.settings import JobSettings, KafkaSettings, PostgresSettings, load
from ctrbench.spark_job.queries import counted_events, events, rejected_output, results_output

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkJob", "connector_jars", "create_session", "main", "start", "stop_session"]

logger = logging.getLogger(__name__)

APP_NAME = "ctr-windows"


def connector_jars() -> list[Path]:
    """The Kafka connector jars pyspark lacks, resolved from Maven Central (cached)."""
    from ctrbench.embedded import jars

    return sorted(jars.resolve("spark-connectors").glob("*.jar"))


def create_session(job: JobSettings, local: bool = True) -> SparkSession:
    """A SparkSession for the CTR job; ``local``: Spark's local mode in this process, with loopback addresses only.

    Shuffle partitions equal the job's parallelism (Spark's default of 200 would run 200 state-store tasks per
    micro-batch on a laptop).
    """
    import pyspark
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(APP_NAME)
    if local:
        # The venv's spark-submit needs SPARK_HOME; without SPARK_LOCAL_IP the driver binds the external address.
        os.environ.setdefault("SPARK_HOME", str(Path(pyspark.__file__).parent))
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (builder.master(f"local[{job.parallelism}]")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.ui.enabled", "false")
                   .config("spark.jars", ",".join(str(p) for p in connector_jars())))
    spark = (builder
             .config("spark.sql.session.timeZone", "UTC")
             # The stage progress bars would interleave with the run's own output.
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", str(job.parallelism))
             .getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    return spark


@dataclass
class SparkJob:
    """The running job: its session, its two queries and what Spark reported about them."""

    spark: Any
    queries: list[Any]
    checkpoints: Path
    owns_checkpoints: bool
    topic: str = ""
    local: bool = True
    # Events Spark dropped as later than its watermark allows, summed over every micro-batch's progress.
    late_rows_dropped: int = 0
    batches: int = 0
    input_rows: int = 0
    stop_serving: Callable[[], None] | None = None  # the job's /metrics endpoint, when served
    listener: Any = None  # the StreamingQueryListener that feeds on_progress
    # The events topic's next offset per partition after the latest completed micro-batch of the results query.
    _read_up_to: dict[int, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_progress(self, progress: Any) -> None:
        """Called by Spark's listener for every completed micro-batch of either query."""
        if progress.name != APP_NAME:
            return
        ends = json.loads(progress.sources[0].endOffset or "{}").get(self.topic, {}) if progress.sources else {}
        with self._lock:
            self.batches += 1
            self.input_rows += int(progress.numInputRows)
            for op in progress.stateOperators:
                self.late_rows_dropped += int(op.numRowsDroppedByWatermark)
            if ends:
                self._read_up_to = {int(p): int(o) for p, o in ends.items()}

    def progress_totals(self) -> dict[str, int]:
        """Micro-batches, input rows and rows dropped as late so far (the results query)."""
        with self._lock:
            return {"batches": self.batches, "input_rows": self.input_rows,
                    "late_rows_dropped": self.late_rows_dropped}

    def read(self) -> dict[int, int] | None:
        """Source positions for the live monitor's backlog: {partition: offset of the last record read}."""
        with self._lock:
            return None if self._read_up_to is None else {p: o - 1 for p, o in self._read_up_to.items()}

    def check(self) -> None:
        """Raise when a query has stopped with an error."""
        for query in self.queries:
            error = query.exception()
            if error is not None:
                raise ServiceUnavailable(f"Spark query {query.name} failed: {str(error).splitlines()[0]}")

    def stop(self) -> None:
        """Stop serving metrics and listening, then both queries and the session (cleanly, so the driver JVM exits).

        In that order so that no thread of ours is inside a call to the JVM as it exits: py4j logs a traceback for
        every call left unanswered (an interrupted run printed one from a listener callback).
        """
        if self.stop_serving is not None:
            self.stop_serving()
        if self.listener is not None:
            try:
                self.spark.streams.removeListener(self.listener)
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                logger.debug("removing the progress listener: %s", exc)
        for query in self.queries:
            try:
                query.stop()
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                logger.debug("stopping Spark query %s: %s", query.name, exc)
        stop_session(self.spark, self.local)
        if self.owns_checkpoints:
            shutil.rmtree(self.checkpoints, ignore_errors=True)
        logger.info("Spark job stopped (%d micro-batches, %d rows dropped as late)", self.batches,
                    self.late_rows_dropped)


def stop_session(spark: SparkSession, local: bool = True) -> None:
    """Stop ``spark``; ``local``: its driver JVM too (see :func:`_stop_driver_jvm`)."""
    spark.stop()
    if local:
        _stop_driver_jvm()


def _stop_driver_jvm() -> None:
    """End the local driver JVM, which would otherwise outlive the session until this process exits (with Kafka
    clients in its caches still trying to reach the broker). It exits when its stdin closes; the next session
    starts a new one."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    proc = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc is not None and proc.stdin is not None:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _listener(job: SparkJob) -> Any:
    from pyspark.sql.streaming import StreamingQueryListener

    class Progress(StreamingQueryListener):
        def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - Spark's API
            pass

        def onQueryProgress(self, event: Any) -> None:  # noqa: N802
            job.on_progress(event.progress)

        def onQueryIdle(self, event: Any) -> None:  # noqa: N802
            pass

        def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
            if event.exception:
                logger.error("Spark query %s terminated: %s", event.id, event.exception.splitlines()[0])

    return Progress()


def _mapping(spark: SparkSession, postgres: PostgresSettings) -> Any:
    """The ad -> campaign mapping, read from PostgreSQL once: it is written before a run and never changes in it."""
    from ctrbench.catalog import read_catalog

    rows = list(read_catalog(postgres).as_mapping().items())
    logger.info("ad -> campaign mapping: %d ads read from PostgreSQL", len(rows))
    return spark.createDataFrame(rows, "ad_id STRING, campaign_id INT")


def start(kafka: KafkaSettings, job: JobSettings, local: bool = True,
          postgres: PostgresSettings | None = None) -> SparkJob:
    """Start the job's two queries; returns once both run. ``postgres`` is needed when CAMPAIGN_SOURCE=postgres.

    Checkpoints go to ``CHECKPOINT_DIR/run-<base time>``: a query restarted within the run resumes from them, a new
    run (a new base time, topics recreated) starts afresh. Without CHECKPOINT_DIR, to a temp dir removed on
    :meth:`SparkJob.stop`.
    """
    if job.campaign_source == "postgres" and postgres is None:
        raise ValueError("CAMPAIGN_SOURCE=postgres needs the POSTGRES_* settings")
    spark = create_session(job, local)
    owns = not job.checkpoint_dir
    checkpoints = (Path(job.checkpoint_dir) / f"run-{job.base_time_ns}" if job.checkpoint_dir
                   else Path(tempfile.mkdtemp(prefix="ctrbench-spark-")))
    handle = SparkJob(spark, [], checkpoints, owns, kafka.events_topic, local)
    handle.listener = _listener(handle)
    spark.streams.addListener(handle.listener)
    rows = events(spark, kafka, job)
    common = {"kafka.bootstrap.servers": kafka.kafka_bootstrap_servers}
    handle.queries.append(
        results_output(counted_events(rows, job, _mapping(spark, postgres) if postgres and
                                      job.campaign_source == "postgres" else None), job)
        .writeStream.queryName(APP_NAME)
        .format("kafka").options(**common).option("topic", kafka.results_topic)
        .option("checkpointLocation", str(checkpoints / "results"))
        .outputMode("append").start())
    handle.queries.append(
        rejected_output(rows).writeStream.queryName(f"{APP_NAME}-rejected")
        .format("kafka").options(**common).option("topic", kafka.rejected_topic)
        .option("checkpointLocation", str(checkpoints / "rejected"))
        .outputMode("append").start())
    for query in handle.queries:
        deadline = time.monotonic() + 120
        while not query.isActive or query.status["message"] == "Initializing sources":
            handle.check()
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"Spark query {query.name} not running after 120 s")
            time.sleep(0.2)
    logger.info("Spark job running (queries %s)", ", ".join(q.name for q in handle.queries))
    if job.job_metrics_port:
        from ctrbench.spark_job.metrics import serve

        handle.stop_serving = serve(handle, job.job_metrics_port, job.job_metrics_addr)
    return handle


def main(argv: list[str] | None = None) -> None:
    """Entry point under spark-submit (a SparkApplication): run until the queries end or the driver is stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    del argv
    from ctrbench.flink_job.job import with_base_time

    kafka = load(KafkaSettings)
    job = with_base_time(load(JobSettings))
    postgres = load(PostgresSettings) if job.campaign_source == "postgres" else None
    handle = start(kafka, job, local=False, postgres=postgres)
    handle.spark.streams.awaitAnyTermination()
    handle.check()


if __name__ == "__main__":
    main(sys.argv[1:])
