"""A READY that judged no image says so (issue 21, item 17): with no Dockerfile at the
root, zero configuration checks the lockfiles only, although the project ships
dockerfiles/django/Dockerfile. The verdict line says what was and was not checked, and
under CI (require_docker) Dockerfiles found but none selected is a usage error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready.dockerfile import locate

FIXTURES = Path(__file__).parent / "fixtures"


def sample(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc", "pyproject.toml", "Dockerfile"))
    shutil.copytree(FIXTURES / "dockerfile-elsewhere", target, dirs_exist_ok=True)
    return target


def test_dockerfiles_are_found_where_projects_keep_them(tmp_path: Path) -> None:
    project = sample(tmp_path)
    for rel in ("Dockerfile.prod", "docker/worker/Dockerfile", "backend/Dockerfile",
                "tests/fixtures/app/Dockerfile", "examples/demo/Dockerfile",
                ".venv/lib/Dockerfile", "node_modules/x/Dockerfile"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("FROM python:3.11-slim\n")
    found = locate.find_dockerfiles(project)
    assert found.images == ("Dockerfile.prod", "backend/Dockerfile",
                            "docker/worker/Dockerfile", "dockerfiles/django/Dockerfile")
    assert found.dev == (".devcontainer/Dockerfile",)
    assert found.told() == ("Dockerfile.prod, backend/Dockerfile, docker/worker/Dockerfile, "
                            ".devcontainer/Dockerfile (a dev container) (and 1 more)")


def run(pytester: pytest.Pytester, project: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--shipready-only", "--shipready-offline", f"--shipready-project={project}",
        "-p", "no:cacheprovider", "-p", "no:randomly", *args)


def test_ready_says_no_image_was_judged(pytester: pytest.Pytester, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    project = sample(tmp_path)
    report = tmp_path / "report.json"
    result = run(pytester, project, f"--shipready-report={report}")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "READY (lockfiles and logging setup only: no Dockerfile selected; found dockerfiles/"
        "django/Dockerfile, .devcontainer/Dockerfile (a dev container)): * passed, * skipped",
    ])
    result.stdout.fnmatch_lines([
        '*SR201*SKIPPED*no Dockerfile at Dockerfile, but the project has dockerfiles/django/'
        'Dockerfile, .devcontainer/Dockerfile (a dev container): set [[]tool.shipready.image] '
        'dockerfile = "dockerfiles/django/Dockerfile" to check and build the one that ships'])
    doc = json.loads(report.read_text())
    assert doc["not_checked"] == ("no Dockerfile selected; found dockerfiles/django/"
                                  "Dockerfile, .devcontainer/Dockerfile (a dev container)")


def test_under_ci_it_is_a_usage_error(pytester: pytest.Pytester, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    project = sample(tmp_path)
    result = run(pytester, project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert ("pytest-shipready: no Dockerfile at Dockerfile, but the project has "
            "dockerfiles/django/Dockerfile, .devcontainer/Dockerfile (a dev container); the "
            "image must be judged here (CI is set") in result.stderr.str()
    assert ('Set [tool.shipready.image] dockerfile = "dockerfiles/django/Dockerfile" in '
            "pyproject.toml") in result.stderr.str()
    # require_docker = false: lockfiles only, said so
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        "[tool.shipready]\n", "[tool.shipready]\nrequire_docker = false\n"))
    ok = run(pytester, project)
    assert ok.ret == 0, ok.stdout.str()
    ok.stdout.fnmatch_lines(["READY (lockfiles and logging setup only: no Dockerfile "
                             "selected; found dockerfiles/django/Dockerfile*"])


def test_a_dev_container_alone_is_no_usage_error(pytester: pytest.Pytester, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    project = sample(tmp_path)
    shutil.rmtree(project / "dockerfiles")
    result = run(pytester, project, "-k", "lockfile")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["READY (lockfiles only: no Dockerfile selected; found "
                                 ".devcontainer/Dockerfile (a dev container)): *"])


def test_no_dockerfile_at_all_says_so(pytester: pytest.Pytester, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    project = sample(tmp_path)
    shutil.rmtree(project / "dockerfiles")
    shutil.rmtree(project / ".devcontainer")
    result = run(pytester, project, "-k", "lockfile")
    result.stdout.fnmatch_lines(["READY (lockfiles only: no Dockerfile): *"])
