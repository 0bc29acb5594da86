"""Compare the job's results with the truth: matches, wrong values, missing, duplicates, unexpected."""

from __future__ import annotations

from dataclasses import dataclass, field

from ctrbench.latency.results import Collected
from ctrbench.latency.truth import Expected, WindowKey

__all__ = ["Mismatch", "Verification", "verify"]

# CTR is a ratio of two counts; the job computes it in double precision like we do.
_CTR_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Mismatch:
    """One (window, campaign) whose result differs from the truth."""

    window_id: int
    campaign_id: int
    field: str
    expected: object
    actual: object

    def __str__(self) -> str:
        return (f"window {self.window_id} campaign {self.campaign_id}: {self.field} "
                f"expected {self.expected!r}, got {self.actual!r}")


@dataclass
class Verification:
    """Outcome of comparing results with the truth; ``ok`` only when everything matches."""

    matched: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    missing: list[WindowKey] = field(default_factory=list)
    unexpected: list[WindowKey] = field(default_factory=list)
    duplicates: int = 0
    # Cells whose result is short (or absent) by no more than the events that arrived later than the
    # watermark delay allows: event-time windows drop those by design, so the job is not wrong there,
    # but the run lost them. Never an excess, never a shortfall larger than the late events.
    short_by_late: list[WindowKey] = field(default_factory=list)
    late_dropped: int = 0

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.missing or self.unexpected)

    def summary(self) -> str:
        late = (f", {len(self.short_by_late)} short by {self.late_dropped} late events"
                if self.short_by_late else "")
        return (f"{self.matched} matched, {len(self.mismatches)} wrong, {len(self.missing)} missing, "
                f"{len(self.unexpected)} unexpected, {self.duplicates} duplicates{late}")

    def first_problems(self, limit: int = 3) -> str:
        """The first few problems, each naming its window and campaign."""
        items = [str(m) for m in self.mismatches[:limit]]
        items += [f"window {w} campaign {c}: missing" for w, c in self.missing[:limit]]
        items += [f"window {w} campaign {c}: unexpected" for w, c in self.unexpected[:limit]]
        return "; ".join(items[:limit])


def verify(expected: Expected, collected: Collected, check_window_ids: bool = True) -> Verification:
    """Check every expected cell against the job's first result for it, and every re-emitted result
    against the first (a duplicate must repeat it: never a double count).

    A cell short by no more than its late events (``Expected.late_counts``) is not wrong: the job drops
    events behind the watermark by design. It is listed in ``short_by_late`` with what was dropped.

    ``check_window_ids``: also require each result's own ``window_id`` to equal the window its
    ``window_start`` names (off when the run's base time is unknown to the report).
    """
    out = Verification(duplicates=len(collected.duplicates))
    for key, counts in sorted(expected.counts.items()):
        got = collected.results.get(key)
        late = expected.late_counts.get(key, 0)
        if got is None:
            if sum(counts.values()) <= late:  # every event of the cell came too late for its window
                out.short_by_late.append(key)
                out.late_dropped += sum(counts.values())
            else:
                out.missing.append(key)
            continue
        short = [counts[kind] - have for kind, have in
                 (("view", got.views), ("click", got.clicks), ("purchase", got.purchases))]
        if late and any(short) and min(short) >= 0 and sum(short) <= late and (
                not check_window_ids or got.window_id == key[0]):
            out.short_by_late.append(key)
            out.late_dropped += sum(short)
            continue
        wrong = [
            Mismatch(key[0], key[1], name, want, have)
            for name, want, have in (("views", counts["view"], got.views), ("clicks", counts["click"], got.clicks),
                                     ("purchases", counts["purchase"], got.purchases))
            if want != have
        ]
        if check_window_ids and got.window_id != key[0]:
            wrong.append(Mismatch(key[0], key[1], "window_id", key[0], got.window_id))
        want_ctr, have_ctr = expected.ctr(key), got.ctr
        if (want_ctr is None) != (have_ctr is None) or (
                want_ctr is not None and have_ctr is not None and abs(want_ctr - have_ctr) > _CTR_TOLERANCE):
            wrong.append(Mismatch(key[0], key[1], "ctr", want_ctr, have_ctr))
        if wrong:
            out.mismatches.extend(wrong)
        else:
            out.matched += 1
    for key, again in collected.conflicts:
        first = collected.results[key]
        out.mismatches.append(Mismatch(key[0], key[1], "re-emitted (views, clicks, purchases)",
                                       (first.views, first.clicks, first.purchases),
                                       (again.views, again.clicks, again.purchases)))
    out.unexpected = sorted(set(collected.results) - set(expected.counts))
    return out
