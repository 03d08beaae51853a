"""SR104 for a lock made by ``uv pip compile``: re-resolve it with the command its header
records, and compare pins and hashes with the lock (as :mod:`.resolve` does with
pip-compile).

uv runs as a subprocess in a temporary directory, starting from a copy of the lock (uv
prefers the versions already in its output file); the user's files are never written.
A failure that says nothing about the lock (uv not installed, the index unreachable, no
interpreter for the requested Python) is a SKIP with uv's own words; a lock that
resolves differently is a FAIL.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..checks import CheckResult, Finding
from . import requirements, uvpip
from .pipcompile import Inputs, PipLock
from .resolve import _sources, judge, plan, refused_inputs, run_bounded, unknown_command
from .uvcheck import find_uv, uv_env

WHAT = "`uv pip compile`"
_NETWORK = re.compile(
    r"dns error|failed to lookup address|Connection refused|timed out|Network is "
    r"unreachable|error sending request|Could not connect|tcp connect error|"
    r"Failed to fetch|No route to host|Request failed after", re.I)
_NO_PYTHON = re.compile(
    r"No interpreter found|Failed to inspect Python interpreter|interpreter .* not found|"
    r"Failed to download .*python-build-standalone|incompatible with the project's "
    r"Python requirement", re.I)


def build_argv(uv: str, lock: PipLock, sources: list[str], output: str, pip_config: str
               ) -> list[str]:
    """``uv pip compile`` with the header's options, our output file and inputs; no
    Python downloads, and no user/system uv.toml when isolated (as another machine)."""
    args = uvpip.rerun_args(lock.header.command or ())
    if pip_config == "isolated" and "--no-config" not in args:
        args.append("--no-config")
    if "--no-python-downloads" not in args:
        args.append("--no-python-downloads")
    return [uv, "pip", "compile", *args, f"--output-file={output}", *sources]


@functools.cache
def uv_version(uv: str) -> str:
    try:
        out = subprocess.run([uv, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "-"
    return out.stdout.strip() or "-"


def _said(output: str, lines: int = 8) -> str:
    """uv's error and its first causes, on one line."""
    kept = [ln.strip() for ln in output.strip().splitlines() if ln.strip()
            and not ln.startswith(("Resolved ", "Using ")) and ln.strip() != "[stderr]"]
    return " / ".join(kept[:lines])


def not_installed(lock: PipLock) -> CheckResult:
    return CheckResult.skipped(
        "SR104", f"uv is not installed, so {WHAT} cannot re-resolve {lock.display} (its "
        "header names uv): install it (`pip install uv`, or put uv on PATH)")


def check_fresh(
    lock: PipLock, inputs: Inputs, project: Path, *, timeout: float, pip_config: str,
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
) -> CheckResult:
    unknown = unknown_command(lock) or refused_inputs(lock, inputs)
    if unknown is not None:
        return unknown
    if inputs.unknown and not inputs.files:
        return CheckResult.skipped(
            "SR104", f"inputs of {lock.display} not found: {', '.join(inputs.unknown)}")
    uv = find_uv()
    if uv is None:
        return not_installed(lock)
    with tempfile.TemporaryDirectory(prefix="shipready-uvpip-") as tmp:
        p = plan(lock, inputs, project, Path(tmp), pip_config)
        sources = _sources(lock, inputs, project, p.cwd)
        env = uv_env(pip_config)
        env.setdefault("UV_HTTP_RETRIES", "1")  # as PIP_RETRIES for pip-compile
        p = dataclasses.replace(p, argv=build_argv(uv, lock, sources, str(p.output),
                                                   pip_config), env=env)
        started = time.monotonic()
        outcome = run_bounded(p.argv, p.cwd, p.env, timeout, WHAT, on_start)
        elapsed = time.monotonic() - started
        if isinstance(outcome, str):
            return CheckResult.skipped("SR104", outcome)
        returncode, output = outcome
        if returncode != 0:
            if _NO_PYTHON.search(output):
                return CheckResult.skipped(
                    "SR104", f"{WHAT} cannot run here for the Python {lock.display} asks "
                    f"for: {_said(output, 3)}")
            if _NETWORK.search(output):
                return CheckResult.skipped(
                    "SR104", f"cannot reach the package index to re-resolve with {WHAT}: "
                    + _said(output, 2))
            return CheckResult.failed(
                "SR104", f"{WHAT} failed to re-resolve {lock.display}",
                [Finding(_said(output, 16).replace(" / ", "\n"), lock.display, None,
                         f"Run `{lock.header.text()}` to see the whole error.")])
        try:
            resolved = requirements.read(p.output)
        except (OSError, UnicodeDecodeError, requirements.ParseError) as exc:  # pragma: no cover
            return CheckResult.failed("SR104", f"cannot read uv's output: {exc}", [])
    return judge(lock, resolved, elapsed, lock.header.python)


def resolution_key(lock: PipLock, inputs: Inputs, project: Path, pip_config: str
                   ) -> str | None:
    """SR104's cache key for a uv-made lock (see :mod:`.resolvecache`): as pip-compile's,
    with uv's version and, when its configuration is inherited, the UV_* variables."""
    from . import resolvecache

    uv = find_uv()
    if uv is None:
        return None
    out = "<output>"
    argv = build_argv(uv, lock, _sources(lock, inputs, project, lock.path.parent), out,
                      pip_config)
    versions = {**resolvecache.tool_versions(), "uv": uv_version(uv)}
    if pip_config == "inherit":
        versions.update({f"env {k}": v for k, v in os.environ.items()
                         if k.startswith("UV_")})
    return resolvecache.cache_key(lock.path, inputs.files,
                                  resolvecache.stable_argv(argv, out, project), project,
                                  pip_config, versions=versions)
