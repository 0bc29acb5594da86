"""The CTR job's process killed with SIGKILL mid-run and started again from its latest checkpoint.

Real components throughout: the session's Kafka broker and PostgreSQL, two `ctrbench produce`
processes sending live at 1,000 events/s in total, and the job as `ctrbench process` (Flink's local
mini-cluster in its own JVM) in its own session. The kill comes at the most awkward moment: right
after the job has written window 1's results (seen by a read_uncommitted consumer) and, with
exactly-once, before the checkpoint that commits them. The restarted job restores the newest
completed checkpoint (`RESTORE_FROM=latest`); the report's verifier then decides.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from ctrbench import catalog
from ctrbench.flink_job.checkpoints import latest_checkpoint
from ctrbench.latency.calculator import run_latency
from ctrbench.pipeline import run_base_time_ns, settings_env
from ctrbench.producer.end_of_run import send_end_of_run
from ctrbench.schema import NS_PER_S
from ctrbench.settings import LatencySettings, LoadSettings, load

pytestmark = pytest.mark.integration

WINDOW_S = 10
DURATION_S = 30  # windows 0, 1 and 2


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "ctrbench", *cmd], env=os.environ | env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"exited {proc.returncode} before {text!r}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r} after {timeout:.0f} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def _stop_group(proc: subprocess.Popen[bytes], sig: int, timeout: float = 60) -> None:
    """Signal the process group we started (the job's Python and its JVM), wait, and make sure it is gone."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the JVM may outlive a killed parent
    except ProcessLookupError:
        pass


def _wait_for_window_results(kafka, window_id: int, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    """Until the job has *written* a result for ``window_id``, committed or not."""
    consumer = Consumer({"bootstrap.servers": kafka.kafka_bootstrap_servers, "group.id": "recovery-watch",
                         "isolation.level": "read_uncommitted", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([kafka.results_topic])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            if json.loads(msg.value())["window_id"] >= window_id:
                return
        raise AssertionError(f"no result for window {window_id} within {timeout:.0f} s")
    finally:
        consumer.close()


@pytest.mark.parametrize(("guarantee", "interval_ms"), [("exactly-once", 2000), ("at-least-once", 5000)])
def test_killed_job_restarts_from_its_checkpoint_and_every_cell_is_exact(
        kafka_settings, postgres_settings, job_settings, tmp_path, guarantee, interval_ms):
    load_settings = load(LoadSettings, num_producers=2, events_per_producer=DURATION_S * 500,
                         duration_seconds=DURATION_S, num_campaigns=4, ads_per_campaign=25, seed=5)
    catalog.write_catalog(postgres_settings, catalog.generate(load_settings.seed, load_settings.num_campaigns,
                                                              load_settings.ads_per_campaign))
    base = run_base_time_ns(WINDOW_S, time.time_ns() + 10 * NS_PER_S)  # after the job has started
    job = job_settings.model_copy(update={
        "delivery_guarantee": guarantee, "checkpoint_interval_ms": interval_ms, "base_time_ns": base,
        "checkpoint_dir": str(tmp_path / "checkpoints"), "restore_from": "latest"})
    env = settings_env(kafka_settings, postgres_settings, load_settings, job)
    logs = [tmp_path / "job-1.log", tmp_path / "job-2.log"]

    first = _start(["process"], env, logs[0])
    procs = [first]
    try:
        _wait_for_line(logs[0], "CTR job running", first)
        assert "restoring from" not in logs[0].read_text()  # nothing to restore yet: a fresh start
        producers = [_start(["produce", "--producer-id", str(i), "--start-time-ns", str(base),
                             "--base-time-ns", str(base), "--report-file", str(tmp_path / f"producer-{i}.json")],
                            env, tmp_path / f"producer-{i}.log") for i in range(2)]
        procs += producers

        _wait_for_window_results(kafka_settings, 1)
        assert latest_checkpoint(job.checkpoint_dir) is not None
        killed_at = time.time_ns()
        _stop_group(first, signal.SIGKILL)

        second = _start(["process"], env, logs[1])
        procs.append(second)
        _wait_for_line(logs[1], "CTR job running", second)
        recovered_s = (time.time_ns() - killed_at) / NS_PER_S
        restored = logs[1].read_text()
        assert "restoring from checkpoint" in restored and "/chk-" in restored

        assert [p.wait(timeout=DURATION_S + 60) for p in producers] == [0, 0]
        send_end_of_run(kafka_settings, base, base + DURATION_S * NS_PER_S, WINDOW_S, job.watermark_delay_ms)
        latency = load(LatencySettings, report_dir=str(tmp_path), latency_timeout_seconds=90)
        report = run_latency(kafka_settings, latency, job, 2, load_settings.distribution)
    finally:
        for proc in reversed(procs):
            _stop_group(proc, signal.SIGTERM)

    v = report.verification
    assert base + 10 * NS_PER_S < killed_at < base + DURATION_S * NS_PER_S  # the kill came mid-run
    assert report.expected.events == 2 * load_settings.events_per_producer
    cells = len(report.expected.counts)
    assert cells == 3 * load_settings.num_campaigns
    # Every cell exact, none missing, none unexpected; any re-emitted result repeats the first exactly.
    assert v.ok and v.matched == cells, v.summary() + "; " + v.first_problems()
    if guarantee == "exactly-once":
        assert v.duplicates == 0  # nothing written by the killed job is visible to a read_committed reader
    print(f"{guarantee}: running again {recovered_s:.1f} s after the kill; {v.summary()}; "
          f"per-window latency {report.summary['latency_ms']['end_to_end_per_window_max']}")
