"""--shipready-only: the readiness checks of a project whose tests cannot be imported
here (a readiness job, a pre-push hook from a tools virtualenv)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready.checks import Status
from pytest_shipready.container.inspect import testparity


@pytest.fixture
def unimportable(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example, with a conftest and a test module that import a package this
    environment lacks, and addopts naming a plugin option it does not have."""
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    (pytester.path / "tests" / "conftest.py").write_text("import sqlalchemy_not_here\n")
    (pytester.path / "tests" / "test_models.py").write_text(
        "import factory_not_here\n\ndef test_model():\n    pass\n")
    pyproject = pytester.path / "pyproject.toml"
    text = pyproject.read_text()
    assert 'testpaths = ["tests"]' in text
    pyproject.write_text(text.replace('testpaths = ["tests"]', 'testpaths = ["tests"]\n'
                                      'addopts = "--cov=app --cov-report=term"'))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    return pytester.path


def test_plain_shipready_cannot_start_here(unimportable: Path,
                                          pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--shipready", "--shipready-offline")
    assert result.ret != 0
    assert "ship readiness" not in result.stdout.str()


def test_readiness_only_runs_the_checks_without_importing_the_tests(
        unimportable: Path, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--shipready-only", "--shipready-offline",
                                           "--shipready-report=r.json", "-p",
                                           "no:cacheprovider")
    result.stdout.fnmatch_lines([
        "shipready: readiness checks only (--shipready-only): no test module or "
        "conftest.py of the project is imported",
        "shipready: the ini file's addopts are not applied: --cov=app --cov-report=term",
        "*READY: * passed, * skipped*",
    ])
    assert result.ret == 0, result.stdout.str()
    doc = json.loads((unimportable / "r.json").read_text())
    assert doc["verdict"] == "ready"
    assert all(r["nodeid"].startswith("shipready::") for r in doc["results"])
    assert "sqlalchemy_not_here" not in result.stdout.str()


def test_readiness_only_works_from_a_subdirectory(unimportable: Path,
                                                 pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(unimportable / "app")
    result = pytester.runpytest_subprocess("--shipready-only", "--shipready-offline",
                                           "-p", "no:cacheprovider", "-k", "lockfile")
    result.stdout.fnmatch_lines(["*SR101*requirements.txt*pinned*PASSED*"])
    assert result.ret == 0, result.stdout.str()


def test_keyword_selection_still_applies(unimportable: Path, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--shipready-only", "--shipready-offline", "-k",
                                           "SR101", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# --- SR404 never counts a collection error as a test -------------------------------------

COLLECTION_ERROR = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"
errors="1" failures="0" skipped="0" tests="1"><testcase classname="" name="tests.test_api"
time="0.000"><error message="collection failure">ImportError while importing test module
E   ModuleNotFoundError: No module named 'factory'</error></testcase></testsuite></testsuites>"""

ONE_PASSED = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"
tests="1"><testcase classname="tests.test_api" name="test_health" time="0.01"/>
</testsuite></testsuites>"""


def test_collection_errors_are_not_tests() -> None:
    run = testparity.parse_run(COLLECTION_ERROR)
    assert run.outcomes == {}
    assert run.broken == "tests.test_api: E   ModuleNotFoundError: No module named 'factory'"


def test_host_that_cannot_collect_leaves_the_container_to_decide() -> None:
    host = testparity.parse_run(COLLECTION_ERROR)
    result = testparity.verdict(host, testparity.parse_run(ONE_PASSED))
    assert result.status == Status.PASSED
    assert result.summary.startswith("1 marked test passed in the container (not run on the "
                                     "host: they cannot be collected on the host: tests.")


def test_readiness_only_runs_in_the_container_only_and_says_so() -> None:
    result = testparity.verdict(None, testparity.parse_run(ONE_PASSED), "--shipready-only")
    assert result.status == Status.PASSED
    assert result.summary == ("1 marked test passed in the container (not run on the host: "
                              "--shipready-only)")


def test_both_places_unable_to_collect_is_a_skip_not_a_verdict() -> None:
    broken = testparity.parse_run(COLLECTION_ERROR)
    result = testparity.verdict(broken, broken)
    assert result.status == Status.SKIPPED
    assert "cannot be collected in the container" in result.summary


def test_host_passes_but_the_container_cannot_collect_fails() -> None:
    result = testparity.verdict(testparity.parse_run(ONE_PASSED),
                                testparity.parse_run(COLLECTION_ERROR))
    assert result.status == Status.FAILED
    assert "No module named 'factory'" in result.findings[0].message


def test_no_marked_tests_is_a_skip() -> None:
    empty = testparity.TestRun({})
    assert testparity.verdict(empty, empty).status == Status.SKIPPED
    assert testparity.verdict(None, empty, "--shipready-only").status == Status.SKIPPED
