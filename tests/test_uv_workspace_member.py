"""`uv sync` inside a workspace member's directory, without `--package`: uv syncs the
member whose pyproject.toml is in the working directory (or the nearest one above it),
not the whole workspace. The Dockerfile's WORKDIR (and a `cd`, `--directory`,
`--project` in the RUN) says where uv runs; where the lock was copied says where the
workspace root is. The sample is tests/fixtures/uv-workspace-member (a Dockerfile
overlaid on a copy of tests/fixtures/uv-workspace)."""

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
from pytest_shipready.locks import discover, model
from pytest_shipready.locks import selection as lockselect
from pytest_shipready.locks.target import resolve as resolve_target

FIXTURES = Path(__file__).parent / "fixtures"
WORKSPACE = FIXTURES / "uv-workspace"
OVERLAY = FIXTURES / "uv-workspace-member"
IMAGE = resolve_target("linux/x86_64", dockerfile=OVERLAY / "Dockerfile").environment()
UV_LOCK = [hygiene.KnownLock("uv.lock", True)]
APP_RUNTIME = {"anyio", "click", "idna", "typing-extensions"}


def lock_of(project: Path = WORKSPACE) -> model.ToolLock:
    lock = discover.load(project / "uv.lock", project)
    assert lock.error is None, lock.error
    return lock


def install(dockerfile: str) -> hygiene.LockInstall:
    df = parser.parse(dockerfile, "Dockerfile")
    (found,) = hygiene.lock_installs(df, UV_LOCK)
    return found


def selected(dockerfile: str) -> lockselect.Selection:
    """The selection parity infers for the Dockerfile's uv install in the workspace."""
    found = install(dockerfile)
    lock = lock_of()
    step = found.selecting
    member = lockselect.member_at(lock, step.workdir, found.lock_dir)
    members = [model.read_pyproject(lock, m)[0] or {} for m in lock.member_pyprojects()]
    return lockselect.from_command("uv", step.verb, step.options,
                                   model.read_pyproject(lock)[0] or {}, "here", members,
                                   member)


def expected(chosen: lockselect.Selection, env: dict[str, str] = IMAGE) -> set[str]:
    return set(lockselect.expected_distributions(
        lock_of(), env, groups=chosen.groups, extras=chosen.extras,
        packages=chosen.packages, all_packages=chosen.all_packages, runtime=chosen.runtime))


HEAD = ("FROM python:3.12-slim\nWORKDIR /app\nCOPY pyproject.toml uv.lock ./\n"
        "COPY backend backend\nCOPY worker worker\n")


# --- where uv runs ------------------------------------------------------------------------


def test_workdir_follows_the_stages_and_joins_relative_ones() -> None:
    df = parser.parse("FROM python:3.12-slim AS base\nARG ROOT=/srv\nWORKDIR $ROOT\n"
                      "FROM base\nWORKDIR app/backend\nRUN true\nWORKDIR ../worker\n",
                      "Dockerfile")
    assert df.workdir(df.stages[0]) == "/srv"
    assert df.workdir(df.stages[1], 6) == "/srv/app/backend"
    assert df.workdir(df.stages[1]) == "/srv/app/worker"
    assert parser.parse("FROM python:3.12-slim\n", "Dockerfile").workdir(
        parser.parse("FROM python:3.12-slim\n", "Dockerfile").stages[0]) == "/"


@pytest.mark.parametrize(("run", "workdir"), [
    ("WORKDIR /app/backend\nRUN uv sync --frozen", "/app/backend"),
    ("RUN cd backend && uv sync --frozen", "/app/backend"),
    ("RUN cd /app/worker; uv sync --frozen", "/app/worker"),
    ('RUN sh -c "cd backend/app && uv sync --frozen"', "/app/backend/app"),
    ("RUN uv sync --frozen --directory worker", "/app/worker"),
    ("RUN uv --directory worker sync --frozen", "/app/worker"),
    ("RUN uv sync --frozen --project=backend", "/app/backend"),
    ("ENV UV_PROJECT=backend\nRUN uv sync --frozen", "/app/backend"),
    ("RUN cd $SOMEWHERE && uv sync --frozen", ""),
    ("RUN uv sync --frozen", "/app"),
])
def test_the_directory_uv_runs_in(run: str, workdir: str) -> None:
    assert install(HEAD + run + "\n").selecting.workdir == workdir


@pytest.mark.parametrize(("copy", "lock_dir"), [
    ("WORKDIR /app\nCOPY pyproject.toml uv.lock ./", "/app"),
    ("COPY uv.lock /srv/ws/uv.lock", "/srv/ws"),
    ("WORKDIR /srv\nCOPY . .", "/srv"),
    ("COPY . /code/", "/code"),
    ('COPY ["pyproject.toml", "uv.lock*", "/w/"]', "/w"),
    ("WORKDIR /app\nRUN --mount=type=bind,source=uv.lock,target=uv.lock \\\n"
     "    --mount=type=bind,source=pyproject.toml,target=pyproject.toml true", ""),
])
def test_where_the_lock_is_in_the_image(copy: str, lock_dir: str) -> None:
    # a bind mount counts on its own RUN only: gone on the next one
    found = install(f"FROM python:3.12-slim\n{copy}\nRUN uv sync --frozen\n")
    assert found.lock_dir == lock_dir


def test_a_bind_mounted_lock_is_where_its_run_mounts_it() -> None:
    found = install("FROM python:3.12-slim\nWORKDIR /app\n"
                    "RUN --mount=type=bind,source=uv.lock,target=uv.lock \\\n"
                    "    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\\n"
                    "    uv sync --locked --no-install-project\n")
    assert (found.lock_dir, found.selecting.workdir) == ("/app", "/app")


# --- which member that is -------------------------------------------------------------------


@pytest.mark.parametrize(("workdir", "lock_dir", "member"), [
    ("/app/backend", "/app", "app"),
    ("/app/backend/app", "/app", "app"),  # uv looks upwards: backend/pyproject.toml
    ("/app/worker", "/app", "worker"),
    ("/app", "/app", None),  # the workspace root
    ("/app/docs", "/app", None),
    ("/elsewhere/backend", "/app", None),  # outside the workspace
    ("/srv/backend", "", "app"),  # the lock's place not known: the path's end
    ("", "/app", None),
])
def test_member_at(workdir: str, lock_dir: str, member: str | None) -> None:
    assert lockselect.member_at(lock_of(), workdir, lock_dir) == member


def test_the_member_directory_selects_that_member() -> None:
    chosen = selected(HEAD + "WORKDIR /app/backend\nRUN uv sync --frozen --no-dev\n")
    assert chosen.packages == {"app"}
    assert chosen.describe() == "runtime dependencies of app"
    assert expected(chosen) == APP_RUNTIME
    worker = selected(HEAD + "RUN cd worker && uv sync --frozen\n")
    assert expected(worker) == {"six"}


def test_package_and_all_packages_win_over_the_directory() -> None:
    chosen = selected(HEAD + "WORKDIR /app/backend\nRUN uv sync --frozen --package worker\n")
    assert chosen.packages == {"worker"}
    every = selected(HEAD + "WORKDIR /app/backend\nRUN uv sync --frozen --all-packages\n")
    assert (every.packages, every.all_packages) == (frozenset(), True)


def test_the_root_directory_still_syncs_every_member() -> None:
    chosen = selected(HEAD + "RUN uv sync --frozen --no-dev\n")
    assert chosen.packages == frozenset()
    assert expected(chosen) == APP_RUNTIME | {"six"}


@pytest.mark.parametrize(("directory", "args"), [
    ("backend", "--no-dev"), ("backend", ""), ("backend/app", ""), ("worker", ""),
    (".", "--no-dev"), ("backend", "--only-dev"),
])
def test_the_expected_set_is_what_uv_itself_installs_there(directory: str, args: str,
                                                           tmp_path: Path) -> None:
    """uv's own dry run in that directory, on this machine's interpreter, against the
    plugin's expected set for `WORKDIR /app/<directory>` and this machine's markers."""
    project = tmp_path / "ws"
    shutil.copytree(WORKSPACE, project)
    proc = subprocess.run([uv_executable(), "sync", "--no-config", "--dry-run", "--offline",
                           "--frozen", *args.split()], cwd=project / directory,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "UV_PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr
    uv = {m.group(1) for m in re.finditer(r"^ \+ ([A-Za-z0-9._-]+)==", proc.stderr, re.M)}
    chosen = selected(HEAD + f"WORKDIR /app/{directory}\nRUN uv sync --frozen {args}\n")
    here = {k: str(v) for k, v in default_environment().items()}
    assert expected(chosen, here) == uv


def test_parity_passes_the_members_image_and_says_where_uv_ran() -> None:
    lock = lock_of()
    versions = {p.name: str(p.version) for p in lock.packages}
    dists = {n: (n, versions[n]) for n in (*APP_RUNTIME, "app")}
    facts = parity.ImageFacts("3.12.7", "/app/.venv/bin/python", dists, {}, IMAGE)
    chosen = selected((OVERLAY / "Dockerfile").read_text())
    result = parity.check_packages(
        facts, parity.union([parity.expected_from_toollock(lock, IMAGE, chosen)]), ())
    assert result.status is Status.PASSED, result.findings
    assert result.summary == ("4 locked packages installed at the locked versions (runtime "
                              "dependencies of app, here); the project itself: app 0.1.0")


# --- the image uv builds -------------------------------------------------------------------


@pytest.fixture
def member_project(pytester: pytest.Pytester) -> Path:
    shutil.copytree(WORKSPACE, pytester.path, dirs_exist_ok=True)
    shutil.copy(OVERLAY / "Dockerfile", pytester.path / "Dockerfile")
    return pytester.path


@pytest.mark.docker
def test_the_members_image_matches_its_lock(member_project: Path,
                                            pytester: pytest.Pytester) -> None:
    """`WORKDIR /app/backend` + `RUN uv sync --frozen --no-dev`: uv installs the member app
    alone, and SR402 expects exactly that (not worker's six), naming where uv ran."""
    result = pytester.runpytest_subprocess(
        "--shipready-only", "--shipready-offline", "-p", "no:cacheprovider", "-k",
        "SR205 or SR210 or SR301 or SR402", f"--shipready-report={member_project / 'r.json'}",
        timeout=600)
    doc = json.loads((member_project / "r.json").read_text())
    got = {r["check_id"]: r for r in doc["results"]}
    for check in ("SR205", "SR210", "SR301", "SR402"):
        assert got[check]["status"] == "passed", (check, result.stdout.str())
    assert got["SR402"]["summary"] == (
        "4 locked packages installed at the locked versions (runtime dependencies of app, "
        "per Dockerfile:12 `uv sync --frozen --no-dev` in /app/backend); the project "
        "itself: app 0.1.0")
