"""Build a producer's events in bulk: every byte of every record is written by numpy.

Records are JSON with the original project's schema and field order. To make them fixed-width (so one
``uint8`` matrix holds them all and no Python string is formatted per event), variable-length
parts are padded with JSON whitespace *between* tokens, never inside a value:

* per-ad segment (ad_id, campaign_id, ad_type) from a table, padded after its trailing comma;
* event_type from a three-row table, padded the same way;
* window_id right-aligned after its colon (leading spaces);
* ip_address from a per-producer pool of 65,536 addresses, padded after the closing brace.

Any JSON parser reads them as ordinary events (the tests parse them with ``json``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctrbench.catalog import AdCatalog
from ctrbench.schema import EVENT_TYPE_WEIGHTS, EVENT_TYPES, NS_PER_S

__all__ = ["EventBatch", "build_events", "encode_event"]

_TEMPLATE = (
    '{"user_id":"%s","page_id":"%s","ad_id":"%s","campaign_id":%d,"ad_type":"%s",'
    '"event_type":"%s","event_time_ns":%d,"window_id":%d,"ip_address":"%s"}'
)
_IP_POOL = 65_536
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SPACE, _ZERO = ord(" "), ord("0")
_TIME_DIGITS = 19  # event_time_ns has 19 digits from 2001 to 2286
_CHUNK = 16_384


@dataclass(frozen=True)
class EventBatch:
    """Encoded events in send order with what the sender and the report need about them."""

    payloads: list[bytes]
    keys: list[bytes]
    event_time_ns: np.ndarray
    event_type_idx: np.ndarray

    def __len__(self) -> int:
        return len(self.payloads)


def encode_event(user_id: str, page_id: str, ad_id: str, campaign_id: int, ad_type: str, event_type: str,
                 event_time_ns: int, window_id: int, ip_address: str) -> bytes:
    """One event as compact JSON bytes (for markers and tests; the bulk path is ``build_events``)."""
    return (_TEMPLATE % (user_id, page_id, ad_id, campaign_id, ad_type, event_type,
                         event_time_ns, window_id, ip_address)).encode()


def _padded_rows(texts: list[str]) -> np.ndarray:
    """Byte rows of equal width: each text followed by spaces."""
    width = max(map(len, texts))
    return np.frombuffer("".join(t.ljust(width) for t in texts).encode(), dtype=np.uint8).reshape(len(texts), width)


def _uuid4_chars(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 36) ASCII of random version-4 UUIDs."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2], hexed[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dst, src, length in ((0, 0, 8), (9, 8, 4), (14, 12, 4), (19, 16, 4), (24, 20, 12)):
        out[:, dst:dst + length] = hexed[:, src:src + length]
    return out


def _digits(values: np.ndarray, width: int, pad: int) -> np.ndarray:
    """(n, width) ASCII of non-negative ``values``, right-aligned; leading zeros become ``pad``."""
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = values.astype(np.int64, copy=True)
    for col in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, col] = digit + _ZERO
    if pad != _ZERO:
        leading = np.cumsum(out != _ZERO, axis=1) == 0
        leading[:, -1] = False  # zero itself is "0"
        out[leading] = pad
    return out


def build_events(rng: np.random.Generator, catalog: AdCatalog, event_time_ns: np.ndarray,
                 base_time_ns: int, window_seconds: int) -> EventBatch:
    """Events at the given event times (sorted), with ads, users and event types drawn from ``rng``."""
    n = len(event_time_ns)
    ad_idx = rng.integers(0, len(catalog), size=n)
    type_idx = rng.choice(len(EVENT_TYPES), size=n, p=np.asarray(EVENT_TYPE_WEIGHTS))
    users, pages = _uuid4_chars(rng, n), _uuid4_chars(rng, n)
    octets = rng.integers(1, 255, size=(_IP_POOL, 4)).tolist()
    ips = _padded_rows([f'"ip_address":"{a}.{b}.{c}.{d}"}}' for a, b, c, d in octets])
    ip_idx = rng.integers(0, _IP_POOL, size=n)
    window_ids = (event_time_ns - base_time_ns) // (window_seconds * NS_PER_S)
    if n and (window_ids.min() < 0 or event_time_ns.min() < 10**18 or event_time_ns.max() >= 10**19):
        raise ValueError("event times must lie after the base time and between 2001 and 2286")
    ads = _padded_rows([f'"ad_id":"{a}","campaign_id":{c},"ad_type":"{t}",'
                        for a, c, t in zip(catalog.ad_ids, catalog.campaign_ids.tolist(), catalog.ad_types,
                                           strict=True)])
    kinds = _padded_rows([f'"event_type":"{t}",' for t in EVENT_TYPES])
    window_width = len(str(int(window_ids.max()))) if n else 1

    payloads: list[bytes] = []
    # Chunks keep each chunk's matrix in cache from the first column written to the last slice taken.
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        parts: list[bytes | np.ndarray] = [
            b'{"user_id":"', users[lo:hi], b'","page_id":"', pages[lo:hi], b'",', ads[ad_idx[lo:hi]],
            kinds[type_idx[lo:hi]], b'"event_time_ns":', _digits(event_time_ns[lo:hi], _TIME_DIGITS, _ZERO),
            b',"window_id":', _digits(window_ids[lo:hi], window_width, _SPACE), b",", ips[ip_idx[lo:hi]],
        ]
        payloads.extend(_rows_to_bytes(parts, hi - lo))
    key_bytes = [ad.encode() for ad in catalog.ad_ids]
    keys = [key_bytes[a] for a in ad_idx.tolist()]
    return EventBatch(payloads, keys, event_time_ns, type_idx)


def _rows_to_bytes(parts: list[bytes | np.ndarray], n: int) -> list[bytes]:
    """Lay ``parts`` (constant byte strings or (n, w) arrays) side by side; one bytes object per row."""
    widths = [len(p) if isinstance(p, bytes) else p.shape[1] for p in parts]
    width = sum(widths)
    rows = np.empty((n, width), dtype=np.uint8)
    col = 0
    for part, w in zip(parts, widths, strict=True):
        rows[:, col:col + w] = np.frombuffer(part, dtype=np.uint8) if isinstance(part, bytes) else part
        col += w
    # One C call makes all the bytes objects. The S dtype drops trailing NUL bytes only, and a
    # record ends with "}" or spaces.
    return rows.view(f"S{width}").ravel().tolist()
