"""SR111: is uv.lock fresh? ``uv lock --check`` decides when uv is available.

uv runs as a subprocess on a temporary copy of the project (``--check`` writes nothing,
but the user's tree is never handed to a tool that could). First ``--offline``: uv can
confirm an up-to-date lock from the lock alone. When it needs the index (the lock does
not match pyproject.toml, and the package cache is cold), it runs again online, within
the timeout; an unreachable index skips. Without uv, the offline comparison of
:func:`pytest_shipready.locks.uv.check_uv_fresh_offline` decides.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..checks import CheckResult, Finding
from .model import ToolLock, refused_inputs
from .resolve import _COPY_IGNORE, run_bounded
from .toolchecks import relock
from .uv import check_uv_fresh_offline, uv_offline_differences

_WHAT = "`uv lock --check`"
_STALE = re.compile(r"needs to be updated|lockfile .* is out of date", re.I)
_OFFLINE_NEEDS_INDEX = re.compile(
    r"network was disabled|not found in the cache|--offline|offline mode", re.I)
_NETWORK = re.compile(
    r"dns error|failed to lookup address|Connection refused|timed out|Network is "
    r"unreachable|error sending request|Could not connect|tcp connect error|"
    r"Failed to fetch|No route to host", re.I)


def find_uv() -> str | None:
    """The uv executable: on PATH, next to this Python, or from the ``uv`` package."""
    found = shutil.which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except (FileNotFoundError, OSError):  # pragma: no cover - broken uv package
        return None


# UV_* variables that point uv at this machine's indexes (dropped when isolated).
_LOCAL_UV_ENV = ("UV_INDEX", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL",
                 "UV_FIND_LINKS", "UV_NO_INDEX", "UV_CONFIG_FILE")
# uv cannot run for the Python the project requires: none found, one on PATH that does
# not start (a pyenv shim for a version pyenv does not have enabled), a download that
# is off or unreachable, or a pinned .python-version outside requires-python.
_NO_PYTHON = re.compile(
    r"No interpreter found|interpreter .* not found|no Python|Failed to inspect Python "
    r"interpreter|Failed to download .*python-build-standalone|incompatible with the "
    r"project's Python requirement", re.I)


def uv_env(pip_config: str = "isolated") -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("UV_NO_PROGRESS", "1")
    env.pop("VIRTUAL_ENV", None)  # uv warns when an unrelated venv is active
    if pip_config == "isolated":
        for key in _LOCAL_UV_ENV:
            env.pop(key, None)
    return env


def build_argv(uv: str, pip_config: str, offline: bool) -> list[str]:
    argv = [uv, "lock", "--check", "--no-python-downloads"]
    if pip_config == "isolated":
        argv.append("--no-config")  # no user/system uv.toml: as another machine would
    if offline:
        argv.append("--offline")
    return argv


def _whole(output: str) -> str:
    """uv's output, every line (its error and each cause and hint), blank lines dropped."""
    return "\n".join(ln.rstrip() for ln in output.strip().splitlines() if ln.strip())


def _one_line(output: str) -> str:
    """The whole output on one line, for a summary or a skip reason."""
    return " / ".join(ln.strip() for ln in _whole(output).splitlines())


def _first_lines(output: str, n: int = 3) -> str:
    """uv's error and its first causes, on one line (its stderr dumps left out)."""
    kept = [ln.strip() for ln in _whole(output).splitlines()
            if not ln.startswith(("Using ", "Resolved ")) and ln.strip() != "[stderr]"]
    return " / ".join(kept[:n])


def _said(output: str, lock: ToolLock) -> Finding:
    return Finding(f"{_WHAT} said:\n{_whole(output)}", lock.display, None,
                   "Run `uv lock --check` in the project to reproduce it.")


NOT_INSTALLED = ("uv is not installed, so `uv lock --check` did not run: install it "
                 "(`pip install uv`, or put uv on PATH) for the full check")


def check_fresh(lock: ToolLock, project: Path, *, resolve: bool, offline: bool,
                timeout: float, pip_config: str = "isolated") -> CheckResult:
    refused = refused_inputs(lock)
    if refused:  # uv would read them (and print them in its errors): not run
        return CheckResult.failed(
            "SR111", f"{lock.display} was not checked: its workspace reads files outside "
            "the project", refused)
    uv = find_uv() if resolve else None
    if uv is None:
        return check_uv_fresh_offline(
            lock, NOT_INSTALLED if resolve else
            "`uv lock --check` off ([tool.shipready.lockfile] resolve = false)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shipready-uv-") as tmp:
        root = lock.path.parent
        copy = Path(tmp) / "project"
        shutil.copytree(root, copy, ignore=_COPY_IGNORE, symlinks=True)
        # Path sources outside the lock's directory (workspace members elsewhere) are
        # not copied; uv then reports them, and we fall back to the offline comparison.
        env = uv_env(pip_config)
        outcome = run_bounded(build_argv(uv, pip_config, True), copy, env, timeout,
                              _WHAT)
        if not isinstance(outcome, str) and outcome[0] != 0 and not _STALE.search(outcome[1]) \
                and _OFFLINE_NEEDS_INDEX.search(outcome[1]) and not offline:
            outcome = run_bounded(build_argv(uv, pip_config, False), copy, env, timeout,
                                  _WHAT)
    elapsed = time.monotonic() - started
    if isinstance(outcome, str):
        return CheckResult.skipped("SR111", outcome)
    code, output = outcome
    if code == 0:
        return CheckResult.passed("SR111", f"`uv lock --check` passes ({elapsed:.1f} s)",
                                  seconds=round(elapsed, 2))
    findings, _ = uv_offline_differences(lock)
    if _STALE.search(output):
        if not findings:
            findings = [Finding("uv lock --check: the lockfile needs to be updated",
                                lock.display, None, relock(lock))]
        return CheckResult.failed(
            "SR111", f"{lock.display} is stale: `uv lock --check` says it needs to be "
            "updated", findings, seconds=round(elapsed, 2))
    if findings:  # uv could not decide (offline, index unreachable); our comparison can
        return CheckResult.failed(
            "SR111", f"{lock.display} is stale (offline comparison; uv could not check, "
            "its output is below)", [*findings, _said(output, lock)])
    if offline and _OFFLINE_NEEDS_INDEX.search(output):
        return CheckResult.skipped(
            "SR111", "`uv lock --check --offline` needs the package index; "
            "--shipready-offline was given")
    if _NO_PYTHON.search(output):
        # Not a verdict on the lock: uv did not get to compare it. A stale lock the
        # offline comparison sees still fails (above).
        fallback = check_uv_fresh_offline(lock)
        if fallback.status.value == "failed":  # pragma: no cover - `findings` above
            return CheckResult(fallback.check_id, fallback.status, fallback.summary,
                               (*fallback.findings, _said(output, lock)))
        compared = (f"; the offline comparison found no difference ({fallback.summary})"
                    if fallback.status.value == "passed" else "")
        return CheckResult.skipped(
            "SR111", f"{_WHAT} cannot run here for the Python {lock.display} requires: "
            f"{_first_lines(output)}{compared}")
    if _NETWORK.search(output):
        return CheckResult.skipped("SR111", "cannot reach the package index for `uv lock "
                                   "--check`: " + _one_line(output))
    return CheckResult.failed("SR111", "`uv lock --check` failed", [_said(output, lock)])
