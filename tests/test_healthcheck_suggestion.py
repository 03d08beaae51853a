"""SR203's suggested HEALTHCHECK works as given: pasted into the example's Dockerfile in
place of its own, the engine reports the container healthy."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready.checks import Status
from pytest_shipready.dockerfile import hygiene, parser


def _without_healthcheck(text: str) -> str:
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("HEALTHCHECK"))
    return "\n".join(lines[:i] + lines[i + 2:]) + "\n"  # the instruction and its CMD line


def test_the_failure_names_a_healthcheck_for_the_exposed_port() -> None:
    text = _without_healthcheck((EXAMPLE / "Dockerfile").read_text())
    result = hygiene.check_healthcheck(parser.parse(text, "Dockerfile"))
    assert result.status == Status.FAILED
    assert "urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)" in \
        result.findings[0].hint


@pytest.mark.docker
def test_the_suggested_healthcheck_makes_the_example_healthy(tmp_path: Path) -> None:
    project = tmp_path / "svc"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    text = _without_healthcheck((project / "Dockerfile").read_text())
    df = parser.parse(text, "Dockerfile")
    suggestion = hygiene.suggested_healthcheck(df, df.stages[-1])
    (project / "Dockerfile").write_text(text.replace('CMD ["python", "-m", "app"]',
                                                     suggestion.replace("--interval=10s",
                                                                        "--interval=1s")
                                                     + '\nCMD ["python", "-m", "app"]'))
    tag = f"shipready-test-hc:{uuid.uuid4().hex[:8]}"
    label = "io.pytest-shipready.test=healthcheck"
    subprocess.run(["docker", "build", "-q", "--label", label, "-t", tag, str(project)],
                   check=True, capture_output=True, timeout=300)
    cid = subprocess.run(["docker", "run", "-d", "--label", label, tag], check=True,
                         capture_output=True, text=True, timeout=60).stdout.strip()
    try:
        status = ""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and status != "healthy":
            status = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
                capture_output=True, text=True, timeout=30).stdout.strip()
            time.sleep(0.5)
        assert status == "healthy"
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)
