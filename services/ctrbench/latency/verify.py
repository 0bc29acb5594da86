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

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.missing or self.unexpected)

    def summary(self) -> str:
        return (f"{self.matched} matched, {len(self.mismatches)} wrong, {len(self.missing)} missing, "
                f"{len(self.unexpected)} unexpected, {self.duplicates} duplicates")

    def first_problems(self, limit: int = 3) -> str:
        """The first few problems, each naming its window and campaign."""
        items = [str(m) for m in self.mismatches[:limit]]
        items += [f"window {w} campaign {c}: missing" for w, c in self.missing[:limit]]
        items += [f"window {w} campaign {c}: unexpected" for w, c in self.unexpected[:limit]]
        return "; ".join(items[:limit])


def verify(expected: Expected, collected: Collected, check_window_ids: bool = True) -> Verification:
    """Check every expected cell against the job's first result for it.

    ``check_window_ids``: also require each result's own ``window_id`` to equal the window its
    ``window_start`` names (off when the run's base time is unknown to the report).
    """
    out = Verification(duplicates=len(collected.duplicates))
    for key, counts in sorted(expected.counts.items()):
        got = collected.results.get(key)
        if got is None:
            out.missing.append(key)
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
    out.unexpected = sorted(set(collected.results) - set(expected.counts))
    return out
