"""The corpus: small sample projects shaped like real public services (see
docs/validation.md), each run as a readiness job would run it, with the verdict every
item must get. Real engine, real builds; `--shipready-offline` keeps the index out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import EXAMPLE, REPO

pytestmark = pytest.mark.docker
FIXTURES = REPO / "tests" / "fixtures"

# Every project starts as the example service (its app, lock and tests), overlaid with
# the files that give it its shape.
PROJECTS = {  # name: (overlay, files of the example to drop)
    "no-cmd": ("corpus/no-cmd", ()),
    "procfile": ("corpus/procfile", ()),
    "conftest-import": ("corpus/conftest-import", ()),
    "multistage-venv": ("corpus/multistage-venv", ()),
    "buildkit-cache": ("corpus/buildkit-cache", ()),
    "dev-server": ("corpus/dev-server", ()),
    "poetry": ("poetry-service", ("requirements.txt", "requirements.in")),
    "uv-dev-groups": ("uv-env-service", ("requirements.txt", "requirements.in")),
}

# The verdict of every item, one letter per project in PROJECTS' order (P passed,
# F failed, S skipped, - not an item of that project). Read down a column for a project.
TABLE = """
lockfile::requirements.txt::pinned              P P P P P P - -
lockfile::requirements.txt::hashed              P P P P P P - -
lockfile::requirements.txt::covers-inputs       P P P P P P - -
lockfile::requirements.txt::fresh               S S S S S S - -
lockfile::requirements.txt::portable            P P P P P P - -
lockfile::requirements.txt::hashes-match-index  S S S S S S - -
lockfile::poetry.lock::pinned                   - - - - - - P -
lockfile::poetry.lock::hashed                   - - - - - - P -
lockfile::poetry.lock::covers-inputs            - - - - - - P -
lockfile::poetry.lock::fresh                    - - - - - - P -
lockfile::poetry.lock::portable                 - - - - - - P -
lockfile::poetry.lock::hashes-match-index       - - - - - - S -
lockfile::uv.lock::pinned                       - - - - - - - P
lockfile::uv.lock::hashed                       - - - - - - - P
lockfile::uv.lock::covers-inputs                - - - - - - - P
lockfile::uv.lock::fresh                        - - - - - - - P
lockfile::uv.lock::portable                     - - - - - - - P
lockfile::uv.lock::hashes-match-index           - - - - - - - S
dockerfile::Dockerfile::base-pinned             P P P P P P P P
dockerfile::Dockerfile::non-root-user           P P P P P P P P
dockerfile::Dockerfile::healthcheck             P P P P P P P P
dockerfile::Dockerfile::no-secrets              P P P P P P P P
dockerfile::Dockerfile::lock-used               P P P P P P P P
dockerfile::Dockerfile::dockerignore            P P P P P P P P
dockerfile::Dockerfile::start-command           F P P P P P P P
dockerfile::Dockerfile::production-server       S P P P P F P P
image::build                                    P P P P P P P P
image::size                                     S S S S S S S S
smoke::ready                                    F P P P P F P P
smoke::stays-up                                 S P P P P S P P
smoke::non-root-runtime                         S P P P P S P P
smoke::commands                                 S S S S S S S S
smoke::graceful-shutdown                        S P P P P S P P
parity::python                                  S P P P P S P P
parity::packages                                S P P P P S P P
parity::environment                             S S S S S S S S
parity::tests                                   S S S S S S S S
logs::structured                                S P P P P S P P
logs::required-keys                             S P P P P S P P
logs::levels-and-timestamps                     S P P P P S P P
logs::exceptions-structured                     S S S S S S S S
logs::no-secrets                                S P P P P S P P
logs::setup                                     P P P P P P P P
"""
WORD = {"P": "passed", "F": "failed", "S": "skipped"}

# What some verdicts must say: (project, node) -> text in the summary or a finding.
SAYS = {
    ("no-cmd", "dockerfile::Dockerfile::start-command"): "it runs python:3.11-slim's",
    ("no-cmd", "smoke::ready"): "the container exited after",
    ("no-cmd", "logs::structured"): "the container did not become ready",
    ("procfile", "dockerfile::Dockerfile::start-command"): "[tool.shipready.smoke] command",
    ("procfile", "dockerfile::Dockerfile::production-server"): "the Procfile's web process",
    ("conftest-import", "parity::tests"): "not run on the host (--shipready-only)",
    ("buildkit-cache", "image::build"): "BuildKit via",
    ("dev-server", "dockerfile::Dockerfile::production-server"): "python -m http.server",
    ("dev-server", "smoke::ready"): "the last probe said",
    ("poetry", "parity::packages"): "installed at the locked versions",
    ("uv-dev-groups", "parity::packages"): "installed at the locked versions",
}


def expected(project: str) -> dict[str, str]:
    column = list(PROJECTS).index(project)
    out = {}
    for row in TABLE.strip().splitlines():
        node, *letters = row.split()
        if letters[column] != "-":
            out[node] = WORD[letters[column]]
    return out


def make(tmp_path: Path, project: str) -> Path:
    overlay, drop = PROJECTS[project]
    target = tmp_path / f"{project.replace('-', '')}{uuid.uuid4().hex[:6]}"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc"))
    if (FIXTURES / overlay / "pyproject.toml").is_file():
        (target / "pyproject.toml").unlink()
    for name in drop:
        (target / name).unlink()
    shutil.copytree(FIXTURES / overlay, target, dirs_exist_ok=True)
    return target


def readiness_job(project: Path) -> tuple[int, dict[str, dict[str, object]], str]:
    """`pytest --shipready-only` as a readiness job runs it; the results by node id."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    report = project / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--shipready-only", "--shipready-offline", "-p",
         "no:cacheprovider", "-p", "no:randomly", f"--shipready-report={report}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600)
    doc = json.loads(report.read_text())
    results = {r["nodeid"].removeprefix("shipready::"): r for r in doc["results"]}
    return proc.returncode, results, proc.stdout


def _text(result: dict[str, object]) -> str:
    findings = result.get("findings") or []
    assert isinstance(findings, list)
    return " ".join([str(result["summary"]), *(str(f["message"]) for f in findings)])


@pytest.mark.parametrize("project", list(PROJECTS))
def test_corpus_project_gets_the_right_verdict_for_every_item(tmp_path: Path,
                                                             project: str) -> None:
    code, results, out = readiness_job(make(tmp_path, project))
    got = {node: str(r["status"]) for node, r in results.items()}
    assert got == expected(project), out[-3000:]
    for (name, node), text in SAYS.items():
        if name == project:
            assert text in _text(results[node]), (node, results[node])
    assert code == (1 if "failed" in got.values() else 0), out[-2000:]


def _outcomes(results: dict[str, dict[str, object]]) -> dict[str, str]:
    return {node: str(r["status"]) for node, r in results.items()}


def test_outcomes_are_the_same_on_every_run(tmp_path: Path) -> None:
    """A container that exits at once, five times, and the example twice: the same
    verdict for every item each time (and one session container per run)."""
    no_cmd = make(tmp_path, "no-cmd")
    since = subprocess.run(["date", "+%s"], capture_output=True, text=True).stdout.strip()
    first = _outcomes(readiness_job(no_cmd)[1])
    for _ in range(4):
        assert _outcomes(readiness_job(no_cmd)[1]) == first
    assert first["smoke::ready"] == "failed"
    until = str(int(subprocess.run(["date", "+%s"], capture_output=True,
                                   text=True).stdout) + 1)
    created = subprocess.run(
        ["docker", "events", "--since", since, "--until", until, "--filter", "type=container",
         "--filter", "event=create", "--filter",
         f"label=io.pytest-shipready.project=pytest-shipready/{no_cmd.name.lower()}"],
        capture_output=True, text=True, timeout=60).stdout.splitlines()
    # The build's own intermediate containers run an image id; the run's from the tag.
    runs = [e for e in created if f"(image=pytest-shipready/{no_cmd.name.lower()}:" in e]
    assert len(runs) == 5, created  # one session container per run
    example = tmp_path / "example"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("__pycache__"))
    again = _outcomes(readiness_job(example)[1])
    assert _outcomes(readiness_job(example)[1]) == again
    assert again["smoke::ready"] == "passed"
