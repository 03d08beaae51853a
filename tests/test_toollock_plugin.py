"""Poetry, uv and pylock.toml lockfiles as users see them: pytester on fixture projects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_shipready.locks.uvcheck import find_uv

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NO_UV_COMMAND = '\n[tool.shipready.lockfile]\nresolve = false\n'


def project(pytester: pytest.Pytester, name: str, extra_toml: str = "") -> Path:
    shutil.copytree(FIXTURES / name, pytester.path, dirs_exist_ok=True)
    if extra_toml:
        pyproject = pytester.path / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + extra_toml)
    return pytester.path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_fresh_poetry_lock_passes_every_item(pytester: pytest.Pytester) -> None:
    project(pytester, "poetry-app")
    result = pytester.runpytest("--shipready", "-v", "-m", "shipready", "-k", "lockfile",
                                "-p", "no:randomly", "--shipready-offline")
    result.stdout.fnmatch_lines([
        "shipready::lockfile::poetry.lock::pinned PASSED (6 packages pinned; local, not "
        "pinned by version: helper (editable libs/helper))*",
        "shipready::lockfile::poetry.lock::hashed PASSED*",
        "shipready::lockfile::poetry.lock::covers-inputs PASSED (5 direct requirements "
        "satisfied for linux/x86_64, Python 3.11 (poetry.lock ?metadata? python-versions "
        "'^3.11'; no Dockerfile at Dockerfile))*",
        "shipready::lockfile::poetry.lock::fresh PASSED (content-hash matches "
        "pyproject.toml)*",
        "shipready::lockfile::poetry.lock::portable PASSED*",
        "shipready::lockfile::poetry.lock::hashes-match-index SKIPPED*",
        "*SR106  poetry.lock › hashes-match-index  SKIPPED  needs the package index (PyPI); "
        "--shipready-offline was given",
    ])
    result.assert_outcomes(passed=5, skipped=1)


def test_poetry_dependency_edited_without_relock(pytester: pytest.Pytester) -> None:
    root = project(pytester, "poetry-app")
    edit(root / "pyproject.toml", 'click = "^8.1"', 'click = "^9.0"')
    result = pytester.runpytest("--shipready", "-v", "-m", "shipready", "-k", "lockfile",
                                "-p", "no:randomly", "--shipready-offline")
    result.assert_outcomes(passed=3, failed=2, skipped=1)
    result.stdout.fnmatch_lines([
        "*SR103 covers-inputs: 1 direct requirement not satisfied by the lock (markers "
        "judged for linux/x86_64, Python 3.* *)",
        "*pyproject.toml:10: click = '^9.0' is required by pyproject.toml "
        "?tool.poetry.dependencies? but poetry.lock:* locks click 8.5.1",
        "*fix: Run `poetry lock` and commit poetry.lock.",
        "*SR110 fresh: poetry.lock is stale: pyproject.toml changed since `poetry lock`",
        "*poetry.lock:*: pyproject.toml's dependencies changed since the lock was made: "
        "content-hash *; click = '^9.0' (pyproject.toml ?tool.poetry.dependencies?) is not "
        "met by the locked 8.5.1",
        "*see https://*/docs/checks/SR110.md;*",
    ])


def test_poetry_lock_without_hashes_fails_hashed_only(pytester: pytest.Pytester) -> None:
    root = project(pytester, "poetry-app")
    lock = root / "poetry.lock"
    lines = [ln for ln in lock.read_text().splitlines() if "idna-3.20" not in ln]
    lock.write_text("\n".join(lines) + "\n")
    result = pytester.runpytest("--shipready", "-v", "-m", "shipready", "-k", "lockfile",
                                "--shipready-offline")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*hashed FAILED*",
        "*SR102 hashed: 1 of 6 packages without file hashes",
        "*poetry.lock:*: idna 3.20: no files with hashes",
    ])


def test_malformed_poetry_lock_fails_pinned_and_skips_the_rest(pytester: pytest.Pytester
                                                               ) -> None:
    root = project(pytester, "poetry-app")
    (root / "poetry.lock").write_text("[[package]]\nname = \n")
    result = pytester.runpytest("--shipready", "-v", "-m", "shipready", "-k", "lockfile",
                                "-rs")
    result.assert_outcomes(failed=1, skipped=5)
    result.stdout.fnmatch_lines(["*SR101 pinned: the lockfile cannot be parsed",
                                 "*poetry.lock:2: not valid TOML*"])


def test_uv_lock_and_pylock_items_without_the_uv_command(pytester: pytest.Pytester) -> None:
    project(pytester, "uv-app", NO_UV_COMMAND)
    result = pytester.runpytest("--shipready", "-v", "-m", "shipready", "-k", "lockfile",
                                "-rs", "-p", "no:randomly", "--shipready-offline")
    result.stdout.fnmatch_lines([
        "shipready::lockfile::uv.lock::pinned PASSED*helper (editable libs/helper)*",
        "shipready::lockfile::uv.lock::hashed PASSED*",
        "shipready::lockfile::uv.lock::covers-inputs PASSED*",
        "shipready::lockfile::uv.lock::fresh PASSED (pyproject.toml's requirements match "
        "those recorded in uv.lock*resolve = false)*",
        "shipready::lockfile::uv.lock::portable PASSED*",
        "shipready::lockfile::pylock.toml::pinned PASSED*",
        "shipready::lockfile::pylock.toml::hashed PASSED*",
        "shipready::lockfile::pylock.toml::portable PASSED*",
    ])
    result.assert_outcomes(passed=8, skipped=2)  # hashes-match-index: offline


def test_uv_dependency_edited_without_relock(pytester: pytest.Pytester) -> None:
    root = project(pytester, "uv-app", NO_UV_COMMAND)
    edit(root / "pyproject.toml", '"click>=8.1"', '"click>=8.2"')
    result = pytester.runpytest("--shipready", "-v", "-m", "shipready", "-k", "uv.lock",
                                "--shipready-offline")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*SR111 fresh: uv.lock is stale: 1 requirement changed since `uv lock` (offline "
        "comparison; `uv lock --check` off (?tool.shipready.lockfile? resolve = false))",
        "*pyproject.toml:7: click>=8.2 in pyproject.toml ?project? dependencies, but uv.lock "
        "was locked for click>=8.1",
        "*fix: Run `uv lock` and commit uv.lock.",
    ])


def test_uv_dependency_added_without_relock_fails_covers_inputs_only(
        pytester: pytest.Pytester) -> None:
    # As for pip-compile (SR104): no re-resolution of a lock known to miss an input.
    root = project(pytester, "uv-app")
    edit(root / "pyproject.toml", '"click>=8.1",', '"click>=8.1",\n    "attrs>=23",')
    result = pytester.runpytest("--shipready", "-rs", "-m", "shipready", "-k",
                                "uv.lock and not hashes-match-index")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*pyproject.toml:8: attrs>=23 is required by pyproject.toml ?project? dependencies "
        "but not in uv.lock",
        "SKIPPED ?1? shipready::lockfile::uv.lock::fresh: the lock does not cover its "
        "inputs (SR103 failed): fix that first; re-resolving would only repeat it",
    ])


def test_configured_paths_recognise_the_format(pytester: pytest.Pytester) -> None:
    root = project(pytester, "uv-app", NO_UV_COMMAND.replace(
        "resolve = false", 'resolve = false\npaths = ["locks/prod.toml"]'))
    (root / "locks").mkdir()
    shutil.move(root / "pylock.toml", root / "locks" / "prod.toml")
    result = pytester.runpytest("--shipready", "--collect-only", "-q", "-m", "shipready",
                                "-k", "lockfile")
    ours = [ln for ln in result.outlines if ln.startswith("shipready::lockfile::")]
    assert ours == [
        "shipready::lockfile::locks/prod.toml::pinned",
        "shipready::lockfile::locks/prod.toml::hashed",
        "shipready::lockfile::locks/prod.toml::portable",
        "shipready::lockfile::locks/prod.toml::hashes-match-index",
    ]


def test_no_lockfile_message_names_the_new_formats(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--shipready", "-m", "shipready", "-k", "lockfile")
    result.stdout.fnmatch_lines(["*looked in * poetry.lock, uv.lock or pylock*.toml*"])


@pytest.mark.network
def test_uv_lock_check_decides_freshness(pytester: pytest.Pytester) -> None:
    if find_uv() is None:
        pytest.skip("the uv command is not installed (pip install uv)")
    root = project(pytester, "uv-app")
    fresh = pytester.runpytest("--shipready", "-v", "-k", "lockfile and uv.lock and fresh")
    fresh.stdout.fnmatch_lines(["*uv.lock::fresh PASSED (`uv lock --check` passes*"])
    # A marker-only edit: the offline comparison cannot see it, uv can.
    edit(root / "pyproject.toml", '"six==1.16.*",', "\"six==1.16.*; sys_platform != 'win32'\",")
    stale = pytester.runpytest("--shipready", "-v", "-k", "lockfile and uv.lock and fresh")
    stale.assert_outcomes(failed=1)
    stale.stdout.fnmatch_lines([
        "*SR111 fresh: uv.lock is stale: `uv lock --check` says it needs to be updated",
    ])
    assert (root / "uv.lock").read_text() == (FIXTURES / "uv-app" / "uv.lock").read_text()


needs_uv = pytest.mark.skipif(find_uv() is None, reason="the uv command is not installed "
                              "(pip install uv)")


@needs_uv
def test_uv_lock_check_offline_with_a_cold_cache(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    # uv confirms a fresh lock from the lock alone; for a stale one it would need the
    # index, which --shipready-offline forbids: the offline comparison names the change.
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    root = project(pytester, "uv-app")
    fresh = pytester.runpytest("--shipready", "--shipready-offline", "-v",
                               "-k", "lockfile and uv.lock and fresh")
    fresh.stdout.fnmatch_lines(["*uv.lock::fresh PASSED (`uv lock --check` passes*"])
    edit(root / "pyproject.toml", '"click>=8.1"', '"click>=8.2"')
    stale = pytester.runpytest("--shipready", "--shipready-offline", "-v",
                               "-k", "lockfile and uv.lock and fresh")
    stale.assert_outcomes(failed=1)
    stale.stdout.fnmatch_lines([
        "*SR111 fresh: uv.lock is stale (offline comparison; uv could not check*",
        "*click>=8.2 in pyproject.toml ?project? dependencies, but uv.lock was locked for "
        "click>=8.1",
    ])
