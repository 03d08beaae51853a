"""SR230 declared-facts, SR405-SR407 in-image integrity, and the SBOM and comparison of
what is shipped, on the pass and fail samples (tests/fixtures/integrity-pass,
integrity-fail: the example service overlaid), with the real engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from test_sbom import check_sbom

from conftest import EXAMPLE

pytestmark = pytest.mark.docker
FIXTURES = Path(__file__).parent / "fixtures"


def sample(tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"{name.replace('-', '')}{uuid.uuid4().hex[:6]}"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc", "pyproject.toml"))
    shutil.copytree(FIXTURES / name, target, dirs_exist_ok=True)
    return target


def readiness(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                  dict[str, dict[str, object]]]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--shipready-only", "--shipready-offline", "-p",
         "no:cacheprovider", "-p", "no:randomly", "--shipready-report=out/report.json",
         *args], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    doc = json.loads((project / "out" / "report.json").read_text())
    return proc, {r["nodeid"].removeprefix("shipready::"): r for r in doc["results"]}


def messages(result: dict[str, object]) -> list[str]:
    return [str(f["message"]) for f in result["findings"]]  # type: ignore[attr-defined]


def test_pass_sample_verifies_declared_facts_integrity_and_writes_the_sbom(
        tmp_path: Path) -> None:
    project = sample(tmp_path, "integrity-pass")
    shutil.copy(FIXTURES / "shipped" / "previous-report.json", project / "old.json")
    proc, results = readiness(project, "--shipready-compare=old.json")
    for node in ("image::declared-facts", "parity::pip-check", "parity::imports",
                 "parity::single-install"):
        assert results[node]["status"] == "passed", (node, proc.stdout[-3000:])
    assert results["image::declared-facts"]["summary"] == (
        "2 labels, port 8000, WORKDIR /srv, 1 file as declared")
    imports = str(results["parity::imports"]["summary"])
    # found from the installed distribution's metadata: its module and console script
    assert "app (top-level module of integrity-pass-service 0.1.0)" in imports
    assert "app.admin:main (console script svc-admin of integrity-pass-service)" in imports
    assert proc.returncode == 0, proc.stdout[-3000:]

    doc = json.loads((project / "out" / "report.json").read_text())
    image = doc["image"]
    assert image["base"]["name"] == "python:3.11-slim"
    bom = json.loads((project / "out" / "report.cdx.json").read_text())
    check_sbom(bom)
    assert bom["metadata"]["component"]["version"] == image["id"]
    libraries = {c["name"]: c for c in bom["components"] if c["type"] == "library"}
    lock = (project / "requirements.txt").read_text()
    assert libraries["structlog"]["purl"] == "pkg:pypi/structlog@26.1.0"
    for h in libraries["structlog"]["hashes"]:  # the lock's hashes, for that version
        assert f"sha256:{h['content']}" in lock
    assert len(libraries["structlog"]["hashes"]) == lock.count("--hash=sha256:")
    assert "integrity-pass-service" in libraries
    assert f"SBOM of {len(libraries)} packages written to" in proc.stdout
    # --shipready-compare against an earlier report of the same service
    out = proc.stdout
    assert "shipped since old.json" in out
    assert "  ^ structlog 25.4.0 -> 26.1.0" in out
    assert "  - requests 2.31.0" in out
    assert "  + integrity-pass-service 0.1.0" in out
    assert "size: 140.0 MB -> " in out


def test_fail_sample_names_what_is_wrong_in_the_image(tmp_path: Path) -> None:
    proc, results = readiness(sample(tmp_path, "integrity-fail"))
    for node in ("image::declared-facts", "parity::pip-check", "parity::imports",
                 "parity::single-install"):
        assert results[node]["status"] == "failed", (node, proc.stdout[-3000:])
    assert messages(results["image::declared-facts"]) == [
        "label org.opencontainers.image.source is not set (declared: "
        "'https://example.invalid/svc')",
        "port 9000/tcp is not exposed (exposed: 8000/tcp)",
        "the working directory is /srv, declared /app",
        "/srv/start.sh has mode 0755, declared 0750",
        "/srv/start.sh is owned by root (uid 0), declared app",
        "/srv/missing.txt does not exist in the image"]
    broken = messages(results["parity::pip-check"])
    assert len(broken) == 4 and all(m.startswith("requests 2.32.3 requires ") for m in broken)
    assert "requests 2.32.3 requires idna<4,>=2.5, which is not installed" in broken
    [failed_import] = messages(results["parity::imports"])
    assert failed_import.startswith(
        "app.admin:main (console script svc-admin of integrity-fail-service): "
        "ModuleNotFoundError: No module named 'click' at /srv/app/admin.py:")
    [twice] = messages(results["parity::single-install"])
    assert twice.startswith("six is installed 2 times: 1.16.0 in /opt/vendor (imported); "
                            "1.17.0 in /usr/"), twice
    assert proc.returncode == 1
