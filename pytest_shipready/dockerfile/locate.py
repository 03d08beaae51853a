"""Dockerfiles a project has outside the one selected (``[tool.shipready.image]
dockerfile``, default ``Dockerfile``): so that a run that judged no image says what it
passed over (``dockerfiles/django/Dockerfile``, ``docker/Dockerfile``,
``Dockerfile.prod``) rather than "READY".

Looked for where projects keep them: ``Dockerfile*``, ``Containerfile*`` and
``*.Dockerfile`` at the root; anywhere under ``docker/``, ``dockerfiles/``, ``deploy/``
and the like (three levels); and one or two levels into the project's other directories
(``backend/Dockerfile``, ``services/api/Dockerfile``). Tests, examples, documentation,
virtualenvs and ``node_modules`` are not looked into. A dev container's
(``.devcontainer/``) is told apart: it is not the image that ships.

Pure: no pytest, no docker; the walk is bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^(Dockerfile|Containerfile)([._-].*)?$|^.+\.(Dockerfile|dockerfile)$")
# Directories that hold a project's image definitions.
_USUAL = frozenset({"docker", "dockerfiles", "deploy", "deployment", "deployments",
                    ".docker", "build", "compose", "container", "containers", "ops",
                    "infra", "infrastructure", "images", "services", "apps", "src"})
# Directories never looked into: not the project's images.
_SKIP = frozenset({".git", ".hg", ".venv", "venv", "env", ".tox", ".nox", "node_modules",
                   "__pycache__", "site-packages", ".mypy_cache", ".pytest_cache",
                   ".ruff_cache", "dist", "tests", "test", "testing", "examples",
                   "example", "docs", "doc", "fixtures", "vendor", "third_party"})
_LIMIT = 5000  # directory entries looked at, at most


@dataclass(frozen=True)
class Found:
    """The Dockerfiles found, relative to the project (posix), the likeliest first."""

    images: tuple[str, ...]  # candidates for the image that ships
    dev: tuple[str, ...] = ()  # dev containers' (.devcontainer/)

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.images, *self.dev)

    def told(self, most: int = 3) -> str:
        """"dockerfiles/django/Dockerfile, docker/Dockerfile (and 2 more)"; "" for none."""
        shown = [*self.images[:most], *(f"{d} (a dev container)" for d in self.dev[:1])]
        more = len(self.all) - len(shown)
        return ", ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def find_dockerfiles(project: Path, selected: str = "Dockerfile") -> Found:
    """The project's Dockerfiles other than ``selected`` (relative to the project)."""
    found: list[str] = []
    dev: list[str] = []
    seen = 0

    def walk(directory: Path, rel: str, depth: int, limit: int) -> None:
        nonlocal seen
        try:
            entries = sorted(directory.iterdir(), key=lambda p: p.name)
        except OSError:
            return
        for entry in entries:
            seen += 1
            if seen > _LIMIT:
                return
            name = entry.name
            path = f"{rel}{name}"
            if entry.is_file() and _NAME.match(name):
                if path != selected.lstrip("./"):
                    (dev if path.startswith(".devcontainer/") else found).append(path)
            elif entry.is_dir() and not entry.is_symlink() and depth < limit \
                    and name not in _SKIP and name.lower() not in _SKIP:
                deeper = 3 if depth == 0 and name.lower() in _USUAL else limit
                if depth == 0 and name.startswith(".") and name not in (".docker",
                                                                        ".devcontainer"):
                    continue
                walk(entry, f"{path}/", depth + 1, deeper)

    walk(project, "", 0, 2)
    found.sort(key=lambda p: (p.count("/"), "/Dockerfile" not in f"/{p}", p))
    return Found(tuple(found), tuple(dev))

# Words of a path that say the Dockerfile is not what ships: an editor's dev container, a
# development, test or CI image.
_DEVELOPMENT = frozenset({".devcontainer", "dev", "develop", "development",
                          "local", "test", "tests", "testing", "ci", "debug", "docs",
                          "example", "examples", "sample", "samples"})
_PRODUCTION = frozenset({"prod", "production", "release", "deploy", "deployment", "live"})


def _words(path: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", path.lower()) if w} | {
        part.lower() for part in path.split("/")[:-1]}


def development_words(path: str) -> list[str]:
    """The words of ``path`` that say it is for development or tests (``.devcontainer``,
    ``dev``, ``test``...), sorted; empty for one that may ship."""
    return sorted(_DEVELOPMENT & _words(path))


def choose_dockerfile(found: list[str]) -> tuple[str, str] | None:
    """The Dockerfile to check among ``found`` and why: the root's ``Dockerfile``; else
    one whose path says production (``Dockerfile.prod``, ``deploy/Dockerfile``); else the
    shallowest that is not for development or tests (``.devcontainer/``, ``dev``,
    ``test``...); else, when all are, the shallowest of them, saying so."""
    if not found:
        return None
    found = sorted(found)
    if "Dockerfile" in found:
        return "Dockerfile", "the root's Dockerfile, what `docker build .` uses"
    shipping = [p for p in found if not development_words(p)]

    def rank(path: str) -> tuple[int, str]:
        return path.count("/"), path

    production = sorted((p for p in shipping if _PRODUCTION & _words(p)), key=rank)
    if production:
        words = sorted(_PRODUCTION & _words(production[0]))
        return production[0], f"its path says it ships ({', '.join(words)})"
    if shipping:
        chosen = min(shipping, key=rank)
        others = [p for p in found if p != chosen]
        if not others:
            return chosen, "the only Dockerfile"
        left = [p for p in others if development_words(p)]
        why = "the shallowest"
        if left:
            why += (" that is not for development or tests (left out: "
                    + ", ".join(f"{p} ({'/'.join(development_words(p))})" for p in left)
                    + ")")
        return chosen, why
    chosen = min(found, key=rank)
    return chosen, (f"the shallowest, though every Dockerfile found looks like one for "
                    f"development or tests ({', '.join(development_words(chosen))})")
