"""Start a new run on an installed release, with new parameters.

A run's state lives in the topics, the Flink job, the producers and the report Job. Starting again
stops all of them, writes the new parameters (and a new base time) into the run's ConfigMap,
recreates the topics and the mapping (the setup Job, run again with ``--recreate-topics``), then
starts the Flink job, the producers and the report Job again. Jobs are recreated from their own
specs, so they stay the chart's objects (``helm upgrade`` and ``helm uninstall`` manage them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import yaml

from ctrbench.cluster.follow import spark_applications
from ctrbench.cluster.release import RUN_FILE, Release
from ctrbench.errors import ServiceUnavailable
from ctrbench.preflight import check_whole_windows
from ctrbench.schema import start_times
from ctrbench.settings import JobSettings, LoadSettings, load

__all__ = ["start_run"]

logger = logging.getLogger(__name__)

# Group and version of SparkApplications (Kubeflow Spark Operator v2).
_SPARK = ("sparkoperator.k8s.io", "v1beta2")
# Labels the API server adds to a Job's pod template; a recreated Job must not carry the old ones.
_GENERATED_LABELS = ("controller-uid", "job-name", "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name")


def _job_manifest(release: Release, job: Any) -> dict[str, Any]:
    """A Job as a manifest that creates it again (status, ids and generated selectors removed)."""
    body = release.api.sanitize_for_serialization(job)
    meta = body["metadata"]
    body["metadata"] = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    body.pop("status", None)
    body["spec"].pop("selector", None)
    labels = body["spec"]["template"].get("metadata", {}).get("labels", {})
    for key in _GENERATED_LABELS:
        labels.pop(key, None)
    return body


def _wait(check: Callable[[], bool], what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(2)


def _delete_job(release: Release, job: Any) -> None:
    release.batch.delete_namespaced_job(job.metadata.name, release.namespace, propagation_policy="Foreground")
    _wait(lambda: not [j for j in release.batch.list_namespaced_job(release.namespace).items
                       if j.metadata.name == job.metadata.name], f"Job {job.metadata.name} to be deleted")


def _jobs(release: Release, component: str) -> list[Any]:
    return list(release.batch.list_namespaced_job(release.namespace,
                                                  label_selector=release.selector(component)).items)


def _validated(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The new run configuration; each override checked by the services' own settings classes."""
    changed = {k: v for k, v in overrides.items() if v is not None}
    run = load(LoadSettings, **{k: v for k, v in (config | changed).items() if k in LoadSettings.model_fields})
    job = load(JobSettings, **{k: v for k, v in (config | changed).items()
                               if k in JobSettings.model_fields and k != "base_time_ns"})
    check_whole_windows(run, job)
    base = start_times(job.window_seconds, delay_s=0)[1]
    return config | changed | {"base_time_ns": base}


def start_run(release: Release, overrides: dict[str, Any], echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Stop the current run, write ``overrides`` (settings names, e.g. ``num_producers``) and start a new one.

    Returns the new run configuration.
    """
    config = release.run_config()
    new = _validated(config, overrides)
    ns = release.namespace
    producers = release.one(release.apps.list_namespaced_stateful_set, "producer StatefulSet", "producer")
    setup = release.one(release.batch.list_namespaced_job, "setup Job", "setup")
    reports = _jobs(release, "latency")
    jobmanagers = _jobs(release, "flink")
    taskmanagers = list(release.apps.list_namespaced_deployment(ns, label_selector=release.selector("flink")).items)
    flink_deployments = [] if jobmanagers else _flink_deployments(release)
    spark_apps = spark_applications(release)
    saved = {"setup": _job_manifest(release, setup), "reports": [_job_manifest(release, j) for j in reports],
             "jobmanagers": [_job_manifest(release, j) for j in jobmanagers],
             "spark": [_custom_manifest(app) for app in spark_apps]}

    echo(f"stopping the current run: report, producers, {'Spark' if spark_apps else 'Flink'} job")
    for job in reports:
        _delete_job(release, job)
    release.apps.patch_namespaced_stateful_set_scale(producers.metadata.name, ns, {"spec": {"replicas": 0}})
    for job in jobmanagers:
        _delete_job(release, job)
    for tm in taskmanagers:
        release.apps.patch_namespaced_deployment_scale(tm.metadata.name, ns, {"spec": {"replicas": 0}})
    for fd in flink_deployments:
        _set_flink_state(release, fd, "suspended")
    for app in spark_apps:  # the operator removes its driver and executors with it
        release.custom.delete_namespaced_custom_object(*_SPARK, ns, "sparkapplications", app["metadata"]["name"])
    _wait(lambda: not release.pods("producer") and not release.pods("flink") and not release.pods("spark")
          and not spark_applications(release), "producer and job pods to stop")

    echo(f"new run: {new['num_producers']} producers x {new['events_per_producer']} events over "
         f"{new['duration_seconds']} s ({new['distribution']}), "
         f"{'Spark' if spark_apps else 'Flink ' + new.get('delivery_guarantee', 'at-least-once')}, "
         f"base time {new['base_time_ns']}")
    cm = release.config_map()
    release.core.patch_namespaced_config_map(cm.metadata.name, ns, {"data": {RUN_FILE: yaml.safe_dump(new)}})
    _delete_job(release, setup)
    manifest = saved["setup"]
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["setup", "--recreate-topics"]
    release.batch.create_namespaced_job(ns, manifest)
    _wait(lambda: _succeeded(release, manifest["metadata"]["name"]), "the setup Job (topics and mapping)", 300)

    echo("starting the Flink job, the producers and the report Job")
    for manifest in saved["jobmanagers"]:
        release.batch.create_namespaced_job(ns, manifest)
    for tm in taskmanagers:
        release.apps.patch_namespaced_deployment_scale(tm.metadata.name, ns, {"spec": {"replicas": tm.spec.replicas}})
    for fd in flink_deployments:
        _set_flink_state(release, fd, "running")
    for manifest in saved["spark"]:
        release.custom.create_namespaced_custom_object(*_SPARK, ns, "sparkapplications", manifest)
    release.apps.patch_namespaced_stateful_set_scale(producers.metadata.name, ns,
                                                     {"spec": {"replicas": int(new["num_producers"])}})
    for manifest in saved["reports"]:
        release.batch.create_namespaced_job(ns, manifest)
    return new


def _custom_manifest(obj: dict[str, Any]) -> dict[str, Any]:
    """A custom object as a manifest that creates it again (status and server-set metadata removed)."""
    meta = obj["metadata"]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta},
            "spec": obj["spec"]}


def _succeeded(release: Release, name: str) -> bool:
    job = release.batch.read_namespaced_job(name, release.namespace)
    if job.status.failed and job.spec.backoff_limit is not None and job.status.failed > job.spec.backoff_limit:
        raise ServiceUnavailable(f"Job {name} failed; see kubectl -n {release.namespace} logs job/{name}")
    return bool(job.status.succeeded)


def _flink_deployments(release: Release) -> list[dict[str, Any]]:
    try:
        return list(release.custom.list_namespaced_custom_object(
            "flink.apache.org", "v1beta1", release.namespace, "flinkdeployments",
            label_selector=release.selector("flink"))["items"])
    except Exception:  # noqa: BLE001 - no operator CRD: nothing to suspend
        return []


def _set_flink_state(release: Release, deployment: dict[str, Any], state: str) -> None:
    release.custom.patch_namespaced_custom_object(
        "flink.apache.org", "v1beta1", release.namespace, "flinkdeployments", deployment["metadata"]["name"],
        {"spec": {"job": {"state": state}}})
