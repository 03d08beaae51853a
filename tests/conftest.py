"""Shared fixtures for pytest-shipready's own tests.

Tests that need a Docker engine are marked ``docker``; those that need the package
index are marked ``network``. Both run in CI (.ci/run starts the engine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Imported before any test: pytester's in-process runs drop from sys.modules what they
# imported first, and a half-dropped requests (its sessions kept, http.cookiejar imported
# again) then fails every later docker client of this process with "You can only merge
# into CookieJar".
import docker  # noqa: F401  # isort: skip
import requests  # noqa: F401  # isort: skip

# This machine and CI's set PYTHONDONTWRITEBYTECODE=1: each pytest subprocess of the
# suite (hundreds) then compiled and assertion-rewrote the plugin and its dependencies
# again, about 2 s of CPU a run. Bytecode goes to a cache of its own instead, shared by
# the workers and the nested runs, and never written beside a sample project's files.
PYCACHE = Path(tempfile.gettempdir()) / "pytest-shipready-tests-pycache"
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))
sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
sys.dont_write_bytecode = False

# The reaper image cannot be pulled here; the plugin cleans up after itself.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

REPO = Path(__file__).resolve().parent.parent
# Sample projects are data: their own tests and conftest.py files are never collected here.
collect_ignore = ["fixtures"]
EXAMPLE = REPO / "examples" / "service"
_KEPT_BEFORE = pytest.StashKey["dict[str, str] | None"]()


def remove_kept_image(project: Path) -> None:
    """Remove the image a run kept for ``project`` (keep = true, the default), so that
    the tests' uniquely named projects do not pile up images in the engine."""
    import re
    import subprocess

    name = re.sub(r"[^a-z0-9._-]+", "-", project.resolve().name.lower()).strip("-._")
    flt = f"label=io.pytest-shipready.project=pytest-shipready/{name or 'project'}"
    try:
        ids = subprocess.run(["docker", "images", "-q", "--filter", flt],
                             capture_output=True, text=True, timeout=60).stdout.split()
        if ids:
            subprocess.run(["docker", "rmi", "-f", *sorted(set(ids))], capture_output=True,
                           timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _kept_images() -> dict[str, str] | None:
    """The images runs kept (label io.pytest-shipready.keep): id -> repository, or None
    without an engine."""
    import subprocess

    try:
        out = subprocess.run(["docker", "images", "--no-trunc", "--filter",
                              "label=io.pytest-shipready.keep=true", "--format",
                              "{{.ID}} {{.Repository}}"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)


def _project_names(root: Path, depth: int = 5) -> set[str]:
    """The image repositories of every directory under ``root`` (the suite's sample
    projects live there, under the xdist workers' own directories too)."""
    from pytest_shipready.dockerfile.context import repository_name

    names: set[str] = set()
    level = [root]
    for _ in range(depth):
        level = [d for parent in level for d in parent.iterdir()
                 if d.is_dir() and not d.is_symlink()] if level else []
        names.update(repository_name(d) for d in level)
    return names


def pytest_sessionstart(session: pytest.Session) -> None:
    # In the controller (or a plain run) only: xdist workers end at different times.
    if not hasattr(session.config, "workerinput"):
        session.config.stash[_KEPT_BEFORE] = _kept_images()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove the images the suite's runs kept (keep = true is the default, and most test
    projects have names of their own): those of projects under this session's temporary
    directory that were not there before the suite started. Another suite or run on the
    same engine keeps its own."""
    import subprocess

    before = session.config.stash.get(_KEPT_BEFORE, None)
    if before is None or hasattr(session.config, "workerinput"):
        return
    after = _kept_images()
    try:
        ours = _project_names(session.config._tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return
    if after and (new := sorted(i for i, repo in after.items()
                                if i not in before and repo in ours)):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(["docker", "rmi", "-f", *new], capture_output=True, timeout=300)


class EngineEvents:
    """``docker events`` streamed live while a block runs. A ``--since/--until`` replay
    is not enough: the engine keeps only its last 256 events, fewer than a busy engine
    (a parallel suite's builds and execs) makes during a few runs."""

    def __init__(self, *filters: str, fmt: str | None = None) -> None:
        self.argv = ["docker", "events", "--since", str(int(time.time()) - 1),
                     *[a for f in filters for a in ("--filter", f)],
                     *(["--format", fmt] if fmt else [])]
        self.lines: list[str] = []

    def __enter__(self) -> EngineEvents:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)  # subscribed before the block's first event
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(1.0)  # the block's last events reach the stream
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        self.lines = out.splitlines()


def uv_executable() -> str:
    """uv (a test dependency), from PATH or beside this interpreter; skip without it."""
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not os.access(found, os.X_OK):
        pytest.skip("uv is not installed")
    return found


def _forget_stale_submodules() -> None:
    for name, module in list(sys.modules.items()):
        if not name.startswith("pytest_shipready") or not hasattr(module, "__path__"):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, types.ModuleType) and value.__name__.startswith(
                    "pytest_shipready") and sys.modules.get(value.__name__) is not value:
                delattr(module, attr)


@pytest.fixture(autouse=True)
def _no_stale_submodules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """pytester's in-process runs drop the modules they imported from sys.modules, but a
    package imported before (by a test module) keeps them as attributes, so the next
    run's `from . import smokerun` would get the dropped copy. Forget those attributes
    after every in-process run."""
    original = pytest.Pytester.inline_run

    def inline_run(self: pytest.Pytester, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        finally:
            _forget_stale_submodules()

    monkeypatch.setattr(pytest.Pytester, "inline_run", inline_run)
    yield
    _forget_stale_submodules()


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin requires Docker by default when CI is set; the tests say what they
    expect of the engine themselves, wherever the suite runs."""
    monkeypatch.delenv("CI", raising=False)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A private copy of the example service, free to break."""
    target = tmp_path / "service"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc"))
    return target


@pytest.fixture
def sample(pytester: pytest.Pytester) -> Iterator[Callable[[str], Path]]:
    """``sample("pg-service")``: a copy of the example with that fixture's files on top
    (tests/fixtures/<name>), uniquely named; the images its runs kept are removed after
    the test."""
    made: list[Path] = []

    def make(fixture: str) -> Path:
        target = pytester.path / f"{fixture.split('-')[0]}{uuid.uuid4().hex[:8]}"
        shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
            "__pycache__", ".pytest_cache", "*.pyc"))
        shutil.copytree(REPO / "tests" / "fixtures" / fixture, target, dirs_exist_ok=True)
        made.append(target)
        return target

    yield make
    for project in made:
        remove_kept_image(project)


@pytest.fixture
def isolated_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip-compile as on a machine without this one's pip config (local indexes)."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for key in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(key, raising=False)


# CI machines have 2 cores shared with a Docker engine: no per-example deadline and no
# "too slow" health check, so hypothesis tests fail on wrong results, never on load.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass
else:
    settings.register_profile(
        "shipready", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("shipready")
