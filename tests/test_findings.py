from __future__ import annotations

import json

from pytest_shipready.checks import CheckResult, Finding, Status, plural


def test_check_result_round_trips_through_json() -> None:
    result = CheckResult.failed(
        "SR101", "1 of 2 requirements not pinned",
        [Finding("flask>=3 is not pinned", "requirements.txt", 4, "pin it")],
        requirements=2,
    )
    again = CheckResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again == result
    assert again.status is Status.FAILED
    assert again.findings[0].where() == "requirements.txt:4"


def test_from_findings_passes_without_findings() -> None:
    result = CheckResult.from_findings("SR105", [], "ok", "bad")
    assert (result.status, result.summary) == (Status.PASSED, "ok")


def test_plural() -> None:
    assert plural(1, "pin") == "1 pin"
    assert plural(2, "entry", "entries") == "2 entries"
