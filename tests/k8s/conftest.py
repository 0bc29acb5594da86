"""The local single-node Kubernetes cluster (k8s/local/cluster.sh), started once for the tests that need it.

It needs root (network setup, a private containerd) and the Debian packages and Go toolchain the
cluster scripts build from. Where that is missing the cluster tests are skipped with one line naming
what is missing; with CI=true they fail instead, so CI never passes without them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "k8s" / "local" / "cluster.sh"
SNAPSHOT = ROOT / "k8s" / "local" / "snapshot.sh"
DOCKER = ROOT / "k8s" / "docker.sh"
# Mounts of a Docker daemon that someone else runs may come and go meanwhile; ours (k8s/docker.sh's private
# daemon, its data in the ctrbench cache) must all be gone after `down` and `docker.sh stop`.
_FOREIGN_MOUNTS = "^/var/lib/docker/|^/run/docker/"
# The machine has one local cluster (one state directory, one node address): a second test session would take it
# down under the first (its fixture starts with `down`, and ends with it). Sessions take turns on this lock.
CLUSTER_LOCK = Path("/run/lock/ctrbench-local-cluster.lock")
CLUSTER_LOCK_WAIT_S = 2700  # the other session's cluster tests take about 25 min


def missing_for_cluster() -> str | None:
    """What this machine lacks to run the local cluster, or None."""
    if os.geteuid() != 0:
        return "root (the cluster sets up networking and runs its own containerd)"
    lacking = [tool for tool in ("go",) if shutil.which(tool) is None]
    if shutil.which("apt-get") is None:  # with apt-get, cluster.sh installs these itself
        lacking += [tool for tool in ("gcc", "iptables", "ip", "dockerd", "containerd", "runc", "etcd", "debootstrap")
                    if not shutil.which(tool)]
    return f"{', '.join(lacking)} (install them, or run make test on a Debian machine as root)" if lacking else None


@dataclass(frozen=True)
class LocalCluster:
    """A running local cluster: the environment that reaches it, and the host's state before it started."""

    env: dict[str, str]
    before: str

    def run(self, *cmd: str, timeout: float = 600, check: bool = True, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False, **kw)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    @property
    def kubeconfig(self) -> str:
        return self.env["KUBECONFIG"]


def host_snapshot() -> str:
    """Processes, iptables rules, interfaces, addresses, network namespaces, mounts and cgroups of the host."""
    return subprocess.run(["bash", str(SNAPSHOT)], capture_output=True, text=True, check=True, timeout=120,
                          env=os.environ | {"SNAPSHOT_IGNORE_MOUNTS": _FOREIGN_MOUNTS}).stdout


def stop_cluster_and_docker() -> None:
    """`cluster.sh down`, then stop the private dockerd that building the cluster's images may have started."""
    subprocess.run(["bash", str(CLUSTER), "down"], capture_output=True, timeout=600, check=False)
    subprocess.run(["bash", str(DOCKER), "stop"], capture_output=True, timeout=120, check=False)


def _stream(cmd: list[str], timeout: float) -> None:
    """Run a long command with its progress lines on our stderr (pytest shows them on failure)."""
    proc = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, timeout=timeout, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode} (its output is above)")


def hold_cluster_lock(path: Path = CLUSTER_LOCK, wait_s: float = CLUSTER_LOCK_WAIT_S) -> int:
    """Take the machine's local cluster for this process (an open descriptor holding ``path``'s lock, released when
    the process ends however it ends); wait for another session holding it, saying who, and fail after ``wait_s``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline, said = time.monotonic() + wait_s, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = path.read_text().strip() or "another process"
            if time.monotonic() > deadline:
                os.close(fd)
                pytest.fail(f"the local cluster is still in use by {holder} after {wait_s:.0f} s (lock {path}); "
                            "let that test session finish, or stop it, then run again")
            if not said:
                print(f"waiting for the local cluster: {holder} uses it (lock {path})", file=sys.stderr)
                said = True
            time.sleep(5)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"test session pid {os.getpid()} in {ROOT}, since {time.strftime('%H:%M:%S')}\n".encode(), 0)
    return fd


def _cluster_env() -> dict[str, str]:
    out = subprocess.run(["bash", str(CLUSTER), "env"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line[len("export "):].split("=", 1)
            env[name] = os.path.expandvars(value.strip().strip('"'))
    return env


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    missing = missing_for_cluster()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the cluster tests cannot run here (CI=true never skips them): missing {missing}")
        pytest.skip(f"local Kubernetes cluster: missing {missing}")
    lock = hold_cluster_lock()
    # Its packages first: the snapshot itself needs iproute2 and iptables, which a fresh machine may lack.
    _stream(["bash", str(CLUSTER), "deps"], timeout=1800)
    # A cluster left running by hand is stopped first, so that "before" is the host without any of it.
    stop_cluster_and_docker()
    before = host_snapshot()
    _stream(["bash", str(CLUSTER), "up"], timeout=3600)
    cluster = LocalCluster(_cluster_env(), before)
    try:
        yield cluster
    finally:
        stop_cluster_and_docker()
        os.close(lock)
