"""The ctr-json format's fast path (FlatObjectDecoder) gives exactly the rows of Jackson's path: Flink's own JSON
deserializer, with the integer columns read as text and then by the event rule (RuleColumns).

A Java harness (tests/flink_job/java) runs both over the same records: the producers' events, hand-made records
at the edges of the fast path's grammar, and thousands of seeded random mutations of events (special bytes
written over, inserted, deleted; records cut short; keys repeated). Wherever the fast path answers, Jackson's
path must give the same row; where it does not answer, the record takes Jackson's path in the job, so nothing is
asserted there beyond the counts.
"""

from __future__ import annotations

import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from ctrbench import catalog
from ctrbench.embedded.jars import build
from ctrbench.flink_job.job import FORMAT_MODULE, local_flink_lib
from ctrbench.producer.events import build_events, encode_event

HARNESS = Path(__file__).with_name("java") / "ctrbench" / "flink" / "format" / "FlatDecoderCheck.java"
# The events table's columns, as the harness takes them (NAME:TYPE).
FIELDS = ["campaign_id:INT", "event_type:STRING", "event_time_ns:BIGINT"]
SPECIAL = [b'"', b"\\", b",", b":", b"{", b"}", b"[", b"]", b" ", b"\t", b"\n", b"\r", b"0", b"-", b"+", b".",
           b"e", b"E", b"\x00", b"\x01", b"\x1f", b"\x7f", b"\x80", b"\x9f", b"\xc3", b"\xa9", b"\xff",
           b"a", b"u", b"n", b"t", b"7"]

EDGES = [
    b'{"campaign_id":1,"event_type":"view","event_time_ns":5}',
    b'  \t\r\n{ "campaign_id" : 1 , "event_type" : "view" , "event_time_ns" : 5 }  ',
    b'{"campaign_id":-0,"event_type":"view","event_time_ns":-5}',
    b'{"campaign_id":0,"event_type":"","event_time_ns":"x"}',
    b'{"campaign_id":01,"event_type":"view","event_time_ns":5}',
    b'{"campaign_id":1.0,"event_type":"view","event_time_ns":5}',
    b'{"campaign_id":1e3,"event_type":"view","event_time_ns":5}',
    b'{"campaign_id":-,"event_type":"view","event_time_ns":5}',
    b'{"campaign_id":12345678901234567890123,"event_type":"view","event_time_ns":5}',
    b'{"campaign_id":1234567890123456789,"event_type":"view","event_time_ns":5}',
    b'{"campaign_id":"7","event_type":"view","event_time_ns":"-0042"}',  # integers as strings, leading zeros
    b'{"campaign_id":2147483647,"event_type":"view","event_time_ns":-9223372036854775808}',  # the ranges' ends
    b'{"campaign_id":2147483648,"event_type":"view","event_time_ns":9223372036854775808}',  # just outside: NULL
    b'{"campaign_id":"-2147483649","event_type":"view","event_time_ns":"99999999999999999999"}',
    b'{"campaign_id":" 7","event_type":"view","event_time_ns":"+5"}',  # not integers by the rule: NULL
    b'{"campaign_id":"","event_type":"view","event_time_ns":"-"}',
    b'{"campaign_id":"7 ","event_type":"view","event_time_ns":"5x"}',
    b'{"campaign_id":1,"event_type":"vi\\u0065w","event_time_ns":5}',
    b'{"campaign\\u005fid":1,"event_type":"view","event_time_ns":5}',
    b'{"campaign_id":1,"event_type":"vi\xc3\xa9w","event_time_ns":5}',
    b'{"campaign_id":1,"event_type":"a\x01b","event_time_ns":5}',
    b'{"campaign_id":1,"event_type":"a\x7fb","event_time_ns":5}',
    b'{"campaign_id":1,"event_type":"a\x85b","event_time_ns":5}',  # a lone continuation byte, 0x80-0x9f
    b'{"campaign_id":1,"event_type":"view","event_time_ns":5}trailing',
    b'{"campaign_id":1,"event_type":"view","event_time_ns":5,}',
    b'{"campaign_id":1,"event_type":"view","event_time_ns":5',
    b'{"campaign_id":1,"event_type":"view","event_time_ns":5 "x":1}',
    b'{"campaign_id":1,"event_type":"view","event_time_ns":5,"x":tru}',
    b'{"campaign_id":1,"event_type":"view","event_time_ns":5,"x":[1,}',
    b'{"campaign_id":1,"event_type":"view","event_time_ns":5,"x":{"campaign_id":2}}',
    b'{"campaign_id":1,"event_type":"view","event_time_ns":5,"campaign_id":2}',
    b'{"campaign_id":null,"event_type":"view","event_time_ns":5}',
    b'{"campaign_id":true,"event_type":"view","event_time_ns":5}',
    b'{"event_type":"view","event_time_ns":5}',
    b"{}", b"", b" ", b"{", b"[]", b"null", b'"x"', b"5",
    b'[{"campaign_id":1,"event_type":"view","event_time_ns":5}]',
    b'\xef\xbb\xbf{"campaign_id":1,"event_type":"view","event_time_ns":5}',
    b'{"campaign_id":1,"event_type":"' + b"x" * 70_000 + b'","event_time_ns":5}',
    b'{"' + b"k" * 60_000 + b'":1,"campaign_id":1,"event_type":"view","event_time_ns":5}',  # a name Jackson refuses
]


def _events(n: int) -> list[bytes]:
    cat = catalog.generate(7, 10, 20)
    base = time.time_ns() // 10**10 * 10**10
    times = np.sort(base + np.random.default_rng(3).integers(0, 30 * 10**9, n))
    events = build_events(np.random.default_rng(4), cat, times, base, 10).payloads
    return [*events, encode_event("u", "p", "a", 3, "banner", "click", base, 0, "10.0.0.1")]


def _mutations(events: list[bytes], n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        raw = bytearray(events[rng.integers(len(events))])
        for _ in range(rng.integers(1, 4)):
            at = int(rng.integers(len(raw)))
            special = SPECIAL[rng.integers(len(SPECIAL))]
            match rng.integers(5):
                case 0:
                    raw[at:at + 1] = special
                case 1:
                    raw[at:at] = special
                case 2:
                    del raw[at]
                case 3:
                    del raw[at:]
                case _:  # a declared member repeated, before the closing brace
                    raw[-1:] = b',"campaign_id":9}'
            if not raw:
                break
        out.append(bytes(raw))
    return out


def _harness(tmp_path: Path, records: list[bytes], fields: list[str]) -> subprocess.CompletedProcess[str]:
    jars = [*sorted(local_flink_lib().glob("*.jar")), build(FORMAT_MODULE)]
    classpath = ":".join(map(str, jars))
    classes = tmp_path / "classes"
    if not classes.exists():
        subprocess.run(["javac", "-d", str(classes), "-cp", classpath, str(HARNESS)], check=True, timeout=300)
    data = tmp_path / "records.bin"
    data.write_bytes(b"".join(struct.pack(">i", len(r)) + r for r in records))
    return subprocess.run(["java", "-cp", f"{classpath}:{classes}", "ctrbench.flink.format.FlatDecoderCheck",
                           str(data), *fields], capture_output=True, text=True, timeout=300, check=False)


def _check(tmp_path: Path, records: list[bytes], fields: list[str]) -> tuple[int, int, str]:
    """Run the harness; (records the fast path took, records it agreed on, output)."""
    proc = _harness(tmp_path, records, fields)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-3000:]
    parts = last.split()
    assert parts[:1] == ["records"] and int(parts[1]) == len(records), proc.stdout[-3000:] + proc.stderr[-3000:]
    return int(parts[3]), int(parts[5]), proc.stdout


@pytest.mark.parametrize("fields", [FIELDS, ["ad_id:STRING", *FIELDS], [f.split(":")[0] + ":STRING" for f in FIELDS]],
                         ids=["kafka-campaigns", "postgres-lookup", "all-text"])
def test_the_fast_path_gives_jacksons_rows(tmp_path, fields):
    events = _events(3000)
    mutated = _mutations(events, 20_000, seed=len(fields))
    fast, agree, out = _check(tmp_path, events + EDGES + mutated, fields)
    assert "DISAGREE" not in out, out[-3000:]
    assert agree == fast
    # Every producer event took the fast path (else the job is slow for nothing), and so did the edge
    # records within its grammar: the first four, the seven with integers at the rule's edges, the 19-digit
    # number, the DEL character, the trailing data and the long string; and a good share of the mutations.
    fast_events, _, _ = _check(tmp_path, events, fields)
    assert fast_events == len(events)
    fast_edges, _, _ = _check(tmp_path, EDGES, FIELDS)
    assert fast_edges == 15, "the edge records the fast path takes changed"
    fast_mutated = fast - len(events) - (fast_edges if fields == FIELDS else 0)
    assert len(mutated) // 10 < fast_mutated < len(mutated)


def test_an_integer_column_declared_not_null_is_refused_by_name(tmp_path):
    """The rule gives NULL for a value that is not an integer, so ctr-json refuses a NOT NULL integer column."""
    proc = _harness(tmp_path, EDGES[:1], ["event_type:STRING", "campaign_id:INT!"])
    assert proc.returncode != 0
    assert "ctr-json reads column 'campaign_id' by the event rule" in proc.stderr, proc.stderr[-3000:]
    assert "declare it INT without NOT NULL" in proc.stderr, proc.stderr[-3000:]
