"""The logs area judged as the image runs: SR510 runs the logging setup in the session
container with the container's environment, and SR505 looks for (and every output masks)
the values of the image's own ENV, as users run them (pytester, a real engine)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import remove_kept_image

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "bd7c1e0f9a4e4b21-image-default"  # tests/fixtures/image-env-secret/Dockerfile

pytestmark = pytest.mark.docker


def _copy(pytester: pytest.Pytester, name: str) -> Path:
    target = pytester.path / f"{name}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURES / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def profile(pytester: pytest.Pytester) -> Iterator[Path]:
    project = _copy(pytester, "profile-logging")
    yield project
    remove_kept_image(project)


def _run(pytester: pytest.Pytester, project: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--shipready", "--shipready-offline", "-p", "no:cacheprovider", "-rA",
        f"--rootdir={project}", f"--shipready-project={project}",
        "-c", str(project / "pyproject.toml"), *args, str(project), timeout=600)


def _sr510(result: pytest.RunResult) -> str:
    lines = [ln for ln in result.stdout.lines if ln.lstrip().startswith("SR510  setup")]
    assert lines, result.stdout.str()
    return lines[0]


def test_setup_rendering_json_only_in_production_passes_as_the_image_runs_it(
        pytester: pytest.Pytester, profile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The image sets APP_ENV=production; this machine does not: on the host the setup
    # writes plain text (the false FAIL before), in the container JSON.
    monkeypatch.delenv("APP_ENV", raising=False)
    result = _run(pytester, profile, "-k", "SR510")
    result.assert_outcomes(passed=1)
    line = _sr510(result)
    assert ("PASSED   app.logconfig:configure: stdlib records render structured (2 lines) "
            "in the session container (with its environment: APP_ENV") in line, line
    assert ("on the host, without that environment, it fails: the stdlib logging record "
            "is not structured") in line


def test_setup_passing_on_the_host_fails_when_the_image_lacks_the_profile(
        pytester: pytest.Pytester, profile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The other direction: the developer's shell has the profile, the image does not
    # (the false PASS before).
    dockerfile = profile / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(" APP_ENV=production", ""))
    monkeypatch.setenv("APP_ENV", "production")
    result = _run(pytester, profile, "-k", "SR510")
    result.assert_outcomes(failed=1)
    line = _sr510(result)
    assert "FAILED   app.logconfig:configure in the session container" in line, line
    assert "the stdlib logging record is not structured" in line
    assert "on the host, without that environment, it passes" in line
    out = result.stdout.str()
    assert ("app.logconfig:configure output in the container:1: the stdlib logging record "
            "came out as plain text") in out


def test_secret_in_the_images_env_is_found_in_the_log_and_masked_everywhere(
        pytester: pytest.Pytester) -> None:
    # The image's ENV holds SESSION_SECRET (not in [tool.shipready.smoke] env), and the
    # app logs it under a key no secret shape knows.
    project = _copy(pytester, "image-env-secret")
    report = project / "report.json"
    try:
        result = _run(pytester, project, "-vv", f"--shipready-report={report}")
    finally:
        remove_kept_image(project)
    out = result.stdout.str()
    results = {r["check_id"]: r for r in json.loads(report.read_text())["results"]}
    assert results["SR505"]["status"] == "failed", results["SR505"]
    assert "container log:1: contains the value of $SESSION_SECRET (from app): " in out
    assert '"signing": "[REDACTED]"' in out
    if "(BuildKit via" not in out:  # the legacy builder prints the ENV step under -v
        assert "SESSION_SECRET=***" in out
    assert results["SR501"]["status"] == "passed"
    assert SECRET not in out
    assert SECRET not in report.read_text()
