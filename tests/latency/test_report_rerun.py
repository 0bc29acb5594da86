"""The report killed and run again: the same files, byte for byte, and never a half-written one.

Uses the session's 60 s pipeline run (its topics stay in the session's real Kafka broker) and runs
`ctrbench latency` over them as the report Job does: once to completion, once killed with SIGKILL a
moment after it started, and once more in the killed one's directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ctrbench.pipeline import settings_env

pytestmark = pytest.mark.integration


def _report(live_run, report_dir) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    s = live_run.settings
    job = s.job.model_copy(update={"base_time_ns": live_run.result.report.summary["run"]["base_time_ns"]})
    latency = s.latency.model_copy(update={"report_dir": str(report_dir), "pushgateway_url": "",
                                           "latency_timeout_seconds": 60})
    env = os.environ | settings_env(s.kafka, s.load, job, latency)
    return subprocess.Popen([sys.executable, "-m", "ctrbench", "latency"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _files(directory) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_report_killed_and_run_again_writes_the_same_files(live_run, tmp_path):
    first, again = tmp_path / "first", tmp_path / "again"
    done = _report(live_run, first)
    out, err = done.communicate(timeout=180)
    assert done.returncode == 0, err
    reference = _files(first)
    assert sorted(reference) == ["latency_report_3_180000_mmpp.csv", "latency_report_3_180000_mmpp.json",
                                 "latency_report_3_180000_mmpp.png"]

    killed = _report(live_run, again)
    time.sleep(2.5)  # started, reading the topics
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    # Whatever it got to: no report file under its real name unless whole.
    for name, data in (_files(again) if again.exists() else {}).items():
        assert name.startswith(".") or data == reference[name], f"{name} is not the whole report"

    rerun = _report(live_run, again)
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err
    assert _files(again) == reference  # same bytes, and no partial file left behind
    # The same verdict as the run's own report (7 windows x 10 campaigns when the run starts on time).
    cells = len(live_run.result.report.expected.counts)
    assert cells >= 60
    assert f"{cells} matched, 0 wrong, 0 missing, 0 unexpected, 0 duplicates" in out, out[-2000:]
