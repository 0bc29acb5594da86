"""`ctrbench soak` for real, shortened: every process's memory sampled, latency halves, the files it writes.

A minute is too short to call memory flat (JVM heaps still grow), so this checks the measurement, not
the verdict: every role's processes are sampled, the reported growth is what the memory samples give,
the latency halves come from the run's windows, and every result verified.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_soak_samples_every_process_and_judges_memory_latency_and_results(tmp_path):
    cmd = [str(Path(sys.executable).with_name("ctrbench")), "soak", "--rate", "3000", "--duration", "60",
           "--warmup", "20", "--sample-interval", "2", "--producers", "2", "--report-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    summary = json.loads((tmp_path / "soak_3000.json").read_text())
    assert (proc.returncode == 0) == summary["ok"]
    assert summary["verified"] is True
    matched = int(summary["verification"].split()[0])
    assert matched in (60, 70)  # 10 campaigns x 6 windows, 7 when the load did not start on a boundary
    assert "matched, 0 wrong, 0 missing, 0 unexpected, 0 duplicates" in summary["verification"]
    processes = summary["processes"]
    assert {p["role"] for p in processes} == {"producers", "broker", "job", "report"}
    assert sum(p["role"] == "producers" for p in processes) == 2
    for p in processes:
        assert 0 < p["first_mb"] <= p["max_mb"] and p["last_mb"] <= p["max_mb"], p
    # The reported growth is the least-squares slope of the samples after the warm-up.
    with (tmp_path / "soak_3000_memory.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 25  # every 2 s over 60 s and more
    broker = next(p for p in processes if p["role"] == "broker")
    column = f"broker-{broker['pid']}_mb"
    points = [(float(r["seconds"]), float(r[column])) for r in rows
              if r[column] and 20 <= float(r["seconds"]) <= 60]
    t, mb = np.array(points).T
    slope = np.polyfit(t - t[0], mb, 1)[0]
    assert broker["slope_mb_per_min"] == pytest.approx(slope * 60, rel=0.02, abs=0.1)  # the CSV is rounded
    # Latency: the windows closed by the load itself (the marker closes the last, not judged).
    windows = summary["window_latency_ms"]
    assert len(windows) >= 5 and np.allclose(np.diff([t for t, _v in windows]), 10)
    assert 0 < summary["first_half_ms"]["p99"] < 5000 and 0 < summary["second_half_ms"]["p99"] < 5000
    verdict = "memory flat" if summary["memory_flat"] else "memory GROWING"
    assert verdict in proc.stdout and "per-window latency (ms), first half" in proc.stdout
    assert (tmp_path / "soak_3000.png").stat().st_size > 20_000
