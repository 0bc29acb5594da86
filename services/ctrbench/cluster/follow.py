"""Follow a run in the cluster: pods, producer progress, the CTR job's state (Flink or Spark), the report Job.

All of it is read through the API server (pod and service proxies for /metrics and Flink's REST API),
so it works from any machine whose kubeconfig reaches the cluster.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from ctrbench.cluster.diagnose import diagnose
from ctrbench.cluster.release import Release
from ctrbench.errors import CtrError, ServiceUnavailable, VerificationFailed

__all__ = ["RunStatus", "follow", "run_status", "spark_applications"]

logger = logging.getLogger(__name__)

# Waiting reasons a pod does not recover from by waiting.
_FATAL = {"ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"}
_TROUBLE = _FATAL | {"ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff"}
_REPORT_EXIT_VERIFY = 4  # ctrbench's exit code for "results differ from the truth"


@dataclass
class RunStatus:
    """One look at a run."""

    pods: Counter[str] = field(default_factory=Counter)  # phase -> count
    trouble: list[str] = field(default_factory=list)  # "pod: reason (message)"
    fatal: list[str] = field(default_factory=list)
    events_sent: int | None = None
    events_expected: int = 0
    engine: str = "flink"
    job: str = "absent"  # the CTR job's state as its engine reports it
    report: str = "absent"  # absent, running, complete, failed

    def line(self) -> str:
        pods = ", ".join(f"{n} {phase.lower()}" for phase, n in sorted(self.pods.items())) or "none"
        sent = "?" if self.events_sent is None else f"{self.events_sent:,}"
        text = (f"pods: {pods}; producers: {sent} of {self.events_expected:,} events sent; "
                f"{self.engine} job: {self.job}; report: {self.report}")
        return text + (f"; trouble: {'; '.join(self.trouble)}" if self.trouble else "")


def _pod_trouble(pod: Any) -> tuple[str, bool] | None:
    for cond in pod.status.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False" and cond.reason:
            message = (cond.message or "").strip()[:160]
            return f"{pod.metadata.name}: {cond.reason}" + (f" ({message})" if message else ""), False
    for status in (pod.status.init_container_statuses or []) + (pod.status.container_statuses or []):
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason in _TROUBLE:
            message = (waiting.message or "").splitlines()[0][:160] if waiting.message else ""
            return f"{pod.metadata.name}: {waiting.reason}" + (f" ({message})" if message else ""), \
                waiting.reason in _FATAL
    return None


def _producer_events(release: Release, port: int) -> int | None:
    """Events the running producers have sent, from their /metrics (through the API server's pod proxy)."""
    total, seen = 0, 0
    for pod in release.pods("producer"):
        if pod.status.phase != "Running":
            continue
        try:
            text = release.core.connect_get_namespaced_pod_proxy_with_path(
                f"{pod.metadata.name}:{port}", release.namespace, "metrics", _preload_content=False).data.decode()
        except Exception:  # noqa: BLE001 - not serving yet; counted as unknown
            continue
        seen += 1
        for family in text_string_to_metric_families(text):
            if family.name == "ctr_producer_events_sent":
                total += int(sum(s.value for s in family.samples if s.name.endswith("_total")))
    return total if seen else None


def _flink_state(release: Release) -> str:
    """The CTR job's state: from the standalone JobManager's REST API, or the FlinkDeployment's status."""
    jobs = release.batch.list_namespaced_job(release.namespace, label_selector=release.selector("flink")).items
    if jobs:  # standalone mode
        services = release.core.list_namespaced_service(
            release.namespace, label_selector=release.selector("flink")).items
        if not services:
            return "no JobManager service"
        try:
            found = json.loads(release.core.connect_get_namespaced_service_proxy_with_path(
                f"{services[0].metadata.name}:rest", release.namespace, "jobs/overview", _preload_content=False).data)
        except Exception:  # noqa: BLE001 - the JobManager is still starting
            return "starting"
        states = [j.get("state", "?") for j in found.get("jobs", [])]
        return ",".join(states) if states else "no job yet"
    try:
        deployments = release.custom.list_namespaced_custom_object(
            "flink.apache.org", "v1beta1", release.namespace, "flinkdeployments",
            label_selector=release.selector("flink"))["items"]
    except Exception:  # noqa: BLE001 - no operator CRD in this cluster
        return "absent"
    if not deployments:
        return "absent"
    status = deployments[0].get("status") or {}
    return (status.get("jobStatus") or {}).get("state") or status.get("lifecycleState") or "deploying"


def spark_applications(release: Release) -> list[dict[str, Any]]:
    """The release's SparkApplications ([] without the Spark operator's CRD, or without the right to list them).

    Any other API error propagates: `cluster start` decides between the Flink and the Spark path on this
    answer, so an unreachable API server must not read as "no Spark here".
    """
    try:
        return list(release.custom.list_namespaced_custom_object(
            "sparkoperator.k8s.io", "v1beta2", release.namespace, "sparkapplications",
            label_selector=release.selector("spark"))["items"])
    except ApiException as exc:
        if exc.status in (403, 404):  # the CRD is not installed, or RBAC hides it: no Spark operator for us
            return []
        raise


def _spark_state(release: Release) -> str:
    """The SparkApplication's state as the operator reports it (SUBMITTED, RUNNING, FAILING, ...)."""
    apps = spark_applications(release)
    if not apps:
        return "absent"
    state = ((apps[0].get("status") or {}).get("applicationState") or {}).get("state")
    return state or "submitting"


def _report_state(release: Release) -> str:
    jobs = release.batch.list_namespaced_job(release.namespace, label_selector=release.selector("latency")).items
    if not jobs:
        return "absent"
    for cond in jobs[0].status.conditions or []:
        if cond.status == "True" and cond.type in ("Complete", "Failed"):
            return "complete" if cond.type == "Complete" else "failed"
    return "running"


def run_status(release: Release) -> RunStatus:
    """Look at the run once."""
    config = release.run_config()
    status = RunStatus(events_expected=int(config["num_producers"]) * int(config["events_per_producer"]))
    for pod in release.pods():
        phase = pod.status.phase or "Unknown"
        trouble = _pod_trouble(pod)
        if trouble:
            status.trouble.append(trouble[0])
            if trouble[1]:
                status.fatal.append(trouble[0])
        if pod.metadata.deletion_timestamp:
            phase = "Terminating"
        status.pods[phase] += 1
    status.events_sent = _producer_events(release, int(config.get("metrics_port") or 0)) \
        if config.get("metrics_port") else None
    if spark_applications(release):
        status.engine, status.job = "spark", _spark_state(release)
    else:
        status.job = _flink_state(release)
    status.report = _report_state(release)
    return status


def _report_log(release: Release, lines: int = 25) -> str:
    pods = release.pods("latency")
    if not pods:
        return "(no report pod)"
    try:
        return release.core.read_namespaced_pod_log(pods[0].metadata.name, release.namespace, tail_lines=lines)
    except Exception as exc:  # noqa: BLE001 - the log is a courtesy
        return f"(log unavailable: {exc})"


def _report_exit_code(release: Release) -> int | None:
    for pod in release.pods("latency"):
        for status in pod.status.container_statuses or []:
            if status.state and status.state.terminated:
                return int(status.state.terminated.exit_code)
    return None


def _with_diagnosis(release: Release, message: str, skip: tuple[str, ...] = ()) -> str:
    found = diagnose(release, skip=skip)
    return f"{message}\npods that are not fine:\n{found}" if found else message


def follow(release: Release, timeout: float, interval: float = 5.0,
           echo: Callable[[str], None] = print) -> RunStatus:
    """Print the run's status as it changes (at least every 30 s) until the report Job ends.

    Raises :class:`VerificationFailed` when the report found results that differ from the truth,
    :class:`CtrError` when the report failed otherwise or a pod cannot start, and
    :class:`ServiceUnavailable` after ``timeout`` seconds. Every error but the verification's ends with
    the diagnosis of the pods that are not fine (:func:`ctrbench.cluster.diagnose.diagnose`).
    """
    deadline = time.monotonic() + timeout
    last, last_time = "", 0.0
    while True:
        status = run_status(release)
        line = status.line()
        if line != last or time.monotonic() - last_time >= 30:
            echo(line)
            last, last_time = line, time.monotonic()
        if status.fatal:
            raise CtrError(_with_diagnosis(
                release, f"pods cannot start: {'; '.join(status.fatal)} (an image missing from the nodes? "
                "load it, or fix image.*.repository/tag)"))
        if status.report == "complete":
            return status
        if status.report == "failed":
            log = _report_log(release)
            if _report_exit_code(release) == _REPORT_EXIT_VERIFY:
                raise VerificationFailed(f"the report Job found results that differ from the truth:\n{log}")
            raise CtrError(_with_diagnosis(release, f"the report Job failed:\n{log}", skip=("latency",)))
        if time.monotonic() > deadline:
            raise ServiceUnavailable(_with_diagnosis(
                release, f"the run did not end within {timeout:.0f} s; last status: {line}"))
        time.sleep(interval)
