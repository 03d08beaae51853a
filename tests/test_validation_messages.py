"""Messages that name what was found: SR100 with requirements files that are not locks,
SR404 without the default tests/ directory, and one line count for every log check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE


def test_sr404_names_the_missing_tests_directory_and_the_key(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "tests"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = pytester.runpytest_subprocess("--shipready-only", "--shipready-offline", "-k",
                                           "SR404", "-rs", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([
        "*SR404*no tests/ directory ([[]tool.shipready.parity[]] tests = [[]...[]] names "
        "where the tests marked shipready_parity are)*"])
    result.assert_outcomes(skipped=1)


def test_every_log_check_counts_the_same_lines() -> None:
    """A log with blank lines (gunicorn's banner, a print()) and an exception: SR501, SR504
    and SR505 count the same lines, which are the non-blank ones."""
    from pytest_shipready.logs.lines import check_all

    def event(**extra: object) -> bytes:
        return json.dumps({"event": "x", "level": "info",
                           "timestamp": "2026-05-01T12:00:00Z", **extra}).encode()

    log = [event(), b"", event(exception=[{"exc_type": "ValueError", "frames": []}]), b"   ", event(), b"\r", b""]
    got = {r.check_id: r for r in check_all(log, env={"API_TOKEN": "s3cr3t-t0ken-value"})}
    checked = {cid: got[cid].figures.get("checked") for cid in ("SR501", "SR504", "SR505")}
    assert checked == {"SR501": 3, "SR504": 3, "SR505": 3}, checked
    assert got["SR505"].summary.startswith("3 lines free of secrets")
    assert got["SR501"].summary == "3 lines, all JSON objects"


def test_a_log_of_blank_lines_has_no_line_to_search_for_secrets() -> None:
    from pytest_shipready.logs.lines import check_all

    got = {r.check_id: r for r in check_all([b"", b"  ", b""])}
    assert got["SR505"].status.value == "skipped"
    assert "no line to search for secrets" in got["SR505"].summary
