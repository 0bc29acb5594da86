"""`ctrbench search` for real: two short steps of the whole embedded pipeline, the files it writes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_search_runs_steps_and_writes_table_csv_json_and_plot(tmp_path):
    cmd = [str(Path(sys.executable).with_name("ctrbench")), "search", "--start-rate", "2000", "--max-rate", "4000",
           "--warmup", "10", "--measure", "20", "--producers", "2", "--report-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 2,000 then 4,000 events/s: far below what this pipeline takes, so both are sustainable and the
    # search says the ceiling lies above the range.
    assert "sustainable rate: 4,000 events/s" in proc.stdout and "the ceiling lies above" in proc.stdout
    summary = json.loads((tmp_path / "search_flink_p1.json").read_text())
    assert summary["steps_in_order_run"] == [2000, 4000]
    assert summary["sustainable_rate"] == 4000 and summary["reached_max_rate"] is True
    rows = list(csv.DictReader((tmp_path / "search_flink_p1.csv").open()))
    assert [int(r["offered_rate"]) for r in rows] == [2000, 4000]
    for row in rows:
        assert row["sustainable"] == "True", row
        # Delivered within 2% of offered over the run; a whole window measured per step.
        assert abs(int(row["delivered_rate"]) - int(row["offered_rate"])) <= 0.02 * int(row["offered_rate"])
        assert 0 < int(row["latency_p50_ms"]) <= int(row["latency_p99_ms"]) < 1500
        assert abs(float(row["backlog_slope_pct"])) < 1.0
        # Every part of the pipeline used CPU during the measured period.
        for role in ("producers", "broker", "job", "report"):
            assert float(row[f"cpu_s_{role}"]) > 0, (role, row)
    assert (tmp_path / "search_flink_p1.png").stat().st_size > 20_000
