"""`ctrbench bench-job` for real, both engines from one command, on a small topic: what it prints must be a rate
for each engine against its own ceiling, each source timed after a warm-up run of its own. (The figures in the
README come from full-size runs on a quiet machine; timings are never asserted here.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LINE = re.compile(r"parallelism 1: from Kafka\s+([\d,]+) events/s\s+(\S+) ceiling\s+([\d,]+) events/s\s+ratio ([\d.]+)")


def test_bench_job_measures_both_engines_against_their_own_ceilings():
    cmd = [str(Path(sys.executable).with_name("ctrbench")), "bench-job", "--events", "50000", "--parallelism", "1",
           "--impl", "flink", "--impl", "spark"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "50,000 events; each job timed after an untimed warm-up run" in proc.stdout
    # Each source runs once untimed, then timed, in a process of its own that logs as the command does.
    warm_ups = re.findall(r"ctrbench\.(\w+)_job\.bench: parallelism 1 (\w+): warm-up run, not counted", proc.stderr)
    assert sorted(warm_ups) == [("flink", "generator"), ("flink", "kafka"), ("spark", "generator"), ("spark", "kafka")]
    found = {m.group(2): m.groups() for m in LINE.finditer(proc.stdout)}
    assert set(found) == {"datagen", "rate-micro-batch"}, proc.stdout  # flink's and spark's own generators
    for kafka, _ceiling, generator, ratio in found.values():
        kafka_rate, gen_rate = int(kafka.replace(",", "")), int(generator.replace(",", ""))
        assert kafka_rate > 0 and gen_rate > 0
        assert float(ratio) == pytest.approx(kafka_rate / gen_rate, abs=0.006)
    assert proc.stdout.index("flink (timed") < proc.stdout.index("spark (timed")


def test_bench_job_without_warm_up_times_the_first_run():
    cmd = [str(Path(sys.executable).with_name("ctrbench")), "bench-job", "--events", "20000", "--parallelism", "1",
           "--impl", "flink", "--no-warm-up"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "20,000 events; cold: no warm-up run" in proc.stdout
    assert "warm-up run" not in proc.stderr
    timed = re.findall(r"ctrbench\.flink_job\.bench: parallelism 1 (\w+): [\d.]+ s", proc.stderr)
    assert sorted(timed) == ["generator", "kafka"]
    assert [m.group(2) for m in LINE.finditer(proc.stdout)] == ["datagen"]
