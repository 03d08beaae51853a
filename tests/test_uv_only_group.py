"""`uv sync --only-group NAME` / `--only-dev` (and `uv export` with them): the groups
alone, without the project and its runtime dependencies, as uv installs them (SR402,
SR205). The sample project is tests/fixtures/uv-only-group, locked by uv itself: a
virtual project (click, anyio) with an `ops` group (six) and a `dev` group (iniconfig)
that includes `ops`, and an image that runs `uv sync --frozen --only-group ops`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment

from conftest import uv_executable
from pytest_shipready.checks import Status
from pytest_shipready.container.inspect import parity
from pytest_shipready.dockerfile import hygiene, parser
from pytest_shipready.dockerfile.installs import Command, recognise_poetry, recognise_uv
from pytest_shipready.locks import discover, model
from pytest_shipready.locks import selection as lockselect
from pytest_shipready.locks.target import resolve as resolve_target

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "uv-only-group"
# The image's platform: Linux, CPython 3.12 (FROM python:3.12-slim)
IMAGE = resolve_target("linux/x86_64", dockerfile=FIXTURE / "Dockerfile").environment()
RUNTIME = {"anyio", "click", "idna", "typing-extensions"}


def lock_of(project: Path = FIXTURE) -> model.ToolLock:
    lock = discover.load(project / "uv.lock", project)
    assert lock.error is None, lock.error
    return lock


def step_of(command: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    found = recognise_uv(Command(tuple(command.split()), 1, command, env or {})) or \
        recognise_poetry(Command(tuple(command.split()), 1, command, env or {}))
    assert found is not None and found.verb, command
    return found


def select(command: str, env: dict[str, str] | None = None,
           project: Path = FIXTURE) -> lockselect.Selection:
    step = step_of(command, env)
    pyproject = model.read_pyproject(lock_of(project))[0] or {}
    return lockselect.from_command(step.tool, step.verb, step.options, pyproject, "here")


def expected(command: str, env: dict[str, str] = IMAGE,
             variables: dict[str, str] | None = None) -> set[str]:
    chosen = select(command, variables)
    return set(lockselect.expected_distributions(
        lock_of(), env, groups=chosen.groups, extras=chosen.extras,
        packages=chosen.packages, all_packages=chosen.all_packages, runtime=chosen.runtime))


# --- which part of the lock the options select ----------------------------------------


@pytest.mark.parametrize(("command", "groups", "runtime"), [
    ("uv sync --frozen --only-group ops", {"ops"}, False),
    ("uv sync --frozen --only-group=ops", {"ops"}, False),
    ("uv sync --frozen --only-dev", {"dev"}, False),
    ("uv sync --frozen --only-dev --only-group ops", {"dev", "ops"}, False),
    ("uv sync --frozen --only-group ops --no-group ops", set(), False),
    ("uv export --frozen --only-group ops -o ops.txt", {"ops"}, False),
    ("uv sync --frozen", {"dev"}, True),
    ("uv sync --frozen --no-dev", set(), True),
])
def test_only_group_selects_the_groups_without_the_runtime(
        command: str, groups: set[str], runtime: bool) -> None:
    chosen = select(command)
    assert (set(chosen.groups), chosen.runtime, chosen.extras) == (groups, runtime,
                                                                   frozenset())


def test_the_selection_says_the_runtime_is_left_out() -> None:
    assert select("uv sync --frozen --only-group ops").describe() == (
        "only group ops, not the project or its runtime dependencies")
    assert select("uv sync --frozen --only-dev --only-group ops").describe() == (
        "only groups dev, ops, not the project or its runtime dependencies")


def test_extras_do_not_come_without_the_project() -> None:
    # uv accepts --extra beside --only-dev, and installs no extra: they are the project's.
    pyproject = {"project": {"name": "svc", "optional-dependencies": {"idn": []}},
                 "dependency-groups": {"dev": []}}
    step = step_of("uv sync --frozen --only-dev --extra idn")
    chosen = lockselect.from_command("uv", "sync", step.options, pyproject, "here")
    assert (chosen.runtime, chosen.extras) == (False, frozenset())


def test_uv_no_dev_from_the_environment_does_not_undo_only_dev() -> None:
    # uv itself: UV_NO_DEV=1 with --only-dev installs the dev group (the flag wins).
    chosen = select("uv sync --frozen --only-dev", {"UV_NO_DEV": "1"})
    assert (set(chosen.groups), chosen.runtime) == ({"dev"}, False)


def test_uv_no_group_from_the_environment_counts_as_no_group() -> None:
    step = step_of("uv sync --frozen --all-groups", {"UV_NO_GROUP": "dev ops"})
    assert step.settings == ("UV_NO_GROUP=dev ops",)
    assert step.described == "uv sync --frozen --all-groups` with `UV_NO_GROUP=dev ops"
    chosen = select("uv sync --frozen --all-groups", {"UV_NO_GROUP": "dev ops"})
    assert (set(chosen.groups), chosen.runtime) == (set(), True)


@pytest.mark.parametrize(("command", "runtime"), [
    ("poetry install --only dev", False),
    ("poetry install --only main,dev", True),
    ("poetry install --without main", False),
    ("poetry install --only-root", False),
    ("poetry install --only main", True),
])
def test_poetry_only_without_main_leaves_the_runtime_out(command: str, runtime: bool
                                                         ) -> None:
    step = step_of(command)
    pyproject = {"tool": {"poetry": {"group": {"dev": {}}}}}
    assert lockselect.from_command("poetry", step.verb, step.options, pyproject,
                                   "here").runtime is runtime


def test_poetry_only_dev_expects_the_dev_group_alone() -> None:
    lock = discover.load(FIXTURES / "poetry-app" / "poetry.lock", FIXTURES / "poetry-app")
    assert set(lockselect.expected_distributions(lock, IMAGE, groups={"dev"},
                                                 runtime=False)) == {"iniconfig"}


# --- what the image must hold -------------------------------------------------------------


def test_only_group_expects_the_group_alone() -> None:
    assert expected("uv sync --frozen --only-group ops") == {"six"}
    # dev includes ops ({ include-group = "ops" }): uv records six in dev too
    assert expected("uv sync --frozen --only-dev") == {"iniconfig", "six"}
    assert expected("uv sync --frozen") == RUNTIME | {"iniconfig", "six"}
    assert expected("uv sync --frozen --no-dev") == RUNTIME


@pytest.mark.parametrize("args", [
    "--only-group ops", "--only-dev", "--only-dev --only-group ops",
    "--only-dev --no-group ops", "--only-group ops --no-group ops", "", "--no-dev",
])
def test_the_expected_set_is_what_uv_itself_would_install(args: str, tmp_path: Path) -> None:
    """uv's own dry run, on this machine's interpreter, against the plugin's expected set
    for this machine's marker environment."""
    project = tmp_path / "p"
    shutil.copytree(FIXTURE, project)
    proc = subprocess.run([uv_executable(), "sync", "--no-config", "--dry-run", "--offline",
                           "--frozen", *args.split()], cwd=project, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "UV_PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr
    uv = {m.group(1) for m in re.finditer(r"^ \+ ([A-Za-z0-9._-]+)==", proc.stderr, re.M)}
    here = {k: str(v) for k, v in default_environment().items()}
    assert expected(f"uv sync --frozen {args}", here) == uv


def facts(names: set[str]) -> parity.ImageFacts:
    versions = {p.name: str(p.version) for p in lock_of().packages}
    dists = {n: (n, versions[n]) for n in names}
    dists["pip"] = ("pip", "25.0")
    return parity.ImageFacts("3.12.7", "/app/.venv/bin/python", dists, {}, IMAGE)


def test_parity_passes_an_image_with_the_group_alone() -> None:
    """What `uv sync --frozen --only-group ops` put into the image: six, and not the
    service's click and anyio, which the plugin used to call "locked but not installed"."""
    want = parity.expected_from_toollock(lock_of(), IMAGE, select(
        "uv sync --frozen --only-group ops"))
    result = parity.check_packages(facts({"six"}), parity.union([want]), ())
    assert result.status is Status.PASSED, result.findings
    assert result.summary == ("1 locked package installed at the locked versions (only group "
                              "ops, not the project or its runtime dependencies, here)")


def test_parity_names_runtime_dependencies_in_an_only_group_image() -> None:
    want = parity.expected_from_toollock(lock_of(), IMAGE, select(
        "uv sync --frozen --only-group ops"))
    result = parity.check_packages(facts({"six", "click"}), parity.union([want]), ())
    assert result.status is Status.FAILED
    assert [f.message for f in result.findings] == [
        "click==8.5.1 is installed in the image; uv.lock locks it, but not for what the "
        "image should install (only group ops, not the project or its runtime "
        "dependencies, here)"]


# --- SR205 reads these installs as installing the lock ------------------------------------


@pytest.mark.parametrize("run", [
    "RUN uv sync --frozen --only-group ops",
    "RUN uv sync --locked --only-dev",
    "RUN uv export --frozen --only-group ops -o /tmp/ops.txt && "
    "pip install --no-deps --require-hashes -r /tmp/ops.txt",
])
def test_sr205_counts_an_only_group_install_as_installing_the_lock(run: str) -> None:
    df = parser.parse(f"FROM python:3.12-slim\nCOPY pyproject.toml uv.lock ./\n{run}\n",
                      "Dockerfile")
    result = hygiene.check_lock_used(df, [hygiene.KnownLock("uv.lock", True)])
    assert result.status is Status.PASSED, result.findings
    assert result.summary.endswith("installs uv.lock with hashes (line 3)")
    (install,) = hygiene.lock_installs(df, [hygiene.KnownLock("uv.lock", True)])
    assert "--only-" in " ".join(install.selecting.options)


# --- as users see it -----------------------------------------------------------------------


@pytest.fixture
def only_group(pytester: pytest.Pytester) -> Path:
    shutil.copytree(FIXTURE, pytester.path, dirs_exist_ok=True)
    return pytester.path


def test_sr205_passes_the_only_group_image(only_group: Path, pytester: pytest.Pytester,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = pytester.runpytest_subprocess(
        "--shipready-only", "--shipready-offline", "-p", "no:cacheprovider", "-k", "SR205",
        f"--shipready-report={only_group / 'r.json'}")
    doc = json.loads((only_group / "r.json").read_text())
    (found,) = [r for r in doc["results"] if r["check_id"] == "SR205"]
    assert found["status"] == "passed", result.stdout.str()
    assert found["summary"] == "uv installs uv.lock with hashes (line 8)"


@pytest.mark.docker
def test_the_only_group_image_matches_its_lock(only_group: Path,
                                               pytester: pytest.Pytester) -> None:
    """`RUN uv sync --frozen --only-group ops` in a python:3.12 image: SR402 expects six
    alone (click, anyio and their dependencies are the runtime, not installed)."""
    result = pytester.runpytest_subprocess(
        "--shipready-only", "--shipready-offline", "-p", "no:cacheprovider", "-k",
        "SR210 or SR301 or SR402", f"--shipready-report={only_group / 'r.json'}",
        timeout=600)
    doc = json.loads((only_group / "r.json").read_text())
    got = {r["check_id"]: r for r in doc["results"]}
    for check in ("SR210", "SR301", "SR402"):
        assert got[check]["status"] == "passed", (check, result.stdout.str())
    assert got["SR402"]["summary"] == (
        "1 locked package installed at the locked versions (only group ops, not the "
        "project or its runtime dependencies, per Dockerfile:8 `uv sync --frozen "
        "--only-group ops`)")
