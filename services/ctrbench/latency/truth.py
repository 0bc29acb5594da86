"""The expected results, recomputed from the events the producers actually wrote to Kafka.

Reading ``events`` back (rather than trusting the producers' own counts) checks the whole chain:
what the broker holds is exactly what the job could have seen. Every record is judged by the rule
of :mod:`ctrbench.validity`, the same rule the job's SQL follows, and each event is counted in the
window its event time falls in (never by its ``window_id`` field). The topic is cut into offset
ranges of similar size, each read by a spawned worker process (no librdkafka or JVM threads are
forked), which classifies its records a batch at a time and counts events per (window, campaign,
event type) with numpy. The workers also return the events' times in offset order, so the
per-partition disorder is exact across range boundaries.
"""

from __future__ import annotations

import itertools
import logging
import math
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ctrbench import validity
from ctrbench.kafka.reading import OffsetRange, offset_ranges, read_range
from ctrbench.schema import EVENT_TYPES, NS_PER_MS, NS_PER_S
from ctrbench.settings import JobSettings, KafkaSettings

__all__ = ["DISTURBED_INGEST_DELAY_MS", "Expected", "WindowKey", "disorder", "expected_from_records",
           "expected_results", "usable_cpus"]

logger = logging.getLogger(__name__)

WindowKey = tuple[int, int]  # (window_id, campaign_id); window_id counted from the run's base time
_CELL = tuple[int, int, int]  # (window_id, campaign_id, index into EVENT_TYPES)
_RANGES_PER_WORKER = 2  # enough for the pool to even out ranges of unequal speed
# Ingest delay (broker append time minus event time) is counted in 1 ms bins up to a minute; the last
# bin holds everything later.
_DELAY_BINS = 60_001
# An event that reached the broker more than this after its event time was held up on the way (a broker
# outage, a producer that fell behind): its window's latency no longer measures the job alone.
DISTURBED_INGEST_DELAY_MS = 1000

# Below this many records one process reads everything: starting workers (about a second each
# here) would cost more than it saves.
_IN_PROCESS_BELOW = 200_000


@dataclass(frozen=True)
class Expected:
    """Counts per (window, campaign) and event type, and what the records that are not events were.

    ``rejected`` counts rejected records by reason (:data:`validity.REASONS`); ``markers`` the
    end-of-run markers; ``not_objects`` the records that are not JSON objects.
    """

    counts: dict[WindowKey, dict[str, int]]
    events: int
    rejected: dict[str, int] = field(default_factory=dict)
    markers: int = 0
    not_objects: int = 0
    # How far behind the partition's largest event time so far each event arrived (ms): the
    # out-of-orderness the watermark delay must cover. Events only: rejected records do not count.
    disorder_ms: dict[str, float] = field(default_factory=dict)
    # Earliest and latest event time (ns): the span the load covered (0, 0 without events).
    first_event_ns: int = 0
    last_event_ns: int = 0
    # Broker append time minus event time of the events (ms; p50, p99, max, capped at 60 s), and how
    # many took longer than DISTURBED_INGEST_DELAY_MS: a run with such events was disturbed.
    ingest_delay_ms: dict[str, float] = field(default_factory=dict)
    late_ingest: int = 0
    # Events per cell that arrived more than the watermark delay behind the newest event time already in
    # their partition. Only these can the job drop as late: the watermark is the minimum over partitions
    # of (newest event time - delay), so it passes an event only if its own partition's does.
    late_counts: dict[WindowKey, int] = field(default_factory=dict)

    @property
    def late_events(self) -> int:
        """Events that arrived more than the watermark delay behind their partition's newest event time."""
        return sum(self.late_counts.values())

    @property
    def skipped(self) -> int:
        """Records that are not events."""
        return sum(self.rejected.values()) + self.markers + self.not_objects

    def ctr(self, key: WindowKey) -> float | None:
        c = self.counts[key]
        return c["click"] / c["view"] if c["view"] else None


@dataclass(frozen=True)
class _Part:
    """What one worker found in one offset range."""

    partition: int
    start: int
    cells: Counter[_CELL]
    rejected: np.ndarray  # records per index into validity.REASONS
    markers: int
    not_objects: int
    event_time_ns: np.ndarray  # of the events, in offset order
    campaign: np.ndarray  # of the events, in offset order
    ingest_delay: np.ndarray  # events per ms of broker append time minus event time (_DELAY_BINS bins)

    @property
    def records(self) -> int:
        return len(self.event_time_ns) + int(self.rejected.sum()) + self.markers + self.not_objects


def _cell_counts(window: np.ndarray, campaign: np.ndarray, kind: np.ndarray) -> Counter[_CELL]:
    """How many events fall in each (window, campaign, type) cell, without a Python loop per event."""
    if not len(window):
        return Counter()
    w0, c0, kinds = int(window.min()), int(campaign.min()), len(EVENT_TYPES)
    c_span = int(campaign.max()) - c0 + 1
    cells = (int(window.max()) - w0 + 1) * c_span * kinds
    if cells <= 4 * len(window) + 4096:  # dense enough to count by index
        packed = ((window - w0) * c_span + (campaign - c0)) * kinds + kind
        counts = np.bincount(packed, minlength=cells)
        found = np.flatnonzero(counts)
        keys = [(w0 + k // (c_span * kinds), c0 + k // kinds % c_span, k % kinds) for k in found.tolist()]
        return Counter(dict(zip(keys, counts[found].tolist(), strict=True)))
    rows, counts = np.unique(np.stack([window, campaign, kind.astype(np.int64)], axis=1), axis=0,
                             return_counts=True)
    return Counter({(w, c, k): n for (w, c, k), n in zip(rows.tolist(), counts.tolist(), strict=True)})


def _part(partition: int, start: int, batches: Iterable[tuple[Sequence[bytes | None], Sequence[int]]],
          job: JobSettings) -> _Part:
    """Classify and count a stream of (values, append times) batches as they come.

    Memory: the events' times, 8 bytes per event.
    """
    window_ns = job.window_seconds * NS_PER_S
    cells: Counter[_CELL] = Counter()
    rejected = np.zeros(len(validity.REASONS), dtype=np.int64)
    markers = not_objects = 0
    times, campaigns = [], []
    ingest_delay = np.zeros(_DELAY_BINS, dtype=np.int64)
    for values, append_ms in batches:
        found = validity.classify(values, append_ms, job.max_event_time_skew_ms)
        events = found.events
        t = found.event_time_ns[events]
        delay_ms = np.asarray(append_ms, dtype=np.int64)[events] - t // 1_000_000
        ingest_delay += np.bincount(np.clip(delay_ms, 0, _DELAY_BINS - 1), minlength=_DELAY_BINS)
        window = (t - job.base_time_ns) // window_ns  # the window the event time falls in
        cells.update(_cell_counts(window, found.campaign_id[events], found.kind[events].astype(np.int64)))
        rejected += np.bincount(found.reason[found.reason >= 0], minlength=len(validity.REASONS))
        markers += int(np.count_nonzero(found.kind == validity.MARKER))
        not_objects += int(np.count_nonzero(found.kind == validity.NOT_AN_OBJECT))
        times.append(t)
        campaigns.append(found.campaign_id[events].astype(np.int32))
    return _Part(partition, start, cells, rejected, markers, not_objects,
                 np.concatenate(times) if times else np.zeros(0, dtype=np.int64),
                 np.concatenate(campaigns) if campaigns else np.zeros(0, dtype=np.int32), ingest_delay)


def _range_part(kafka: KafkaSettings, job: JobSettings, span: OffsetRange) -> _Part:
    """One worker: read one offset range of ``events`` and count it."""
    batches = read_range(kafka, kafka.events_topic, span, group="ctrbench-truth")
    return _part(span.partition, span.start, batches, job)


def _expected(parts: Sequence[_Part], job: JobSettings) -> Expected:
    cells: Counter[_CELL] = Counter()
    for part in parts:
        cells.update(part.cells)
    rejected = sum((p.rejected for p in parts), np.zeros(len(validity.REASONS), dtype=np.int64))
    counts: dict[WindowKey, dict[str, int]] = {}
    for (window, campaign, kind), n in cells.items():
        counts.setdefault((window, campaign), dict.fromkeys(EVENT_TYPES, 0))[EVENT_TYPES[kind]] = n
    lateness = []
    late_cells: Counter[WindowKey] = Counter()
    ordered = sorted(parts, key=lambda p: (p.partition, p.start))
    for _partition, group_iter in itertools.groupby(ordered, key=lambda p: p.partition):
        group = list(group_iter)
        times = np.concatenate([p.event_time_ns for p in group])
        behind = _lateness_ns(times)
        lateness.append(behind)
        late = behind > job.watermark_delay_ms * NS_PER_MS
        if late.any():
            window = (times[late] - job.base_time_ns) // (job.window_seconds * NS_PER_S)
            campaign = np.concatenate([p.campaign for p in group])[late]
            late_cells.update(zip(window.tolist(), campaign.tolist(), strict=True))
    all_lateness = np.concatenate(lateness) if lateness else np.zeros(0, dtype=np.int64)
    spans = [(int(p.event_time_ns.min()), int(p.event_time_ns.max())) for p in parts if len(p.event_time_ns)]
    first, last = (min(a for a, _ in spans), max(b for _, b in spans)) if spans else (0, 0)
    delays = sum((p.ingest_delay for p in parts), np.zeros(_DELAY_BINS, dtype=np.int64))
    return Expected(counts, sum(cells.values()),
                    rejected={reason: int(n) for reason, n in zip(validity.REASONS, rejected, strict=True) if n},
                    markers=sum(p.markers for p in parts), not_objects=sum(p.not_objects for p in parts),
                    disorder_ms=_percentiles_ms(all_lateness), first_event_ns=first, last_event_ns=last,
                    ingest_delay_ms=_histogram_percentiles(delays),
                    late_ingest=int(delays[DISTURBED_INGEST_DELAY_MS + 1:].sum()), late_counts=dict(late_cells))


def _histogram_percentiles(per_ms: np.ndarray) -> dict[str, float]:
    """p50, p99 and max of values counted in 1 ms bins."""
    total = int(per_ms.sum())
    if not total:
        return {}
    cumulative = np.cumsum(per_ms)
    p50, p99 = (int(np.searchsorted(cumulative, q * total)) for q in (0.5, 0.99))
    return {"p50": float(p50), "p99": float(p99), "max": float(np.flatnonzero(per_ms)[-1])}


def _lateness_ns(event_time_ns: np.ndarray) -> np.ndarray:
    """How far each event time lies behind the largest one before it (in the same partition)."""
    return np.maximum.accumulate(event_time_ns) - event_time_ns if len(event_time_ns) else event_time_ns


def _percentiles_ms(lateness_ns: np.ndarray) -> dict[str, float]:
    if not len(lateness_ns):
        return {}
    ms = lateness_ns / 1e6
    p50, p99 = np.percentile(ms, [50, 99])
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3), "max": round(float(ms.max()), 3)}


def expected_from_records(values: Sequence[bytes | None], append_time_ms: Sequence[int], job: JobSettings) -> Expected:
    """Aggregate raw event records (one partition's order, with their broker times) as the job must."""
    return _expected([_part(0, 0, [(values, append_time_ms)], job)], job)


def disorder(partitions: Sequence[int], event_time_ns: Sequence[int]) -> dict[str, float]:
    """p50/p99/max of event-time lateness behind each partition's running maximum, in ms."""
    parts = np.asarray(partitions)
    times = np.asarray(event_time_ns, dtype=np.int64)
    lateness = [_lateness_ns(times[parts == p]) for p in np.unique(parts)]
    return _percentiles_ms(np.concatenate(lateness) if lateness else np.zeros(0, dtype=np.int64))


def usable_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup v2 or v1 CPU quota.

    ``os.cpu_count()`` is the node's count; in a pod with a CPU limit that would start far more
    workers than the limit lets run (and each holds a Kafka client and its buffers).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for quota_file, period_file in (("cpu.max", None), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")):
        try:
            fields = (cgroup_root / quota_file).read_text().split()
            if period_file:
                fields.append((cgroup_root / period_file).read_text().strip())
            quota, period = fields[0], fields[1]
            if quota not in ("max", "-1"):
                cpus = min(cpus, math.ceil(int(quota) / int(period)))
            break
        except (OSError, ValueError, IndexError):
            continue
    return max(1, cpus)


def expected_results(kafka: KafkaSettings, job: JobSettings, workers: int = 0, pieces: int | None = None) -> Expected:
    """Read the whole ``events`` topic with worker processes and aggregate it.

    ``job`` gives the rule's parameters: window size, the run's base time (window ids count from
    it; 0 counts from the epoch) and the event-time skew. ``workers``: processes (0:
    :func:`usable_cpus`, or this process alone for a small topic). ``pieces``: offset ranges to cut
    the topic into (default: two per worker, so a worker that finishes early takes another).
    """
    chosen = workers or usable_cpus()
    ranges = offset_ranges(kafka, kafka.events_topic, pieces or chosen * _RANGES_PER_WORKER)
    small = not workers and sum(r.end - r.start for r in ranges) < _IN_PROCESS_BELOW
    workers = 1 if small else chosen
    if workers == 1:
        parts = [_range_part(kafka, job, r) for r in ranges]
    else:
        with ProcessPoolExecutor(min(workers, len(ranges)), mp_context=multiprocessing.get_context("spawn")) as pool:
            pending = [pool.submit(_range_part, kafka, job, r) for r in ranges]
            parts = []
            for done in as_completed(pending):  # progress: a 10M-event topic takes a while
                parts.append(done.result())
                logger.info("truth: %d of %d offset ranges read, %d records", len(parts), len(ranges),
                            sum(p.records for p in parts))
    expected = _expected(parts, job)
    logger.info("truth: %d events in %d (window, campaign) cells; not counted: %d rejected %s, %d markers, "
                "%d not JSON objects (%d workers, %d ranges); event-time disorder %s ms", expected.events,
                len(expected.counts), sum(expected.rejected.values()), expected.rejected, expected.markers,
                expected.not_objects, min(workers, len(ranges)), len(ranges), expected.disorder_ms)
    return expected
