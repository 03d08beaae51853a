"""Reports: the JSON document against its schema, the Markdown structure, GitHub summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from conftest import EXAMPLE
from pytest_shipready import report
from pytest_shipready.checks import CheckResult, Finding
from pytest_shipready.config import Settings, ShipreadyConfig

SCHEMA = json.loads(report.SCHEMA_FILE.read_text())


def sample_results() -> list[dict[str, object]]:
    ok = CheckResult.passed("SR101", "2 requirements pinned", requirements=2)
    bad = CheckResult.failed("SR105", "1 entry | only works here", [
        Finding("--find-links /opt/wheels is a local path", "requirements.txt", 7,
                "Re-run pip-compile with --no-emit-find-links")])
    skip = CheckResult.skipped("SR104", "offline")
    out = []
    for result, name in ((ok, "pinned"), (bad, "portable"), (skip, "fresh")):
        out.append({**result.to_json(), "name": name, "area": "lockfile",
                    "subject": "requirements.txt",
                    "nodeid": f"shipready::lockfile::requirements.txt::{name}",
                    "duration": 0.01})
    return out


def test_json_report_is_valid_against_the_schema(tmp_path: Path) -> None:
    doc = report.build(Settings(tmp_path, None, ShipreadyConfig()), sample_results())
    jsonschema.validate(doc, SCHEMA)
    assert doc["verdict"] == "not-ready"
    assert doc["counts"] == {"passed": 1, "failed": 1, "skipped": 1, "error": 0}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "verdict": "maybe"}, SCHEMA)


def test_markdown_structure(tmp_path: Path) -> None:
    doc = report.build(Settings(tmp_path, None, ShipreadyConfig()), sample_results())
    text = report.markdown(doc)
    lines = text.splitlines()
    assert lines[0] == "## Ship readiness: NOT READY ❌"
    assert "### lockfile" in lines
    header = lines.index("| ID | check | status | details |")
    rows = lines[header + 2: header + 5]
    assert [r.split(" | ")[0] for r in rows] == ["| SR101", "| SR105", "| SR104"]
    assert all(r.count(" | ") == 3 for r in rows), rows  # the | in a summary is escaped
    assert "### Failures" in lines
    assert "- `requirements.txt:7` --find-links /opt/wheels is a local path" in lines
    assert "  - fix: Re-run pip-compile with --no-emit-find-links" in lines


def test_report_by_extension_and_github_summary(pytester: pytest.Pytester, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no docker here
    pytester.runpytest("--shipready", "--shipready-offline", "-m", "shipready",
                       "--shipready-report=r/report.json")
    doc = json.loads((pytester.path / "r" / "report.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert {r["name"] for r in doc["results"] if r["area"] == "lockfile"} == {
        "pinned", "hashed", "covers-inputs", "fresh", "portable", "hashes-match-index"}
    text = summary.read_text()
    assert text.startswith("earlier step\n## Ship readiness: READY ✅")
    assert "> Note: the image was not built, so the image, smoke, parity and container-log " \
        "checks did not run (see shipready::image::build)." in text
    pytester.runpytest("--shipready", "--shipready-offline", "-m", "shipready",
                       "--shipready-report=r/report.md")
    assert (pytester.path / "r" / "report.md").read_text().startswith("## Ship readiness")


def test_interrupted_run_is_not_ready(pytester: pytest.Pytester,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C after the readiness items ran (they run first): the checks so far passed,
    # but a cancelled run must never read as ready.
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    (pytester.path / "tests" / "test_zz_interrupt.py").write_text(
        "def test_stop():\n    raise KeyboardInterrupt\n")
    # In a subprocess: in-process, pytester hands the KeyboardInterrupt on to this run.
    result = pytester.runpytest_subprocess("--shipready", "--shipready-offline",
                                           "--shipready-report=r.json")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["NOT READY: the run was interrupted (* checks ran: "
                                 "* passed, 0 failed, * skipped)"])
    assert "READY:" not in result.stdout.str().replace("NOT READY:", "")
    doc = json.loads((pytester.path / "r.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert (doc["verdict"], doc["interrupted"], doc["counts"]["failed"]) == (
        "not-ready", True, 0)
    assert "The run was interrupted" in report.markdown(doc)


def test_unwritable_report_is_one_line_not_a_crash(pytester: pytest.Pytester,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    (pytester.path / "blocker").write_text("a file, not a directory")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "blocker" / "s.md"))
    result = pytester.runpytest("--shipready", "--shipready-offline", "-k", "SR101",
                                "--shipready-report=blocker/r.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "pytest-shipready: cannot write the report to */blocker/r.json: *",
        "pytest-shipready: cannot write the step summary to */blocker/s.md "
        "($GITHUB_STEP_SUMMARY): *",
        "*= ship readiness =*",
    ])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_markdown_keeps_a_multi_line_finding_readable(tmp_path: Path) -> None:
    results = [{"check_id": "SR404", "status": "failed", "area": "parity", "subject": None,
                "name": "tests", "summary": "1 test differs between the host and the container",
                "nodeid": "shipready::parity::tests", "duration": 1.0, "figures": {},
                "findings": [{"message": "tests.t::f: passed on the host, failed in the "
                              "container\nin the container: assert False\n    + where x",
                              "path": None, "line": None, "hint": "Make the image match"}]}]
    text = report.markdown(report.build(Settings(tmp_path, None, ShipreadyConfig()), results))
    assert "- tests.t::f: passed on the host, failed in the container\n\n  ```text\n" \
        "  in the container: assert False\n      + where x\n  ```\n" in text


def test_a_partial_selection_says_how_much_ran(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = pytester.runpytest("--shipready", "--shipready-offline", "-k", "SR101",
                                "--shipready-report=r.json")
    result.stdout.fnmatch_lines([
        "READY: 1 passed, 0 skipped",
        "Note: * of * readiness checks were deselected (-k, -m or --lf) and did not run.",
    ])
    doc = json.loads((pytester.path / "r.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["not_run"] >= 20 and doc["counts"]["passed"] == 1
    assert doc["deselected"] == doc["not_run"] and doc["verdict"] == "ready"
    assert "readiness checks were deselected" in report.markdown(doc)
