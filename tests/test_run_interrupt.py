"""Ctrl-C or `kill` during `ctrbench run` stops everything the run started: broker, PostgreSQL, the job
(Flink's mini-cluster, or Spark's driver JVM), producers.

The run gets its own process group, as a shell job would. Ctrl-C: SIGINT goes to the whole group, as
a terminal's does. `kill PID`: SIGTERM goes to the ctrbench process only, which must stop the rest
itself. Afterwards no process of that group may be left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("engine", ["flink", "spark"])
@pytest.mark.parametrize(("how", "exit_code", "message"), [
    ("ctrl-c", 130, "error: interrupted"),
    ("kill", 143, "error: terminated"),
])
def test_stopping_a_run_leaves_nothing_running(tmp_path, how, exit_code, message, engine):
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctrbench", "run", "--impl", engine, "--duration", "120", "--events-per-producer",
         "12000", "--num-producers", "2", "--report-dir", str(tmp_path)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while "producer 1: 12000 events" not in (tmp_path / "run.log").read_text():
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "producers did not start"
            time.sleep(1)
        time.sleep(3)
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == exit_code
        deadline = time.monotonic() + 30
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _group_alive(proc.pid), subprocess.run(
            ["ps", "-o", "pid,args", "-g", str(proc.pid)], capture_output=True, text=True).stdout
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    output = (tmp_path / "run.log").read_text()
    assert message in output
    assert "Traceback" not in output
