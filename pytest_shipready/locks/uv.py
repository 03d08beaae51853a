"""uv.lock: parse it, pick what an install selects, and compare it offline with
pyproject.toml (the ``uv lock --check`` run is :mod:`pytest_shipready.locks.uvcheck`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ..checks import CheckResult, Finding, plural
from . import model
from .inputs import requirement_line
from .toolchecks import relock


def _uv_deps(value: object, what: str) -> tuple[model.Dep, ...]:
    out = []
    for d in model._list(value, what):
        d = model._table(d, what)
        out.append(model.Dep(canonicalize_name(str(d["name"])), d.get("marker"),
                       tuple(str(e) for e in d.get("extra", ())), d.get("version")))
    return tuple(out)


def _uv(path: Path, display: str, data: dict[str, Any], lines: list[int]) -> model.ToolLock:
    version = data.get("version")
    if version != 1:
        raise model.LockError(f"uv.lock version {version!r} is not supported (1 is)")
    packages = []
    for i, raw in enumerate(model._list(data.get("package"), "package")):
        pkg = model._table(raw, "[[package]]")
        name = canonicalize_name(str(pkg["name"]))
        src = model._table(pkg.get("source"), "source")
        kind, where = next(iter(src.items()), ("registry", None))
        commit = None
        if kind == "git" and isinstance(where, str) and "#" in where:
            commit = where.rsplit("#", 1)[1]
        files = []
        sdist = pkg.get("sdist")
        if isinstance(sdist, dict):
            files.append(_uv_file(sdist))
        for w in model._list(pkg.get("wheels"), "wheels"):
            files.append(_uv_file(model._table(w, "wheel")))
        packages.append(model.LockedPackage(
            name=name, version=str(pkg["version"]) if pkg.get("version") else None,
            line=model._line(lines, i), kind=str(kind), source=str(where) if where else None,
            files=tuple(files), dependencies=_uv_deps(pkg.get("dependencies"), "dependencies"),
            optional={k: _uv_deps(v, k) for k, v in model._table(
                pkg.get("optional-dependencies"), "optional-dependencies").items()},
            dev={k: _uv_deps(v, k) for k, v in model._table(
                pkg.get("dev-dependencies"), "dev-dependencies").items()},
            commit=commit, editable=kind == "editable",
            metadata=model._table(pkg.get("metadata"), "metadata"),
        ))
    return model.ToolLock(path, display, "uv", tuple(packages), str(version), "uv", data)


def _uv_file(entry: dict[str, Any]) -> model.FileHash:
    name = str(entry.get("url") or entry.get("path") or entry.get("filename") or "")
    hashes = (str(entry["hash"]),) if entry.get("hash") else ()
    return model.FileHash(name.rsplit("/", 1)[-1], hashes)


def _uv_pick(lock: model.ToolLock, env: Mapping[str, str], groups: set[str],
             extras: Collection[str], packages: Collection[str] = (),
             all_packages: bool = False, runtime: bool = True
             ) -> list[model.LockedPackage]:
    """What ``uv sync`` installs from ``lock`` into ``env``: from the project it syncs
    (``packages``: ``--package``; ``all_packages``: ``--all-packages``; else the root
    project, or every member of a workspace whose root is not a project), its
    dependencies whose markers hold in ``env``, with ``extras`` and dependency ``groups``
    of those packages, transitively. ``runtime=False`` (``--only-group``,
    ``--only-dev``): the ``groups`` of those packages alone, not the packages themselves
    and their dependencies."""
    root = lock.root()
    members = lock.members()
    by_name = lock.by_name()
    if packages:
        wanted = {canonicalize_name(n) for n in packages}
        start = [p for p in members if p.name in wanted] or [
            p for p in lock.packages if p.name in wanted and p.local]
        unknown = wanted - {p.name for p in start}
        if unknown:
            known = ", ".join(p.name for p in members) or "none"
            raise model.LockError(
                f"--package {', '.join(sorted(unknown))}: not a workspace member in "
                f"{lock.display} (members: {known})")
    elif all_packages and members:
        start = members
    elif root is not None:
        start = [root]
    else:
        start = members
    todo: list[model.Dep] = []
    if not start:
        # No project, no workspace member: a script's lock (its requirements are in
        # [manifest] requirements), else the packages nothing depends on.
        todo = _manifest_requirements(lock)
        if not todo:
            needed = {d.name for p in lock.packages for d in p.dependencies}
            todo = [model.Dep(p.name, None, (), p.version) for p in lock.packages
                    if p.name not in needed]
        if not todo:  # a cycle through every package: all of them, as recorded
            return [p for p in lock.packages if not p.local]
    for pkg in start:
        if runtime:
            todo.append(model.Dep(pkg.name, None, (), pkg.version))
            for extra in extras:
                todo.extend(pkg.optional.get(extra, ()))
        for group in groups:
            todo.extend(pkg.dev.get(group, ()))
    if root is None and not packages and start:
        # a workspace root that is not a project: its requirements and dependency groups
        if runtime:
            todo.extend(_manifest_requirements(lock))
        todo.extend(_manifest_groups(lock, groups))
    seen: set[tuple[str, str | None, tuple[str, ...]]] = set()
    out: dict[int, model.LockedPackage] = {}
    while todo:
        dep = todo.pop()
        if not model._true(dep.marker, env):
            continue
        candidates = by_name.get(dep.name, [])
        if dep.version is not None:
            candidates = [c for c in candidates if c.version == dep.version]
        if not candidates:
            continue
        pkg = candidates[0]
        key = (pkg.name, pkg.version, tuple(sorted(dep.extras)))
        if key in seen:
            continue
        seen.add(key)
        out[id(pkg)] = pkg
        todo.extend(pkg.dependencies)
        for extra in dep.extras:
            todo.extend(pkg.optional.get(extra, ()))
    return list(out.values())


def _requirement_deps(reqs: object) -> list[model.Dep]:
    out: list[model.Dep] = []
    for req in reqs if isinstance(reqs, list) else ():
        if isinstance(req, dict) and req.get("name"):
            out.append(model.Dep(canonicalize_name(str(req["name"])), req.get("marker"),
                                 tuple(str(e) for e in req.get("extras", ()))))
    return out


def _manifest_requirements(lock: model.ToolLock) -> list[model.Dep]:
    manifest = lock.data.get("manifest")
    return _requirement_deps(manifest.get("requirements")) \
        if isinstance(manifest, dict) else []


def _manifest_groups(lock: model.ToolLock, groups: set[str]) -> list[model.Dep]:
    """The dependency groups of a workspace root that is not a project, which uv.lock
    records as requirements in ``[manifest.dependency-groups]``."""
    manifest = lock.data.get("manifest")
    table = manifest.get("dependency-groups") if isinstance(manifest, dict) else None
    out: list[model.Dep] = []
    for group, reqs in (table.items() if isinstance(table, dict) else ()):
        if str(canonicalize_name(str(group))) in groups:
            out.extend(_requirement_deps(reqs))
    return out


def _key(name: str, extras: Any, specifier: str | None, source: str | None
         ) -> tuple[str, tuple[str, ...], str, str]:
    try:
        spec = SpecifierSet(specifier or "")
        spec_key = ",".join(sorted(str(s) for s in spec))
    except InvalidSpecifier:
        spec_key = specifier or ""
    return (canonicalize_name(name), tuple(sorted(canonicalize_name(e) for e in extras or ())),
            spec_key, source or "")


def _show(key: tuple[str, tuple[str, ...], str, str]) -> str:
    name, extras, spec, source = key
    ex = f"[{','.join(extras)}]" if extras else ""
    return f"{name}{ex}{spec}" + (f" @ {source}" if source else "")


def uv_offline_differences(lock: model.ToolLock) -> tuple[list[Finding], str | None]:
    """What pyproject.toml asks that uv.lock did not record: findings, or a skip reason."""
    root = lock.root()
    if root is None:
        return [], f"{lock.display} has no project package (a workspace or script lock)"
    data, path, error = model.read_pyproject(lock)
    if error is not None:
        return [error], None
    if data is None:
        return [], f"no pyproject.toml next to {lock.display}"
    project = data.get("project") or {}
    if "dependencies" in (project.get("dynamic") or []):
        return [], "pyproject.toml declares its dependencies dynamically"
    fix = relock(lock)
    findings: list[Finding] = []
    wanted: list[tuple[str, tuple[str, tuple[str, ...], str, str]]] = []

    def add(where: str, dep: object, extra: str | None = None) -> None:
        try:
            req = Requirement(str(dep))
        except InvalidRequirement as exc:
            findings.append(Finding(f"{where}: invalid requirement {dep!r}: {exc}", path.name))
            return
        wanted.append((where, _key(req.name, req.extras, str(req.specifier), req.url)))

    for dep in project.get("dependencies") or []:
        add("[project] dependencies", dep)
    for extra, deps in (project.get("optional-dependencies") or {}).items():
        for dep in deps or []:
            add(f"[project.optional-dependencies] {extra}", dep, extra)
    recorded = [_key(d["name"], d.get("extras"), d.get("specifier"), d.get("url"))
                for d in root.metadata.get("requires-dist") or []]
    groups, group_errors = expand_groups(data.get("dependency-groups") or {})
    findings.extend(Finding(e, path.name, None, "Fix [dependency-groups] in pyproject.toml.")
                    for e in group_errors)
    legacy_dev = ((data.get("tool") or {}).get("uv") or {}).get("dev-dependencies")
    if legacy_dev:
        groups.setdefault("dev", []).extend(
            (str(d), "[tool.uv] dev-dependencies") for d in legacy_dev)
    recorded_dev = {str(canonicalize_name(g)): [
        _key(d["name"], d.get("extras"), d.get("specifier"), d.get("url")) for d in deps]
        for g, deps in (root.metadata.get("requires-dev") or {}).items()}
    findings.extend(_diff(wanted, recorded, lock, path, fix, "[project]"))
    for group in sorted(set(groups) | set(recorded_dev)):
        w = []
        for dep, where in groups.get(group, []):
            try:
                req = Requirement(dep)
            except InvalidRequirement:
                continue
            w.append((where, _key(req.name, req.extras, str(req.specifier), req.url)))
        findings.extend(_diff(w, recorded_dev.get(group, []), lock, path, fix,
                              f"[dependency-groups] {group}"))
    wanted_py = project.get("requires-python")
    locked_py = lock.data.get("requires-python")
    if wanted_py and locked_py:
        try:
            same = SpecifierSet(str(wanted_py)) == SpecifierSet(str(locked_py))
        except InvalidSpecifier:
            same = True
        if not same:
            findings.append(Finding(
                f"requires-python is {wanted_py!r} in pyproject.toml but {locked_py!r} in "
                f"{lock.display}", path.name, None, fix))
    return findings, None


def expand_groups(table: object) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """PEP 735 ``[dependency-groups]`` with ``{ include-group = "..." }`` expanded, as uv
    records them: {normalized group: [(requirement, where it is written)]}, and what is
    wrong (an unknown or cyclic include, an entry that is neither)."""
    if not isinstance(table, dict):
        return {}, ["[dependency-groups] must be a table"]
    raw = {str(canonicalize_name(str(k))): (str(k), v) for k, v in table.items()}
    errors: list[str] = []
    done: dict[str, list[tuple[str, str]]] = {}

    def expand(group: str, stack: tuple[str, ...]) -> list[tuple[str, str]]:
        if group in done:
            return done[group]
        name, entries = raw[group]
        out: list[tuple[str, str]] = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, str):
                out.append((entry, f"[dependency-groups] {name}"))
            elif isinstance(entry, dict) and isinstance(entry.get("include-group"), str):
                included = str(canonicalize_name(entry["include-group"]))
                if included not in raw:
                    errors.append(f"[dependency-groups] {name} includes group "
                                  f"{entry['include-group']!r}, which does not exist")
                elif included in stack:
                    errors.append(f"[dependency-groups] {name} includes "
                                  f"{entry['include-group']!r}, which includes it back: "
                                  f"{' -> '.join([*stack, included])}")
                else:
                    out.extend((req, f"{where} (included in {name})")
                               for req, where in expand(included, (*stack, included)))
            else:
                errors.append(f"[dependency-groups] {name}: {entry!r} is neither a "
                              'requirement nor { include-group = "..." }')
        done[group] = out
        return out

    for group in raw:
        expand(group, (group,))
    return done, errors


def _diff(wanted: list[tuple[str, tuple[str, tuple[str, ...], str, str]]],
          recorded: list[tuple[str, tuple[str, ...], str, str]], lock: model.ToolLock,
          pyproject_path: Path, fix: str, section: str) -> list[Finding]:
    pyproject = pyproject_path.name
    rec = list(recorded)
    out = []
    for where, key in wanted:
        if key in rec:
            rec.remove(key)
            continue
        name = key[0]
        line = requirement_line(pyproject_path, name)
        old = [r for r in rec if r[0] == name]
        if old:
            rec.remove(old[0])
            out.append(Finding(f"{_show(key)} in {pyproject} {where}, but {lock.display} "
                               f"was locked for {_show(old[0])}", pyproject, line, fix))
        else:
            out.append(Finding(f"{_show(key)} in {pyproject} {where} is not in "
                               f"{lock.display}", pyproject, line, fix))
    for key in rec:
        out.append(Finding(f"{_show(key)} is recorded in {lock.display} ({section}) but no "
                           f"longer in {pyproject}", lock.display, None, fix))
    return out


def check_uv_fresh_offline(lock: model.ToolLock, why: str = "") -> CheckResult:
    """SR111 by the offline comparison; ``why`` says why uv did not decide."""
    findings, skip = uv_offline_differences(lock)
    because = f"; {why}" if why else ""
    if skip is not None:
        return CheckResult.skipped("SR111", skip + because)
    return CheckResult.from_findings(
        "SR111", findings, "pyproject.toml's requirements match those recorded in uv.lock "
        f"(offline comparison; markers are compared by `uv lock --check` only){because}",
        f"{lock.display} is stale: {plural(len(findings), 'requirement')} changed since "
        f"`uv lock` (offline comparison{because})")
