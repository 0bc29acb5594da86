"""The event and result records exchanged through Kafka (see DESIGN.md).

Events (topic ``events``, key = ad_id, JSON): ``user_id, page_id, ad_id, campaign_id, ad_type,
event_type, event_time_ns, window_id, ip_address``. Results (topic ``results``, JSON):
``window_id, window_start, window_end, campaign_id, views, clicks, purchases, ctr,
max_source_log_append_time_ms``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "AD_TYPES",
    "END_OF_RUN",
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "EVENT_TYPE_WEIGHTS",
    "NS_PER_MS",
    "NS_PER_S",
    "RESULT_FIELDS",
    "WindowResult",
    "epoch_ms",
    "start_times",
    "window_id_of",
]

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000

AD_TYPES: tuple[str, ...] = ("banner", "video", "popup", "native", "sponsored", "interstitial", "rewarded")
EVENT_TYPES: tuple[str, ...] = ("view", "click", "purchase")
# Share of each event type in the generated stream: a plausible funnel, CTR around 0.13.
EVENT_TYPE_WEIGHTS: tuple[float, ...] = (0.86, 0.11, 0.03)

# event_type of the end-of-run marker records. They carry a valid event time past the last
# window so the watermark closes it, and the job filters them out before aggregating.
END_OF_RUN = "end_of_run"

EVENT_FIELDS: tuple[str, ...] = (
    "user_id",
    "page_id",
    "ad_id",
    "campaign_id",
    "ad_type",
    "event_type",
    "event_time_ns",
    "window_id",
    "ip_address",
)
RESULT_FIELDS: tuple[str, ...] = (
    "window_id",
    "window_start",
    "window_end",
    "campaign_id",
    "views",
    "clicks",
    "purchases",
    "ctr",
    "max_source_log_append_time_ms",
)


def start_times(window_seconds: int, delay_s: float) -> tuple[int, int]:
    """(start, base) in ns: a schedule start ``delay_s`` from now, and the window boundary before it."""
    start = time.time_ns() + int(delay_s * NS_PER_S)
    return start, start - start % (window_seconds * NS_PER_S)


def epoch_ms(iso: str) -> int:
    """Epoch milliseconds of an ISO-8601 UTC timestamp as the job writes it (``...T08:00:10.000Z``)."""
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def window_id_of(event_time_ns: int, base_time_ns: int, window_seconds: int) -> int:
    """Index of the tumbling window holding ``event_time_ns``, counted from the run's base time."""
    return (event_time_ns - base_time_ns) // (window_seconds * NS_PER_S)


@dataclass(frozen=True, slots=True)
class WindowResult:
    """One (window, campaign) row of the job's output plus the broker time it was appended."""

    window_id: int
    window_start: str
    window_end: str
    campaign_id: int
    views: int
    clicks: int
    purchases: int
    ctr: float | None
    max_source_log_append_time_ms: int
    result_log_append_time_ms: int

    @property
    def end_to_end_latency_ms(self) -> int:
        """Result LogAppendTime minus the newest source LogAppendTime of the window (broker clock)."""
        return self.result_log_append_time_ms - self.max_source_log_append_time_ms

    @property
    def window_close_latency_ms(self) -> int:
        """Result LogAppendTime minus the window's end (broker clock; negative if the result came early)."""
        return self.result_log_append_time_ms - epoch_ms(self.window_end)
