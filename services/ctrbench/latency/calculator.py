"""The latency calculator service: truth, results, verification, report files."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctrbench.latency.metrics import ReportMetrics
from ctrbench.latency.report import (
    csv_name,
    per_window,
    percentiles,
    render_table,
    write_csv,
    write_summary,
)
from ctrbench.latency.results import Collected, collect_results
from ctrbench.latency.truth import DISTURBED_INGEST_DELAY_MS, Expected, expected_results
from ctrbench.latency.verify import Verification, verify
from ctrbench.settings import JobSettings, KafkaSettings, LatencySettings

__all__ = ["LatencyReport", "run_latency"]

logger = logging.getLogger(__name__)


@dataclass
class LatencyReport:
    """Everything the run reports, with the paths of the files written."""

    expected: Expected
    collected: Collected
    verification: Verification
    csv_path: Path
    summary_path: Path
    plot_path: Path
    summary: dict[str, Any]
    table: str


def disturbance(expected: Expected, watermark_delay_ms: int) -> str:
    """Why the run is not a clean measurement of the job, or "" when it is."""
    reasons = []
    if expected.late_ingest:
        share = expected.late_ingest / max(expected.events, 1)
        reasons.append(
            f"{expected.late_ingest:,} events ({share:.1%}) reached the broker more than "
            f"{DISTURBED_INGEST_DELAY_MS} ms after their event time (max {expected.ingest_delay_ms['max']:,.0f} ms: "
            "a broker outage or producers behind schedule); the latency of their windows includes that delay")
    if expected.late_events:
        reasons.append(
            f"{expected.late_events:,} events arrived more than the watermark delay ({watermark_delay_ms} ms) behind "
            f"their partition's newest event time (max {expected.disorder_ms.get('max', 0):,.0f} ms), so the job may "
            "drop them as late, by design of event-time windows")
    return "; ".join(reasons)


def run_latency(kafka: KafkaSettings, settings: LatencySettings, job: JobSettings, producers: int,
                distribution: str, run_info: dict[str, Any] | None = None) -> LatencyReport:
    """Recompute the truth from ``events``, wait for the job's results, verify, and write the report.

    ``job`` carries the rule the truth follows: window size, the run's base time (window ids
    count from it; 0 when unknown, and then from the epoch) and the event-time skew. The report
    is named from the run's actual values: ``producers`` and the events found in Kafka.
    Metrics are served while it runs (LATENCY_METRICS_PORT) and pushed at the end (PUSHGATEWAY_URL);
    the files are published into a ConfigMap when REPORT_CONFIGMAP is set.
    """
    metrics = ReportMetrics()
    if settings.latency_metrics_port:
        metrics.serve(settings.latency_metrics_port, settings.latency_metrics_addr)
    expected = expected_results(kafka, job, workers=settings.truth_workers)
    logger.info("waiting for %d (window, campaign) results (timeout %.0f s)", len(expected.counts),
                settings.latency_timeout_seconds)
    collected = collect_results(kafka, set(expected.counts), settings.latency_timeout_seconds, job.base_time_ns,
                                job.window_seconds)
    verification = verify(expected, collected, check_window_ids=bool(job.base_time_ns))
    rows = per_window(collected)
    cells = list(collected.results.values())
    e2e = percentiles([r.end_to_end_latency_ms for r in cells])
    window_max = percentiles([r.max_latency_ms for r in rows])
    close = percentiles([r.max_window_close_latency_ms for r in rows if r.max_window_close_latency_ms is not None])
    out_dir = Path(settings.report_dir)
    csv_path = write_csv(out_dir / csv_name(producers, expected.events, distribution), rows)
    summary = {
        "run": run_info or {},
        "events_in_kafka": expected.events,
        "non_event_records": expected.skipped,
        "rejected_records": expected.rejected,
        "end_of_run_markers": expected.markers,
        "not_json_objects": expected.not_objects,
        "event_time_disorder_ms": expected.disorder_ms,
        "ingest_delay_ms": expected.ingest_delay_ms,
        "disturbed": disturbance(expected, job.watermark_delay_ms),
        "windows": len(rows),
        "cells_expected": len(expected.counts),
        "cells_received": len(collected.results),
        "latency_ms": {"end_to_end_per_cell": e2e, "end_to_end_per_window_max": window_max,
                       "window_close_per_window_max": close},
        "verification": {
            "ok": verification.ok,
            "matched": verification.matched,
            "wrong": [str(m) for m in verification.mismatches],
            "missing": [list(k) for k in verification.missing],
            "unexpected": [list(k) for k in verification.unexpected],
            "duplicates": verification.duplicates,
            "short_by_late_events": [list(k) for k in verification.short_by_late],
            "late_events_dropped": verification.late_dropped,
        },
        "late_events": expected.late_events,
        "csv": csv_path.name,
    }
    summary_path = write_summary(csv_path.with_suffix(".json"), summary)
    from ctrbench.latency.plot import plot_run  # matplotlib is slow to import; only the report needs it

    plot_path = plot_run(rows, job.window_seconds, job.base_time_ns, expected.first_event_ns, expected.last_event_ns,
                         f"{producers} producers, {expected.events:,} events, {distribution}",
                         csv_path.with_suffix(".png"))
    table = render_table(e2e, close, window_max, verification, collected)
    dropped = summary["run"].get("engine_late_rows_dropped")
    if dropped:
        # Spark's watermark is the maximum event time over all partitions minus the delay; what fell behind it is
        # dropped. The count explains cells that the verifier finds short.
        table += (f"\nthe job dropped {dropped:,} events as later than its watermark (Spark: the newest event time "
                  "over all partitions minus the delay)")
    if summary["disturbed"]:
        table += f"\nWARNING: the run was disturbed: {summary['disturbed']}"
        logger.warning("the run was disturbed: %s", summary["disturbed"])

    metrics.observe_latencies((r.end_to_end_latency_ms for r in cells),
                              (c for c in (r.window_close_latency_ms for r in cells) if c >= 0))
    metrics.verified.inc(verification.matched)
    metrics.mismatched.inc(len({(m.window_id, m.campaign_id) for m in verification.mismatches}))
    metrics.missing.inc(len(verification.missing))
    metrics.unexpected.inc(len(verification.unexpected))
    metrics.duplicates.inc(verification.duplicates)
    metrics.set_percentiles(e2e)
    metrics.non_events.set(expected.skipped)
    if settings.pushgateway_url:
        metrics.push(settings.pushgateway_url, {"producers": str(producers), "distribution": distribution})
    if settings.report_configmap:
        from ctrbench.latency.publish import publish_configmap

        publish_configmap(settings.report_configmap,
                          {csv_path.name: csv_path.read_text(), summary_path.name: summary_path.read_text()})
    return LatencyReport(expected, collected, verification, csv_path, summary_path, plot_path, summary, table)
