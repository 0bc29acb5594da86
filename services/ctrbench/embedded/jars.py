"""Java jars: resolved from Maven Central with ``mvn dependency:copy-dependencies``, or built from
this project's own Maven modules with ``mvn package``.

Each POM under ``poms/`` describes one set of jars; a module is a directory with a ``pom.xml`` and
``src/``. Results are cached outside the repository (``$XDG_CACHE_HOME/ctrbench/jars/<name>-<hash>``),
keyed on the content (the POM, or every file of the module), so an edit rebuilds and an unchanged
input costs nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from ctrbench.errors import ServiceUnavailable

__all__ = ["POM_DIR", "build", "cache_root", "resolve"]

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

    def fill(partial: Path) -> None:
        _mvn(f"resolve {pom_name} jars", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={partial}", "-DincludeScope=runtime")

    return _cached(f"{pom_name}-{digest}", f"resolving {pom_name} jars from Maven Central", fill)


def build(module: Path) -> Path:
    """Return the jar built from the Maven module in ``module`` (``mvn package``), building it once.

    The module is built in a copy, so no ``target/`` is left in the source tree.
    """
    files = sorted(p for p in module.rglob("*") if p.is_file() and "target" not in p.relative_to(module).parts)
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(module)).encode() + b"\0" + path.read_bytes() + b"\0")

    def fill(partial: Path) -> None:
        work = partial / "src"
        shutil.copytree(module, work, ignore=shutil.ignore_patterns("target"))
        _mvn(f"build {module.name}", "-f", str(work / "pom.xml"), "package", "-DskipTests")
        for jar in (work / "target").glob("*.jar"):
            jar.rename(partial / jar.name)
        shutil.rmtree(work)

    target = _cached(f"{module.name}-{digest.hexdigest()[:12]}", f"building {module.name} with Maven", fill)
    jars = sorted(target.glob("*.jar"))
    if len(jars) != 1:
        raise ServiceUnavailable(f"building {module.name} left {len(jars)} jars in {target}, expected one")
    return jars[0]


def _cached(name: str, what: str, fill: Callable[[Path], None]) -> Path:
    """The cache directory ``name``, filled by ``fill`` once; a failed fill leaves nothing behind."""
    target = cache_root() / "jars" / name
    if (target / _DONE_MARKER).exists():
        return target
    logger.info("%s into %s (first run only)", what, target)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        fill(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    (partial / _DONE_MARKER).touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def _mvn(what: str, *args: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceUnavailable("Maven (mvn) is not installed: run `make run-deps` or `apt-get install -y maven`")
    proc = subprocess.run([mvn, "-q", "-B", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise ServiceUnavailable(f"could not {what} with Maven: {' | '.join(tail)}")
