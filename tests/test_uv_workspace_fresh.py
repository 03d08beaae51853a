"""SR111 on uv workspace locks without `uv lock --check` (uv not installed, or
`resolve = false`): the offline comparison reads the root's and every member's
pyproject.toml, as it reads a single project's, instead of skipping. Each stale case is
checked against uv itself too (`uv lock --check` must agree: a test marked ``network``,
since uv needs the index, or a warm cache, to decide that a lock is stale).

Samples: tests/fixtures/uv-workspace (a virtual root, members app in backend/ and worker)
and tests/fixtures/uv-workspace-groups (overlaid on it: the root has a `lint` dependency
group, recorded in uv.lock's [manifest.dependency-groups], and `resolve = false`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_shipready.checks import Status
from pytest_shipready.locks import discover, model, uv

FIXTURES = Path(__file__).parent / "fixtures"
WORKSPACE = FIXTURES / "uv-workspace"
GROUPS = FIXTURES / "uv-workspace-groups"


def copy(tmp_path: Path, overlay: Path | None = GROUPS) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(WORKSPACE, target)
    if overlay is not None:
        shutil.copytree(overlay, target, dirs_exist_ok=True)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def lock_of(project: Path) -> model.ToolLock:
    lock = discover.load(project / "uv.lock", project)
    assert lock.error is None, lock.error
    return lock


def _uv() -> str | None:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    return found if os.access(found, os.X_OK) else None


def uv_agrees_it_is_stale(project: Path) -> None:
    """uv itself says the lock needs updating. Online: with an empty cache (a fresh
    machine) `uv lock --check --offline` cannot tell a stale lock, it only says the
    packages are not in the cache."""
    found = _uv()
    if found is None:
        pytest.skip("uv is not installed")
    proc = subprocess.run([found, "lock", "--check", "--no-config", "--no-python-downloads"],
                          cwd=project, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "needs to be updated" in proc.stderr, proc.stderr


@pytest.mark.parametrize("overlay", [None, GROUPS])
def test_a_fresh_workspace_passes_and_names_what_was_compared(overlay: Path | None,
                                                              tmp_path: Path) -> None:
    result = uv.check_uv_fresh_offline(lock_of(copy(tmp_path, overlay)), "resolve = false")
    assert result.status is Status.PASSED, result.findings
    assert result.summary == (
        "the workspace's requirements (pyproject.toml, backend/pyproject.toml, "
        "worker/pyproject.toml) and its members match those recorded in uv.lock (offline "
        "comparison; markers are compared by `uv lock --check` only); resolve = false")


def _new_member(root: Path) -> None:
    (root / "jobs").mkdir()
    (root / "jobs" / "pyproject.toml").write_text(
        '[project]\nname = "jobs"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        "dependencies = []\n")
    edit(root / "pyproject.toml", 'members = ["backend", "worker"]',
         'members = ["backend", "worker", "jobs"]')


STALE: list[tuple[str, Callable[[Path], None], tuple[str, int | None, str]]] = [
    ("a member's dependency", lambda r: edit(r / "backend/pyproject.toml", '"click>=8.1"',
                                             '"click>=8.2"'),
     ("backend/pyproject.toml", 5, "click>=8.2 in backend/pyproject.toml [project] "
      "dependencies, but uv.lock was locked for click>=8.1")),
    ("a member's new dependency", lambda r: edit(r / "worker/pyproject.toml", '["six>=1.16"]',
                                                 '["six>=1.16", "idna"]'),
     ("worker/pyproject.toml", 5, "idna in worker/pyproject.toml [project] dependencies is "
      "not in uv.lock")),
    ("a member's group", lambda r: edit(r / "backend/pyproject.toml", '"iniconfig>=2"',
                                        '"iniconfig>=2.1"'),
     ("backend/pyproject.toml", 8, "iniconfig>=2.1 in backend/pyproject.toml "
      "[dependency-groups] dev, but uv.lock was locked for iniconfig>=2")),
    ("the virtual root's group", lambda r: edit(r / "pyproject.toml", 'lint = ["six>=1.16"]',
                                                'lint = ["six>=1.17"]'),
     ("pyproject.toml", 8, "six>=1.17 in pyproject.toml [dependency-groups] lint, but "
      "uv.lock was locked for six>=1.16")),
    ("a new member", _new_member,
     ("pyproject.toml", None, "workspace member jobs (jobs/) is in [tool.uv.workspace] "
      "members but not in uv.lock")),
    ("a member's requires-python",
     lambda r: edit(r / "backend/pyproject.toml", 'requires-python = ">=3.10"',
                    'requires-python = ">=3.11"'),
     ("pyproject.toml", None, "requires-python is '>=3.11' and '>=3.10' in the workspace's "
      "pyproject.toml files but '>=3.10' in uv.lock")),
]


@pytest.mark.parametrize(("what", "change", "finding"), STALE, ids=[s[0] for s in STALE])
def test_a_stale_workspace_fails_naming_the_file(what: str, change: Callable[[Path], None],
                                                 finding: tuple[str, int | None, str],
                                                 tmp_path: Path) -> None:
    root = copy(tmp_path)
    change(root)
    result = uv.check_uv_fresh_offline(lock_of(root))
    assert result.status is Status.FAILED, what
    assert [(f.path, f.line, f.message) for f in result.findings] == [finding]
    assert result.findings[0].hint == "Run `uv lock` and commit uv.lock."


def _member_removed(root: Path) -> None:
    edit(root / "pyproject.toml", 'members = ["backend", "worker"]', 'members = ["backend"]')


def test_a_member_removed_from_the_workspace_is_stale(tmp_path: Path) -> None:
    root = copy(tmp_path)
    _member_removed(root)
    result = uv.check_uv_fresh_offline(lock_of(root))
    assert [f.message for f in result.findings] == [
        "workspace member worker is recorded in uv.lock but [tool.uv.workspace] no longer "
        "finds it"]


@pytest.mark.network
@pytest.mark.parametrize("change", [*(s[1] for s in STALE), _member_removed],
                         ids=[*(s[0] for s in STALE), "a member removed"])
def test_uv_itself_agrees_each_stale_case_is_stale(change: Callable[[Path], None],
                                                   tmp_path: Path) -> None:
    root = copy(tmp_path)
    change(root)
    uv_agrees_it_is_stale(root)


def test_a_member_with_dynamic_dependencies_is_left_out_and_said(tmp_path: Path) -> None:
    root = copy(tmp_path)
    edit(root / "worker/pyproject.toml", 'dependencies = ["six>=1.16"]',
         'dynamic = ["dependencies"]')
    result = uv.check_uv_fresh_offline(lock_of(root))
    assert result.status is Status.PASSED, result.findings
    assert "(not compared: worker/pyproject.toml (dynamic dependencies))" in result.summary
    assert "(pyproject.toml, backend/pyproject.toml)" in result.summary


def test_same_pythons() -> None:
    from packaging.specifiers import SpecifierSet

    assert uv._same_pythons(SpecifierSet("~=3.11"), SpecifierSet(">=3.11,<4"))
    assert uv._same_pythons(SpecifierSet(">=3.10,>=3.11"), SpecifierSet(">=3.11"))
    assert not uv._same_pythons(SpecifierSet(">=3.10"), SpecifierSet(">=3.11"))
    assert not uv._same_pythons(SpecifierSet(">=3.11,<3.13"), SpecifierSet(">=3.11"))


def test_a_script_lock_says_precisely_why_it_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(
        'version = 1\nrevision = 3\nrequires-python = ">=3.10"\n\n'
        '[manifest]\nrequirements = [{ name = "six" }]\n\n'
        '[[package]]\nname = "six"\nversion = "1.17.0"\n'
        'source = { registry = "https://pypi.org/simple" }\n')
    result = uv.check_uv_fresh_offline(lock_of(tmp_path), "resolve = false")
    assert result.status is Status.SKIPPED
    assert result.summary.startswith(
        "uv.lock has neither a project nor workspace members: a script's lock (`uv lock "
        "--script`), whose requirements are the script's inline metadata (PEP 723)")
    assert "`uv lock --check --script <script>`" in result.summary


# --- as users see it -----------------------------------------------------------------------


def sr111(pytester: pytest.Pytester, project: Path) -> dict[str, object]:
    result = pytester.runpytest_subprocess(
        "--shipready-only", "--shipready-offline", "-k", "SR111", "-p", "no:cacheprovider",
        f"--shipready-report={project / 'r.json'}")
    doc = json.loads((project / "r.json").read_text())
    (found,) = [r for r in doc["results"] if r["check_id"] == "SR111"]
    assert isinstance(found, dict)
    assert result.ret in (0, 1), result.stdout.str()
    return found


@pytest.fixture
def ws_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(WORKSPACE, pytester.path, dirs_exist_ok=True)
    shutil.copytree(GROUPS, pytester.path, dirs_exist_ok=True)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    return pytester.path


def test_sr111_compares_the_workspace_offline(ws_project: Path,
                                              pytester: pytest.Pytester) -> None:
    found = sr111(pytester, ws_project)
    assert found["status"] == "passed", found
    assert str(found["summary"]).startswith(
        "the workspace's requirements (pyproject.toml, backend/pyproject.toml, "
        "worker/pyproject.toml) and its members match those recorded in uv.lock (offline "
        "comparison")


def test_sr111_names_the_stale_member_offline(ws_project: Path,
                                              pytester: pytest.Pytester) -> None:
    # a group requirement: SR103 (runtime requirements) still passes, SR111 decides
    edit(ws_project / "backend/pyproject.toml", '"iniconfig>=2"', '"iniconfig>=2.1"')
    found = sr111(pytester, ws_project)
    assert found["status"] == "failed", found
    assert [(f["path"], f["line"]) for f in found["findings"]] == [  # type: ignore
        ("backend/pyproject.toml", 8)]


def test_with_uv_a_stale_member_is_named_too(ws_project: Path,
                                             pytester: pytest.Pytester) -> None:
    """`uv lock --check` says only that the lock needs updating (or, with pytester's
    empty home and so an empty uv cache, that it cannot tell offline); either way the
    finding names the member file, from the offline comparison."""
    if _uv() is None:
        pytest.skip("uv is not installed")
    edit(ws_project / "pyproject.toml", "resolve = false", "resolve = true")
    edit(ws_project / "backend/pyproject.toml", '"iniconfig>=2"', '"iniconfig>=2.1"')
    found = sr111(pytester, ws_project)
    assert found["status"] == "failed", found
    assert str(found["summary"]).startswith("uv.lock is stale")
    assert found["findings"][0]["message"] == (  # type: ignore
        "iniconfig>=2.1 in backend/pyproject.toml [dependency-groups] dev, but uv.lock was "
        "locked for iniconfig>=2")
