"""Build and submit the CTR job.

The same module runs in two places:

* in-process, in Flink's local mini-cluster, from ``ctrbench process`` / ``ctrbench run``
  (connector jars resolved from Maven Central and passed through ``pipeline.jars``);
* on Kubernetes under the Flink Kubernetes Operator, as
  ``org.apache.flink.client.python.PythonDriver -py <this file>``, where the jars are on the
  image's classpath. Settings then arrive as environment variables and ``--name value`` arguments.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING

from ctrbench.errors import ServiceUnavailable
from ctrbench.flink_job.sql import ctr_insert, events_source_ddl, results_sink_ddl
from ctrbench.settings import JobSettings, KafkaSettings, load

if TYPE_CHECKING:
    from pyflink.table import TableEnvironment, TableResult

__all__ = ["connector_jars", "create_table_env", "main", "submit", "wait_running"]

logger = logging.getLogger(__name__)


def connector_jars(job: JobSettings) -> str:
    """``pipeline.jars`` value: the configured jars, else the ones resolved from Maven Central."""
    if job.flink_jars:
        return job.flink_jars
    from ctrbench.embedded import jars

    directory = jars.resolve("flink-connectors")
    return ";".join(p.resolve().as_uri() for p in sorted(directory.glob("*.jar")))


def create_table_env(job: JobSettings, pipeline_jars: str | None) -> TableEnvironment:
    """A streaming TableEnvironment configured for the CTR job."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("table.local-time-zone", "UTC")
    conf.set("parallelism.default", str(job.parallelism))
    conf.set("pipeline.name", "ctr-windows")
    if job.source_idle_timeout_ms:
        conf.set("table.exec.source.idle-timeout", f"{job.source_idle_timeout_ms} ms")
    if pipeline_jars:
        conf.set("pipeline.jars", pipeline_jars)
    return env


def submit(kafka: KafkaSettings, job: JobSettings, pipeline_jars: str | None) -> TableResult:
    """Create the tables and start the INSERT; returns at once with the running job's handle."""
    env = create_table_env(job, pipeline_jars)
    env.execute_sql(events_source_ddl(kafka, job))
    env.execute_sql(results_sink_ddl(kafka))
    insert = ctr_insert(job)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("plan:\n%s", env.explain_sql(insert))
    return env.execute_sql(insert)


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
    # On the cluster the connector jars are in /opt/flink/lib, so no pipeline.jars.
    submit(kafka, job, job.flink_jars or None).wait()


if __name__ == "__main__":
    main()
