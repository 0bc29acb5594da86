"""Helpers for servers we run as child processes: free ports, waiting, stopping by pid."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from collections.abc import Callable

__all__ = ["free_port", "stop_process", "wait_until"]

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2,
               alive: Callable[[], bool] | None = None) -> None:
    """Poll ``check`` until it is true; raise ``TimeoutError`` naming ``what`` after ``timeout`` s.

    ``alive`` lets the caller fail fast when the process it waits for has died.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if alive is not None and not alive():
            raise RuntimeError(f"{what}: the process exited while we were waiting for it")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[bytes], name: str, grace: float = 30.0) -> None:
    """SIGTERM the child we started, wait ``grace`` seconds, then SIGKILL it."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        logger.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", name, proc.pid, grace)
        proc.kill()
        proc.wait(timeout=10)
