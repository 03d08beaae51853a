"""uv.lock: parse it, pick what an install selects, and compare it offline with
pyproject.toml (the ``uv lock --check`` run is :mod:`pytest_shipready.locks.uvcheck`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

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
    compared = uv_offline_comparison(lock)
    return compared.findings, compared.skip


@dataclass(frozen=True)
class OfflineComparison:
    """The offline comparison of uv.lock with the pyproject.toml files it was made from."""

    findings: list[Finding]
    skip: str | None = None  # nothing could be compared, and why
    compared: tuple[str, ...] = ()  # the pyproject.toml files compared
    left_out: tuple[str, ...] = ()  # "backend/pyproject.toml (dynamic dependencies)"


def uv_offline_comparison(lock: model.ToolLock) -> OfflineComparison:
    """Compare uv.lock with the pyproject.toml beside it and, in a workspace, with each
    member's: each project's requirements against those uv recorded for its package
    (``[package.metadata]``), a virtual workspace root's ``[dependency-groups]`` against
    ``[manifest.dependency-groups]``, the members ``[tool.uv.workspace]`` lists against
    ``[manifest] members``, and ``requires-python`` (the members' intersection)."""
    root = lock.root()
    members = lock.members()
    if root is None and not members:
        return OfflineComparison([], (
            f"{lock.display} has neither a project nor workspace members: a script's lock "
            "(`uv lock --script`), whose requirements are the script's inline metadata "
            "(PEP 723), which neither `uv lock --check` beside it nor the offline "
            "comparison reads; check it with `uv lock --check --script <script>`"))
    data, path, error = model.read_pyproject(lock)
    if error is not None:
        return OfflineComparison([error])
    if data is None:
        return OfflineComparison([], f"no pyproject.toml next to {lock.display}")
    fix = relock(lock)
    findings: list[Finding] = []
    compared: list[str] = []
    left_out: list[str] = []
    base = posixpath.dirname(lock.display)
    projects: list[tuple[model.LockedPackage, dict[str, Any], Path, str]] = []
    if root is not None:
        projects.append((root, data, path, path.name))
    else:
        findings.extend(_virtual_root_groups(lock, data, path, fix))
        compared.append(path.name)
    for member in members:
        if member is root:
            continue
        source = posixpath.normpath(member.source or ".")
        shown = posixpath.join(base, source, "pyproject.toml")
        member_data, member_path, member_error = model.read_pyproject(
            lock, lock.path.parent / source / "pyproject.toml")
        if member_error is not None:
            findings.append(member_error)
        elif member_data is None:
            findings.append(Finding(
                f"{lock.display} records workspace member {member.name} in {source}/, which "
                "has no pyproject.toml", lock.display, member.line, fix))
        else:
            projects.append((member, member_data, member_path, shown))
    for package, pyproject, where, shown in projects:
        project = pyproject.get("project") or {}
        if "dependencies" in (project.get("dynamic") or []):
            left_out.append(f"{shown} (dynamic dependencies)")
            continue
        compared.append(shown)
        findings.extend(_project_differences(lock, package, pyproject, where, shown, fix))
    if root is None or len(members) > 1:
        findings.extend(_member_list(lock, data, fix))
    findings.extend(_requires_python(lock, [p for _, p, _, _ in projects] or [data], fix))
    if not compared:
        reasons = ", ".join(left_out)
        return OfflineComparison([], f"nothing to compare offline: {reasons}",
                                 left_out=tuple(left_out))
    return OfflineComparison(findings, None, tuple(compared), tuple(left_out))


def _project_differences(lock: model.ToolLock, package: model.LockedPackage,
                         data: dict[str, Any], path: Path, shown: str, fix: str
                         ) -> list[Finding]:
    """One project's pyproject.toml against the requirements uv recorded for its
    package: [project] dependencies and optional-dependencies, [dependency-groups] (with
    include-group expanded) and [tool.uv] dev-dependencies."""
    project = data.get("project") or {}
    findings: list[Finding] = []
    wanted: list[tuple[str, tuple[str, tuple[str, ...], str, str]]] = []

    def add(where: str, dep: object) -> None:
        try:
            req = Requirement(str(dep))
        except InvalidRequirement as exc:
            findings.append(Finding(f"{where}: invalid requirement {dep!r}: {exc}", shown))
            return
        wanted.append((where, _key(req.name, req.extras, str(req.specifier), req.url)))

    for dep in project.get("dependencies") or []:
        add("[project] dependencies", dep)
    for extra, deps in (project.get("optional-dependencies") or {}).items():
        for dep in deps or []:
            add(f"[project.optional-dependencies] {extra}", dep)
    recorded = [_key(d["name"], d.get("extras"), d.get("specifier"), d.get("url"))
                for d in package.metadata.get("requires-dist") or []]
    groups, group_errors = expand_groups(data.get("dependency-groups") or {})
    findings.extend(Finding(e, shown, None, f"Fix [dependency-groups] in {shown}.")
                    for e in group_errors)
    legacy_dev = ((data.get("tool") or {}).get("uv") or {}).get("dev-dependencies")
    if legacy_dev:
        groups.setdefault("dev", []).extend(
            (str(d), "[tool.uv] dev-dependencies") for d in legacy_dev)
    recorded_dev = {str(canonicalize_name(g)): [
        _key(d["name"], d.get("extras"), d.get("specifier"), d.get("url")) for d in deps]
        for g, deps in (package.metadata.get("requires-dev") or {}).items()}
    findings.extend(_diff(wanted, recorded, lock, path, fix, "[project]", shown))
    findings.extend(_groups_diff(groups, recorded_dev, lock, path, fix, shown))
    return findings


def _groups_diff(groups: dict[str, list[tuple[str, str]]],
                 recorded: dict[str, list[tuple[str, tuple[str, ...], str, str]]],
                 lock: model.ToolLock, path: Path, fix: str, shown: str) -> list[Finding]:
    findings: list[Finding] = []
    for group in sorted(set(groups) | set(recorded)):
        w = []
        for dep, where in groups.get(group, []):
            try:
                req = Requirement(dep)
            except InvalidRequirement:
                continue
            w.append((where, _key(req.name, req.extras, str(req.specifier), req.url)))
        findings.extend(_diff(w, recorded.get(group, []), lock, path, fix,
                              f"[dependency-groups] {group}", shown))
    return findings


def _virtual_root_groups(lock: model.ToolLock, data: dict[str, Any], path: Path, fix: str
                         ) -> list[Finding]:
    """A workspace root that is not a project: its [dependency-groups] against uv.lock's
    ``[manifest.dependency-groups]``."""
    shown = path.name
    groups, errors = expand_groups(data.get("dependency-groups") or {})
    findings = [Finding(e, shown, None, f"Fix [dependency-groups] in {shown}.")
                for e in errors]
    manifest = lock.data.get("manifest")
    table = manifest.get("dependency-groups") if isinstance(manifest, dict) else None
    recorded = {str(canonicalize_name(str(g))): [
        _key(d["name"], d.get("extras"), d.get("specifier"), d.get("url"))
        for d in deps if isinstance(d, dict) and d.get("name")]
        for g, deps in (table.items() if isinstance(table, dict) else ())
        if isinstance(deps, list)}
    findings.extend(_groups_diff(groups, recorded, lock, path, fix, shown))
    return findings


def _member_list(lock: model.ToolLock, data: dict[str, Any], fix: str) -> list[Finding]:
    """The projects ``[tool.uv.workspace] members`` (minus ``exclude``) finds, against
    uv.lock's ``[manifest] members``."""
    ws = ((data.get("tool") or {}).get("uv") or {}).get("workspace")
    manifest = lock.data.get("manifest")
    recorded = manifest.get("members") if isinstance(manifest, dict) else None
    if not isinstance(ws, dict) or not isinstance(recorded, list):
        return []
    base = lock.path.parent
    excluded = {d.resolve() for pattern in ws.get("exclude") or []
                if isinstance(pattern, str) for d in base.glob(pattern)}
    found: dict[str, str] = {}
    root = lock.root()
    if root is not None:
        found[root.name] = "."
    for pattern in ws.get("members") or []:
        if not isinstance(pattern, str):
            continue
        for d in sorted(base.glob(pattern)):
            if d.resolve() in excluded or d.resolve() == base.resolve():
                continue
            member_data, _, _ = model.read_pyproject(lock, d / "pyproject.toml")
            name = ((member_data or {}).get("project") or {}).get("name")
            if isinstance(name, str) and name:
                found[str(canonicalize_name(name))] = d.relative_to(base).as_posix()
    locked = {str(canonicalize_name(str(n))) for n in recorded}
    shown = "pyproject.toml"
    out = [Finding(f"workspace member {name} ({found[name]}/) is in [tool.uv.workspace] "
                   f"members but not in {lock.display}", shown, None, fix)
           for name in sorted(set(found) - locked)]
    out += [Finding(f"workspace member {name} is recorded in {lock.display} but "
                    "[tool.uv.workspace] no longer finds it", lock.display, None, fix)
            for name in sorted(locked - set(found))]
    return out


def _requires_python(lock: model.ToolLock, projects: list[dict[str, Any]], fix: str
                     ) -> list[Finding]:
    """uv.lock's requires-python is the intersection of the projects' (every workspace
    member's): compared by the Python versions each admits."""
    written = [str((p.get("project") or {}).get("requires-python") or "") for p in projects]
    written = [w for w in written if w]
    locked = lock.data.get("requires-python")
    if not written or not locked:
        return []
    try:
        wanted = SpecifierSet(",".join(written))
        have = SpecifierSet(str(locked))
    except InvalidSpecifier:
        return []
    if _same_pythons(wanted, have):
        return []
    shown = " and ".join(repr(w) for w in dict.fromkeys(written))
    where = "pyproject.toml" if len(projects) == 1 else "the workspace's pyproject.toml files"
    return [Finding(f"requires-python is {shown} in {where} but {str(locked)!r} in "
                    f"{lock.display}", "pyproject.toml", None, fix)]


def _same_pythons(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Whether two requires-python ranges admit the same Python versions: equal as
    written, or agreeing on every version either names and the ones around them."""
    if a == b:
        return True
    points: set[Version] = set()
    for spec in (*a, *b):
        try:
            v = Version(spec.version.replace(".*", ""))
        except InvalidVersion:
            return False
        major, minor, micro = (*v.release, 0, 0)[:3]
        for m in (minor - 1, minor, minor + 1):
            for u in (0, micro - 1, micro, micro + 1, 99):
                if m >= 0 and u >= 0:
                    points.add(Version(f"{major}.{m}.{u}"))
    return all((v in a) == (v in b) for v in points)


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
          pyproject_path: Path, fix: str, section: str, shown: str = "") -> list[Finding]:
    pyproject = shown or pyproject_path.name
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
    compared = uv_offline_comparison(lock)
    findings = compared.findings
    because = f"; {why}" if why else ""
    if compared.skip is not None:
        return CheckResult.skipped("SR111", compared.skip + because)
    if compared.compared == ("pyproject.toml",) and lock.root() is not None:
        what = "pyproject.toml's requirements match those recorded in uv.lock"
    else:  # a workspace: the root's and every member's pyproject.toml
        what = (f"the workspace's requirements ({', '.join(compared.compared)}) and its "
                f"members match those recorded in {lock.display}")
    if compared.left_out:
        what += f" (not compared: {', '.join(compared.left_out)})"
    return CheckResult.from_findings(
        "SR111", findings, f"{what} (offline comparison; markers are compared by `uv lock "
        f"--check` only){because}",
        f"{lock.display} is stale: {plural(len(findings), 'requirement')} changed since "
        f"`uv lock` (offline comparison{because})")
