"""Lock verdicts of uv-pip locks, tool failures and the lock's own Python, as users
see them (pytester on sample projects):

- locks made by ``uv pip compile`` are locks: SR100 finds them beside a headerless list
  (tests/fixtures/uv-pip-locks), SR104 re-resolves them with uv, fixes name uv's command;
- SR104 gives no false skip reason: it re-resolves when SR103 fails (the other pins are
  still checked; tests/fixtures/pip-unsafe), and a custom compile command is named;
- tool failures that say nothing about the lock skip with the tool's words: pip-compile
  under another Python than the lock's (tests/fixtures/pip-py312), `uv lock --check` with
  no usable interpreter for the project's Python (tests/fixtures/uv-py312, a pyenv-like
  shim on PATH), the index unreachable; a stale lock still fails;
- SR103 judges markers for the lock's own Python (uv-py312: requires-python >= 3.12 on
  a 3.11 host) and flags a requires-python that excludes the image's Python
  (tests/fixtures/uv-py311-only: ``<=3.11`` with ``FROM python:3.11-slim``);
- SR103 says that pip-compile leaves pip/setuptools out unless --allow-unsafe.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_shipready.checks import Status
from pytest_shipready.locks import pipcompile, resolve, uvpip, uvresolve

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def project(pytester: pytest.Pytester, name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(FIXTURES / name, pytester.path, dirs_exist_ok=True)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    return pytester.path


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    """``pytest --shipready-only`` as a user runs it; the JSON report's results."""
    report = pytester.path / "shipready-report.json"
    result = pytester.runpytest_subprocess("--shipready-only", "-p", "no:cacheprovider",
                                           f"--shipready-report={report}", *args)
    assert result.ret in (0, 1), result.stdout.str()
    results = json.loads(report.read_text())["results"]
    assert isinstance(results, list)
    return result, results


def one(results: list[dict[str, Any]], check_id: str, subject: str | None = None
        ) -> dict[str, Any]:
    (found,) = [r for r in results if r["check_id"] == check_id
                and (subject is None or r["subject"] == subject)]
    return found


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


# --- 1. locks made by `uv pip compile` -------------------------------------------------


def test_uv_made_locks_are_found_beside_a_headerless_list(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project(pytester, "uv-pip-locks", monkeypatch)
    result, results = run(pytester, "--shipready-offline", "-k", "SR100 or SR101")
    subjects = sorted(r["subject"] for r in results if r["check_id"] == "SR101")
    assert subjects == ["requirements-dev.txt", "requirements.txt"], result.stdout.str()
    assert not [r for r in results if r["check_id"] == "SR100"], results
    assert all(r["status"] == "passed" for r in results), results


def test_uv_made_locks_fixes_name_uvs_command(pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(pytester, "uv-pip-locks", monkeypatch)
    (root / "requirements.in").write_text("six>=1.16\nidna>=3\ncertifi\n")
    _, results = run(pytester, "--shipready-offline", "-k", "SR102 or SR103")
    hashed = one(results, "SR102", "requirements-dev.txt")
    assert hashed["status"] == "failed"
    assert hashed["findings"][0]["hint"] == (
        "re-run `uv pip compile --generate-hashes requirements-dev.in -o "
        "requirements-dev.txt`.")
    covers = one(results, "SR103", "requirements.txt")
    assert covers["status"] == "failed"
    (finding,) = covers["findings"]
    assert finding["message"] == ("certifi is required by requirements.in but not in "
                                  "requirements.txt")
    assert finding["hint"] == ("Re-run `uv pip compile requirements.in --generate-hashes -o "
                               "requirements.txt`.")


@pytest.mark.network
def test_sr104_re_resolves_uv_made_locks_with_uv(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    project(pytester, "uv-pip-locks", monkeypatch)
    result, results = run(pytester, "-k", "SR104")
    result.stdout.fnmatch_lines(["*re-resolving requirements.txt with uv pip compile*"])
    for subject, pins in (("requirements.txt", 2), ("requirements-dev.txt", 1)):
        fresh = one(results, "SR104", subject)
        assert fresh["status"] == "passed", fresh
        assert fresh["summary"].startswith(f"re-resolution matches {pins} pin")


@pytest.mark.network
def test_sr104_fails_a_stale_uv_made_lock_naming_uvs_command(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(pytester, "uv-pip-locks", monkeypatch)
    (root / "requirements.in").write_text("six>=1.16\nidna>=3\ncertifi\n")
    _, results = run(pytester, "-k", "SR103 or SR104")
    assert one(results, "SR103", "requirements.txt")["status"] == "failed"
    # SR103 failed, and SR104 still re-resolves: the other pins are checked too.
    fresh = one(results, "SR104", "requirements.txt")
    assert fresh["status"] == "failed", fresh
    (finding,) = fresh["findings"]
    assert finding["message"].startswith("added: certifi==")
    assert finding["hint"] == (
        "Re-run `uv pip compile requirements.in --generate-hashes -o requirements.txt` "
        "(the command in the lockfile's header) and commit the result.")


def test_sr104_skips_with_uvs_words_when_the_index_is_unreachable(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(pytester, "uv-pip-locks", monkeypatch)
    edit(root / "requirements.txt", "#    uv pip compile requirements.in",
         "#    uv pip compile --index-url http://127.0.0.1:9/simple requirements.in")
    (root / "requirements.in").write_text("six>=1.16\nidna>=3\ncertifi\n")
    _, results = run(pytester, "-k", "SR104 and requirements.txt")
    fresh = one(results, "SR104", "requirements.txt")
    assert fresh["status"] == "skipped", fresh
    assert fresh["summary"].startswith("cannot reach the package index to re-resolve with "
                                       "`uv pip compile`: ")
    assert "127.0.0.1:9" in fresh["summary"]


def test_sr104_without_uv_skips_and_says_how_to_get_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(FIXTURES / "uv-pip-locks", tmp_path, dirs_exist_ok=True)
    lock = pipcompile.load(tmp_path / "requirements.txt", tmp_path)
    monkeypatch.setattr(uvresolve, "find_uv", lambda: None)
    result = uvresolve.check_fresh(lock, pipcompile.read_inputs(lock, tmp_path), tmp_path,
                                   timeout=60, pip_config="isolated")
    assert result.status is Status.SKIPPED
    assert result.summary.startswith("uv is not installed, so `uv pip compile` cannot "
                                     "re-resolve requirements.txt")


def test_uv_header_is_read() -> None:
    header = pipcompile.parse_header([
        "This file was autogenerated by uv via the following command:",
        "uv pip compile requirements.in --python-version 3.12 -o requirements.txt "
        "--generate-hashes"])
    assert header.tool == uvpip.TOOL
    assert header.sources == ("requirements.in",)
    assert header.python == "3.12"
    assert uvpip.rerun_args(header.command or ()) == [
        "--python-version", "3.12", "--generate-hashes"]


# --- 2. no false skip reasons in SR104 ----------------------------------------------------


def test_a_custom_compile_command_is_named_not_called_unknown(tmp_path: Path) -> None:
    (tmp_path / "requirements.in").write_text("six\n")
    (tmp_path / "requirements.txt").write_text(
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n"
        "# by the following command:\n#\n#    make lock\n#\nsix==1.17.0\n")
    lock = pipcompile.load(tmp_path / "requirements.txt", tmp_path)
    result = resolve.check_fresh(lock, pipcompile.read_inputs(lock, tmp_path), tmp_path,
                                 timeout=60, pip_config="isolated")
    assert result.status is Status.SKIPPED
    assert result.summary.startswith("the header of requirements.txt names `make lock` (a "
                                     "custom compile command), not the pip-compile command "
                                     "line")
    assert "the command that made it is unknown" not in result.summary


# --- 3. SR103 on pip / setuptools ---------------------------------------------------------


def test_sr103_says_pip_compile_leaves_pip_out_unless_allow_unsafe(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project(pytester, "pip-unsafe", monkeypatch)
    _, results = run(pytester, "--shipready-offline", "-k", "SR103")
    covers = one(results, "SR103")
    assert covers["status"] == "failed"
    (finding,) = covers["findings"]
    assert finding["message"] == (
        "pip>=23 is required by requirements.in but not in requirements.txt: pip-compile "
        "leaves pip out of a lock unless --allow-unsafe")
    assert finding["hint"] == (
        "Re-run `pip-compile --allow-unsafe --generate-hashes --strip-extras "
        "requirements.in` so that pip is pinned too; or take pip out of the lock's inputs "
        "and install it in the Dockerfile before the lock.")


@pytest.mark.network
@pytest.mark.usefixtures("isolated_pip")
def test_sr104_checks_the_other_pins_when_sr103_fails(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project(pytester, "pip-unsafe", monkeypatch)
    _, results = run(pytester, "-k", "SR104")
    fresh = one(results, "SR104")
    assert fresh["status"] == "passed", fresh
    assert fresh["summary"].startswith("re-resolution matches 1 pin")


# --- 10. tool failures are not verdicts on the lock ----------------------------------------


@pytest.mark.network
@pytest.mark.usefixtures("isolated_pip")
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="this Python re-resolves the lock")
def test_pip_compile_under_another_python_than_the_locks_skips(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project(pytester, "pip-py312", monkeypatch)
    _, results = run(pytester, "-k", "SR104")
    fresh = one(results, "SR104")
    assert fresh["status"] == "skipped", fresh
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert fresh["summary"] == (
        f"pip-compile could not re-resolve requirements.txt with Python {here}; the lock "
        "was made with Python 3.12 (run pytest under Python 3.12 to re-resolve it). "
        "pip-compile said: DistributionNotFound: No matching distribution found for "
        "django<6.1,>=6.0")


def _broken_python_312(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A python3.12 first on PATH that does not start, as a pyenv shim of a version
    pyenv has installed but not enabled: uv picks it and cannot run it."""
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3.12"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "no-managed-pythons"))


def test_uv_lock_check_without_a_usable_python_skips_with_uvs_words(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("uv")
    project(pytester, "uv-py312", monkeypatch)
    _broken_python_312(tmp_path, monkeypatch)
    _, results = run(pytester, "-k", "SR111")
    fresh = one(results, "SR111")
    assert fresh["status"] == "skipped", fresh
    assert fresh["summary"].startswith(
        "`uv lock --check` cannot run here for the Python uv.lock requires: error: Failed "
        "to inspect Python interpreter from ")
    assert "python3.12" in fresh["summary"]
    assert "the offline comparison found no difference" in fresh["summary"]


def test_uv_lock_check_without_a_usable_python_still_fails_a_stale_lock(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("uv")
    root = project(pytester, "uv-py312", monkeypatch)
    _broken_python_312(tmp_path, monkeypatch)
    # Still satisfied by the locked six 1.17.0 (SR103 passes), but not what was locked.
    edit(root / "pyproject.toml", '"six>=1.16"', '"six>=1.15"')
    _, results = run(pytester, "-k", "SR103 or SR111")
    assert one(results, "SR103")["status"] == "passed"
    fresh = one(results, "SR111")
    assert fresh["status"] == "failed", fresh
    assert fresh["findings"][0]["message"] == (
        "six>=1.15 in pyproject.toml [project] dependencies, but uv.lock was locked for "
        "six>=1.16")


# --- 18. the lock's own Python ------------------------------------------------------------


def test_sr103_judges_markers_for_the_locks_requires_python(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project(pytester, "uv-py312", monkeypatch)
    _, results = run(pytester, "--shipready-offline", "-k", "SR103")
    covers = one(results, "SR103")
    assert covers["status"] == "passed", covers
    assert covers["summary"] == (
        "1 direct requirement satisfied for linux/x86_64, Python 3.12 (pyproject.toml "
        "[project] requires-python '>=3.12'; no Dockerfile at Dockerfile); 1 not for this "
        "platform (marker)")


def test_sr103_flags_a_requires_python_that_excludes_the_images_python(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project(pytester, "uv-py311-only", monkeypatch)
    _, results = run(pytester, "--shipready-offline", "-k", "SR103")
    covers = one(results, "SR103")
    assert covers["status"] == "failed", covers
    (finding,) = covers["findings"]
    assert finding["path"] == "pyproject.toml"
    assert finding["message"] == (
        "requires-python '>=3.10,<=3.11' (pyproject.toml [project] requires-python) "
        "excludes the newest Python 3.11.x release (it allows 3.11.0 only), which the "
        "image runs (FROM python:3.11-slim): pip and uv refuse to install the project "
        "there")
    assert finding["hint"] == ("Write `<3.12` instead of `<=3.11` (`<=3.11` means 3.11.0 "
                               "and nothing after) in requires-python, then relock.")


def test_sr103_keeps_a_requires_python_that_allows_the_images_python(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(pytester, "uv-py311-only", monkeypatch)
    # The fix, followed: the lock is then stale (SR111's business), SR103 is content.
    edit(root / "pyproject.toml", '">=3.10,<=3.11"', '">=3.10,<3.12"')
    _, results = run(pytester, "--shipready-offline", "-k", "SR103")
    covers = one(results, "SR103")
    assert covers["status"] == "passed", covers
    assert "Python 3.11 (FROM python:3.11-slim)" in covers["summary"]


def test_pip_compile_missing_skips_with_pythons_words(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # pip-tools installed without its dependencies, or removed: not a verdict on the lock.
    shutil.copytree(FIXTURES / "pip-unsafe", tmp_path, dirs_exist_ok=True)
    lock = pipcompile.load(tmp_path / "requirements.txt", tmp_path)
    said = f"{sys.executable}: No module named piptools\n"
    monkeypatch.setattr(resolve, "run_bounded", lambda *a, **k: (1, said))
    result = resolve.check_fresh(lock, pipcompile.read_inputs(lock, tmp_path), tmp_path,
                                 timeout=60, pip_config="isolated")
    assert result.status is Status.SKIPPED, result
    assert result.summary == (f"pip-compile cannot run here: {said.strip()} (install "
                              "pip-tools into this environment)")
