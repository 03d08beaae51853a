"""The plugin as users run it: pytester on copies of the example service."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import EXAMPLE

LOCK_ITEMS = ["pinned", "hashed", "covers-inputs", "fresh", "portable", "hashes-match-index"]
PREFIX = "shipready::lockfile::requirements.txt::"
# The example's Dockerfile items (SR201-SR209), which pass on it.
DOCKERFILE_ITEMS = 9
# The logs area: SR510 passes on the example; the 5 container-log items skip (no container).
LOGS_PASSED, LOGS_SKIPPED = 1, 5
DEPLOY_SKIPPED = 2  # SR600 and SR607 without deployment files
# The image, smoke and parity items: skipped here, where no engine is reachable (the
# autouse fixture below); test_docker_areas runs them against the engine.
DOCKER_SKIPPED = 23  # SR210-SR230, SR301-SR311, SR320-SR321, SR401-SR407, SR520-SR521


@pytest.fixture(autouse=True)
def no_docker_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    """The example service as pytester's project (its own tests included)."""
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return pytester.path


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """node id -> PASSED/FAILED/SKIPPED from a -rA run's short summary and -v lines."""
    found: dict[str, str] = {}
    for line in result.outlines:
        for word in ("PASSED", "FAILED", "SKIPPED", "ERROR"):
            if line.startswith("shipready::") and f" {word}" in line:
                found[line.split()[0]] = word
    return found


def lock_outcomes(result: pytest.RunResult) -> dict[str, str]:
    return {k.removeprefix(PREFIX): v for k, v in outcomes(result).items()
            if k.startswith(PREFIX)}


# --- without --shipready ---------------------------------------------------------------


def test_without_flag_no_items_and_marked_tests_skip(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.shipready
        def test_ready():
            assert False

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*run pytest with --shipready to include it*"])
    assert "shipready::" not in result.stdout.str()


def test_without_flag_heavy_modules_are_not_imported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_modules():
            heavy = ("docker", "testcontainers", "piptools", "structlog")
            loaded = [m for m in heavy if m in sys.modules]
            assert loaded == []
            assert "pytest_shipready.plugin" in sys.modules
            # Nor any of the plugin's own modules: only the entry point and its package.
            ours = sorted(m for m in sys.modules if m.startswith("pytest_shipready"))
            assert ours == ["pytest_shipready", "pytest_shipready.plugin"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# --- the example passes ----------------------------------------------------------------


@pytest.mark.network
@pytest.mark.usefixtures("isolated_pip")
def test_example_passes_every_lockfile_item(project: Path, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--shipready", "-v", "-p", "no:randomly")
    assert lock_outcomes(result) == dict.fromkeys(LOCK_ITEMS, "PASSED")
    # + the service's own tests and the Dockerfile items
    result.assert_outcomes(passed=len(LOCK_ITEMS) + 2 + DOCKERFILE_ITEMS + LOGS_PASSED,
                           skipped=LOGS_SKIPPED + DOCKER_SKIPPED + DEPLOY_SKIPPED)
    result.stdout.fnmatch_lines([
        f"{PREFIX}pinned PASSED (1 requirement pinned)*",
        "*= ship readiness =*",
        "READY: *",
        # No engine here: READY says what it does not cover.
        "Note: the image was not built, so the image, smoke, parity and container-log "
        "checks did not run (see shipready::image::build).",
    ])
    assert result.ret == 0


def test_node_ids_markers_and_keywords(project: Path, pytester: pytest.Pytester) -> None:
    ids = pytester.runpytest("--shipready", "--collect-only", "-q", "--shipready-offline")
    # The run order: SR104 (fresh) and SR302 (stays-up) wait on work started earlier
    # (the resolver in the background, the settle period), so they run after the other
    # readiness items, before the user's tests; SR304 and the log checks run last.
    ids.stdout.fnmatch_lines([
        *(f"{PREFIX}{name}" for name in LOCK_ITEMS if name != "fresh"),
        "shipready::image::build", "shipready::smoke::ready", "shipready::parity::tests",
        "shipready::logs::setup", f"{PREFIX}fresh", "shipready::smoke::stays-up",
        "tests/test_server.py::test_health", "shipready::smoke::graceful-shutdown",
        "shipready::logs::structured"])
    total = 8 + DOCKERFILE_ITEMS + LOGS_PASSED + LOGS_SKIPPED + DOCKER_SKIPPED + DEPLOY_SKIPPED
    ids.stdout.fnmatch_lines([f"{total} tests collected*"])
    only = pytester.runpytest("--shipready", "--shipready-offline", "-m", "shipready")
    # fresh and hashes-match-index skip: --shipready-offline
    only.assert_outcomes(passed=4 + DOCKERFILE_ITEMS + LOGS_PASSED,
                         skipped=2 + LOGS_SKIPPED + DOCKER_SKIPPED + DEPLOY_SKIPPED)
    ordinary = pytester.runpytest("--shipready", "-m", "not shipready")
    ordinary.assert_outcomes(passed=2)
    by_id = pytester.runpytest("--shipready", "-k", "SR101 or portable", "-v")
    assert set(lock_outcomes(by_id)) == {"pinned", "portable"}


def test_junitxml_carries_check_ids(project: Path, pytester: pytest.Pytester) -> None:
    pytester.runpytest("--shipready", "--shipready-offline", "--junitxml=out.xml",
                       "-m", "shipready")
    tree = ET.parse(project / "out.xml")
    cases = {c.get("name"): c for c in tree.iter("testcase")}
    pinned = cases["pinned"]
    props = {p.get("name"): p.get("value") for p in pinned.iter("property")}
    assert props["shipready_check"] == "SR101"
    assert pinned.get("classname") == "shipready.lockfile.requirements.txt"


def test_exitfirst_and_last_failed(project: Path, pytester: pytest.Pytester) -> None:
    lock = project / "requirements.txt"
    lock.write_text(lock.read_text().replace("structlog==26.1.0", "structlog>=26"))
    first = pytester.runpytest("--shipready", "--shipready-offline", "-x")
    first.assert_outcomes(failed=1)
    again = pytester.runpytest("--shipready", "--shipready-offline", "--lf", "-v")
    again.assert_outcomes(failed=1)
    assert lock_outcomes(again) == {"pinned": "FAILED"}


# --- broken copies: the right item fails, no other -------------------------------------


def only_failure(result: pytest.RunResult, name: str) -> str:
    got = lock_outcomes(result)
    assert got.pop(name) == "FAILED", result.stdout.str()
    assert "FAILED" not in got.values(), got
    return result.stdout.str()


@pytest.mark.network
@pytest.mark.usefixtures("isolated_pip")
def test_unpinned_requirement_fails_pinned_only(project: Path, pytester: pytest.Pytester
                                                ) -> None:
    lock = project / "requirements.txt"
    lock.write_text(lock.read_text().replace("structlog==26.1.0", "structlog>=26"))
    out = only_failure(pytester.runpytest("--shipready", "-v"), "pinned")
    assert "requirements.txt:7: structlog>=26 is not pinned exactly" in out
    assert "fix: Require structlog in requirements.in (never edit the lock by hand) and " \
        "re-run pip-compile, which pins it exactly." in out
    assert "SR101" in out
    assert "docs/checks/SR101.md" in out


@pytest.mark.network
@pytest.mark.usefixtures("isolated_pip")
def test_missing_hash_fails_hashed_only(project: Path, pytester: pytest.Pytester) -> None:
    (project / "requirements.in").write_text("structlog\nsix\n")
    lock = project / "requirements.txt"
    lock.write_text(lock.read_text() + "six==1.17.0\n    # via -r requirements.in\n")
    out = only_failure(pytester.runpytest("--shipready", "-v"), "hashed")
    assert "requirements.txt:11: six has no --hash" in out
    assert "pip refuses" in out


@pytest.mark.network
@pytest.mark.usefixtures("isolated_pip")
def test_dependency_added_to_in_only_fails_covers_inputs_and_fresh(
        project: Path, pytester: pytest.Pytester) -> None:
    (project / "requirements.in").write_text("structlog\nsix>=1.16\n")
    result = pytester.runpytest("--shipready", "-v", "-rs")
    got = lock_outcomes(result)
    out = result.stdout.str()
    assert got.pop("covers-inputs") == "FAILED", out
    assert "requirements.in:2: six>=1.16 is required by requirements.in but not in " \
           "requirements.txt" in out
    # SR104 re-resolves all the same (it checks every other pin too) and names the change.
    assert got.pop("fresh") == "FAILED", out
    assert "requirements.txt: added: six==" in out
    assert "re-resolving would only repeat it" not in out
    assert "FAILED" not in got.values(), got


@pytest.mark.network
@pytest.mark.usefixtures("isolated_pip")
def test_local_index_line_fails_portable_only(project: Path, pytester: pytest.Pytester
                                              ) -> None:
    lock = project / "requirements.txt"
    lock.write_text(lock.read_text().replace(
        "structlog==", "--extra-index-url file:///opt/pypi/simple\n\nstructlog==", 1))
    out = only_failure(pytester.runpytest("--shipready", "-v"), "portable")
    assert "requirements.txt:7: --extra-index-url file:///opt/pypi/simple only exists on " \
           "the machine that wrote the lock" in out
    assert "--no-emit-index-url" in out


def test_malformed_lock_fails_pinned_with_line_and_skips_the_rest(
        project: Path, pytester: pytest.Pytester) -> None:
    lock = project / "requirements.txt"
    lock.write_text(lock.read_text() + "flask=>3\n")
    result = pytester.runpytest("--shipready", "-v", "-m", "shipready")
    out = only_failure(result, "pinned")
    assert "requirements.txt:11: malformed lockfile: not a valid requirement 'flask=>3'" in out
    assert set(lock_outcomes(result).values()) == {"FAILED", "SKIPPED"}
    assert "Traceback" not in out


def test_no_lockfile_fails_one_item_saying_where_it_looked(project: Path,
                                                            pytester: pytest.Pytester) -> None:
    (project / "requirements.txt").unlink()
    result = pytester.runpytest("--shipready", "-v", "-m", "shipready")
    # SR205 (lock-used) skips: there is no lock to check the Dockerfile's install against.
    result.assert_outcomes(failed=1, passed=DOCKERFILE_ITEMS - 1 + LOGS_PASSED,
                           skipped=1 + LOGS_SKIPPED + DOCKER_SKIPPED + DEPLOY_SKIPPED)
    result.stdout.fnmatch_lines([
        "shipready::lockfile::found FAILED*",
        "*looked in * for requirements*.txt and requirements/*.txt*",
        "*pip-compile --generate-hashes*",
    ])


# --- configuration ---------------------------------------------------------------------


def test_disabled_check_is_skipped_with_its_reason(project: Path,
                                                   pytester: pytest.Pytester) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.shipready.disable]\nSR102 = "hashes come from our wheelhouse"\n')
    lock = project / "requirements.txt"
    lock.write_text(lock.read_text().replace("--hash", "--no-such-hash-ignored")
                    .split("--no-such")[0].rstrip(" \\\n") + "\n")
    result = pytester.runpytest("--shipready", "--shipready-offline", "-rs", "-v",
                                "-m", "shipready")
    assert lock_outcomes(result)["hashed"] == "SKIPPED"
    # -rs names the skipped item, not the plugin's source line that skipped it.
    result.stdout.fnmatch_lines(
        [f"SKIPPED [[]1] {PREFIX}hashed: SR102 disabled in pyproject.toml: hashes come "
         "from our wheelhouse"])
    assert "plugin.py:" not in result.stdout.str()


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ("[tool.shipready]\nlockfiles = 1\n", "unknown key 'lockfiles'"),
        ("[tool.shipready.lockfile]\nrequire_hashes = 'no'\n",
         "tool.shipready.lockfile.require_hashes = 'no': must be true or false"),
        # pytest reads pyproject.toml first and reports the TOML error itself.
        ("[tool.shipready\n", "(at line 1, column 16)"),
    ],
)
def test_config_errors_are_usage_errors(project: Path, pytester: pytest.Pytester, toml: str,
                                        fragment: str) -> None:
    (project / "pyproject.toml").write_text(toml)
    result = pytester.runpytest_subprocess("--shipready")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert fragment in err
    assert str(project / "pyproject.toml") in err
    assert "Traceback" not in err


def test_disabled_build_skips_everything_that_needs_the_image(
        project: Path, pytester: pytest.Pytester) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.shipready.disable]\nSR210 = "the image is built by the release pipeline"\n')
    result = pytester.runpytest("--shipready", "--shipready-offline", "-rs",
                                "-m", "shipready", "-k", "image or smoke or parity or SR501")
    out = result.stdout.str()
    assert "SR210 disabled in pyproject.toml: the image is built by the release pipeline" \
        in out
    for node in ("smoke::ready", "parity::packages", "logs::structured"):
        assert f"shipready::{node}: " in out
    assert out.count("the image build is disabled ([tool.shipready.disable] SR210: the "
                     "image is built by the release pipeline)") >= 3
    assert "cannot reach a Docker engine" not in out  # the engine is never asked
    result.assert_outcomes(skipped=25)  # with SR320, SR321, and SR607 (immutable-image)


def test_config_is_not_read_without_the_flag(project: Path, pytester: pytest.Pytester) -> None:
    (project / "pyproject.toml").write_text("[tool.shipready]\nlockfiles = 1\n")
    assert pytester.runpytest().ret == 0


def test_project_option_and_json_report(pytester: pytest.Pytester, tmp_path: Path) -> None:
    service = tmp_path / "elsewhere"
    shutil.copytree(EXAMPLE, service)
    pytester.makepyfile("def test_host(): pass")
    result = pytester.runpytest("--shipready", f"--shipready-project={service}",
                                "--shipready-offline", "--shipready-report=out/report.json")
    result.assert_outcomes(passed=5 + DOCKERFILE_ITEMS + LOGS_PASSED,
                           skipped=2 + LOGS_SKIPPED + DOCKER_SKIPPED + DEPLOY_SKIPPED)
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["schema"] == "pytest-shipready/report"
    assert report["version"] == 1
    assert report["verdict"] == "ready"
    assert report["counts"] == {"passed": 4 + DOCKERFILE_ITEMS + LOGS_PASSED, "failed": 0,
                                "skipped": 2 + LOGS_SKIPPED + DOCKER_SKIPPED + DEPLOY_SKIPPED,
                                "error": 0}
    pinned = next(r for r in report["results"] if r["check_id"] == "SR101")
    assert pinned["nodeid"] == f"{PREFIX}pinned"
    assert pinned["status"] == "passed"


def test_missing_project_dir_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--shipready", "--shipready-project=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--shipready-project: * is not a directory*"])


def test_fixture_without_an_engine_says_why_once(project: Path,
                                                 pytester: pytest.Pytester) -> None:
    (project / "tests" / "test_image.py").write_text(
        "def test_it(shipready_image):\n    pass\n")
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                "--shipready-require-docker", "-m", "not shipready",
                                "tests/test_image.py")
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    errors = out.split("short test summary info")[0]  # the summary line repeats it
    assert errors.count("pytest-shipready: the image is not available:") == 1, out
    assert "During handling" not in out
