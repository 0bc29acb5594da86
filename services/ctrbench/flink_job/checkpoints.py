"""Retained checkpoints: where the job keeps them and which one a restart starts from.

With ``CHECKPOINT_DIR`` set, Flink writes ``<dir>/<job id>/chk-<n>/`` and keeps the newest when the job
is cancelled or its process dies. A checkpoint is complete once its ``_metadata`` file exists; a
directory without one was being written when the job stopped and cannot be restored.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ctrbench.errors import ConfigError
from ctrbench.settings import JobSettings

__all__ = ["checkpoint_uri", "latest_checkpoint", "restore_path"]

logger = logging.getLogger(__name__)


def checkpoint_uri(path: str) -> str:
    """Flink wants a URI; a plain local path becomes ``file://`` with an absolute path."""
    if "://" in path:
        return path
    return Path(path).absolute().as_uri()


def latest_checkpoint(directory: str) -> Path | None:
    """The newest completed checkpoint under ``directory`` (any job id), or None."""
    if "://" in directory and not directory.startswith("file://"):
        raise ConfigError(f"RESTORE_FROM=latest: CHECKPOINT_DIR={directory} is not on a local file system; "
                          "name the checkpoint to restore in RESTORE_FROM instead")
    root = Path(directory.removeprefix("file://"))
    done = [m.parent for m in root.glob("*/chk-*/_metadata")]
    if not done:
        return None
    return max(done, key=lambda d: (d.joinpath("_metadata").stat().st_mtime_ns, int(d.name.split("-")[1])))


def restore_path(job: JobSettings) -> str | None:
    """The checkpoint or savepoint this start restores, as Flink's ``execution.state-recovery.path``."""
    if not job.restore_from:
        return None
    if job.restore_from == "latest":
        found = latest_checkpoint(job.checkpoint_dir)
        if found is None:
            logger.info("RESTORE_FROM=latest: no completed checkpoint under %s yet: a fresh start", job.checkpoint_dir)
            return None
        logger.info("restoring from checkpoint %s", found)
        return found.absolute().as_uri()
    if "://" not in job.restore_from and not Path(job.restore_from, "_metadata").is_file():
        raise ConfigError(f"RESTORE_FROM={job.restore_from}: no _metadata there, so not a completed checkpoint or "
                          "savepoint; name a chk-<n> directory, or use 'latest' with CHECKPOINT_DIR")
    logger.info("restoring from %s", job.restore_from)
    return checkpoint_uri(job.restore_from)
