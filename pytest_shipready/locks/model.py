"""Poetry, uv and pylock.toml (PEP 751) lockfiles as one plain model.

The types every lock format parses into, and the project's pyproject.toml beside a lock.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from ..checks import Finding
from ..scope import ProjectScope

FORMATS = ("poetry", "uv", "pylock")


# Sources that are not a released distribution: exempt from pins and hashes, named.
LOCAL_KINDS = frozenset({"directory", "editable", "virtual", "path", "file"})


@dataclass(frozen=True)
class FileHash:
    name: str  # file name or URL
    hashes: tuple[str, ...]  # "sha256:<hex>"


@dataclass(frozen=True)
class Dep:
    """An edge of the lock's dependency graph."""

    name: str  # canonical
    marker: str | None = None
    extras: tuple[str, ...] = ()
    version: str | None = None  # uv: disambiguates packages locked in several versions


@dataclass(frozen=True, eq=False)  # identity: hashable, usable in sets
class LockedPackage:
    name: str  # canonical
    version: str | None
    line: int | None
    kind: str  # registry, legacy, url, git, directory, editable, virtual, path, file, vcs
    source: str | None  # index URL, path or URL, as the lock records it
    files: tuple[FileHash, ...] = ()
    marker: str | None = None  # pylock / poetry (lock-version 2.1, one marker for all groups)
    groups: Mapping[str, str | None] = field(default_factory=dict)  # poetry 2.1: group->marker
    dependencies: tuple[Dep, ...] = ()
    optional: Mapping[str, tuple[Dep, ...]] = field(default_factory=dict)  # uv extras
    dev: Mapping[str, tuple[Dep, ...]] = field(default_factory=dict)  # uv dependency groups
    commit: str | None = None  # git / vcs
    editable: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)  # uv [package.metadata]

    @property
    def local(self) -> bool:
        return self.kind in LOCAL_KINDS

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


@dataclass(frozen=True, eq=False)
class ToolLock:
    """A parsed Poetry/uv/pylock lockfile; ``error`` set (packages empty) when unreadable."""

    path: Path
    display: str
    format: str
    packages: tuple[LockedPackage, ...] = ()
    lock_version: str | None = None
    generator: str | None = None  # "Poetry 2.5.1", "uv"
    data: Mapping[str, Any] = field(default_factory=dict)
    error: Finding | None = None
    # The files it may read besides itself (pyproject.toml, workspace members): set by
    # discover.load; None (a lock made by hand): its own directory.
    scope: ProjectScope | None = None

    @property
    def reads(self) -> ProjectScope:
        return self.scope or ProjectScope(self.path.parent)

    def by_name(self) -> dict[str, list[LockedPackage]]:
        out: dict[str, list[LockedPackage]] = {}
        for p in self.packages:
            out.setdefault(p.name, []).append(p)
        return out

    def root(self) -> LockedPackage | None:
        """uv: the project itself (source "." editable or virtual)."""
        for p in self.packages:
            if p.kind in ("editable", "virtual") and p.source in (".", "./", ""):
                return p
        return None

    def members(self) -> list[LockedPackage]:
        """uv: the workspace's members (uv.lock's ``[manifest] members``, the root project
        among them when it has one); without a manifest, the root project alone."""
        manifest = self.data.get("manifest")
        names = manifest.get("members") if isinstance(manifest, Mapping) else None
        if not isinstance(names, list) or not names:
            root = self.root()
            return [root] if root is not None else []
        wanted = {canonicalize_name(str(n)) for n in names}
        return [p for p in self.packages if p.name in wanted and p.local]

    def member_pyprojects(self) -> list[Path]:
        """uv: the pyproject.toml of each workspace member other than the root project,
        from the members' sources in the lock, or, for a lock without members, from
        ``[tool.uv.workspace] members`` (globs) of the pyproject.toml beside it."""
        base = self.path.parent
        found: list[Path] = []
        for p in self.members():
            if p.source and p.source not in (".", "./"):
                found.append(base / p.source / "pyproject.toml")
        if not found and not self.members():
            data, _, _ = read_pyproject(self)
            tool = data.get("tool") if isinstance(data, dict) else None
            uv = tool.get("uv") if isinstance(tool, dict) else None
            ws = uv.get("workspace") if isinstance(uv, dict) else None
            if isinstance(ws, dict):
                excluded = {d.resolve() for pattern in ws.get("exclude") or []
                            if isinstance(pattern, str) for d in base.glob(pattern)}
                for pattern in ws.get("members") or []:
                    if not isinstance(pattern, str):
                        continue
                    for d in sorted(base.glob(pattern)):
                        if (d / "pyproject.toml").is_file() and d.resolve() not in excluded \
                                and d.resolve() != base.resolve():
                            found.append(d / "pyproject.toml")
        return list(dict.fromkeys(found))

    @property
    def tool(self) -> str:
        return {"poetry": "poetry lock", "uv": "uv lock"}.get(self.format, "the locker")


class LockError(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def display_path(path: Path, project: Path) -> str:
    try:
        return path.resolve().relative_to(project.resolve()).as_posix()
    except ValueError:
        return str(path)


def _package_lines(text: str) -> list[int]:
    """Line of the ``name =`` of each [[package]] / [[packages]] table, in order."""
    out: list[int] = []
    pending: int | None = None
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s in ("[[package]]", "[[packages]]"):
            if pending is not None:
                out.append(pending)
            pending = no
        elif pending is not None and s.startswith("name") and "=" in s:
            out.append(no)
            pending = None
    if pending is not None:
        out.append(pending)
    return out


def _line(lines: list[int], i: int) -> int | None:
    return lines[i] if i < len(lines) else None


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise LockError(f"{what} must be an array")
    return value


def _table(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LockError(f"{what} must be a table")
    return value


def _true(marker: str | None, env: Mapping[str, str], extras: Collection[str] = ()) -> bool:
    if not marker:
        return True
    try:
        m = Marker(marker)
    except InvalidMarker:
        return True
    if "extra" not in marker:
        return m.evaluate(dict(env))
    return any(m.evaluate({**env, "extra": e}) for e in [*extras, ""])


def names(packages: Iterable[LockedPackage]) -> str:
    return ", ".join(p.name for p in packages)


def read_pyproject(lock: ToolLock, path: Path | None = None
                   ) -> tuple[dict[str, Any] | None, Path, Finding | None]:
    """The pyproject.toml beside the lock (or ``path``, a workspace member's): its data,
    its path, and a finding when it cannot be read (None, path, None when absent). One
    outside the project (a member `../x`, a symlink out) is refused unread."""
    path = path or lock.path.parent / "pyproject.toml"
    refused = refused_finding(lock.reads, path, os.path.relpath(path, lock.path.parent))
    if refused is not None:
        return None, path, refused
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), path, None
    except FileNotFoundError:
        return None, path, None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        shown = display_path(path, lock.path.parent)
        return None, path, Finding(f"cannot read {shown}: {exc}", shown)


def refused_finding(scope: ProjectScope, path: Path, shown: str, *, what: str = "",
                    where: str | None = None, line: int | None = None) -> Finding | None:
    """A finding when ``scope`` refuses ``path`` (shown as ``shown``: as written), else
    None: it names the path and the rule, never anything read from it."""
    from ..scope import refused_message

    why = scope.refusal(path)
    if why is None:
        return None
    label = f"{what} {shown}" if what else shown
    return Finding(refused_message(label, shown, why),
                   where if where is not None else shown, line)


def refused_inputs(lock: ToolLock) -> list[Finding]:
    """The files beside the lock it is resolved from (its pyproject.toml, the workspace
    members') that lie outside the project: a resolver must not be run on them."""
    paths = [lock.path.parent / "pyproject.toml", *lock.member_pyprojects()]
    found = (refused_finding(lock.reads, p, os.path.relpath(p, lock.path.parent))
             for p in paths)
    return [f for f in found if f is not None]
