"""The k8s/ shell scripts and the GitHub workflow: shellcheck and actionlint find nothing, and the wait helper
really times out. (The scripts themselves run for real in tests/k8s/.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ctrbench.embedded.jars import cache_root

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
SCRIPTS = sorted(str(p.relative_to(K8S)) for p in K8S.rglob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck_is_clean(script):
    path = K8S / script
    proc = subprocess.run(["shellcheck", "-x", "-P", f"SCRIPTDIR:{K8S}", str(path)], capture_output=True,
                          text=True, cwd=path.parent)
    assert proc.returncode == 0, proc.stdout


def test_every_script_is_checked():
    assert {"e2e.sh", "docker.sh", "local/cluster.sh", "standins/build.sh"} <= set(SCRIPTS)


def test_workflow_passes_actionlint():
    binary = shutil.which("actionlint") or str(cache_root() / "bin" / "actionlint")
    if not Path(binary).exists():
        pytest.fail("actionlint is not installed: run `make test-deps` (builds it with go install)")
    proc = subprocess.run([binary, "-color=false", *map(str, (ROOT / ".github" / "workflows").glob("*.yml"))],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_wait_for_gives_up_with_the_reason():
    proc = subprocess.run(["bash", "-c", f"source {K8S / 'lib.sh'}; wait_for 1 'the impossible' false"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "timed out after 1s waiting for the impossible" in proc.stderr


def test_wait_for_returns_once_ready():
    proc = subprocess.run(["bash", "-c", f"source {K8S / 'lib.sh'}; wait_for 5 'truth' true; echo after"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip() == "after"


def test_install_packages_installs_nothing_when_everything_is_there():
    """Present packages are neither installed again nor upgraded (no apt-get call at all)."""
    proc = subprocess.run(["bash", str(K8S / "install-packages.sh"), "bash", "coreutils"], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
