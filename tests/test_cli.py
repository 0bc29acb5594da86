"""The CLI as a user meets it: a subprocess, one-line errors, exit codes, help."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ctrbench", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_unreachable_broker_fails_fast_with_one_line():
    started = time.monotonic()
    proc = _cli("clear-topics", "--bootstrap-servers", "127.0.0.1:1",
                env={"KAFKA_TIMEOUT_SECONDS": "5", "PATH": "/usr/bin:/bin"})
    assert time.monotonic() - started < 30
    assert proc.returncode == 3
    assert "unreachable at KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1" in _one_line_error(proc)


def test_help_lists_every_command_and_seed_option():
    out = _cli("--help").stdout
    for command in ("run", "produce", "process", "latency", "clear-topics", "setup", "stack"):
        assert command in out
    run_help = _cli("run", "--help").stdout
    for option in ("--impl", "--skip-consumers", "--num-producers", "--events-per-producer", "--duration",
                   "--distribution", "--seed"):
        assert option in run_help


def test_producer_id_comes_from_the_statefulset_ordinal(monkeypatch):
    from ctrbench import cli
    from ctrbench.errors import ConfigError

    monkeypatch.setattr(cli.socket, "gethostname", lambda: "ctr-producer-4")
    assert cli._producer_id_from_hostname() == 4
    monkeypatch.setattr(cli.socket, "gethostname", lambda: "laptop")
    with pytest.raises(ConfigError, match="--producer-id"):
        cli._producer_id_from_hostname()
