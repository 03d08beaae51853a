"""SR104's cache: a passing re-resolution is reused while nothing it depends on changed.

The key is a digest of the lock's bytes, every input file's path and bytes, the
resolver's arguments (with our temporary paths left out), the pip configuration mode
(and, when it is inherited, the PIP_* variables), and the versions of Python, pip-tools,
pip and this plugin. Only a PASS is reused, and only for ``max_age`` seconds: the index
changes under an unchanged lock (a release yanked, a file removed), which only a new
re-resolution sees. The store is pytest's cache (``--cache-clear`` empties it), given as
a :class:`~pytest_shipready.checks.ResultCache`. Pure: no pytest, no docker.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ..checks import CheckResult, ResultCache, Status

KEY_PREFIX = "shipready/resolve/"
FORMAT = 1


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def tool_versions() -> dict[str, str]:
    from .. import __version__

    return {"python": sys.version.split()[0], "pip-tools": _version("pip-tools"),
            "pip": _version("pip"), "pytest-shipready": __version__}


def cache_key(lock_path: Path, input_files: Iterable[Path], argv: list[str], base: Path,
              pip_config: str, environ: Mapping[str, str] | None = None,
              versions: Mapping[str, str] | None = None) -> str:
    """The digest of what a re-resolution depends on; a change to any part re-resolves.
    ``argv``: the resolver's arguments after the interpreter, paths made relative to
    ``base`` (the temporary output path is no input)."""
    h = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    part("format", str(FORMAT).encode())
    part("lock", lock_path.read_bytes())
    for path in sorted(set(input_files), key=lambda p: str(p)):
        part("input-name", _rel(path, base).encode())
        try:
            part("input", path.read_bytes())
        except OSError:
            part("input", b"<unreadable>")
    for arg in argv:
        part("arg", arg.encode())
    part("pip-config", pip_config.encode())
    if pip_config == "inherit":
        env = os.environ if environ is None else environ
        for name in sorted(k for k in env if k.startswith("PIP_")):
            part("env", f"{name}={env[name]}".encode())
    for name, version in sorted((versions or tool_versions()).items()):
        part("version", f"{name}={version}".encode())
    return h.hexdigest()


def _rel(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def stable_argv(argv: list[str], output: str, base: Path) -> list[str]:
    """``argv`` without the interpreter and the output file, paths relative to ``base``."""
    out: list[str] = []
    for arg in argv[1:]:
        if arg == f"--output-file={output}":
            continue
        out.append(_rel(Path(arg), base) if os.path.isabs(arg) else arg)
    return out


def slot(display: str) -> str:
    """The cache entry of one lock (one per lock: a new key replaces the old entry)."""
    return KEY_PREFIX + hashlib.sha256(display.encode()).hexdigest()[:16]


def lookup(cache: ResultCache | None, display: str, key: str, now: float, max_age: float
           ) -> CheckResult | None:
    """The cached PASS for ``key``, its summary saying that it is and how old; None
    when there is none, it is for another key, or older than ``max_age``."""
    if cache is None or max_age <= 0:
        return None
    entry = cache.get(slot(display), None)
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    try:
        stamp = float(entry["time"])
        result = CheckResult.from_json(entry["result"])
    except (KeyError, TypeError, ValueError):
        return None
    age = now - stamp
    if result.status != Status.PASSED or age < 0 or age > max_age:
        return None
    summary = (f"{result.summary}; cached {describe_age(age)} ago (the lock, its inputs "
               f"and the resolver are unchanged; re-resolved after "
               f"{describe_age(max_age)}, [tool.shipready.lockfile] resolve_max_age, or "
               "with --cache-clear)")
    return CheckResult(result.check_id, result.status, summary, result.findings,
                       {**result.figures, "cached_age_s": round(age, 1)})


def store(cache: ResultCache | None, display: str, key: str, now: float,
          result: CheckResult) -> None:
    """Remember a PASS (a failure or a skip is re-checked on every run)."""
    if cache is None or result.status != Status.PASSED:
        return
    entry: dict[str, Any] = {"key": key, "time": now, "result": result.to_json()}
    cache.set(slot(display), entry)


def describe_age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
