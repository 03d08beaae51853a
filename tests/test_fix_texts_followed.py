"""Fixes that work when followed: SR205's fix for a Poetry project is a
command that exists, and following it passes SR205 and builds; SR402's fix for several
pip-compile locks is one runnable pip command.

Samples: tests/fixtures/poetry-pip-install (a Poetry project whose Dockerfile installs
by name with pip) and tests/fixtures/piplocks-service (two pip-compile locks).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_shipready.container.inspect import parity
from pytest_shipready.dockerfile import hygiene, parser

FIXTURES = Path(__file__).resolve().parent / "fixtures"
POETRY = FIXTURES / "poetry-pip-install"
BY_NAME = "RUN pip install --no-cache-dir flask"


def sr205(pytester: pytest.Pytester) -> dict[str, Any]:
    report = pytester.path / "r.json"
    with pytest.MonkeyPatch.context() as mp:  # static: no engine needed
        mp.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        result = pytester.runpytest_subprocess(
            "--shipready-only", "--shipready-offline", "-k", "SR205", "-p",
            "no:cacheprovider", f"--shipready-report={report}")
    assert result.ret in (0, 1), result.stdout.str()
    (found,) = [r for r in json.loads(report.read_text())["results"]
                if r["check_id"] == "SR205"]
    assert isinstance(found, dict)
    return found


def commands_of(hint: str) -> list[str]:
    """The Dockerfile lines a fix text gives, in backquotes."""
    return re.findall(r"`(RUN [^`]+)`", hint)


@pytest.fixture
def poetry_project(pytester: pytest.Pytester) -> Path:
    shutil.copytree(POETRY, pytester.path, dirs_exist_ok=True)
    return pytester.path


def poetry_fix(pytester: pytest.Pytester) -> list[str]:
    found = sr205(pytester)
    assert found["status"] == "failed", found
    finding = found["findings"][0]  # the second: flask installed outside the lock
    assert finding["message"].endswith("none from the lockfile (poetry.lock) in the final "
                                       "stage or the stages it is built on")
    hint = finding["hint"]
    assert "-r poetry.lock" not in hint
    commands = commands_of(hint)
    assert commands == [
        "RUN pip install poetry && POETRY_VIRTUALENVS_CREATE=false poetry install --only "
        "main --no-root",
        "RUN pip install poetry poetry-plugin-export && poetry export --only main -f "
        "requirements.txt -o requirements.lock.txt && pip install --no-deps "
        "--require-hashes -r requirements.lock.txt"], hint
    return commands


def test_sr205_fix_for_a_poetry_project_is_a_poetry_command(
        poetry_project: Path, pytester: pytest.Pytester) -> None:
    poetry_fix(pytester)


@pytest.mark.parametrize("which", [0, 1], ids=["poetry-install", "poetry-export"])
def test_sr205_fix_for_a_poetry_project_passes_when_followed(
        poetry_project: Path, pytester: pytest.Pytester, which: int) -> None:
    command = poetry_fix(pytester)[which]
    dockerfile = poetry_project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(BY_NAME, command))
    found = sr205(pytester)
    assert found["status"] == "passed", found


@pytest.mark.docker
@pytest.mark.network
@pytest.mark.parametrize("which", [0, 1], ids=["poetry-install", "poetry-export"])
def test_sr205_fix_for_a_poetry_project_builds(poetry_project: Path,
                                               pytester: pytest.Pytester, which: int) -> None:
    command = poetry_fix(pytester)[which]
    dockerfile = poetry_project / "Dockerfile"
    # This machine's build network re-signs TLS with its own CA, which Poetry (requests)
    # trusts only through the system store.
    dockerfile.write_text(dockerfile.read_text().replace(
        BY_NAME, "ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt\n" + command
        + "\nRUN python -c 'import structlog'"))
    tag = f"shipready-test-fix21-{uuid.uuid4().hex[:10]}"
    try:
        built = subprocess.run(["docker", "build", "-q", "-t", tag, str(poetry_project)],
                               capture_output=True, text=True, timeout=900)
        assert built.returncode == 0, built.stdout + built.stderr
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)


def test_sr205_fix_for_a_uv_project_is_a_uv_command() -> None:
    df = parser.parse("FROM python:3.11-slim\nRUN pip install flask\n", "Dockerfile", {})
    result = hygiene.check_lock_used(df, [hygiene.KnownLock("uv.lock", hashed=True)])
    hint = result.findings[0].hint or ""
    assert "-r uv.lock" not in hint
    (command,) = commands_of(hint)
    assert command == "RUN pip install uv && uv sync --locked --no-dev"
    followed = parser.parse(f"FROM python:3.11-slim\nCOPY pyproject.toml uv.lock ./\n"
                            f"{command}\n", "Dockerfile", {})
    assert hygiene.check_lock_used(
        followed, [hygiene.KnownLock("uv.lock", hashed=True)]).status.value == "passed"


# --- SR402 ----------------------------------------------------------------------------------


def _piplock(tmp_path: Path, name: str, pins: dict[str, str]) -> parity.Expected:
    from pytest_shipready.locks import pipcompile

    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#\n# This file is autogenerated by pip-compile with Python 3.11\n"
                    "# by the following command:\n#\n#    pip-compile\n#\n"
                    + "".join(f"{n}=={v}\n" for n, v in pins.items()))
    return parity.expected_from_piplock(pipcompile.load(path, tmp_path),
                                        {"python_version": "3.11", "sys_platform": "linux"})


def test_sr402_fix_for_several_locks_is_one_pip_command(tmp_path: Path) -> None:
    main = _piplock(tmp_path, "requirements/main.txt", {"structlog": "25.4.0"})
    deploy = _piplock(tmp_path, "requirements/deploy.txt", {"gunicorn": "23.0.0"})
    image = parity.ImageFacts("3.11.9", "/usr/local/bin/python",
                              {"structlog": ("structlog", "25.4.0")}, {}, {})
    result = parity.check_packages(image, parity.union([main, deploy]), ())
    (finding,) = result.findings
    assert finding.message == "gunicorn==23.0.0 is locked but not installed in the image"
    assert (finding.hint or "").startswith(
        "Install the lock in the image: pip install --no-deps --require-hashes -r "
        "requirements/main.txt -r requirements/deploy.txt.")
    assert " + " not in (finding.hint or "")


# --- SR404: "no test is marked" apart from "the marked tests cannot be collected" ----------


def test_marked_files_are_found_in_tests_and_conftests_above(tmp_path: Path) -> None:
    from pytest_shipready.container.inspect import testparity

    (tmp_path / "tests" / "api").mkdir(parents=True)
    (tmp_path / "tests" / "api" / "test_a.py").write_text("def test_a(): pass\n")
    (tmp_path / "tests" / "conftest.py").write_text("import not_in_the_image\n")
    assert testparity.marked_files([tmp_path / "tests"], tmp_path) == []
    (tmp_path / "conftest.py").write_text(
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items: item.add_marker('shipready_parity')\n")
    assert testparity.marked_files([tmp_path / "tests"], tmp_path) == ["conftest.py"]
    (tmp_path / "tests" / "api" / "test_b.py").write_text(
        "import pytest\n\n@pytest.mark.shipready_parity\ndef test_b(): pass\n")
    assert testparity.marked_files([tmp_path / "tests" / "api" / "test_b.py"],
                                   tmp_path) == ["tests/api/test_b.py", "conftest.py"]


def _sr404(pytester: pytest.Pytester) -> dict[str, Any]:
    report = pytester.path / "r.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        result = pytester.runpytest_subprocess(
            "--shipready-only", "--shipready-offline", "-k", "SR404", "-p",
            "no:cacheprovider", f"--shipready-report={report}")
    assert result.ret in (0, 1), result.stdout.str()
    (found,) = [r for r in json.loads(report.read_text())["results"]
                if r["check_id"] == "SR404"]
    assert isinstance(found, dict)
    return found


@pytest.fixture
def telescope_shape(pytester: pytest.Pytester) -> Path:
    """The example service whose tests/conftest.py imports a test-only package that
    neither the readiness job nor the image has (tests/fixtures/corpus/conftest-import),
    and no test marked shipready_parity."""
    from conftest import EXAMPLE

    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    shutil.copytree(FIXTURES / "corpus" / "conftest-import", pytester.path,
                    dirs_exist_ok=True)
    return pytester.path


def test_sr404_says_no_test_is_marked_when_none_is(telescope_shape: Path,
                                                   pytester: pytest.Pytester) -> None:
    found = _sr404(pytester)
    assert found["status"] == "skipped", found
    assert found["summary"] == (
        "no test is marked shipready_parity: no file in tests/ names the marker (mark the "
        "tests to run on the host and in the image with @pytest.mark.shipready_parity)")


def test_sr404_with_a_marked_test_does_not_say_none_is_marked(
        telescope_shape: Path, pytester: pytest.Pytester) -> None:
    (telescope_shape / "tests" / "test_both.py").write_text(
        "import pytest\n\n@pytest.mark.shipready_parity\ndef test_app():\n"
        "    import app\n")
    found = _sr404(pytester)
    assert found["status"] == "skipped", found  # no engine here: the image's gate
    assert "no test is marked" not in found["summary"]
