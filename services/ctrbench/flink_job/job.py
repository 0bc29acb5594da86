"""Build and submit the CTR job.

The same module runs in two places:

* in-process, in Flink's local mini-cluster, from ``ctrbench process`` / ``ctrbench run``
  (connector jars resolved from Maven Central and passed through ``pipeline.jars``);
* on Kubernetes under the Flink Kubernetes Operator, as
  ``org.apache.flink.client.python.PythonDriver -py <this file>``, where the jars are on the
  image's classpath. Settings then arrive as environment variables and ``--name value`` arguments.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ctrbench.errors import ConfigError, ServiceUnavailable
from ctrbench.flink_job.checkpoints import checkpoint_uri, restore_path
from ctrbench.flink_job.sql import (
    FUNCTIONS,
    campaign_lookup_ddl,
    counted_view_ddl,
    ctr_insert,
    events_source_ddl,
    rejected_insert,
    rejected_sink_ddl,
    results_sink_ddl,
)
from ctrbench.schema import start_times
from ctrbench.settings import JobSettings, KafkaSettings, PostgresSettings, load

if TYPE_CHECKING:
    from pyflink.table import TableEnvironment, TableResult

__all__ = ["FORMAT_MODULE", "RESTART_ATTEMPTS", "connector_jars", "create_table_env", "local_flink_lib", "main",
           "submit", "wait_running", "with_base_time"]

logger = logging.getLogger(__name__)


RESTART_ATTEMPTS = 10
# The `ctr-json` format the job reads events with (a Maven module; see its CtrJsonFormatFactory).
FORMAT_MODULE = Path(__file__).with_name("format")


def connector_jars(job: JobSettings) -> str:
    """``pipeline.jars`` value: the configured jars, else the connectors resolved from Maven Central
    and the ``ctr-json`` format built from :data:`FORMAT_MODULE`."""
    if job.flink_jars:
        return job.flink_jars
    from ctrbench.embedded import jars

    found = sorted(jars.resolve("flink-connectors").glob("*.jar")) + [jars.build(FORMAT_MODULE)]
    return ";".join(p.resolve().as_uri() for p in found)


def local_flink_lib() -> Path:
    """The wheel's lib/ plus the Prometheus reporter jar, as symlinks in a cached directory (links into another
    Python environment, which may be gone, are pointed at this one's).

    The local mini-cluster loads metric reporters from its classpath only (not from plugins/), so
    the reporter the wheel ships under plugins/ must sit next to the other lib jars, as it does in
    /opt/flink/lib of the image.
    """
    import pyflink

    from ctrbench.embedded.jars import cache_root

    home = Path(pyflink.__file__).parent
    jars = sorted(home.glob("lib/*.jar")) + sorted(home.glob("plugins/metrics-prometheus/*.jar"))
    target = cache_root() / f"flink-lib-{pyflink.version.__version__}"
    target.mkdir(parents=True, exist_ok=True)
    for jar in jars:
        link = target / jar.name
        if link.is_symlink() and link.readlink() == jar:
            continue
        # Another (perhaps deleted) environment's link is replaced, atomically: a concurrent caller sees either.
        fresh = target / f".{jar.name}.{os.getpid()}"
        fresh.unlink(missing_ok=True)
        fresh.symlink_to(jar)
        os.replace(fresh, link)
    return target


def _scratch_dir() -> str:
    """A temp dir for Flink's local files, removed when this process exits."""
    path = tempfile.mkdtemp(prefix="ctrbench-flink-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def create_table_env(job: JobSettings, pipeline_jars: str | None, local: bool = True) -> TableEnvironment:
    """A streaming TableEnvironment configured for the CTR job; ``local``: in this process's mini-cluster
    (on a cluster, the cluster's configuration decides how failures restart the job)."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    # PyFlink starts its gateway JVM (and the mini-cluster in it) with FLINK_LIB_DIR as classpath,
    # but overwrites FLINK_LIB_DIR unless FLINK_HOME is set. Both must be set before the first
    # TableEnvironment of the process.
    if "FLINK_HOME" not in os.environ:
        import pyflink

        os.environ["FLINK_HOME"] = str(Path(pyflink.__file__).parent)
        os.environ["FLINK_LIB_DIR"] = str(local_flink_lib())
        # The gateway JVM (and the mini-cluster in it) keeps its temp files (web uploads, blobs) in a temp dir of
        # ours, removed at exit, and leaves no /tmp/hsperfdata_<user> behind.
        os.environ["JVM_ARGS"] = (os.environ.get("JVM_ARGS", "")
                                  + f" -XX:-UsePerfData -Djava.io.tmpdir={_scratch_dir()}").strip()
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("table.local-time-zone", "UTC")
    conf.set("parallelism.default", str(job.parallelism))
    conf.set("pipeline.name", "ctr-windows")
    # Records are not kept by reference anywhere in this SQL job; reuse saves a copy per hop.
    conf.set("pipeline.object-reuse", "true")
    if local:
        # A failure (a lookup whose database is away, a broker that restarts) restarts the job: from its checkpoint
        # when it has one, else from the start of the topic (results re-emitted, counted as duplicates). Flink
        # never restarts a job without checkpoints by default. After 10 attempts in a row (about 2 minutes of
        # backoff) the job fails for good. The chart configures its own, unbounded, restarts.
        conf.set("restart-strategy.type", "exponential-delay")
        conf.set("restart-strategy.exponential-delay.attempts-before-reset-backoff", str(RESTART_ATTEMPTS))
    if job.source_idle_timeout_ms:
        conf.set("table.exec.source.idle-timeout", f"{job.source_idle_timeout_ms} ms")
    if job.effective_checkpoint_interval_ms:
        conf.set("execution.checkpointing.interval", f"{job.effective_checkpoint_interval_ms} ms")
    if job.checkpoint_dir:
        conf.set("execution.checkpointing.dir", checkpoint_uri(job.checkpoint_dir))
        # Kept when the job is cancelled; a job whose process dies never deletes them anyway.
        conf.set("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    restore = restore_path(job)
    if restore:
        conf.set("execution.state-recovery.path", restore)
    if job.flink_pushgateway:
        # Locally Flink's metrics are pushed: the pull reporter cannot be bound to loopback only.
        host, _, port = job.flink_pushgateway.rpartition(":")
        prefix = "metrics.reporter.promgateway."
        conf.set(prefix + "factory.class", "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory")
        conf.set(prefix + "hostUrl", f"http://{host}:{port}")
        conf.set(prefix + "jobName", "ctr-flink")
        conf.set(prefix + "interval", "1 SECONDS")
        conf.set(prefix + "deleteOnShutdown", "false")
    if job.local_rest_port:
        # The live monitor reads the source's offsets here; Flink refreshes REST metrics every 10 s by default.
        conf.set("rest.bind-address", "127.0.0.1")
        conf.set("rest.address", "127.0.0.1")
        conf.set("rest.bind-port", str(job.local_rest_port))
        conf.set("metrics.fetcher.update-interval", "500")
    if pipeline_jars:
        conf.set("pipeline.jars", pipeline_jars)
    # The event rule's integer test (ctrbench.validity) and the job's own functions, from the format module's jar.
    for name, java_class in FUNCTIONS.items():
        env.create_java_temporary_system_function(name, java_class)
    return env


def with_base_time(job: JobSettings) -> JobSettings:
    """``job`` with a run base time: its own, else the window boundary before now (logged, so that
    producers started separately can be given the same BASE_TIME_NS)."""
    if job.base_time_ns:
        return job
    base = start_times(job.window_seconds, delay_s=0)[1]
    logger.info("BASE_TIME_NS not set: result window ids count from %d (the window boundary before now)", base)
    return job.model_copy(update={"base_time_ns": base})


def submit(kafka: KafkaSettings, job: JobSettings, pipeline_jars: str | None,
           postgres: PostgresSettings | None = None, local: bool = True) -> TableResult:
    """Create the tables and start both INSERTs as one job; returns at once with its handle.

    ``postgres`` is needed when CAMPAIGN_SOURCE=postgres (the lookup join). ``local``: see create_table_env.
    """
    job = with_base_time(job)
    env = create_table_env(job, pipeline_jars, local)
    env.execute_sql(events_source_ddl(kafka, job))
    if job.campaign_source == "postgres":
        if postgres is None:
            raise ConfigError("CAMPAIGN_SOURCE=postgres needs the POSTGRES_* settings")
        env.execute_sql(campaign_lookup_ddl(postgres, job))
    env.execute_sql(counted_view_ddl(job))
    env.execute_sql(results_sink_ddl(kafka, job))
    env.execute_sql(rejected_sink_ddl(kafka))
    statements = env.create_statement_set()
    statements.add_insert_sql(ctr_insert(job))
    statements.add_insert_sql(rejected_insert(job))
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("plan:\n%s", statements.explain())
    return statements.execute()


def wait_running(result: TableResult, timeout: float = 120.0) -> None:
    """Block until the job reports RUNNING (or fail if it ended or did not start in time)."""
    client = result.get_job_client()
    if client is None:
        raise ServiceUnavailable("Flink returned no job client for the CTR job")
    deadline = time.monotonic() + timeout
    while True:
        status = str(client.get_job_status().result())
        if status.endswith("RUNNING"):
            logger.info("Flink job %s is running", client.get_job_id())
            return
        if any(status.endswith(s) for s in ("FAILED", "CANCELED", "FINISHED")):
            raise ServiceUnavailable(f"Flink job ended before running: {status}")
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"Flink job not running after {timeout:.0f} s (status {status})")
        time.sleep(0.5)


def _parse_args(argv: list[str]) -> dict[str, str]:
    """``--window-seconds 10`` style arguments into settings field names."""
    out: dict[str, str] = {}
    it = iter(argv)
    for arg in it:
        if not arg.startswith("--"):
            raise SystemExit(f"unexpected argument {arg!r}; expected --name value pairs")
        out[arg[2:].replace("-", "_")] = next(it, "")
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point under PythonDriver: submit and keep the client attached until the job ends."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    kafka = load(KafkaSettings, **{k: v for k, v in args.items() if k in KafkaSettings.model_fields})
    job = load(JobSettings, **{k: v for k, v in args.items() if k in JobSettings.model_fields})
    postgres = load(PostgresSettings) if job.campaign_source == "postgres" else None
    # On the cluster the connector jars are in /opt/flink/lib, so no pipeline.jars.
    submit(kafka, job, job.flink_jars or None, postgres, local=False).wait()


if __name__ == "__main__":
    main()
