"""pylock.toml (PEP 751): parse it and pick what an install selects.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from .model import FileHash, LockedPackage, LockError, ToolLock, _line, _list, _table, _true


def _pylock_hashes(entry: dict[str, Any]) -> tuple[str, ...]:
    hashes = _table(entry.get("hashes"), "hashes")
    return tuple(f"{alg}:{value}" for alg, value in sorted(hashes.items()))


def _pylock(path: Path, display: str, data: dict[str, Any], lines: list[int]) -> ToolLock:
    version = str(data.get("lock-version", ""))
    if not version.startswith("1"):
        raise LockError(f"lock-version {version!r} is not supported (1.x is)")
    packages = []
    for i, raw in enumerate(_list(data.get("packages"), "packages")):
        pkg = _table(raw, "[[packages]]")
        name = canonicalize_name(str(pkg["name"]))
        files: list[FileHash] = []
        kind, source, commit, editable = "registry", pkg.get("index"), None, False
        if "vcs" in pkg:
            vcs = _table(pkg["vcs"], "vcs")
            kind, source, commit = "vcs", vcs.get("url") or vcs.get("path"), vcs.get("commit-id")
        elif "directory" in pkg:
            d = _table(pkg["directory"], "directory")
            editable = bool(d.get("editable", False))
            kind, source = ("editable" if editable else "directory"), d.get("path")
        elif "archive" in pkg:
            a = _table(pkg["archive"], "archive")
            kind = "url" if a.get("url") else "file"
            source = a.get("url") or a.get("path")
            files.append(FileHash(str(source).rsplit("/", 1)[-1], _pylock_hashes(a)))
        if "sdist" in pkg:
            s = _table(pkg["sdist"], "sdist")
            files.append(FileHash(str(s.get("name") or s.get("url") or s.get("path") or ""),
                                  _pylock_hashes(s)))
        for w in _list(pkg.get("wheels"), "wheels"):
            w = _table(w, "wheel")
            files.append(FileHash(str(w.get("name") or w.get("url") or w.get("path") or ""),
                                  _pylock_hashes(w)))
        packages.append(LockedPackage(
            name=name, version=str(pkg["version"]) if pkg.get("version") else None,
            line=_line(lines, i), kind=kind, source=str(source) if source else None,
            files=tuple(files), marker=pkg.get("marker"), commit=commit, editable=editable,
        ))
    return ToolLock(path, display, "pylock", tuple(packages), version,
                    str(data.get("created-by") or "") or None, data)


def _pylock_pick(lock: ToolLock, env: Mapping[str, str], groups: set[str],
                 extras: Collection[str]) -> list[LockedPackage]:
    out = []
    for p in lock.packages:
        if not p.marker:
            out.append(p)
            continue
        try:
            m = Marker(p.marker)
            ctx: dict[str, Any] = {**env, "extras": frozenset(extras),
                                   "dependency_groups": frozenset(groups)}
            ok = m.evaluate(ctx, context="lock_file")  # type: ignore[call-arg, unused-ignore]
        except TypeError:  # packaging < 25: no lock_file context
            ok = _true(p.marker, env, extras)
        except InvalidMarker:
            ok = True
        if ok:
            out.append(p)
    return out
