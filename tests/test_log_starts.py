"""After the log cap: lines too long to keep are judged by their start (JSON or text,
secret shapes), a line crossing the cap is sampled whole, and every verdict says what
was not read. Pure: the collector and the logs area on made-up logs."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_shipready.checks import CheckResult, ContainerLogs
from pytest_shipready.config import Settings, ShipreadyConfig
from pytest_shipready.container.run.logcap import PREFIX_BYTES, LogCollector
from pytest_shipready.logs import area

GOOD = json.dumps({"event": "tick", "level": "info",
                   "timestamp": "2024-05-01T12:00:00Z"}).encode()


def collect(data: bytes, cap: int) -> ContainerLogs:
    collector = LogCollector(cap)
    for i in range(0, len(data), 7_000):  # chunks that cut lines anywhere
        collector.feed(data[i:i + 7_000])
    return collector.result({})


def verdicts(logs: ContainerLogs) -> dict[str, CheckResult]:
    checks = area.plan_with(Settings(Path("."), None, ShipreadyConfig()), lambda: logs)
    return {c.check_id: c.run() for c in checks if c.check_id != "SR510"}


def test_a_first_line_longer_than_the_cap_is_judged_by_its_start() -> None:
    text = b"started password=hunter2hunter2 " + b"x" * 50_000 + b"\n" + GOOD + b"\n"
    logs = collect(text, 20_000)
    assert logs.long_lines == 1 and len(logs.prefixes[0]) == PREFIX_BYTES
    found = verdicts(logs)
    assert found["SR501"].status.value == "failed"
    assert found["SR505"].status.value == "failed"
    assert "hunter2hunter2" not in json.dumps(found["SR505"].to_json())
    big_json = json.dumps({"event": "x", "level": "info", "pad": "a" * 50_000}).encode()
    found = verdicts(collect(big_json + b"\n" + GOOD + b"\n", 20_000))
    assert found["SR501"].status.value == "passed"
    assert "1 line longer than 16 KB: judged by its first 16 KB only" in \
        found["SR501"].summary
    assert "not its keys, levels or exceptions" in found["SR502"].summary


def test_long_lines_after_the_cap_are_judged_not_passed_over() -> None:
    data = (GOOD + b"\n") * 200 + b"plain " + b"y" * 30_000 + b"\n" + (GOOD + b"\n") * 5
    found = verdicts(collect(data, 3_000))
    assert found["SR501"].status.value == "failed", found["SR501"].summary
    assert found["SR501"].summary.startswith("1 of 206 lines checked are not JSON objects")


def test_the_line_that_crosses_the_cap_is_sampled_whole() -> None:
    """A cap that falls inside a line cut it, and its start failed SR501 falsely."""
    logs = collect((GOOD + b"\n") * 100, 1_000)
    assert all(line == GOOD for line in logs.lines)
    assert verdicts(logs)["SR501"].status.value == "passed"
