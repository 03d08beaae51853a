"""SR104: re-resolve a pip-compile lock and compare pins and hashes with it.

pip-compile runs as a subprocess (never in-process: importing piptools costs ~0.5 s and
it prints to our terminal), in a temporary directory, starting from a copy of the
existing lock so its pins are preferred. The user's files are never written: the output
goes to the temporary copy, and when an input needs building project metadata
(pyproject.toml, setup.py) the project tree is copied first, because build backends
write metadata directories next to the sources.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..checks import CheckResult, Finding, plural
from . import requirements
from .pipcompile import Inputs, PipLock

# Options we drop from the recorded command, with whether they take a value.
_DROP = {
    "-o": True, "--output-file": True, "-P": True, "--upgrade-package": True,
    "-U": False, "--upgrade": False, "-n": False, "--dry-run": False,
    "-q": False, "--quiet": False, "-v": False, "--verbose": False,
}
_INDEX_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "--trusted-host")
# PIP_* variables that point pip at indexes and constraints of this machine.
_LOCAL_PIP_ENV = (
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX",
    "PIP_CONSTRAINT", "PIP_REQUIREMENT", "PIP_PRE",
)
_NETWORK = re.compile(
    r"NewConnectionError|Max retries exceeded|Temporary failure in name resolution|"
    r"Name or service not known|Network is unreachable|Connection refused|ProxyError|"
    r"ReadTimeoutError|ConnectTimeoutError|Could not fetch URL|SSLError|"
    r"No route to host|Connection reset by peer|ConnectionError"
)
_NO_PIPTOOLS = re.compile(r"No module named '?piptools")
_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".hg", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", "*.egg-info",
)
_METADATA_INPUTS = {"pyproject.toml", "setup.py", "setup.cfg"}


@dataclass(frozen=True)
class Plan:
    argv: list[str]
    cwd: Path
    output: Path
    env: dict[str, str]


def build_argv(lock: PipLock, sources: list[str], output: str) -> list[str]:
    """The recorded command with our output file, without upgrade or output options."""
    recorded = list(lock.header.command or ())
    positional = set(lock.header.sources)
    args: list[str] = []
    skip = False
    for tok in recorded:
        if skip:
            skip = False
            continue
        key, eq, _ = tok.partition("=")
        if key in _DROP:
            skip = _DROP[key] and not eq
            continue
        if tok in positional:
            continue
        args.append(tok)
    for opt in lock.data.options:
        if opt.name in _INDEX_OPTIONS and f"{opt.name}={opt.value}" not in args:
            args.append(f"{opt.name}={opt.value}")
    if lock.data.entries and any(e.hashes for e in lock.data.entries):
        # Reused hashes would hide a hash edited in the lock: recompute them.
        args = [a for a in args if a != "--reuse-hashes"] + ["--no-reuse-hashes"]
    return [sys.executable, "-m", "piptools", "compile", *args,
            f"--output-file={output}", *sources]


def pip_env(pip_config: str, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    if pip_config == "isolated":
        env["PIP_CONFIG_FILE"] = os.devnull
        for key in _LOCAL_PIP_ENV:
            env.pop(key, None)
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    env.setdefault("PIP_RETRIES", "1")
    return env


def plan(lock: PipLock, inputs: Inputs, project: Path, tmp: Path, pip_config: str) -> Plan:
    output = tmp / "out" / lock.path.name
    output.parent.mkdir(parents=True)
    shutil.copyfile(lock.path, output)
    cwd = lock.path.parent
    top_inputs = [p for p in inputs.files if p.name in _METADATA_INPUTS]
    if top_inputs:
        # Building metadata writes next to the sources: work on a copy of the project.
        copy = tmp / "project"
        shutil.copytree(project, copy, ignore=_COPY_IGNORE, symlinks=True)
        cwd = copy / _relative(lock.path.parent, project)
    sources = _sources(lock, inputs, project, cwd)
    return Plan(build_argv(lock, sources, str(output)), cwd, output, pip_env(pip_config))


def _relative(path: Path, project: Path) -> Path:
    try:
        return path.resolve().relative_to(project.resolve())
    except ValueError:
        return Path(".")


def _sources(lock: PipLock, inputs: Inputs, project: Path, cwd: Path) -> list[str]:
    from .pipcompile import input_paths

    found, _ = input_paths(lock, project)
    out = []
    for path in found:
        if path.name in _METADATA_INPUTS:
            rel = _relative(path, project)
            base = _relative(lock.path.parent, project)
            out.append(os.path.relpath(rel, base))
        else:
            out.append(str(path.resolve()))
    return out


def resolution_key(lock: PipLock, inputs: Inputs, project: Path, pip_config: str) -> str:
    """SR104's cache key: what a re-resolution of ``lock`` depends on (see
    :mod:`.resolvecache`): every file it reads, its arguments, its environment."""
    from . import resolvecache

    out = "<output>"
    argv = build_argv(lock, _sources(lock, inputs, project, lock.path.parent), out)
    return resolvecache.cache_key(lock.path, [*inputs.files, *inputs.also_read],
                                  resolvecache.stable_argv(argv, out, project), project,
                                  pip_config, pip_env(pip_config))


def refused_inputs(lock: PipLock, inputs: Inputs) -> CheckResult | None:
    """SR104's failure when the lock names files outside the project: the resolver would
    read them (and print them in its errors), so it is not run."""
    if not inputs.refused:
        return None
    return CheckResult.failed(
        "SR104", f"{lock.display} was not re-resolved: it names "
        f"{plural(len(inputs.refused), 'file')} outside the project", list(inputs.refused))


def check_fresh(
    lock: PipLock, inputs: Inputs, project: Path, *, timeout: float, pip_config: str,
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
) -> CheckResult:
    unknown = unknown_command(lock)
    if unknown is not None:
        return unknown
    refused = refused_inputs(lock, inputs)
    if refused is not None:
        return refused
    if inputs.unknown and not inputs.files:
        return CheckResult.skipped(
            "SR104", f"inputs of {lock.display} not found: {', '.join(inputs.unknown)}")
    with tempfile.TemporaryDirectory(prefix="shipready-resolve-") as tmp:
        p = plan(lock, inputs, project, Path(tmp), pip_config)
        started = time.monotonic()
        outcome = run_bounded(p.argv, p.cwd, p.env, timeout, "pip-compile", on_start)
        elapsed = time.monotonic() - started
        if isinstance(outcome, str):
            return CheckResult.skipped("SR104", outcome)
        returncode, output = outcome
        if returncode != 0:
            if _NETWORK.search(output):
                return CheckResult.skipped(
                    "SR104", "cannot reach the package index to re-resolve: "
                    + _network_line(output))
            if _NO_PIPTOOLS.search(output):
                return CheckResult.skipped(
                    "SR104", f"pip-compile cannot run here: {_tail(output, 1)} (install "
                    "pip-tools into this environment)")
            here = f"{sys.version_info.major}.{sys.version_info.minor}"
            if lock.header.python and lock.header.python != here:
                # Not a verdict on the lock: the resolver ran under another Python than
                # the one the lock was made with, and a requirement may need that one.
                return CheckResult.skipped(
                    "SR104", f"pip-compile could not re-resolve {lock.display} with Python "
                    f"{here}; the lock was made with Python {lock.header.python} (run "
                    f"pytest under Python {lock.header.python} to re-resolve it). "
                    f"pip-compile said: {_error_line(output)}")
            return CheckResult.failed(
                "SR104", f"pip-compile failed to re-resolve {lock.display}",
                [Finding(_tail(output), lock.display, None,
                         "Run the command in the lockfile's header to see the whole error.")],
            )
        try:
            resolved = requirements.read(p.output)
        except (OSError, UnicodeDecodeError, requirements.ParseError) as exc:  # pragma: no cover
            return CheckResult.failed("SR104", f"cannot read pip-compile's output: {exc}", [])
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    return judge(lock, resolved, elapsed, here)


def unknown_command(lock: PipLock) -> CheckResult | None:
    """SR104's skip when the header does not record the command that made the lock."""
    header = lock.header
    if header.command is not None:
        return None
    if header.custom is not None:
        return CheckResult.skipped(
            "SR104", f"the header of {lock.display} names `{header.custom}` (a custom "
            f"compile command), not the {header.tool} command line, so the options the "
            f"lock was made with are unknown: re-resolve it with `{header.custom}` and "
            "compare, or let the header record the command (unset "
            "CUSTOM_COMPILE_COMMAND / UV_CUSTOM_COMPILE_COMMAND)")
    return CheckResult.skipped(
        "SR104", f"{lock.display} has no pip-compile or uv pip compile header: the "
        "command that made it is unknown")


def judge(lock: PipLock, resolved: requirements.RequirementsFile, elapsed: float,
          python: str | None) -> CheckResult:
    """SR104 from a re-resolution's output: its pins and hashes against the lock's.
    ``python``: the version the resolver ran with, when known."""
    findings = compare(lock, resolved)
    added = upstream_additions(lock, resolved)
    upstream = ""
    if added:
        upstream = (f"; the index offers files published since the lock was made, for "
                    f"{', '.join(added)}: every locked hash is still offered (re-run "
                    f"{lock.header.tool} to allow them)")
    n = len(lock.data.entries)
    if findings and python and lock.header.python and lock.header.python != python:
        # Not a freshness verdict: what is needed only below or above some Python version
        # (tomli below 3.11, say) differs between the two interpreters, and pip-compile
        # resolves for the one it runs under.
        changed = "; ".join(f.message.splitlines()[0] for f in findings[:4]) + (
            f"; and {len(findings) - 4} more" if len(findings) > 4 else "")
        return CheckResult.skipped(
            "SR104", f"{lock.display} was made with Python {lock.header.python}, and "
            f"re-resolving it here with Python {python} changes "
            f"{plural(len(findings), 'entry', 'entries')} ({changed}): an interpreter "
            "difference changes what a resolver picks (packages needed only below or "
            "above a Python version), so this is no verdict on freshness. Run pytest "
            f"under Python {lock.header.python} to judge it, or re-lock for the Python "
            "the image runs (SR401 compares the two)")
    return CheckResult.from_findings(
        "SR104", findings,
        f"re-resolution matches {plural(n, 'pin')} in {elapsed:.1f} s{upstream}",
        f"re-resolving {lock.display} changes {plural(len(findings), 'entry', 'entries')}",
        seconds=round(elapsed, 2), requirements=n,
    )


def run_bounded(argv: list[str], cwd: Path, env: dict[str, str], timeout: float,
                what: str, on_start: Callable[[subprocess.Popen[str]], None] | None = None
                ) -> tuple[int, str] | str:
    """Run a resolver in its own process group; (returncode, output), or a skip reason
    when it cannot start or exceeds ``timeout`` (then its whole group is killed).
    ``on_start`` gets the process (so that a run interrupted while it works in the
    background can kill it)."""
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True,
        )
    except OSError as exc:
        return f"cannot run {what}: {exc}"
    if on_start is not None:
        on_start(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return (f"{what} did not finish within {timeout:g} s (the index may be "
                "unreachable); raise [tool.shipready.lockfile] resolve_timeout if it is "
                "just slow")
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc.returncode, out


def _error_line(output: str) -> str:
    """The error pip-compile ends with, without its traceback: "DistributionNotFound: No
    matching distribution found for django<6.1,>=6.0"."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not ln[:1].isspace()
             and not ln.startswith(("Traceback", "The above exception"))]
    last = lines[-1] if lines else "no output"
    return re.sub(r"^(?:[a-z_]\w*\.)+(?=[A-Z]\w*: )", "", last)[:300]


def _network_line(output: str) -> str:
    for line in output.splitlines():
        if _NETWORK.search(line):
            return line.strip()[:300]
    return "network error"  # pragma: no cover


def _tail(output: str, lines: int = 12) -> str:
    kept = [ln for ln in output.strip().splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def _pin(entry: requirements.Entry) -> str | None:
    return entry.pinned_version or entry.url


def compare(lock: PipLock, resolved: requirements.RequirementsFile) -> list[Finding]:
    """Added, removed and changed pins, and hash sets that differ, as findings. A pin
    whose locked hashes are all still offered, with more besides (the index published
    another file of that release after the lock was made: a new wheel), is not a
    difference: the lock installs as before (see :func:`upstream_additions`)."""
    ours = {e.name: e for e in lock.data.entries if e.name and not e.editable}
    theirs = {e.name: e for e in resolved.entries if e.name and not e.editable}
    fix = (f"Re-run `{lock.header.text()}` (the command in the lockfile's header) and "
           "commit the result.")
    findings: list[Finding] = []
    for name in sorted(theirs.keys() - ours.keys()):
        e = theirs[name]
        findings.append(Finding(f"added: {name}=={_pin(e)} (needed but not locked)",
                                lock.display, None, fix))
    for name in sorted(ours.keys() - theirs.keys()):
        e = ours[name]
        findings.append(Finding(f"removed: {name} {_pin(e) or e.specifier} (locked but no "
                                "longer needed)", lock.display, e.line, fix))
    for name in sorted(ours.keys() & theirs.keys()):
        old, new = ours[name], theirs[name]
        if _pin(old) is None:
            continue  # SR101 reports what is not pinned
        if _pin(old) != _pin(new):
            findings.append(Finding(f"changed: {name} {_pin(old)} -> {_pin(new)}",
                                    lock.display, old.line, fix))
        elif old.hashes and new.hashes and set(old.hashes) != set(new.hashes):
            if set(old.hashes) < set(new.hashes):
                continue  # files published since the lock was made: see upstream_additions
            gone = sorted(set(old.hashes) - set(new.hashes))
            extra = sorted(set(new.hashes) - set(old.hashes))
            detail = []
            if gone:
                detail.append(f"{len(gone)} locked hash(es) not offered by the index")
            if extra:
                detail.append(f"{len(extra)} new")
            findings.append(Finding(f"hashes of {name} {_pin(old)} differ: "
                                    + ", ".join(detail), lock.display, old.line, fix))
    return findings


def upstream_additions(lock: PipLock, resolved: requirements.RequirementsFile) -> list[str]:
    """The pins whose hash set is a strict subset of the re-resolution's (files added
    upstream, none removed or changed): "pyyaml 6.0.1 (1 file added upstream)"."""
    theirs = {e.name: e for e in resolved.entries if e.name and not e.editable}
    out: list[str] = []
    for old in lock.data.entries:
        new = theirs.get(old.name) if old.name and not old.editable else None
        if new is None or _pin(old) is None or _pin(old) != _pin(new):
            continue
        if old.hashes and set(old.hashes) < set(new.hashes):
            added = len(set(new.hashes) - set(old.hashes))
            out.append(f"{old.name} {_pin(old)} ({plural(added, 'file')} added upstream)")
    return sorted(out)
