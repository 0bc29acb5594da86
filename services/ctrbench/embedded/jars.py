"""Resolve Java jars from Maven Central with ``mvn dependency:copy-dependencies``.

Each POM under ``poms/`` describes one set of jars. The result is cached outside the repository
(``$XDG_CACHE_HOME/ctrbench/jars/<pom>-<hash>``), keyed on the POM's content, so editing a
version re-resolves and an unchanged POM costs nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

from ctrbench.errors import ServiceUnavailable

__all__ = ["POM_DIR", "cache_root", "resolve"]

logger = logging.getLogger(__name__)

POM_DIR = Path(__file__).with_name("poms")
_DONE_MARKER = ".resolved"


def cache_root() -> Path:
    """Where ctrbench keeps downloaded artifacts (never inside the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ctrbench"


def resolve(pom_name: str) -> Path:
    """Return a directory holding the jars of ``poms/<pom_name>.xml``, downloading them once."""
    pom = POM_DIR / f"{pom_name}.xml"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    target = cache_root() / "jars" / f"{pom_name}-{digest}"
    if (target / _DONE_MARKER).exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceUnavailable("Maven (mvn) is not installed: run `make run-deps` or `apt-get install -y maven`")
    logger.info("resolving %s jars from Maven Central into %s (first run only)", pom_name, target)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        mvn, "-q", "-B", "-f", str(pom),
        "dependency:copy-dependencies", f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise ServiceUnavailable(f"could not resolve {pom_name} jars with Maven: {' | '.join(tail)}")
    (partial / _DONE_MARKER).touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
