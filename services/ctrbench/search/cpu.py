"""CPU seconds per role of the processes of a search step, over its measured period (Linux /proc).

A thread samples, every half second, the cumulative CPU time (user + system) of this process and
of each of its descendants, classified by command line: the producers, the Kafka broker's JVM, the
Flink mini-cluster's JVM (the job), and this process itself (``report``: the live monitor and the
run's orchestration while the load runs; the end-of-run report comes after the measured period).
A process that exits keeps its last sample, so a role's total never goes back. Each sample also
records every live process's resident memory (for the soak run).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["ROLES", "CpuSampler", "role_of"]

ROLES = ("producers", "broker", "job", "report")
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_INTERVAL_S = 0.5


def role_of(cmdline: str) -> str | None:
    """The part of the pipeline a process plays, from its command line (None: not counted)."""
    program = cmdline.split(" ", 1)[0]
    if program.endswith("java"):
        return "broker" if " kafka.Kafka " in f"{cmdline} " else "job"
    if " ctrbench produce " in f" {cmdline} " or "-m ctrbench produce" in cmdline:
        return "producers"
    return None


def _stat(pid: int) -> tuple[int, float, int]:
    """(parent pid, CPU seconds, resident bytes) of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # ppid, utime + stime, rss (fields 4, 14 + 15 and 24 of proc(5), counted from the state field)
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, int(fields[21]) * _PAGE


class CpuSampler:
    """Samples per-role CPU time in a thread; :meth:`between` gives a period's CPU seconds per role."""

    def __init__(self, interval_s: float = _INTERVAL_S) -> None:
        self._root = os.getpid()
        self._interval_s = interval_s
        self._last: dict[int, tuple[str, float]] = {}  # pid -> (role, last cumulative CPU seconds)
        self.samples: list[tuple[float, dict[str, float]]] = []
        # Resident memory of each live process of a role at each sample: (time, {(role, pid): bytes}).
        self.memory: list[tuple[float, dict[tuple[str, int], int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def sample(self) -> None:
        """Read every descendant's CPU time now and append the per-role totals."""
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        rss: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            pid = int(stat.parent.name)
            try:
                parents[pid], cpu[pid], rss[pid] = _stat(pid)
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile
        for pid in self._descendants(parents):
            role = self._last.get(pid, (None, 0.0))[0]
            if role is None:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                role = role_of(cmdline)
            if role is not None:
                self._last[pid] = (role, cpu[pid])
        if self._root in cpu:
            self._last[self._root] = ("report", cpu[self._root])
        totals = dict.fromkeys(ROLES, 0.0)
        for role, seconds in self._last.values():
            totals[role] += seconds
        now = time.time()
        self.samples.append((now, totals))
        self.memory.append((now, {(role, pid): rss[pid] for pid, (role, _s) in self._last.items() if pid in rss}))

    def _descendants(self, parents: dict[int, int]) -> list[int]:
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        out, todo = [], [self._root]
        while todo:
            for child in children.get(todo.pop(), []):
                out.append(child)
                todo.append(child)
        return out

    def between(self, begin: float, end: float) -> dict[str, float]:
        """CPU seconds per role from the last sample at or before ``begin`` to the last at or before ``end``."""
        if not self.samples:
            return dict.fromkeys(ROLES, 0.0)
        first = next((s for t, s in reversed(self.samples) if t <= begin), self.samples[0][1])
        last = next((s for t, s in reversed(self.samples) if t <= end), self.samples[-1][1])
        return {role: round(last[role] - first[role], 1) for role in ROLES}
