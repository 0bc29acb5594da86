"""Checks a command makes before it changes anything.

Settings validate themselves one by one (``settings.py``). What only the machine or a combination of
settings can tell is checked here, before any topic is touched, any process started or any file
written: a port another process holds, a report directory that cannot take files, a password that
was never set, a run that does not end on a window boundary. Each check raises :class:`ConfigError`
naming the setting, its value and what to do.
"""

from __future__ import annotations

import errno
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ctrbench.errors import ConfigError
from ctrbench.settings import JobSettings, LoadSettings, PostgresSettings

if TYPE_CHECKING:
    from ctrbench.pipeline import RunSettings

__all__ = ["check_password", "check_port_free", "check_run", "check_whole_windows", "check_writable_dir"]


def check_port_free(setting: str, addr: str, port: int, value: int | None = None) -> None:
    """``addr:port`` can be listened on now (0 means "not served" and always passes).

    ``value`` is the setting's own value when the port is derived from it (producer i: METRICS_PORT + i).
    """
    if not port:
        return
    given = f"{setting}={value if value is not None else port}" + (f" (port {port})" if value else "")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The same option the HTTP servers set, so a port in TIME_WAIT is not mistaken for a busy one.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((addr, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"{given}: {addr}:{port} is already in use by another process; "
                                  "choose a free port, or 0 to not serve it") from None
            if exc.errno == errno.EACCES:
                raise ConfigError(f"{given}: not allowed to listen on {addr}:{port} "
                                  "(ports below 1024 need privileges); choose a port above 1024") from None
            raise ConfigError(f"{given}: cannot listen on {addr}:{port} ({exc.strerror}); "
                              "check the address and port") from None


def check_writable_dir(setting: str, path: str | Path) -> None:
    """``path`` is a directory files can be written to, or can be created as one.

    Nothing is left behind: the probe file is removed and a missing directory is not created here.
    """
    target = Path(path).absolute()
    existing = target
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == target else f"lies under {existing}, which is a file"
        raise ConfigError(f"{setting}={path}: not a directory ({what}); point it at a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".ctrbench-probe-"):
            pass
    except OSError as exc:
        where = "" if existing == target else f" (its nearest existing parent {existing})"
        raise ConfigError(f"{setting}={path}: files cannot be written there{where}: {exc.strerror}; "
                          "point it at a writable directory") from None


def check_password(pg: PostgresSettings) -> None:
    """An external PostgreSQL needs a password; the chart and the embedded server always set one."""
    if not pg.postgres_password.get_secret_value():
        raise ConfigError(f"POSTGRES_PASSWORD is empty: PostgreSQL at {pg.postgres_host}:{pg.postgres_port} "
                          f"needs the password of user {pg.postgres_user!r}; set POSTGRES_PASSWORD "
                          "(in a pod: from the release's Secret)")


def check_whole_windows(load: LoadSettings, job: JobSettings, setting: str = "DURATION_SECONDS") -> None:
    """The run ends on a window boundary, so its last window holds a full window of load like the others."""
    duration = load.duration_seconds
    if duration % job.window_seconds:
        lower = max(job.window_seconds, int(duration // job.window_seconds) * job.window_seconds)
        raise ConfigError(f"{setting}={duration:g} is not a whole number of windows "
                          f"(WINDOW_SECONDS={job.window_seconds}): the last window would be cut short; "
                          f"use {lower:g} or {lower + job.window_seconds:g}")


def check_run(s: RunSettings, impl: str, skip_consumers: bool, *, embedded: bool) -> None:
    """Everything ``ctrbench run`` can know is wrong before it starts a server or clears a topic."""
    check_whole_windows(s.load, s.job)
    if not embedded:
        check_password(s.postgres)
    reports = impl != "none" and not skip_consumers
    if reports:
        check_writable_dir("REPORT_DIR", s.latency.report_dir)
        check_port_free("MONITOR_PORT", s.monitor.monitor_addr, s.monitor.monitor_port)
        check_port_free("LATENCY_METRICS_PORT", s.latency.latency_metrics_addr, s.latency.latency_metrics_port)
    if s.load.metrics_port:
        # Producers share this host in a local run: producer i serves on METRICS_PORT + i.
        for i in range(s.load.num_producers):
            check_port_free("METRICS_PORT", s.load.metrics_addr, s.load.metrics_port + i,
                            s.load.metrics_port if i else None)
    if s.job.local_rest_port and impl == "flink":
        check_port_free("LOCAL_REST_PORT", "127.0.0.1", s.job.local_rest_port)
