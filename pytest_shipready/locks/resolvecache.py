"""SR104's cache: a passing re-resolution is reused while nothing it depends on changed.

The key is a digest of the lock's bytes, the path and bytes of every file the resolution
reads (its inputs, their ``-r``/``-c`` includes at any depth, constraints named in the
command, pip-tools' configuration, local packages' metadata), the resolver's arguments
(with our temporary paths left out), the pip configuration mode, the PIP_* variables the
resolver gets (but timeouts, caches and output), the pip configuration files that apply
when it is inherited (as pip finds them: PIP_CONFIG_FILE, /etc/xdg/pip/pip.conf,
/etc/pip.conf, ~/.pip/pip.conf, ~/.config/pip/pip.conf, the interpreter's prefix), and
the versions of Python, pip-tools, pip and this plugin. Files outside the project are
only hashed, never shown. Only a PASS is reused, and only for ``max_age`` seconds: the index
changes under an unchanged lock (a release yanked, a file removed), which only a new
re-resolution sees. The store is pytest's cache (``--cache-clear`` empties it), given as
a :class:`~pytest_shipready.checks.ResultCache`. Pure: no pytest, no docker.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ..checks import CheckResult, ResultCache, Status

KEY_PREFIX = "shipready/resolve/"
FORMAT = 2
# PIP_* variables that do not change what pip resolves: timeouts, output, caches.
_NEUTRAL_ENV = frozenset({
    "PIP_DEFAULT_TIMEOUT", "PIP_TIMEOUT", "PIP_RETRIES", "PIP_DISABLE_PIP_VERSION_CHECK",
    "PIP_PROGRESS_BAR", "PIP_NO_COLOR", "PIP_VERBOSE", "PIP_QUIET", "PIP_CACHE_DIR",
    "PIP_NO_CACHE_DIR", "PIP_TOOLS_CACHE_DIR", "PIP_NO_INPUT", "PIP_LOG", "PIP_LOG_FILE",
})
_MAX_CONFIG_BYTES = 1 << 20


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def tool_versions() -> dict[str, str]:
    from .. import __version__

    return {"python": sys.version.split()[0], "pip-tools": _version("pip-tools"),
            "pip": _version("pip"), "pytest-shipready": __version__}


def pip_config_files(environ: Mapping[str, str], prefix: str | None = None) -> list[Path]:
    """The pip configuration files pip reads with ``environ`` (none when PIP_CONFIG_FILE
    is os.devnull), in pip's order: global, user (unless PIP_CONFIG_FILE exists), the
    interpreter's prefix (a virtualenv's pip.conf), PIP_CONFIG_FILE."""
    named = environ.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        return []
    dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    out = [Path(d) / "pip" / "pip.conf" for d in dirs.split(os.pathsep) if d]
    out.append(Path("/etc/pip.conf"))
    if not (named and os.path.exists(named)):
        home = Path(environ.get("HOME") or os.path.expanduser("~"))
        out += [home / ".pip" / "pip.conf",
                Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf"]
    out.append(Path(prefix or sys.prefix) / "pip.conf")
    if named:
        out.append(Path(named))
    return out


def _config_bytes(path: Path) -> bytes:
    """A configuration file's bytes for the key: only a regular file is read (a FIFO or
    /dev/zero would never end), at most 1 MiB."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return b"<not a file>"
        with path.open("rb") as fh:
            return f"{info.st_size}:".encode() + fh.read(_MAX_CONFIG_BYTES)
    except OSError:
        return b"<absent>"


def cache_key(lock_path: Path, input_files: Iterable[Path], argv: list[str], base: Path,
              pip_config: str, environ: Mapping[str, str] | None = None,
              versions: Mapping[str, str] | None = None, prefix: str | None = None) -> str:
    """The digest of what a re-resolution depends on; a change to any part re-resolves.
    ``input_files``: every file the resolution reads. ``argv``: the resolver's arguments
    after the interpreter, paths made relative to ``base`` (the temporary output path is
    no input). ``environ``: the resolver's environment (default: this process's)."""
    h = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    part("format", str(FORMAT).encode())
    part("lock", lock_path.read_bytes())
    for path in sorted(set(input_files), key=lambda p: str(p)):
        part("input-name", _rel(path, base).encode())
        part("input", _config_bytes(path))
    for arg in argv:
        part("arg", arg.encode())
    part("pip-config", pip_config.encode())
    env = os.environ if environ is None else environ
    for name in sorted(k for k in env if k.startswith("PIP_") and k not in _NEUTRAL_ENV):
        part("env", f"{name}={env[name]}".encode())
    if pip_config == "inherit":
        for path in pip_config_files(env, prefix):
            part("pip-conf-name", str(path).encode())
            part("pip-conf", _config_bytes(path))
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
    stamp = entry.get("time")
    result = _kept_pass(entry.get("result"))
    # Anything but what store() writes (a hand-made or damaged entry) is no verdict.
    if result is None or isinstance(stamp, bool) or not isinstance(stamp, int | float) \
            or not math.isfinite(stamp):
        return None
    age = now - stamp
    if not 0 <= age <= max_age:  # NaN compares false: no hit
        return None
    summary = (f"{result.summary}; cached {describe_age(age)} ago (the lock, its inputs "
               f"and the resolver are unchanged; re-resolved after "
               f"{describe_age(max_age)}, [tool.shipready.lockfile] resolve_max_age, or "
               "with --cache-clear)")
    return CheckResult(result.check_id, result.status, summary, result.findings,
                       {**result.figures, "cached_age_s": round(age, 1)})


def _kept_pass(data: object) -> CheckResult | None:
    """The SR104 PASS that :func:`store` wrote, or None for anything else: another check,
    status or shape, findings, figures that are not numbers or text."""
    if not isinstance(data, dict) or data.get("check_id") != "SR104" \
            or data.get("status") != Status.PASSED.value:
        return None
    summary, findings, figures = data.get("summary"), data.get("findings"), \
        data.get("figures", {})
    if not isinstance(summary, str) or not summary or findings not in ([], None) \
            or not isinstance(figures, dict):
        return None
    if not all(isinstance(k, str) and not isinstance(v, bool) and isinstance(v, int | float | str)
               and (not isinstance(v, float) or math.isfinite(v)) for k, v in figures.items()):
        return None
    return CheckResult("SR104", Status.PASSED, summary, (), dict(figures))


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
