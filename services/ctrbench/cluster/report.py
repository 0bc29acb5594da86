"""Fetch a run's report from the ConfigMap the report Job publishes it into."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ctrbench.cluster.release import Release
from ctrbench.errors import ServiceUnavailable

__all__ = ["fetch_report"]

logger = logging.getLogger(__name__)


def fetch_report(release: Release, out_dir: Path) -> tuple[list[Path], dict[str, Any]]:
    """Write the report's files (CSV and JSON summary) into ``out_dir``; return them and the summary."""
    name = release.run_config().get("report_configmap")
    if not name:
        raise ServiceUnavailable(f"release {release.name} publishes no report ConfigMap (report_configmap is empty)")
    try:
        cm = release.core.read_namespaced_config_map(name, release.namespace)
    except Exception as exc:  # noqa: BLE001 - 404 is the common case; any other status is reported as such
        if getattr(exc, "status", None) == 404:
            raise ServiceUnavailable(f"no report yet: ConfigMap {release.namespace}/{name} does not exist; the "
                                     "report Job publishes it when the run ends (ctrbench cluster follow)") from None
        raise ServiceUnavailable(f"reading ConfigMap {release.namespace}/{name}: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    written, summary = [], {}
    for file_name, text in sorted((cm.data or {}).items()):
        path = out_dir / Path(file_name).name  # never outside out_dir
        path.write_text(text)
        written.append(path)
        if path.suffix == ".json":
            summary = json.loads(text)
    if not summary:
        raise ServiceUnavailable(f"ConfigMap {release.namespace}/{name} holds no JSON summary")
    logger.info("report of release %s: %s", release.name, ", ".join(p.name for p in written))
    return written, summary
