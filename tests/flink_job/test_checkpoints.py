"""Which checkpoint a restart restores: the newest completed one, never one cut short by the kill."""

from __future__ import annotations

import os

import pytest

from ctrbench.errors import ConfigError
from ctrbench.flink_job.checkpoints import checkpoint_uri, latest_checkpoint, restore_path
from ctrbench.settings import JobSettings, load


def _checkpoint(root, job_id: str, n: int, mtime_s: int | None):  # type: ignore[no-untyped-def]
    d = root / job_id / f"chk-{n}"
    d.mkdir(parents=True)
    if mtime_s is not None:
        meta = d / "_metadata"
        meta.write_bytes(b"x")
        os.utime(meta, (mtime_s, mtime_s))
    return d


def test_latest_is_the_newest_completed_checkpoint_of_any_job(tmp_path):
    assert latest_checkpoint(str(tmp_path)) is None
    _checkpoint(tmp_path, "job-a", 7, 1_000)
    newest = _checkpoint(tmp_path, "job-b", 2, 2_000)  # the restarted job numbers from 1 again
    _checkpoint(tmp_path, "job-b", 3, None)  # being written when the process died: no _metadata
    assert latest_checkpoint(str(tmp_path)) == newest
    assert latest_checkpoint(checkpoint_uri(str(tmp_path))) == newest


def test_restore_path_follows_the_settings(tmp_path):
    chk = _checkpoint(tmp_path, "job-a", 4, 1_000)
    fresh = load(JobSettings, checkpoint_dir=str(tmp_path / "empty"), restore_from="latest")
    assert restore_path(fresh) is None
    assert restore_path(load(JobSettings, checkpoint_dir=str(tmp_path), restore_from="latest")) == chk.as_uri()
    assert restore_path(load(JobSettings, restore_from=str(chk))) == chk.as_uri()
    assert restore_path(load(JobSettings)) is None
    with pytest.raises(ConfigError, match=r"RESTORE_FROM=.*chk-9: no _metadata there"):
        restore_path(load(JobSettings, restore_from=str(tmp_path / "job-a" / "chk-9")))
    with pytest.raises(ConfigError, match="RESTORE_FROM=latest needs CHECKPOINT_DIR"):
        load(JobSettings, restore_from="latest")
