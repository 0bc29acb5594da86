"""What counts as an event: one rule, followed by the job's SQL and by the verifier's truth.

A record of the ``events`` topic is exactly one of:

* **not an object**: not a JSON object (non-JSON bytes, an array, a scalar, an empty or null
  value). Flink's JSON format drops these before any query sees them; the report counts them.
* **end-of-run marker**: an object whose ``event_type`` is ``"end_of_run"``. Not counted, not
  rejected; its event time still moves the watermark (that is its purpose).
* **event**: an object that passes every check below. Counted in the tumbling window its
  ``event_time_ns`` falls in, for its ``campaign_id``.
* **rejected**: any other object, with the reason of the first check it fails, in this order:

  1. ``event_type`` is the string ``view``, ``click`` or ``purchase``;
  2. ``campaign_id`` is an integer that fits a 32-bit INT;
  3. ``event_time_ns`` is an integer that fits a 64-bit BIGINT;
  4. ``event_time_ns`` lies within ``MAX_EVENT_TIME_SKEW_MS`` of the record's broker append time
     (so an absurd timestamp can never move the watermark past open windows).

"Integer" means a JSON number without fraction or exponent, or a string of ASCII digits with an
optional leading minus (Flink's JSON format reads both alike as text): ``7`` and ``"7"`` are
integers; ``7.0``, ``1e2``, ``" 7"``, ``"+7"``, ``true`` and ``null`` are not.

Every other field, ``window_id`` included, is not checked: a window is defined by event time
alone, and the job derives the result's ``window_id`` from the window. Unknown fields are
ignored. Parsing follows the JSON format's parser (Jackson): a leading byte-order mark, raw
control characters in strings and anything after the first complete value are tolerated; NaN,
comments, single quotes and numbers with leading zeros are not JSON. A record that repeats a key
is outside the rule (JSON leaves it undefined, and Flink reads at most as many keys as it has
columns).

This module holds every form of the rule: :func:`classify` for Python, :func:`sql_reason` for the
Flink job's queries (its integers are read by the job's JSON format, see below), and the ``spark_sql_*``
helpers for the Spark job (:func:`sql_reason` serves both).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from ctrbench.schema import END_OF_RUN, EVENT_TYPES, NS_PER_MS

__all__ = [
    "MARKER",
    "NOT_AN_OBJECT",
    "REASONS",
    "REJECTED",
    "Classified",
    "classify",
    "spark_sql_campaign_id",
    "spark_sql_event_time_ns",
    "sql_reason",
]

# Kinds of record. Events are 0..2 (the index into EVENT_TYPES); the rest are negative.
MARKER = -1
NOT_AN_OBJECT = -2
REJECTED = -3

# Reasons, in the order they are checked; the text is what the job writes to `events-rejected`.
REASONS: tuple[str, ...] = (
    "event_type is not view, click or purchase",
    "campaign_id missing or not an integer",
    "event_time_ns missing or not an integer",
    "event_time_ns further than MAX_EVENT_TIME_SKEW_MS from the broker time",
)
_EVENT_TYPE, _CAMPAIGN, _TIME, _SKEW = range(len(REASONS))

# An integer as text: in Python this pattern (fullmatch); in the Flink job the same test in Java (the
# job's format, see below); in Spark SQL the pattern again.
_INTEGER_RE = re.compile("-?[0-9]+")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_TYPE_INDEX = {name: i for i, name in enumerate(EVENT_TYPES)}


@dataclass(frozen=True)
class Classified:
    """One entry per input record, in input order.

    ``kind``: index into :data:`EVENT_TYPES` for an event, else :data:`MARKER`,
    :data:`NOT_AN_OBJECT` or :data:`REJECTED`. ``reason``: index into :data:`REASONS` for a
    rejected record, -1 otherwise. ``campaign_id`` and ``event_time_ns`` are meaningful for events.
    """

    kind: np.ndarray  # int8
    reason: np.ndarray  # int8
    campaign_id: np.ndarray  # int64
    event_time_ns: np.ndarray  # int64

    @property
    def events(self) -> np.ndarray:
        """Mask of the records that are events."""
        return self.kind >= 0


def _integer(value: object, bounds: tuple[int, int]) -> int | None:
    """``value`` as an integer within ``bounds``, or None when the rule says it is not one."""
    if type(value) is int:
        number = value
    elif type(value) is str and _INTEGER_RE.fullmatch(value):
        digits = value.lstrip("-").lstrip("0") or "0"
        if len(digits) > 20:  # never fits int64 (and Python refuses to convert very long ones)
            return None
        number = -int(digits) if value[0] == "-" else int(digits)
    else:
        return None
    return number if bounds[0] <= number <= bounds[1] else None


def _not_a_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _big_int(text: str) -> int | float:
    # Digits beyond int64 never fit, and Python refuses to convert very long ones: a float (not an
    # integer by the rule) stands in. JSON numbers have no leading zeros.
    return int(text) if len(text) <= 21 else float("inf")


_LENIENT = json.JSONDecoder(strict=False, parse_constant=_not_a_constant, parse_int=_big_int)


def _parse(raw: bytes | None) -> object:
    """The first JSON value of ``raw`` as Jackson reads it, or None when it is not JSON.

    orjson handles every well-formed record; only what it refuses takes the lenient path, which
    accepts what Jackson tolerates (a byte-order mark, raw control characters, trailing data).
    """
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff").lstrip(" \t\r\n")
        return _LENIENT.raw_decode(text)[0]
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def classify(values: Sequence[bytes | None], append_time_ms: Sequence[int] | np.ndarray,
             max_skew_ms: int) -> Classified:
    """Apply the rule to each record, given its broker append time (ms) and MAX_EVENT_TIME_SKEW_MS."""
    n = len(values)
    kinds = np.full(n, NOT_AN_OBJECT, dtype=np.int8)
    reasons = np.full(n, -1, dtype=np.int8)
    campaigns = np.zeros(n, dtype=np.int64)
    times = np.zeros(n, dtype=np.int64)
    types = _TYPE_INDEX
    for i, raw in enumerate(values):
        ev = _parse(raw)
        if type(ev) is not dict:
            continue
        kind = ev.get("event_type")
        kind = types.get(kind, -1) if type(kind) is str else -1
        if kind < 0:
            if ev.get("event_type") == END_OF_RUN:
                kinds[i] = MARKER
            else:
                kinds[i], reasons[i] = REJECTED, _EVENT_TYPE
            continue
        campaign = _integer(ev.get("campaign_id"), _INT32)
        if campaign is None:
            kinds[i], reasons[i] = REJECTED, _CAMPAIGN
            continue
        t = _integer(ev.get("event_time_ns"), _INT64)
        if t is None:
            kinds[i], reasons[i] = REJECTED, _TIME
            continue
        kinds[i], campaigns[i], times[i] = kind, campaign, t
    # The skew check on whole arrays: bounds in ns from the append time, as the SQL computes them.
    if n:
        skew_ns = max_skew_ms * NS_PER_MS
        append_ns = np.asarray(append_time_ms, dtype=np.int64) * NS_PER_MS
        too_far = (kinds >= 0) & ((times < append_ns - skew_ns) | (times > append_ns + skew_ns))
        kinds[too_far], reasons[too_far] = REJECTED, _SKEW
    return Classified(kinds, reasons, campaigns, times)


# ---- The same rule in Flink SQL. The source table declares campaign_id INT and event_time_ns BIGINT, and
# the job's format (`ctr-json`, services/ctrbench/flink_job/format) reads such columns by this rule: the
# field's text (a number's digits or a string's content) when it is an integer in range, else NULL, never a
# parse error (RuleColumns, RuleInteger). The reason below refers to them as `campaign` and `event_ns`.

# ---- In Spark SQL. from_json gives a STRING field a number's text (or a string's content) as Flink's
# format does. Spark has no IS_DIGIT, so the test is the pattern itself: a Java regular expression, with
# \z (the very end) because $ would also match before a final newline, which TRY_CAST then trims away.

def _spark_integer(column: str, sql_type: str) -> str:
    return f"CASE WHEN {column} RLIKE '^-?[0-9]+\\\\z' THEN TRY_CAST({column} AS {sql_type}) END"


def spark_sql_campaign_id() -> str:
    """Column ``campaign`` of the Spark job: campaign_id as INT, NULL unless it is an integer by the rule."""
    return _spark_integer("campaign_id", "INT")


def spark_sql_event_time_ns() -> str:
    """Column ``event_ns`` of the Spark job: event_time_ns as BIGINT, NULL unless it is an integer by the rule."""
    return _spark_integer("event_time_ns", "BIGINT")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_reason(append_ms: str, max_skew_ms: int) -> str:
    """SQL expression: the reason a row of ``events`` is rejected, NULL for an event or a marker.

    ``append_ms`` is an expression for the record's broker append time in ms (BIGINT).
    """
    types = ", ".join(_quote(t) for t in EVENT_TYPES)
    low = f"{append_ms} * 1000000 - {max_skew_ms * NS_PER_MS}"
    high = f"{append_ms} * 1000000 + {max_skew_ms * NS_PER_MS}"
    return (f"CASE WHEN event_type = {_quote(END_OF_RUN)} THEN CAST(NULL AS STRING)"
            f" WHEN event_type IS NULL OR event_type NOT IN ({types}) THEN {_quote(REASONS[_EVENT_TYPE])}"
            f" WHEN campaign IS NULL THEN {_quote(REASONS[_CAMPAIGN])}"
            f" WHEN event_ns IS NULL THEN {_quote(REASONS[_TIME])}"
            f" WHEN event_ns < {low} OR event_ns > {high} THEN {_quote(REASONS[_SKEW])}"
            " END")
