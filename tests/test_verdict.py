"""The verdict agrees with what ran: errors, the user's marked tests, -x, and a missing
engine in CI all make a run NOT READY, in the terminal and the reports alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from conftest import EXAMPLE
from pytest_shipready import report
from pytest_shipready.checks import docker_requirement

SCHEMA = json.loads(report.SCHEMA_FILE.read_text())


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    return pytester.path


def _report(project: Path) -> dict[str, object]:
    doc = json.loads((project / "r.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_a_check_that_crashes_is_an_error_and_not_ready(
        project: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_shipready.locks import pipcompile

    def broken(lock: object) -> object:
        raise RuntimeError("a bug in the check")

    monkeypatch.setattr(pipcompile, "check_pinned", broken)
    result = pytester.runpytest("--shipready", "--shipready-offline", "-p", "no:cacheprovider",
                                "-k", "SR101 or SR102", "--shipready-report=r.json")
    result.stdout.fnmatch_lines([
        "*SR101*pinned*ERROR*error: RuntimeError: a bug in the check",
        "NOT READY: 1 ended in an error (SR101); 1 passed, 0 skipped",
    ])
    doc = _report(project)
    assert doc["verdict"] == "not-ready"
    assert doc["counts"] == {"passed": 1, "failed": 0, "skipped": 0, "error": 1}
    (md,) = [r for r in doc["results"] if r["status"] == "error"]  # type: ignore[union-attr]
    assert md["check_id"] == "SR101" and "a bug in the check" in md["summary"]
    assert "NOT READY" in report.markdown(doc)


def test_a_failing_marked_test_makes_the_run_not_ready(project: Path,
                                                      pytester: pytest.Pytester) -> None:
    (project / "tests" / "test_mine.py").write_text(
        "import pytest\n\n@pytest.mark.shipready\ndef test_migrations_apply():\n"
        "    assert False, 'migration 0042 fails'\n\n"
        "@pytest.mark.shipready\ndef test_config_loads():\n    pass\n")
    result = pytester.runpytest("--shipready", "--shipready-offline", "-p", "no:cacheprovider",
                                "-k", "SR101 or test_mine", "--shipready-report=r.json")
    result.stdout.fnmatch_lines([
        "NOT READY: 1 marked readiness test failed "
        "(tests/test_mine.py::test_migrations_apply); 1 passed, 0 skipped"])
    doc = _report(project)
    assert doc["verdict"] == "not-ready"
    assert doc["tests"] == {"passed": 1, "failed": 1, "skipped": 0,
                            "failed_nodeids": ["tests/test_mine.py::test_migrations_apply"]}
    assert "tests/test_mine.py::test_migrations_apply" in report.markdown(doc)


def test_passing_marked_tests_are_counted_in_a_ready_verdict(project: Path,
                                                            pytester: pytest.Pytester) -> None:
    (project / "tests" / "test_mine.py").write_text(
        "import pytest\n\n@pytest.mark.shipready\ndef test_config_loads():\n    pass\n")
    result = pytester.runpytest("--shipready", "--shipready-offline", "-p", "no:cacheprovider",
                                "-k", "SR101 or test_mine")
    result.stdout.fnmatch_lines(["READY: 1 passed, 0 skipped; 1 marked readiness tests passed"])


def test_exitfirst_is_named_as_stopping_early_not_as_deselection(
        project: Path, pytester: pytest.Pytester) -> None:
    lock = project / "requirements.txt"
    lock.write_text(lock.read_text().replace("==", ">=", 1))  # SR101 fails first
    result = pytester.runpytest("--shipready", "--shipready-offline", "-p", "no:cacheprovider",
                                "-x", "--shipready-report=r.json")
    result.stdout.fnmatch_lines([
        "NOT READY: 1 failed (SR101); * checks not reached: the run stopped early "
        "(stopping after 1 failures)*",
        "Note: * of * readiness checks did not run: the run stopped early*"])
    assert "deselected" not in result.stdout.str().split("ship readiness")[-1]
    doc = _report(project)
    assert doc["stopped_early"] and doc["deselected"] == 0 and doc["not_run"] > 20


@pytest.mark.parametrize(("flag", "configured", "environ", "required"), [
    (False, None, {}, False),
    (False, None, {"CI": "true"}, True),
    (False, None, {"CI": "false"}, False),
    (False, False, {"CI": "true"}, False),
    (False, True, {}, True),
    (True, False, {}, True),
])
def test_docker_requirement(flag: bool, configured: bool | None, environ: dict[str, str],
                            required: bool) -> None:
    assert docker_requirement(flag, configured, environ)[0] is required


def test_in_ci_a_missing_engine_is_not_ready(project: Path, pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("--shipready", "--shipready-offline", "-p", "no:cacheprovider",
                                "-k", "SR210", "-rA")
    result.stdout.fnmatch_lines(["*SR210*FAILED*no Docker engine (CI is set*",
                                 "NOT READY: 1 failed (SR210)*"])


def test_require_docker_false_skips_even_in_ci(project: Path, pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        "[tool.shipready]", "[tool.shipready]\nrequire_docker = false", 1))
    assert "require_docker = false" in pyproject.read_text()
    result = pytester.runpytest("--shipready", "--shipready-offline", "-p", "no:cacheprovider",
                                "-k", "SR210", "-rA")
    result.stdout.fnmatch_lines(["*SR210*SKIPPED*require_docker = true) makes this a failure*",
                                 "READY: 0 passed, 1 skipped"])


def _ini(project: Path, *lines: str) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert "[tool.pytest.ini_options]\n" in text
    pyproject.write_text(text.replace("[tool.pytest.ini_options]\n",
                                      "[tool.pytest.ini_options]\n" + "\n".join(lines) + "\n"))


def test_an_internalerror_before_any_item_is_not_ready(project: Path,
                                                      pytester: pytest.Pytester) -> None:
    # The project's own ini turns pytest's warning about an unknown key (a plugin that is
    # not installed here) into an INTERNALERROR after collection: nothing runs.
    _ini(project, 'filterwarnings = "error"', 'env = ["A=1"]')
    result = pytester.runpytest("--shipready", "--shipready-offline", "-p", "no:cacheprovider",
                                "--shipready-report=r.json")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines([
        "pytest-shipready: NOT READY: * checks not reached: the run stopped early (pytest "
        "stopped with an INTERNALERROR); 0 passed, 0 skipped"])
    doc = _report(project)
    assert doc["verdict"] == "not-ready" and doc["results"] == [] and doc["not_run"] > 20
    assert "INTERNALERROR" in str(doc["stopped_early"])
    assert report.markdown(doc).startswith("## Ship readiness: NOT READY")


def test_checks_collected_but_not_run_are_never_ready() -> None:
    from pytest_shipready.config import load

    doc = report.build(load(EXAMPLE), [], not_run=30)
    assert doc["verdict"] == "not-ready"
    assert report.verdict_lines(doc) == [
        ("NOT READY: 30 checks not reached: they did not run; 0 passed, 0 skipped", True)]
    assert report.build(load(EXAMPLE), [], not_run=30, deselected=30)["verdict"] == "ready"


def test_an_error_in_a_checks_teardown_is_part_of_the_verdict(
        project: Path, pytester: pytest.Pytester) -> None:
    (project / "conftest.py").write_text(
        "import pytest\n\n@pytest.hookimpl(wrapper=True)\n"
        "def pytest_runtest_teardown(item):\n"
        "    yield\n"
        "    if item.nodeid.endswith('::pinned'):\n"
        "        raise RuntimeError('teardown went wrong')\n")
    result = pytester.runpytest("--shipready", "--shipready-offline", "-p", "no:cacheprovider",
                                "-k", "SR101 or SR102", "--shipready-report=r.json")
    result.stdout.fnmatch_lines([
        "NOT READY: 1 ended in an error (SR101); 1 passed, 0 skipped"])
    doc = _report(project)
    assert doc["verdict"] == "not-ready"
    (sr101,) = [r for r in doc["results"] if r["check_id"] == "SR101"]  # type: ignore[union-attr]
    assert sr101["status"] == "error" and sr101["summary"].startswith(
        "error in teardown: RuntimeError: teardown went wrong")


def test_no_engine_leaves_no_unclosed_socket_for_filterwarnings_error(
        project: Path, pytester: pytest.Pytester) -> None:
    # docker-py leaves the socket of a refused connect open; under the project's
    # filterwarnings = "error" its ResourceWarning became an ERROR of a later item.
    _ini(project, 'filterwarnings = ["error", "ignore::ResourceWarning:urllib.request"]')
    result = pytester.runpytest_subprocess(
        "--shipready", "--shipready-offline", "-p", "no:cacheprovider", "-k",
        "shipready and (SR210 or SR304 or SR321 or SR401 or SR501)")
    result.stdout.fnmatch_lines(["READY: 0 passed, 5 skipped"])
    assert result.ret == 0, result.stdout.str()[-3000:]
