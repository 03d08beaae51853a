"""The corpus: small sample projects shaped like real public services (see
docs/validation.md), each run as a readiness job would run it, with the verdict every
item must get. Real engine, real builds; `--shipready-offline` keeps the index out."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import EXAMPLE, REPO, EngineEvents, remove_kept_image

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
    "writes-own-tree": ("corpus/writes-own-tree", ()),
    "leaky-layers": ("corpus/leaky-layers", ()),
    "unlogged-errors": ("corpus/unlogged-errors", ()),
}

# The check ID and verdict of every item, one letter per project in PROJECTS' order
# (P passed, F failed, S skipped, - not an item of that project). Read down a column for
# a project. The procfile project configures what the others leave unset (size budget,
# declared image facts, commands, required env, a test marked shipready_parity), so every
# check can pass.
TABLE = """
SR101 lockfile::requirements.txt::pinned             P P P P P P - - P P P
SR102 lockfile::requirements.txt::hashed             P P P P P P - - P P P
SR103 lockfile::requirements.txt::covers-inputs      P P P P P P - - P P P
SR104 lockfile::requirements.txt::fresh              S S S S S S - - S S S
SR105 lockfile::requirements.txt::portable           P P P P P P - - P P P
SR106 lockfile::requirements.txt::hashes-match-index S S S S S S - - S S S
SR101 lockfile::poetry.lock::pinned                  - - - - - - P - - - -
SR102 lockfile::poetry.lock::hashed                  - - - - - - P - - - -
SR103 lockfile::poetry.lock::covers-inputs           - - - - - - P - - - -
SR110 lockfile::poetry.lock::fresh                   - - - - - - P - - - -
SR105 lockfile::poetry.lock::portable                - - - - - - P - - - -
SR106 lockfile::poetry.lock::hashes-match-index      - - - - - - S - - - -
SR101 lockfile::uv.lock::pinned                      - - - - - - - P - - -
SR102 lockfile::uv.lock::hashed                      - - - - - - - P - - -
SR103 lockfile::uv.lock::covers-inputs               - - - - - - - P - - -
SR111 lockfile::uv.lock::fresh                       - - - - - - - P - - -
SR105 lockfile::uv.lock::portable                    - - - - - - - P - - -
SR106 lockfile::uv.lock::hashes-match-index          - - - - - - - S - - -
SR201 dockerfile::Dockerfile::base-pinned            P P P P P P P P P P P
SR202 dockerfile::Dockerfile::non-root-user          P P P P P P P P P P P
SR203 dockerfile::Dockerfile::healthcheck            P P P P P P P P P P P
SR204 dockerfile::Dockerfile::no-secrets             P P P P P P P P P P P
SR205 dockerfile::Dockerfile::lock-used              P P P P P P P P P P P
SR206 dockerfile::Dockerfile::dockerignore           P P P P P P P P P F P
SR207 dockerfile::Dockerfile::start-command          F P P P P P P P P P P
SR208 dockerfile::Dockerfile::production-server      S P P P P F P P P P P
SR209 dockerfile::Dockerfile::no-migrate-on-start    S P P P P P P P P P P
SR210 image::build                                   P P P P P P P P P P P
SR211 image::size                                    S P S S S S S S S S S
SR220 image::contents-secrets                        P P P P P P P P P F P
SR221 image::contents-waste                          P P P P P P P P P F P
SR230 image::declared-facts                          S P S S S S S S S S S
SR301 smoke::ready                                   F P P P P F P P P P P
SR302 smoke::stays-up                                S P P P P S P P P P P
SR303 smoke::non-root-runtime                        S P P P P S P P P P P
SR305 smoke::commands                                S P S S S S S S S S S
SR304 smoke::graceful-shutdown                       S P P P P S P P P P P
SR310 smoke::hardened-ready                          S P P P P S P P F P P
SR311 smoke::hardened-shutdown                       S P P P P S P P S P P
SR320 smoke::services                                S S S S S S S S S S S
SR321 smoke::release                                 S S S S S S S S S S S
SR520 smoke::metrics                                 S S P P P S S S P S F
SR521 smoke::error-event                             S S P P P S S S P S F
SR401 parity::python                                 S P P P P S P P P P P
SR402 parity::packages                               S P P P P S P P P P P
SR405 parity::pip-check                              S P P P P S P P P P P
SR406 parity::imports                                S P P P P S P P P P P
SR407 parity::single-install                         S P P P P S P P P P P
SR403 parity::environment                            S P S S S S S S S S S
SR404 parity::tests                                  S P S S S S S S S S S
SR501 logs::structured                               S P P P P S P P P P P
SR502 logs::required-keys                            S P P P P S P P P P P
SR503 logs::levels-and-timestamps                    S P P P P S P P P P P
SR504 logs::exceptions-structured                    S S P P P S S S P S S
SR505 logs::no-secrets                               S P P P P S P P P P P
SR510 logs::setup                                    P P P P P P P P P P P
SR600 deploy::manifests                              S S S S S S S S S S S
SR607 deploy::immutable-image                        S S S S S S S S S S S
"""
WORD = {"P": "passed", "F": "failed", "S": "skipped"}

# What some verdicts must say: (project, node) -> text in the summary or a finding.
SAYS = {
    ("no-cmd", "dockerfile::Dockerfile::start-command"): "it runs python:3.11-slim's",
    ("no-cmd", "smoke::ready"): "the container exited after",
    ("no-cmd", "logs::structured"): "the container did not become ready",
    ("procfile", "dockerfile::Dockerfile::start-command"): "[tool.shipready.smoke] command",
    ("procfile", "dockerfile::Dockerfile::production-server"): "the Procfile's web process",
    # No test names the marker: its conftest.py that cannot be imported is no reason.
    ("conftest-import", "parity::tests"): "no test is marked shipready_parity: no file in "
                                          "tests/ names the marker",
    ("buildkit-cache", "image::build"): "BuildKit via",
    ("dev-server", "dockerfile::Dockerfile::production-server"): "python -m http.server",
    ("dev-server", "smoke::ready"): "the last probe said",
    ("poetry", "parity::packages"): "installed at the locked versions",
    ("uv-dev-groups", "parity::packages"): "installed at the locked versions",
    ("writes-own-tree", "smoke::hardened-ready"):
        "it writes to /srv/app.pid on the read-only root filesystem",
    ("no-cmd", "smoke::hardened-ready"): "does not become ready even without restrictions",
    # BuildKit's layers: its WORKDIR makes one (the classic builder's made none)
    ("leaky-layers", "image::contents-secrets"):
        "/srv/deploy/.pypirc looks like a secret (PyPI credentials), in layer 5",
    ("leaky-layers", "image::contents-waste"): "3.0 MB of layer 6",
    ("unlogged-errors", "smoke::metrics"): "/prometheus answered 404",
    ("unlogged-errors", "smoke::error-event"): "logged for /fail-unlogged is at error level",
}


# What a PASS says it verified, per check: a count or the thing checked, never just "ok".
PASS_SAYS = {
    "SR101": r"^\d+ (requirements?|packages?) pinned",
    "SR102": r"^\d+ (requirements?|packages?) hashed",
    "SR103": r"^\d+ (input|direct) requirements? satisfied for linux/\w+, Python \d",
    "SR105": r"^no machine-local indexes",
    "SR110": r"^content-hash matches pyproject\.toml",
    "SR111": r"`uv lock --check` passes|offline comparison",
    "SR201": r"^\d+ base images? pinned",
    "SR202": r"^USER \S+ \(line \d+",
    "SR203": r"^HEALTHCHECK .+ \(line \d+\)$",
    "SR204": r"^\d+ ARG/ENV names?, none secret-looking$",
    "SR205": r"installs \S+ with hashes \(line \d+\)",
    "SR206": r"(leaves out|not in the context)",
    "SR207": r"starts `.+` \((CMD|ENTRYPOINT)|declared in \[tool\.shipready\.smoke\] command",
    "SR208": r"^no development server or auto-reload in \S",
    "SR209": r"^no schema migration at start in \S",
    "SR210": r" built in [\d.]+ s \(.+\), \d+ MB$",
    "SR211": r"^\d+ MB of \d+ MB$",
    "SR220": r"^no private keys, credential files, \.env or \.git in the \d+ layers",
    "SR221": r"^[\d.]+ MB wasted \(caches, files deleted later\) of a \d+ MB budget in \d+ lay",
    "SR230": r"^.+ as declared$",
    "SR301": r"^(the HEALTHCHECK command passed after [\d.]+ s \(run with docker exec; "
             r"the engine|healthy after [\d.]+ s|HTTP /\S* answered \d{3} after|log line /)",
    "SR302": r"^up [\d.]+ s after ready \(settle period [\d.]+ s\)$",
    "SR303": r"^uid \d+$",
    "SR304": r"^SIG\w+: exited -?\d+ in [\d.]+ s",
    "SR305": r"^\d+ command\(s\) succeeded$",
    "SR310": r"^(the HEALTHCHECK command passed|healthy after|HTTP /\S* answered|log line).* "
             r"under read-only root filesystem",
    "SR311": r"^SIG\w+: exited -?\d+ in [\d.]+ s under read-only root filesystem",
    "SR504": r"^\d+ exceptions? logged inside structured lines, no raw tracebacks in \d+",
    "SR520": r"^/\S+: \d+ samples of \d+ metrics in Prometheus text format$",
    "SR521": r"^/\S+ answered 5\d\d and was logged as \d+ structured error events? with the "
             r"exception as data$",
    "SR401": r"^Python \d+\.\d+\.\d+ matches \S",
    "SR402": r"^\d+ locked packages? installed at the locked versions",
    "SR403": r"^\d+ required variables? set$",
    "SR404": r"^\d+ marked tests? (passed in the container|with the same outcome)",
    "SR405": r"^no broken requirement among \d+ distributions? \(\d+ requirements? appl",
    "SR406": r"^\d+ imports? succeeded in /\S+: \S+ \(",
    "SR407": r"^\d+ distributions? installed once each, in /",
    "SR501": r"^\d+ lines, all (JSON objects|logfmt)",
    "SR502": r"^\d+ lines with \S+",
    "SR503": r"^\d+ levels .* and \d+ timestamps .* valid in \d+ lines",
    "SR505": r"^\d+ lines free of secrets \(",
    "SR510": r"^\S+: .+ render structured \(\d+ lines?\)",
}
# Checks that never pass in the corpus, and where their PASS is tested instead.
PASSES_ELSEWHERE = {
    "SR100": "it only ever fails (no lockfile); tests/test_plugin.py",
    "SR104": "re-resolution needs the index; test_plugin.py (network)",
    "SR106": "the index's hashes; tests/test_index_hashes.py (network)",
    "SR320": "backing services: tests/test_services.py (docker)",
    "SR321": "the release phase: tests/test_services.py (docker)",
    **{f"SR60{n}": "deployment manifests: tests/test_deploy_manifests.py (docker)"
       for n in range(8)},
}


def rows() -> list[tuple[str, str, list[str]]]:
    out = []
    for row in TABLE.strip().splitlines():
        check_id, node, *letters = row.split()
        out.append((check_id, node, letters))
    return out


def expected(project: str) -> dict[str, str]:
    column = list(PROJECTS).index(project)
    return {node: WORD[letters[column]] for _, node, letters in rows()
            if letters[column] != "-"}


def test_every_check_passes_somewhere_and_says_what_it_verified() -> None:
    from pytest_shipready.catalog import BY_ID

    passing = {check_id for check_id, _, letters in rows() if "P" in letters}
    assert passing | set(PASSES_ELSEWHERE) == set(BY_ID)
    assert set(PASS_SAYS) == passing


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
    made = make(tmp_path, project)
    try:
        code, results, out = readiness_job(made)
    finally:
        remove_kept_image(made)
    got = {node: str(r["status"]) for node, r in results.items()}
    assert got == expected(project), out[-3000:]
    ids = {node: check_id for check_id, node, _ in rows()}
    for node, r in results.items():
        assert r["check_id"] == ids[node], node
        if r["status"] == "passed":
            assert re.search(PASS_SAYS[str(r["check_id"])], str(r["summary"])), (node, r)
    for (name, node), text in SAYS.items():
        if name == project:
            assert text in _text(results[node]), (node, results[node])
    assert code == (1 if "failed" in got.values() else 0), out[-2000:]
    assert "not-a-real" not in out  # the planted secrets' values are never shown


def _outcomes(results: dict[str, dict[str, object]]) -> dict[str, str]:
    return {node: str(r["status"]) for node, r in results.items()}


def test_outcomes_are_the_same_on_every_run(tmp_path: Path) -> None:
    """A container that exits at once, three times, and the example twice: the same
    verdict for every item each time (and one session container per run)."""
    no_cmd = make(tmp_path, "no-cmd")
    with EngineEvents("type=container", "event=create",
                      f"label=io.pytest-shipready.project=pytest-shipready/"
                      f"{no_cmd.name.lower()}") as events:
        first = _outcomes(readiness_job(no_cmd)[1])
        for _ in range(2):
            assert _outcomes(readiness_job(no_cmd)[1]) == first
    assert first["smoke::ready"] == "failed"
    created = events.lines
    # The run's containers carry its session label (a build's never do); SR310's own
    # container and the holder of the image (created, never started) by their role.
    runs = [e for e in created if "io.pytest-shipready.session=" in e
            and "io.pytest-shipready.role=hardened" not in e
            and "io.pytest-shipready.role=holder" not in e]
    assert len(runs) == 3, created  # one session container per run
    example = tmp_path / "example"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("__pycache__"))
    again = _outcomes(readiness_job(example)[1])
    assert _outcomes(readiness_job(example)[1]) == again
    assert again["smoke::ready"] == "passed"
