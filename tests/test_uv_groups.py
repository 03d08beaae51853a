"""SR111 on a uv project whose dependency groups include each other (PEP 735
``{ include-group = "..." }``), with and without the uv command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_shipready.locks import uv, uvcheck

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FRESH = ("--shipready", "-v", "-m", "shipready", "-k", "uv.lock and fresh", "-p", "no:randomly")
needs_uv = pytest.mark.skipif(uvcheck.find_uv() is None,
                              reason="the uv command is not installed (pip install uv)")


def project(pytester: pytest.Pytester, toml: str = "") -> Path:
    shutil.copytree(FIXTURES / "uv-groups", pytester.path, dirs_exist_ok=True)
    if toml:
        path = pytester.path / "pyproject.toml"
        path.write_text(path.read_text() + toml)
    return pytester.path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


# --- the pure part ---------------------------------------------------------------------


def test_expand_groups_follows_includes_and_names_what_is_wrong() -> None:
    groups, errors = uv.expand_groups({
        "test": ["iniconfig==2.0.0"],
        "Dev": [{"include-group": "test"}, "tomli-w==1.0.0"],
        "all": [{"include-group": "dev"}, {"include-group": "docs"}, 3],
        "a": [{"include-group": "b"}],
        "b": [{"include-group": "a"}],
    })
    assert groups["dev"] == [
        ("iniconfig==2.0.0", "[dependency-groups] test (included in Dev)"),
        ("tomli-w==1.0.0", "[dependency-groups] Dev"),
    ]
    assert [r for r, _ in groups["all"]] == ["iniconfig==2.0.0", "tomli-w==1.0.0"]
    assert errors == [
        "[dependency-groups] all includes group 'docs', which does not exist",
        "[dependency-groups] all: 3 is neither a requirement nor "
        '{ include-group = "..." }',
        "[dependency-groups] b includes 'a', which includes it back: a -> b -> a",
    ]


# --- as users see it -------------------------------------------------------------------


def test_included_group_is_fresh_offline(pytester: pytest.Pytester) -> None:
    # uv records the dev group with the test group's requirements in it: not stale.
    project(pytester, "\n[tool.shipready.lockfile]\nresolve = false\n")
    result = pytester.runpytest(*FRESH)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "shipready::lockfile::uv.lock::fresh PASSED (pyproject.toml's requirements match "
        "those recorded in uv.lock (offline comparison; markers are compared by `uv lock "
        "--check` only); `uv lock --check` off (?tool.shipready.lockfile? resolve = false))*",
    ])


def test_edit_in_an_included_group_is_stale_in_both_groups(pytester: pytest.Pytester
                                                           ) -> None:
    # SR103 fails too (1.1.1 is not locked); without it SR111 would skip, saying so.
    root = project(pytester, "\n[tool.shipready.lockfile]\nresolve = false\n"
                   '[tool.shipready.disable]\nSR103 = "shown by SR111 here"\n')
    edit(root / "pyproject.toml", '"iniconfig==2.0.0"', '"iniconfig==1.1.1"')
    result = pytester.runpytest(*FRESH)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*SR111 fresh: uv.lock is stale: 2 requirements changed since `uv lock` (offline "
        "comparison; `uv lock --check` off (?tool.shipready.lockfile? resolve = false))",
        "*pyproject.toml:8: iniconfig==1.1.1 in pyproject.toml ?dependency-groups? test "
        "(included in dev), but uv.lock was locked for iniconfig==2.0.0",
        "*pyproject.toml:8: iniconfig==1.1.1 in pyproject.toml ?dependency-groups? test, "
        "but uv.lock was locked for iniconfig==2.0.0",
    ])


def test_without_uv_the_pass_says_it_was_the_offline_comparison(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvcheck, "find_uv", lambda: None)  # a machine without uv
    project(pytester)
    result = pytester.runpytest(*FRESH)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "shipready::lockfile::uv.lock::fresh PASSED (pyproject.toml's requirements match "
        "those recorded in uv.lock (offline comparison; markers are compared by `uv lock "
        "--check` only); uv is not installed, so `uv lock --check` did not run: install it "
        "(`pip install uv`, or put uv on PATH) for the full check)*",
    ])


@needs_uv
def test_uv_lock_check_agrees_on_included_groups(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = pytester.runpytest(*FRESH, "--shipready-offline")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*uv.lock::fresh PASSED (`uv lock --check` passes*"])


@needs_uv
def test_uv_error_is_shown_whole(pytester: pytest.Pytester) -> None:
    root = project(pytester)
    edit(root / "pyproject.toml", 'include-group = "test"', 'include-group = "tests"')
    result = pytester.runpytest(*FRESH, "--shipready-offline")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*SR111 fresh: uv.lock is stale (offline comparison; uv could not check, its "
        "output is below)",
        "*pyproject.toml: ?dependency-groups? dev includes group 'tests', which does not "
        "exist",
        "*uv.lock: `uv lock --check` said:",
        "      error: Project `groups-app` has malformed dependency groups",
        "        cause: Failed to find group `tests` included by `dev`",
    ])
