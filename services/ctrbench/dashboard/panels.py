"""The Grafana dashboard's content: every panel, its queries, unit and description, in one place.

:mod:`ctrbench.dashboard.grafana` turns this into the dashboard JSON the chart ships,
:mod:`ctrbench.dashboard.queries` proves each query returns data on a real Prometheus, and
:mod:`ctrbench.dashboard.render` draws the same queries without Grafana.
Rates use ``$__rate_interval``; counters pushed once (the report's verification) are shown as
values, never as rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PANELS", "ROWS", "Panel", "Target"]

Kind = Literal["timeseries", "stat"]

# Grafana unit ids; "suffix:..." is Grafana's custom-unit syntax.
EVENTS_PER_S = "suffix: ev/s"


@dataclass(frozen=True)
class Target:
    """One PromQL query and the legend Grafana gives its series."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """One panel: where it sits on the 24-column grid, what it shows and how."""

    title: str
    description: str
    unit: str
    targets: tuple[Target, ...]
    kind: Kind = "timeseries"
    width: int = 8
    height: int = 8
    text_mode: Literal["auto", "name", "value", "value_and_name"] = "auto"
    # Series (by legend) drawn against a second axis on the right: a much smaller scale.
    right_axis: tuple[str, ...] = ()


def _quantiles(kind: str, qs: tuple[float, ...]) -> tuple[Target, ...]:
    return tuple(Target(f'histogram_quantile({q}, sum by (le) (rate(ctr_window_latency_seconds_bucket'
                        f'{{kind="{kind}"}}[$__rate_interval])))', f"p{round(q * 100)}") for q in qs)


RUN_ROW = "Run"
LATENCY_ROW = "Latency (live monitor)"
LOAD_ROW = "Offered load (producers)"
JOB_ROW = "Job"

ROWS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    (RUN_ROW, (
        Panel("Producers", "Producer processes of the current run (NUM_PRODUCERS).", "none",
              (Target("max(ctr_run_producers)", "producers"),), kind="stat", width=4, height=4),
        Panel("Target rate", "Mean events/s all producers together are scheduled to offer "
              "(NUM_PRODUCERS x EVENTS_PER_PRODUCER / DURATION_SECONDS).", EVENTS_PER_S,
              (Target("max(ctr_run_target_rate_events_per_second)", "target"),), kind="stat", width=4, height=4),
        Panel("Arrival process", "The producers' arrival process (DISTRIBUTION): mmpp (bursty) or normal (Poisson).",
              "none", (Target("max by (distribution) (ctr_run_info)", "{{distribution}}"),), kind="stat",
              width=4, height=4, text_mode="name"),
        Panel("Latest window", "Id of the latest window a result arrived for, counted from the run's base time.",
              "none",
              (Target("max(ctr_latest_window_id)", "window"),), kind="stat", width=4, height=4),
        Panel("Verification (last report)", "Cells of the last finished run's report: (window, campaign) results "
              "equal to the truth, wrong and missing. Pushed once by the report at the end of a run.", "none",
              (Target("max(ctr_windows_verified_total)", "verified"),
               Target("max(ctr_windows_mismatched_total)", "wrong"),
               Target("max(ctr_windows_missing_total)", "missing")),
              kind="stat", width=8, height=4, text_mode="value_and_name"),
    )),
    (LATENCY_ROW, (
        Panel("End-to-end latency", "Per result as it lands: its broker append time minus the newest source "
              "event's append time in its window (the report's definition), quantiles over $__rate_interval.", "s",
              _quantiles("end_to_end", (0.5, 0.95, 0.99))),
        Panel("Window-close latency", "Per result as it lands: its broker append time minus its window's end; "
              "at least the watermark delay, since a window closes only when the watermark passes its end.", "s",
              _quantiles("window_close", (0.5, 0.99))),
        Panel("Latency of the latest window", "Highest latency among the results of the latest window so far: "
              "one step per window.", "s",
              (Target("max by (kind) (ctr_latest_window_max_latency_seconds)", "{{kind}}"),)),
    )),
    (LOAD_ROW, (
        Panel("Offered vs target rate", "Events each producer handed to Kafka per second, against the rate its "
              "schedule asks for right now (the MMPP state's rate).", EVENTS_PER_S,
              (Target("sum by (producer) (rate(ctr_producer_events_sent_total[$__rate_interval]))",
                      "offered {{producer}}"),
               Target("max by (producer) (ctr_producer_target_rate_events_per_second)", "target {{producer}}"))),
        Panel("MMPP state", "1 while a producer's Markov-modulated Poisson process is in its high-rate state.",
              "none", (Target("max by (producer) (ctr_producer_mmpp_high_state)", "high {{producer}}"),)),
        Panel("Schedule lag p99", "Actual minus scheduled send time of events, p99 per producer: when it grows, "
              "the producers, not the system under test, limit the load (coordinated-omission guard).", "s",
              (Target("histogram_quantile(0.99, sum by (le, producer) "
                      "(rate(ctr_producer_schedule_lag_seconds_bucket[$__rate_interval])))", "p99 {{producer}}"),)),
    )),
    (JOB_ROW, (
        # Flink's own *PerSecond meters average over 60 s; rates of its counters follow the load.
        Panel("Job records in / out per second", "Records the Flink job's Kafka source reads per second (left "
              "axis), and results its Kafka sink writes per second (right axis), from Flink's record counters.", "rps",
              (Target('sum(rate(flink_taskmanager_job_task_operator_numRecordsOut{operator_name=~"Source.*"}'
                      '[$__rate_interval]))', "in (source)"),
               Target('sum(rate(flink_taskmanager_job_task_operator_numRecordsIn{operator_name=~"results.*Writer"}'
                      '[$__rate_interval]))', "out (results sink)")),
              right_axis=("out (results sink)",)),
        Panel("Backlog", "Events written to the events topic that the job has not read yet: end offsets minus "
              "the Kafka source's positions. A backlog that keeps growing means the job cannot keep up.", "short",
              (Target("sum(ctr_job_backlog_records)", "backlog"),)),
        Panel("Results per second", "Results arriving in the results topic, and re-emitted (duplicate) results "
              "among them.", "rps",
              (Target("sum(rate(ctr_results_total[$__rate_interval]))", "results"),
               Target("sum(rate(ctr_duplicate_results_total[$__rate_interval]))", "duplicates"))),
    )),
)

PANELS: tuple[Panel, ...] = tuple(p for _row, panels in ROWS for p in panels)
