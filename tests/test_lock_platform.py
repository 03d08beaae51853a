"""Markers in lock checks are judged for the image's platform, not this host's."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pytest_shipready.locks import target

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
OFFLINE = ("--shipready", "-v", "-m", "shipready", "-k", "covers-inputs", "-p", "no:randomly")


def project(pytester: pytest.Pytester, toml: str = "") -> Path:
    shutil.copytree(FIXTURES / "pip-platform", pytester.path, dirs_exist_ok=True)
    (pytester.path / "pyproject.toml").write_text(toml)
    return pytester.path


# --- the pure part ---------------------------------------------------------------------


@pytest.mark.parametrize(("image", "expected"), [
    ("python:3.11-slim", ("3.11", "3.11.0")),
    ("python:3.12.4-slim-bookworm", ("3.12", "3.12.4")),
    ("docker.io/library/python:3.13", ("3.13", "3.13.0")),
    ("python:3.11-slim@sha256:" + "a" * 64, ("3.11", "3.11.0")),
    ("ghcr.io/astral-sh/uv:python3.12-bookworm-slim", ("3.12", "3.12.0")),
    ("python:latest", None),
    ("debian:bookworm-slim", None),
    ("mypython:3.11", None),
])
def test_python_of_image(image: str, expected: tuple[str, str] | None) -> None:
    assert target.python_of_image(image) == expected


@pytest.mark.parametrize(("platform", "expected"), [
    ("linux/amd64", "linux/x86_64"), ("linux/arm64", "linux/aarch64"),
    ("linux/arm64/v8", "linux/aarch64"), ("$BUILDPLATFORM", None), ("windows/amd64", None),
    (None, None),
])
def test_machine_of_docker_platforms(platform: str | None, expected: str | None) -> None:
    assert target.machine_of(platform) == expected


def test_environment_is_linux_cpython_whatever_the_host(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "ARG PY=3.12\nFROM --platform=linux/arm64 python:${PY}-slim AS base\n"
        "FROM base AS app\nRUN true\nFROM debian:bookworm-slim AS other\n")
    t = target.resolve("linux/x86_64", dockerfile=tmp_path / "Dockerfile", stage="app")
    assert t.describe() == ("linux/aarch64, Python 3.12 (FROM python:3.12-slim; "
                            "FROM --platform=linux/arm64)")
    env = t.environment()
    assert env["sys_platform"] == "linux"
    assert env["platform_system"] == "Linux"
    assert env["platform_machine"] == "aarch64"
    assert env["python_version"] == "3.12"
    assert env["os_name"] == "posix"
    # The last stage (the default target) is not a Python image: the lock's Python.
    other = target.resolve("linux/x86_64", dockerfile=tmp_path / "Dockerfile",
                           lock_python="3.10")
    assert other.describe() == ("linux/x86_64, Python 3.10 (the lock's header; Dockerfile "
                                "FROM debian:bookworm-slim names no Python version)")
    assert other.environment()["python_full_version"] == "3.10.0"


def test_without_dockerfile_this_interpreters_python_on_linux(tmp_path: Path) -> None:
    t = target.resolve("linux/aarch64", dockerfile=tmp_path / "Dockerfile")
    assert t.describe() == (f"linux/aarch64, Python {HERE} (this interpreter; no "
                            "Dockerfile at Dockerfile)")
    assert t.environment()["platform_machine"] == "aarch64"


def test_unresolved_base_and_missing_stage_are_said(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\n")
    t = target.resolve("linux/x86_64", dockerfile=tmp_path / "Dockerfile")
    assert "Dockerfile FROM ${BASE} names no Python image" in t.describe()
    t = target.resolve("linux/x86_64", dockerfile=tmp_path / "Dockerfile",
                       build_args={"BASE": "python:3.13-slim"})
    assert t.describe() == "linux/x86_64, Python 3.13 (FROM python:3.13-slim)"
    t = target.resolve("linux/x86_64", dockerfile=tmp_path / "Dockerfile", stage="prod")
    assert "Dockerfile has no stage 'prod'" in t.describe()


# --- as users see it -------------------------------------------------------------------


def test_python_markers_follow_the_dockerfile_not_the_host(pytester: pytest.Pytester
                                                           ) -> None:
    # The lock was compiled for the image's Python 3.12: tomli (python_version < "3.12")
    # is not in it. Judged for the host's Python 3.11 it would be missing.
    project(pytester)
    result = pytester.runpytest(*OFFLINE)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "shipready::lockfile::requirements.txt::covers-inputs PASSED (1 input requirement "
        "satisfied for linux/x86_64, Python 3.12 (FROM python:3.12-slim); 2 not for this "
        "platform (marker))*",
    ])


def test_an_image_on_an_older_python_needs_the_marked_requirement(
        pytester: pytest.Pytester) -> None:
    root = project(pytester)
    dockerfile = root / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("python:3.12-slim",
                                                         "python:3.11-slim"))
    result = pytester.runpytest(*OFFLINE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*SR103 covers-inputs: 1 input requirement not satisfied by the lock (markers "
        "judged for linux/x86_64, Python 3.11 (FROM python:3.11-slim))",
        "*requirements.in:3: tomli==2.0.1; python_version < \"3.12\" is required by "
        "requirements.in but not in requirements.txt",
    ])


def test_configured_machine_judges_platform_machine_markers(pytester: pytest.Pytester
                                                            ) -> None:
    root = project(pytester, '[tool.shipready.lockfile]\nplatform = "linux/aarch64"\n')
    with (root / "requirements.in").open("a") as fh:
        fh.write('cffi==1.17.1 ; platform_machine == "aarch64"\n')
    result = pytester.runpytest(*OFFLINE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*SR103 covers-inputs: 1 input requirement not satisfied by the lock (markers "
        "judged for linux/aarch64, Python 3.12 (FROM python:3.12-slim))",
        "*requirements.in:5: cffi==1.17.1; platform_machine == \"aarch64\" is required by "
        "requirements.in but not in requirements.txt",
    ])
    (root / "pyproject.toml").write_text("")  # the default: linux/x86_64
    result = pytester.runpytest(*OFFLINE)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*covers-inputs PASSED (1 input requirement satisfied for linux/x86_64, Python 3.12 "
        "(FROM python:3.12-slim); 3 not for this platform (marker))*",
    ])


def test_without_a_dockerfile_the_locks_python_is_used(pytester: pytest.Pytester) -> None:
    root = project(pytester)
    (root / "Dockerfile").unlink()
    result = pytester.runpytest(*OFFLINE)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*covers-inputs PASSED (1 input requirement satisfied for linux/x86_64, Python 3.12 "
        "(the lock's header; no Dockerfile at Dockerfile); 2 not for this platform "
        "(marker))*",
    ])


def test_unknown_platform_is_a_usage_error(pytester: pytest.Pytester) -> None:
    project(pytester, '[tool.shipready.lockfile]\nplatform = "darwin/arm64"\n')
    result = pytester.runpytest("--shipready")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*tool.shipready.lockfile.platform = 'darwin/arm64': must be one of "
        "'linux/x86_64', 'linux/aarch64'"])
