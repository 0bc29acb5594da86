"""Logging of ctrbench's own loggers, set up once per process: by the CLI, and by the processes it spawns."""

from __future__ import annotations

import logging
import sys

__all__ = ["setup_logging"]


def setup_logging(verbose: bool) -> None:
    """Log ctrbench's messages to stderr, INFO and up (DEBUG with ``verbose``).

    Our own logger only: PyFlink, py4j and librdkafka keep their defaults.
    """
    logger = logging.getLogger("ctrbench")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    logging.getLogger("ctrbench.librdkafka").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
