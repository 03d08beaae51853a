"""uv workspaces (a root pyproject.toml with only [tool.uv.workspace], members with the
dependencies): what `uv sync --package ...` installs (SR402) and the members' pyproject
files as the lock's inputs (SR103). The sample project is tests/fixtures/uv-workspace,
locked by uv itself."""

from __future__ import annotations

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
from pytest_shipready.locks import discover, model, selection
from pytest_shipready.locks.target import resolve as resolve_target

FIXTURE = Path(__file__).parent / "fixtures" / "uv-workspace"
# The image's platform: Linux, CPython 3.12 (FROM python:3.12-slim)
IMAGE = resolve_target("linux/x86_64", dockerfile=FIXTURE / "Dockerfile").environment()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(FIXTURE, target)
    return target


def lock_of(project: Path) -> model.ToolLock:
    return discover.load(project / "uv.lock", project)


def sync(args: str, project: Path = FIXTURE) -> selection.Selection:
    lock = lock_of(project)
    members = [model.read_pyproject(lock, m)[0] or {} for m in lock.member_pyprojects()]
    return selection.from_command("uv", "sync", args.split(), model.read_pyproject(lock)[0]
                                  or {}, f"`uv sync {args}`", members)


def expected(args: str, env: dict[str, str] = IMAGE) -> set[str]:
    chosen = sync(args)
    return set(selection.expected_distributions(
        lock_of(FIXTURE), env, groups=chosen.groups, extras=chosen.extras,
        packages=chosen.packages, all_packages=chosen.all_packages, runtime=chosen.runtime))


def test_the_image_platform_is_linux_python_312() -> None:
    assert IMAGE["python_version"] == "3.12"
    assert IMAGE["sys_platform"] == "linux"


def test_members_are_read_from_the_lock() -> None:
    lock = lock_of(FIXTURE)
    assert lock.root() is None  # the workspace root is not a project
    assert [(p.name, p.source) for p in lock.members()] == [("app", "backend"),
                                                            ("worker", "worker")]
    assert [p.relative_to(FIXTURE).as_posix() for p in lock.member_pyprojects()] == [
        "backend/pyproject.toml", "worker/pyproject.toml"]


def test_package_selects_one_member_with_its_markers_and_default_groups() -> None:
    # colorama is for Windows, exceptiongroup for Python < 3.11, six is worker's
    assert expected("--frozen --package app") == {
        "anyio", "click", "idna", "typing-extensions", "iniconfig"}
    assert expected("--frozen --package app --no-dev") == {
        "anyio", "click", "idna", "typing-extensions"}
    assert expected("--frozen --package worker") == {"six"}


def test_a_virtual_root_syncs_every_member() -> None:
    assert expected("--frozen") == {
        "anyio", "click", "idna", "typing-extensions", "iniconfig", "six"}
    assert expected("--frozen --all-packages --no-dev") == {
        "anyio", "click", "idna", "typing-extensions", "six"}


def test_markers_are_those_of_the_environment() -> None:
    windows_py310 = {**IMAGE, "sys_platform": "win32", "platform_system": "Windows",
                     "os_name": "nt", "python_version": "3.10", "python_full_version": "3.10.4"}
    assert expected("--frozen --package app --no-dev", windows_py310) == {
        "anyio", "click", "idna", "typing-extensions", "colorama", "exceptiongroup"}


def test_the_selection_names_the_member() -> None:
    chosen = sync("--frozen --package app")
    assert chosen.packages == {"app"}
    assert chosen.describe() == "runtime dependencies of app + group dev"
    assert sync("--frozen --all-packages --all-groups").groups == {"dev"}


def test_an_unknown_package_cannot_be_told() -> None:
    with pytest.raises(model.LockError, match="--package api: not a workspace member in "
                       r"uv.lock \(members: app, worker\)"):
        selection.expected_distributions(lock_of(FIXTURE), IMAGE, packages=["api"])


@pytest.mark.parametrize("args", [
    "--frozen", "--frozen --package app", "--frozen --package app --no-dev",
    "--frozen --package worker", "--frozen --all-packages --no-default-groups",
    "--frozen --package app --group dev --no-default-groups",
    "--frozen --only-dev", "--frozen --package app --only-dev",
])
def test_the_expected_set_is_what_uv_itself_would_install(args: str, workspace: Path) -> None:
    """uv's own dry run, on this machine's interpreter, against the plugin's expected set
    for this machine's marker environment."""
    proc = subprocess.run([uv_executable(), "sync", "--no-config", "--dry-run", "--offline",
                           *args.split()], cwd=workspace, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "UV_PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr
    uv = {m.group(1) for m in re.finditer(r"^ \+ ([A-Za-z0-9._-]+)==", proc.stderr, re.M)}
    assert uv, proc.stderr
    here = {k: str(v) for k, v in default_environment().items()}
    assert expected(args, here) == uv


def test_parity_passes_the_image_uv_made_and_names_the_member() -> None:
    """SR402 on what `uv sync --frozen --package app` put into a python:3.12 image: the
    member is the project, not a stranger; colorama and exceptiongroup are not expected."""
    lock = lock_of(FIXTURE)
    versions = {p.name: p.version for p in lock.packages}
    dists = {n: (n, str(versions[n])) for n in
             ("anyio", "click", "idna", "typing-extensions", "iniconfig", "app")}
    dists["pip"] = ("pip", "25.0")
    facts = parity.ImageFacts("3.12.7", "/app/.venv/bin/python", dists, {}, IMAGE)
    want = parity.expected_from_toollock(lock, IMAGE, sync("--frozen --package app"))
    result = parity.check_packages(facts, parity.union([want]), ())
    assert result.status is Status.PASSED, result.findings
    assert result.summary == (
        "5 locked packages installed at the locked versions (runtime dependencies of app + "
        "group dev, `uv sync --frozen --package app`); the project itself: app 0.1.0")


def test_parity_flags_the_other_members_dependencies() -> None:
    lock = lock_of(FIXTURE)
    versions = {p.name: p.version for p in lock.packages}
    dists = {n: (n, str(versions[n])) for n in
             ("anyio", "click", "idna", "typing-extensions", "app", "six")}
    facts = parity.ImageFacts("3.12.7", "/app/.venv/bin/python", dists, {}, IMAGE)
    want = parity.expected_from_toollock(lock, IMAGE,
                                         sync("--frozen --package app --no-dev"))
    result = parity.check_packages(facts, parity.union([want]), ())
    assert result.status is Status.FAILED
    assert [f.message for f in result.findings] == [
        "six==1.17.0 is installed in the image; uv.lock locks it, but not for what the image "
        "should install (runtime dependencies of app, `uv sync --frozen --package app "
        "--no-dev`)"]


def test_a_script_lock_installs_its_requirements_for_the_image(tmp_path: Path) -> None:
    """A lock with neither project nor members (`uv lock --script`): its [manifest]
    requirements, markers judged for the image, not every package it holds."""
    (tmp_path / "uv.lock").write_text(
        'version = 1\nrevision = 3\nrequires-python = ">=3.10"\n\n'
        '[manifest]\nrequirements = [\n    { name = "colorama", marker = "sys_platform == '
        "'win32'\" },\n    { name = \"six\" },\n]\n\n"
        '[[package]]\nname = "colorama"\nversion = "0.4.6"\n'
        'source = { registry = "https://pypi.org/simple" }\n\n'
        '[[package]]\nname = "six"\nversion = "1.17.0"\n'
        'source = { registry = "https://pypi.org/simple" }\n')
    lock = discover.load(tmp_path / "uv.lock", tmp_path)
    assert lock.error is None, lock.error
    assert selection.expected_distributions(lock, IMAGE) == {"six": "1.17.0"}


# --- SR103: the members' pyproject.toml are the lock's inputs ------------------------------


def sr103(pytester: pytest.Pytester, project: Path) -> dict[str, object]:
    import json

    result = pytester.runpytest_subprocess("--shipready-only", "--shipready-offline", "-k",
                                           "SR103", "-p", "no:cacheprovider",
                                           f"--shipready-report={project / 'r.json'}")
    doc = json.loads((project / "r.json").read_text())
    (found,) = [r for r in doc["results"] if r["check_id"] == "SR103"]
    assert isinstance(found, dict)
    assert result.ret in (0, 1), result.stdout.str()
    return found


@pytest.fixture
def ws_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(FIXTURE, pytester.path, dirs_exist_ok=True)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    return pytester.path


def test_sr103_reads_the_members_of_a_workspace(ws_project: Path,
                                                pytester: pytest.Pytester) -> None:
    found = sr103(pytester, ws_project)
    assert found["status"] == "passed", found
    assert found["summary"] == (
        "5 direct requirements satisfied for linux/x86_64, Python 3.12 (FROM "
        "python:3.12-slim); read pyproject.toml, backend/pyproject.toml, "
        "worker/pyproject.toml")


def test_sr103_names_the_member_file_that_asks_more(ws_project: Path,
                                                    pytester: pytest.Pytester) -> None:
    backend = ws_project / "backend" / "pyproject.toml"
    backend.write_text(backend.read_text().replace('"click>=8.1"', '"click>=9"'))
    worker = ws_project / "worker" / "pyproject.toml"
    worker.write_text(worker.read_text().replace('["six>=1.16"]', '["six>=1.16", "httpx"]'))
    found = sr103(pytester, ws_project)
    assert found["status"] == "failed", found
    got = [(f["path"], f["line"], f["message"]) for f in found["findings"]]  # type: ignore
    assert got == [
        ("backend/pyproject.toml", 5, "click>=9 is required by backend/pyproject.toml "
         "[project] dependencies but uv.lock:51 locks click 8.5.1"),
        ("worker/pyproject.toml", 5, "httpx is required by worker/pyproject.toml [project] "
         "dependencies but not in uv.lock"),
    ]


def test_members_from_the_workspace_globs_when_the_lock_names_none(workspace: Path) -> None:
    (workspace / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["*"]\nexclude = ["worker"]\n')
    text = (workspace / "uv.lock").read_text()
    start = text.index("[manifest]")
    end = text.index("[[package]]")
    (workspace / "uv.lock").write_text(text[:start] + text[end:])
    lock = lock_of(workspace)
    assert lock.members() == []
    assert [p.relative_to(workspace).as_posix() for p in lock.member_pyprojects()] == [
        "backend/pyproject.toml"]


# --- the image uv builds -------------------------------------------------------------------


@pytest.mark.docker
def test_the_workspace_image_matches_its_lock(ws_project: Path, pytester: pytest.Pytester,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`RUN uv sync --frozen --package app` in a python:3.12 image: SR402 expects app's
    dependencies for Linux/3.12 with its dev group, and the member app is the project.
    The command runs a file, not a module (full-stack-fastapi-template: `fastapi run
    app/main.py`), so SR406 finds what to import from the lock's workspace members."""
    import json

    monkeypatch.delenv("DOCKER_HOST")
    dockerfile = ws_project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(
        'CMD ["python", "-m", "app"]', 'CMD ["python", "backend/app/__main__.py"]'))
    result = pytester.runpytest_subprocess(
        "--shipready-only", "--shipready-offline", "-p", "no:cacheprovider", "-k",
        "SR205 or SR210 or SR301 or SR402 or SR406",
        f"--shipready-report={ws_project / 'r.json'}", timeout=600)
    doc = json.loads((ws_project / "r.json").read_text())
    got = {r["check_id"]: r for r in doc["results"]}
    for check in ("SR205", "SR210", "SR301", "SR402", "SR406"):
        assert got[check]["status"] == "passed", (check, result.stdout.str())
    # the member's top-level module, and what `python -m app` runs (the member's source)
    assert re.fullmatch(r"2 imports succeeded in /app/\.venv/bin/python3?: app \(top-level "
                        r"module of app 0\.1\.0\), backend/app/__main__\.py \(run by the "
                        r"image's command: compiled and its imports found, not run\)",
                        got["SR406"]["summary"]), got["SR406"]
    line = (ws_project / "Dockerfile").read_text().splitlines().index(
        "RUN uv sync --frozen --package app") + 1
    assert got["SR402"]["summary"] == (
        "5 locked packages installed at the locked versions (runtime dependencies of app + "
        f"group dev, per Dockerfile:{line} `uv sync --frozen --package app`); the project "
        "itself: app 0.1.0")
