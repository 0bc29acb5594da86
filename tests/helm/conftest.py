"""Helm rendering fixtures. A real helm binary renders the chart without a cluster: these tests check what
`helm install` would send; tests/k8s installs it on a real cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ctrbench.embedded.jars import cache_root

CHART = Path(__file__).resolve().parents[2] / "helm"
KUBE_VERSION = "1.31.0"


def helm_binary() -> str:
    """helm built by `make test-deps` (go install) into the ctrbench cache, else one on PATH."""
    built = cache_root() / "bin" / "helm"
    found = os.environ.get("HELM_BIN") or (str(built) if built.exists() else shutil.which("helm"))
    if not found:
        pytest.fail("helm is not installed: run `make test-deps` (builds it with go install)")
    return found


@pytest.fixture(scope="session")
def helm() -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = helm_binary()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)

    return run


@pytest.fixture(scope="session")
def render(helm) -> Callable[..., list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """Render the chart with values files from helm/ci and --set pairs; return the documents."""

    def _render(*values_files: str, sets: dict[str, str] | None = None) -> list[dict[str, Any]]:
        args = ["template", "ctr", str(CHART), "--namespace", "bench", "--kube-version", KUBE_VERSION]
        for f in values_files:
            args += ["-f", str(CHART / "ci" / f)]
        for k, v in (sets or {}).items():
            args += ["--set", f"{k}={v}"]
        proc = helm(*args)
        assert proc.returncode == 0, proc.stderr
        return [d for d in yaml.safe_load_all(proc.stdout) if d]

    return _render


def find(docs: list[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
    """The one document of ``kind`` whose component label is ``component``."""
    hits = [d for d in docs if d["kind"] == kind
            and d["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    assert len(hits) == 1, f"{len(hits)} {kind} for component {component}"
    return hits[0]


@pytest.fixture(scope="session")
def spark_crd() -> dict[str, Any]:
    """The openAPIV3Schema of the Kubeflow Spark Operator's SparkApplication CRD, from the operator's Go module (the
    version k8s/install-spark-operator.sh installs; downloaded into the Go module cache once)."""
    script = "source k8s/lib.sh && spark_operator_module"
    proc = subprocess.run(["bash", "-c", script], cwd=CHART.parent, capture_output=True, text=True, timeout=600,
                          check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(f"could not download the Spark operator's module: {proc.stderr[-1000:]}")
    crd = Path(proc.stdout.strip()) / "charts" / "spark-operator-chart" / "crds" / \
        "sparkoperator.k8s.io_sparkapplications.yaml"
    doc = yaml.safe_load(crd.read_text())
    return next(v["schema"]["openAPIV3Schema"] for v in doc["spec"]["versions"] if v["name"] == "v1beta2")
