"""The k8s/ shell scripts: shellcheck finds nothing, and the wait helper really times out.

A cluster cannot run here; these tests check the scripts' code and the shared helpers only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

K8S = Path(__file__).resolve().parents[1] / "k8s"


@pytest.mark.parametrize("script", sorted(p.name for p in K8S.glob("*.sh")))
def test_shellcheck_is_clean(script):
    proc = subprocess.run(["shellcheck", "-x", "-P", str(K8S), str(K8S / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_wait_for_gives_up_with_the_reason():
    proc = subprocess.run(["bash", "-c", f"source {K8S / 'lib.sh'}; wait_for 1 'the impossible' false"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "timed out after 1s waiting for the impossible" in proc.stderr


def test_wait_for_returns_once_ready():
    proc = subprocess.run(["bash", "-c", f"source {K8S / 'lib.sh'}; wait_for 5 'truth' true; echo after"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip() == "after"
