"""Fast by default: SR104's cache (key, age, what is reused), its re-resolution in the
background, the progress lines of long phases, and their timings in the report.

The cache key and the phase clock are pure logic, tested directly; the cache and the
progress lines are tested as users meet them, with pytester on the example and the
real pip-compile (network).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLE
from pytest_shipready.checks import CheckResult, Status
from pytest_shipready.locks import pipcompile, resolve, resolvecache
from pytest_shipready.progress import Phases

VERSIONS = {"python": "3.11.7", "pip-tools": "7.4.1", "pip": "24.0",
            "pytest-shipready": "0.1.0"}


class DictCache:
    """pytest's cache interface over a dict (get with a default, set)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any) -> Any:
        return json.loads(json.dumps(self.data[key])) if key in self.data else default

    def set(self, key: str, value: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))


def _key(project: Path, argv: list[str] | None = None, pip_config: str = "isolated",
         versions: dict[str, str] | None = None, environ: dict[str, str] | None = None
         ) -> str:
    return resolvecache.cache_key(project / "requirements.txt",
                                  [project / "requirements.in"],
                                  argv or ["--generate-hashes", "requirements.in"], project,
                                  pip_config, environ or {}, versions or VERSIONS)


def test_cache_key_changes_with_the_lock_its_inputs_arguments_and_versions(
        example: Path) -> None:
    base = _key(example)
    assert _key(example) == base  # the same inputs: the same key
    lock = example / "requirements.txt"
    original = lock.read_text()
    lock.write_text(original + "\n")
    assert _key(example) != base, "an edit to the lock re-resolves"
    lock.write_text(original)
    inputs = example / "requirements.in"
    text = inputs.read_text()
    inputs.write_text(text + "# a comment\n")
    assert _key(example) != base, "an edit to an input re-resolves"
    inputs.write_text(text)
    assert _key(example) == base
    assert _key(example, ["--generate-hashes", "--allow-unsafe", "requirements.in"]) != base
    assert _key(example, versions={**VERSIONS, "pip-tools": "7.5.0"}) != base
    assert _key(example, versions={**VERSIONS, "python": "3.12.1"}) != base
    assert _key(example, pip_config="inherit") != base
    # inherited pip configuration: its PIP_* variables are part of the key
    inherited = _key(example, pip_config="inherit", environ={"PIP_INDEX_URL": "https://a"})
    assert inherited != _key(example, pip_config="inherit",
                             environ={"PIP_INDEX_URL": "https://b"})


def test_resolution_key_ignores_the_temporary_output_and_absolute_paths(
        example: Path, tmp_path: Path) -> None:
    lock = pipcompile.load(example / "requirements.txt", example)
    inputs = pipcompile.read_inputs(lock, example)
    key = resolve.resolution_key(lock, inputs, example, "isolated")
    assert key == resolve.resolution_key(lock, inputs, example, "isolated")
    # The same project elsewhere (another checkout path): the same key.
    other = tmp_path / "elsewhere"
    shutil.copytree(example, other)
    lock2 = pipcompile.load(other / "requirements.txt", other)
    assert resolve.resolution_key(lock2, pipcompile.read_inputs(lock2, other), other,
                                  "isolated") == key


def test_a_cached_pass_says_so_and_how_old_it_is_until_max_age() -> None:
    cache = DictCache()
    passed = CheckResult.passed("SR104", "re-resolution matches 14 pins in 16.2 s",
                                seconds=16.2, requirements=14)
    resolvecache.store(cache, "requirements.txt", "k1", 1000.0, passed)
    hit = resolvecache.lookup(cache, "requirements.txt", "k1", 1000.0 + 7200, 86400)
    assert hit is not None and hit.status == Status.PASSED
    assert hit.summary.startswith("re-resolution matches 14 pins in 16.2 s; cached 2.0 h ago")
    assert "--cache-clear" in hit.summary and "resolve_max_age" in hit.summary
    assert hit.figures["cached_age_s"] == 7200.0 and hit.figures["requirements"] == 14
    # another key (an edit), too old, or caching off: no hit
    assert resolvecache.lookup(cache, "requirements.txt", "k2", 1000.0, 86400) is None
    assert resolvecache.lookup(cache, "requirements.txt", "k1", 1000.0 + 86401, 86400) is None
    assert resolvecache.lookup(cache, "requirements.txt", "k1", 1000.0, 0) is None
    assert resolvecache.lookup(None, "requirements.txt", "k1", 1000.0, 86400) is None
    # another lock of the project has its own entry
    assert resolvecache.lookup(cache, "requirements/dev.txt", "k1", 1000.0, 86400) is None


def test_only_a_pass_is_cached() -> None:
    cache = DictCache()
    for result in (CheckResult.failed("SR104", "changes 1 entry", []),
                   CheckResult.skipped("SR104", "cannot reach the package index")):
        resolvecache.store(cache, "requirements.txt", "k", 0.0, result)
    assert cache.data == {}


def test_a_phase_writes_start_heartbeat_and_end_lines_and_records_its_time() -> None:
    lines: list[tuple[float, str]] = []
    started = time.monotonic()
    phases = Phases(lambda line: lines.append((time.monotonic() - started, line)),
                    heartbeat=0.1)
    with phases.phase("build", "building the image") as phase:
        phase.status("Step 2/5 : RUN pip install -r requirements.txt")
        time.sleep(0.35)
        phase.end = "image built"
    texts = [text for _, text in lines]
    assert texts[0] == "shipready: building the image ..."
    beats = [t for t in texts[1:-1]]
    assert len(beats) >= 2, texts
    assert all(t.startswith("shipready: building the image: Step 2/5 : RUN pip install")
               for t in beats), beats
    assert texts[-1].startswith("shipready: image built (") and texts[-1].endswith(" s)")
    assert phases.drain()["build"] >= 0.35
    assert phases.drain() == {}
    # Nothing is written once the phase has returned (the ticker is joined).
    count = len(lines)
    time.sleep(0.25)
    assert len(lines) == count
    assert not [t for t in threading.enumerate() if t.name.startswith("shipready progress")]


def test_a_quiet_phase_that_is_short_says_nothing() -> None:
    lines: list[str] = []
    phases = Phases(lines.append, heartbeat=5)
    with phases.phase("stop", "stopping the container", quiet_start=True):
        pass
    assert lines == []
    assert "stop" in phases.drain()


# --- as users meet it: pytester on the example, real pip-compile ----------------------


def _sr104(pytester: pytest.Pytester, *args: str) -> tuple[dict[str, Any], str]:
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "--shipready", "-k", "fresh", f"--shipready-report={report}", *args, timeout=300)
    doc = json.loads(report.read_text())
    (found,) = [r for r in doc["results"] if r["check_id"] == "SR104"]
    return found, result.stdout.str()


@pytest.mark.network
@pytest.mark.usefixtures("isolated_pip")
def test_sr104_is_cached_and_an_edit_to_the_lock_or_an_input_reruns_it(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    example = pytester.path
    first, out = _sr104(pytester)
    assert first["status"] == "passed", out
    assert "cached" not in first["summary"]
    # Re-resolved in the background, from the start of the run; the lines say so.
    assert "shipready: re-resolving requirements.txt with pip-compile, in the background" \
        in out, out
    assert "shipready: re-resolved requirements.txt in " in out, out
    assert first["phases"]["resolve"] > 0
    again, out = _sr104(pytester)
    assert again["status"] == "passed"
    assert " ago (the lock, its inputs and the resolver are unchanged" in again["summary"]
    assert "re-resolving" not in out
    # An edit to an input (even a comment) re-resolves.
    inputs = example / "requirements.in"
    inputs.write_text(inputs.read_text() + "# reviewed\n")
    edited, out = _sr104(pytester)
    assert "cached" not in edited["summary"] and "re-resolving" in out
    # So does an edit to the lock.
    lock = example / "requirements.txt"
    lock.write_text(lock.read_text() + "\n")
    edited, _ = _sr104(pytester)
    assert edited["status"] == "passed" and "cached" not in edited["summary"]
    cached, _ = _sr104(pytester)
    assert "cached" in cached["summary"]
    # --cache-clear, and resolve_max_age = 0, re-resolve.
    cleared, _ = _sr104(pytester, "--cache-clear")
    assert "cached" not in cleared["summary"]
    with (example / "pyproject.toml").open("a") as fh:
        fh.write("\n[tool.shipready.lockfile]\nresolve_max_age = 0\n")
    off, _ = _sr104(pytester)
    assert "cached" not in off["summary"]
