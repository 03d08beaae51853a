"""Shapes found on real services by the third validation pass (docs/validation.md), on
sample projects of our own with the real engine: each once gave a false verdict."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_docker_integrity import readiness as integrity_readiness
from test_docker_integrity import sample

from conftest import remove_kept_image

pytestmark = pytest.mark.docker
FIXTURES = Path(__file__).parent / "fixtures"


def readiness(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                  dict[str, dict[str, object]]]:
    """The integrity samples' readiness job, and the project's kept image removed."""
    try:
        return integrity_readiness(project, *args)
    finally:
        remove_kept_image(project)


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
