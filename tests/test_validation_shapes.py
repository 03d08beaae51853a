"""Shapes found on real services by the third validation pass (docs/validation.md), on
sample projects of our own with the real engine: each once gave a false verdict."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import EXAMPLE, remove_kept_image

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
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--shipready-only", "--shipready-offline", "-p",
             "no:cacheprovider", "-p", "no:randomly", "--shipready-report=report.json",
             *args], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    finally:
        remove_kept_image(project)
    doc = json.loads((project / "report.json").read_text())
    return proc, {r["nodeid"].removeprefix("shipready::"): r for r in doc["results"]}


def _base_pip_dir(image: str) -> str:
    return subprocess.run(
        ["docker", "run", "--rm", image, "python3", "-c",
         "import os, pip; print(os.path.dirname(os.path.dirname(pip.__file__)))"],
        capture_output=True, text=True, timeout=120, check=True).stdout.strip()


def test_debian_pip_upgrade_and_a_compiler_removed_later(tmp_path: Path) -> None:
    """antenna: `pip install -U pip` over Debian's python3-pip is not a second install
    (SR407); consvc-shepherd: a compiler a later layer removes is not in the final stage
    (SR221), its bytes count as deleted."""
    project = sample(tmp_path, "debian-build-deps")
    proc, results = readiness(project, "-k", "SR301 or SR221 or SR407")
    waste, single = results["image::contents-waste"], results["parity::single-install"]
    assert waste["status"] == "passed", (waste, proc.stdout[-3000:])
    assert str(waste["summary"]).endswith("; no compilers in the final stage"), waste
    assert single["status"] == "passed", (single, proc.stdout[-3000:])
    base = _base_pip_dir("python:3.11-slim")
    if base == "/usr/lib/python3/dist-packages":  # Debian's Python, as the images here
        assert str(single["summary"]).endswith(
            "; packaging tools upgraded over the base image's copy: pip 24.3.1 shadows "
            "23.0.1 in /usr/lib/python3/dist-packages"), single
    else:  # the official image: the upgrade replaces pip in place
        assert "shadows" not in str(single["summary"]), single
