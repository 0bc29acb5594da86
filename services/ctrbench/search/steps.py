"""One search step on the real pipeline: a steady load for warm-up + measured period, then the report.

Each step is a complete ``ctrbench run`` (topics cleared, the job submitted afresh, producers,
end-of-run, report and live monitor) on the stack the search holds, so steps do not inherit each
other's backlog. The measured period follows the warm-up and ends one window before the load does:
backlog samples taken in it, windows that lie wholly in it, and the CPU each part used in it.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass

from ctrbench.latency.report import per_window
from ctrbench.pipeline import RunSettings, run
from ctrbench.schema import NS_PER_S
from ctrbench.search.cpu import CpuSampler
from ctrbench.search.criterion import StepMeasurement

__all__ = ["PipelineStep"]

logger = logging.getLogger(__name__)


@dataclass
class PipelineStep:
    """``measure(rate)`` for the search: runs the pipeline in ``settings`` at ``rate`` events/s in total, the CTR
    job on ``engine`` (flink or spark)."""

    settings: RunSettings
    warmup_seconds: float
    measure_seconds: float
    engine: str = "flink"

    def __call__(self, rate: float) -> StepMeasurement:
        s = self.settings
        # The load runs one window past the measured period, so that every measured window is closed
        # by regular events; the run's last window is closed by the end-of-run marker, after the
        # producers exit, and its latency says more about shutdown than about the job.
        duration = self.warmup_seconds + self.measure_seconds + s.job.window_seconds
        per_producer = max(1, round(rate * duration / s.load.num_producers))
        load = s.load.model_copy(update={"events_per_producer": per_producer, "duration_seconds": duration})
        with tempfile.TemporaryDirectory(prefix="ctrbench-search-") as report_dir:
            step = RunSettings(s.kafka, s.postgres, load, s.job,
                               s.latency.model_copy(update={"report_dir": report_dir}), s.monitor)
            logger.info("step: %.0f events/s (%d producers x %d events over %.0f s)", rate, load.num_producers,
                        per_producer, duration)
            with CpuSampler() as cpu:
                result = run(step, self.engine, skip_consumers=False)
        report = result.report
        start_s = min(p["start_time_ns"] for p in result.producers) / NS_PER_S
        begin = start_s + self.warmup_seconds
        end = begin + self.measure_seconds
        base_s = report.summary["run"]["base_time_ns"] / NS_PER_S
        window = s.job.window_seconds
        windows = [(base_s + (r.window_id + 1) * window, r.max_latency_ms / 1000)
                   for r in per_window(report.collected)
                   if base_s + r.window_id * window >= begin and base_s + (r.window_id + 1) * window <= end]
        acknowledged = sum(p["acknowledged"] for p in result.producers)
        return StepMeasurement(
            offered_rate=rate,
            # Over the time the producers actually took: behind schedule, the last events go out up to
            # the largest schedule lag after the run's end.
            delivered_rate=acknowledged / (duration + max(p["lag_ms_max"] for p in result.producers) / 1000),
            backlog=[(t, float(v)) for t, v in result.monitor.backlog_history if begin <= t <= end],
            window_latency=windows,
            lag_p99_ms=max(p["lag_ms_p99"] for p in result.producers),
            verified=report.verification.ok,
            cpu_seconds=cpu.between(begin, end),
        )
