"""The Python a lock is for, from the lock and its project rather than this host.

When the Dockerfile names no Python image, SR103 judges markers for the Python the lock
itself declares: uv.lock's / pylock's ``requires-python``, Poetry's ``python-versions``,
or pyproject.toml's ``[project] requires-python`` (the lowest Python they allow: uv and
Poetry resolve for every version from there). And when the image's Python is known, a
``requires-python`` that excludes it (``<=3.11`` allows 3.11.0 only, while
``python:3.11-slim`` runs the newest 3.11.x) is a finding: installers refuse the project
there. Pure: reads files, no pytest, no docker.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Sequence
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from ..checks import CheckResult, Finding, Status
from .inputs import requires_python
from .model import ToolLock
from .target import Target, image_python_version

_MINORS = range(0, 41)  # 3.0 ... 3.40
_PATCHES = range(0, 100)


@dataclasses.dataclass(frozen=True)
class Declared:
    """A ``requires-python`` as written, parsed, and where it is written."""

    text: str
    alternatives: tuple[SpecifierSet, ...]  # any of them allows a version
    where: str  # "uv.lock requires-python", "pyproject.toml [project] requires-python"
    file: str  # the file to point at, relative to the project


def _allows(declared: Declared, version: str) -> bool:
    v = Version(version)
    return any(spec.contains(v, prereleases=True) for spec in declared.alternatives)


def lowest(declared: Declared) -> str | None:
    """The lowest Python 3 minor version ("3.12") of which some release is allowed."""
    for minor in _MINORS:
        if any(_allows(declared, f"3.{minor}.{patch}") for patch in _PATCHES):
            return f"3.{minor}"
    return None


def of_pyproject(path: Path, shown: str) -> Declared | None:
    """pyproject.toml's ``[project] requires-python``; None when absent or unreadable."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    project = data.get("project")
    text = project.get("requires-python") if isinstance(project, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return Declared(text, (SpecifierSet(text),), f"{shown} [project] requires-python",
                        shown)
    except InvalidSpecifier:
        return None


def declared_of(text: str, specs: Sequence[SpecifierSet], where: str, file: str
                ) -> Declared:
    return Declared(text, tuple(specs), where, file)


def image_python(target: Target) -> tuple[str, int | None] | None:
    """("3.11", patch or None) when the target's Python comes from the image's FROM;
    None otherwise. The patch is None for a tag without one (``python:3.11-slim``:
    the newest 3.11 release when the image is built)."""
    if not target.python_from.startswith("FROM "):
        return None
    image = target.python_from[len("FROM "):].split(";")[0].strip()
    found = image_python_version(image)
    if found is None:
        return None
    major, minor, micro = found
    return f"{major}.{minor}", int(micro) if micro else None


def excludes_image(declared: Declared, target: Target) -> Finding | None:
    """A finding when ``declared`` allows none of the releases the image's Python can be:
    its exact release when the tag names one, else any X.Y.1 or later (the image is
    built with the newest)."""
    found = image_python(target)
    if found is None:
        return None
    minor, patch = found
    if patch is not None:
        if _allows(declared, f"{minor}.{patch}"):
            return None
        runs = f"Python {minor}.{patch}"
    else:
        if any(_allows(declared, f"{minor}.{p}") for p in _PATCHES[1:]):
            return None
        only = f" (it allows {minor}.0 only)" if _allows(declared, f"{minor}.0") else ""
        runs = f"the newest Python {minor}.x release{only}"
    major, _, low = minor.partition(".")
    upper = f"{major}.{int(low) + 1}"
    if f"<={minor}" in declared.text.replace(" ", ""):
        how = (f"Write `<{upper}` instead of `<={minor}` (`<={minor}` means {minor}.0 and "
               f"nothing after) in requires-python, then relock.")
    else:
        how = (f"Allow every {minor} release in requires-python (e.g. \">={minor},<{upper}\""
               "), then relock.")
    return Finding(
        f"requires-python {declared.text!r} ({declared.where}) excludes {runs}, which "
        f"the image runs ({target.python_from}): pip and uv refuse to install the project "
        "there", declared.file, None, how)


def with_finding(result: CheckResult, finding: Finding | None) -> CheckResult:
    """SR103's ``result`` with ``finding`` added (a PASS or SKIP becomes a FAIL)."""
    if finding is None:
        return result
    if result.status == Status.FAILED:
        return dataclasses.replace(
            result, summary=f"{result.summary}; and requires-python excludes the image's "
            "Python", findings=(*result.findings, finding))
    what = "" if result.status != Status.PASSED else f" ({result.summary})"
    return CheckResult(result.check_id, Status.FAILED,
                       f"requires-python excludes the image's Python{what}",
                       (finding,), result.figures)



def of_toollock(lock: ToolLock) -> Declared | None:
    """The requires-python of a Poetry/uv/pylock lock's project: pyproject.toml's
    ``[project] requires-python`` next to the lock (where users edit it), else what the
    lock records (uv's and pylock's ``requires-python``, Poetry's ``python-versions``)."""
    own = of_pyproject(lock.path.parent / "pyproject.toml",
                       _beside(lock.display, "pyproject.toml"))
    if own is not None:
        return own
    recorded = requires_python(lock)
    if recorded is None:
        return None
    key = "[metadata] python-versions" if lock.format == "poetry" else "requires-python"
    return Declared(recorded[0], recorded[1], f"{lock.display} {key}", lock.display)


def of_project(lock_path: Path, display: str, project: Path) -> Declared | None:
    """For a requirements lock: pyproject.toml's requires-python next to it, else the
    project's."""
    for base, shown in ((lock_path.parent, _beside(display, "pyproject.toml")),
                        (project, "pyproject.toml")):
        found = of_pyproject(base / "pyproject.toml", shown)
        if found is not None:
            return found
    return None


def _beside(display: str, name: str) -> str:
    parent = display.rpartition("/")[0]
    return f"{parent}/{name}" if parent else name
