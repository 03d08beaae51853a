"""Offline checks of Poetry, uv and pylock.toml lockfiles (SR101-SR103, SR105, SR110, SR111).

Same items and report style as the pip-compile checks in :mod:`pytest_shipready.piplock`.
Pure: reads files, returns :class:`~pytest_shipready.findings.CheckResult` values. The
``uv lock --check`` run lives in :mod:`pytest_shipready.uvcheck` (a subprocess).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .findings import CheckResult, Finding, plural
from .lockmodel import LockedPackage, ToolLock
from .piplock import marker_environment

_LOOPBACK = re.compile(r"^[a-z+]+://(localhost|127\.\d+\.\d+\.\d+|\[::1\])([:/]|$)", re.I)
_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def relock(lock: ToolLock) -> str:
    return {"poetry": "Run `poetry lock` and commit poetry.lock.",
            "uv": "Run `uv lock` and commit uv.lock."}.get(
        lock.format, f"Regenerate {lock.display} (e.g. `uv export --format pylock.toml` or "
        "`pip lock`).")


def _local_note(lock: ToolLock) -> str:
    local = [p for p in lock.packages if p.local and p is not lock.root()]
    if not local:
        return ""
    named = ", ".join(f"{p.name} ({p.kind} {p.source})" for p in local)
    return f"; local, not pinned by version: {named}"


# --- SR101 pinned -----------------------------------------------------------------------


def check_pinned(lock: ToolLock) -> CheckResult:
    findings: list[Finding] = []
    checked = 0
    for p in lock.packages:
        if p.local:
            continue
        checked += 1
        if p.kind in ("git", "vcs"):
            if not p.commit or not _COMMIT.match(p.commit):
                findings.append(Finding(
                    f"{p.name} from {p.source} is not pinned to a commit", lock.display,
                    p.line, f"Lock it at a commit: {relock(lock)}"))
        elif lock.format == "pylock" and p.kind == "url":
            continue  # an archive: pinned by its hashes (SR102)
        elif p.version is None:
            findings.append(Finding(f"{p.name} has no version", lock.display, p.line,
                                    relock(lock)))
        else:
            try:
                Version(p.version)
            except InvalidVersion:
                findings.append(Finding(f"{p.name} {p.version} is not a valid version",
                                        lock.display, p.line, relock(lock)))
    return CheckResult.from_findings(
        "SR101", findings, f"{plural(checked, 'package')} pinned{_local_note(lock)}",
        f"{len(findings)} of {plural(checked, 'package')} not pinned", packages=checked)


# --- SR102 hashed -----------------------------------------------------------------------


def check_hashed(lock: ToolLock, require_hashes: bool = True) -> CheckResult:
    missing: list[tuple[LockedPackage, str]] = []
    checked = 0
    for p in lock.packages:
        if p.local or p.kind in ("git", "vcs"):
            continue
        checked += 1
        if not p.files:
            missing.append((p, "no files with hashes"))
            continue
        bare = [f.name for f in p.files if not f.hashes]
        if bare:
            missing.append((p, f"no hash for {', '.join(bare[:3])}"
                            + (f" and {len(bare) - 3} more" if len(bare) > 3 else "")))
    if not missing:
        return CheckResult.passed(
            "SR102", f"{plural(checked, 'package')} hashed{_local_note(lock)}",
            packages=checked)
    if len(missing) == checked and not require_hashes:
        return CheckResult.passed(
            "SR102", f"no hashes ({plural(checked, 'package')}); not required by "
            "configuration", packages=checked)
    findings = [Finding(f"{p.label}: {why}", lock.display, p.line,
                        f"Restore the hashes: {relock(lock)}") for p, why in missing]
    return CheckResult.failed(
        "SR102", f"{len(missing)} of {plural(checked, 'package')} without file hashes",
        findings, packages=checked)


# --- inputs: the project's direct requirements --------------------------------------


@dataclass(frozen=True)
class DirectRequirement:
    name: str  # canonical
    text: str  # as written, for messages
    alternatives: tuple[SpecifierSet, ...]  # any of them satisfies; empty: any version
    marker: str | None
    where: str  # "pyproject.toml [project] dependencies"
    local: str | None = None  # a path/url/git source: only presence is checked


def read_pyproject(lock: ToolLock) -> tuple[dict[str, Any] | None, Path, Finding | None]:
    path = lock.path.parent / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), path, None
    except FileNotFoundError:
        return None, path, None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return None, path, Finding(f"cannot read {path.name}: {exc}", path.name)


def poetry_constraint(text: str) -> tuple[SpecifierSet, ...]:
    """A Poetry version constraint as PEP 440 specifier sets (any one satisfies).

    ``^1.2`` -> ``>=1.2,<2.0``; ``~1.2.3`` -> ``>=1.2.3,<1.3.0``; ``1.2.*`` -> ``==1.2.*``;
    a bare version is ``==``; ``||`` separates alternatives, commas or spaces join.
    Raises InvalidSpecifier for what it cannot translate.
    """
    out = []
    for alt in re.split(r"\s*\|\|?\s*", text.strip()):
        alt = alt.strip().rstrip(",")
        if alt in ("", "*") or re.fullmatch(r"(?i)v?[x*](\.[x*])*", alt):
            out.append(SpecifierSet())
            continue
        parts = [p for p in re.split(
            r"(?<![\^~=><!, ]) *(?<!-)[, ](?!-) *(?!,|$)", alt) if p.strip()]
        specs: list[str] = []
        for part in parts:
            specs.extend(_single(part.strip().replace(" ", "")))
        out.append(SpecifierSet(",".join(specs)))
    return tuple(out)


def requires_python(lock: ToolLock) -> tuple[str, tuple[SpecifierSet, ...]] | None:
    """The Python versions the lock was resolved for, as written and as specifier sets:
    uv and pylock ``requires-python``, Poetry ``[metadata] python-versions``."""
    if lock.format == "poetry":
        meta = lock.data.get("metadata")
        text = meta.get("python-versions") if isinstance(meta, dict) else None
    else:
        text = lock.data.get("requires-python")
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        specs = poetry_constraint(text) if lock.format == "poetry" else (SpecifierSet(text),)
    except (InvalidSpecifier, InvalidVersion):
        return None  # SR101/SR103 report what cannot be read
    return text, specs


def _release(v: Version) -> list[int]:
    return list(v.release)


def _single(c: str) -> list[str]:
    if c.startswith("^"):
        v = Version(c[1:])
        r = _release(v)
        major, minor, patch = r[0], (r[1] if len(r) > 1 else None), (r[2] if len(r) > 2 else None)
        if major > 0 or minor is None:
            high = f"{major + 1}.0.0"
        elif minor > 0 or patch is None:
            high = f"0.{minor + 1}.0"
        else:
            high = f"0.0.{patch + 1}"
        return [f">={v}", f"<{high}"]
    if c.startswith("~") and not c.startswith("~="):
        v = Version(c[1:])
        r = _release(v)
        high = f"{r[0] + 1}.0.0" if len(r) == 1 else f"{r[0]}.{r[1] + 1}.0"
        return [f">={v}", f"<{high}"]
    m = re.fullmatch(r"(==|!=)?v?(\d+(?:\.\d+)*)\.[xX*]", c)
    if m:
        return [f"{m.group(1) or '=='}{m.group(2)}.*"]
    if re.match(r"^(~=|==|!=|<=|>=|<|>|===)", c):
        str(SpecifierSet(c))  # validates
        return [c]
    Version(c.lstrip("v"))  # a bare version: exact
    return [f"=={c.lstrip('v')}"]


def _pep508(dep: object, where: str, errors: list[Finding], display: str
            ) -> DirectRequirement | None:
    try:
        req = Requirement(str(dep))
    except InvalidRequirement as exc:
        errors.append(Finding(f"{where}: invalid requirement {dep!r}: {exc}", display))
        return None
    return DirectRequirement(
        canonicalize_name(req.name), str(req), (req.specifier,) if req.specifier else (),
        str(req.marker) if req.marker else None, where, req.url)


def _poetry_dep(name: str, value: object, where: str, errors: list[Finding], display: str
                ) -> list[DirectRequirement]:
    out = []
    for item in value if isinstance(value, list) else [value]:
        local = None
        marker = None
        constraint = "*"
        if isinstance(item, str):
            constraint = item
        elif isinstance(item, dict):
            constraint = str(item.get("version", "*"))
            marker = item.get("markers")
            for key in ("path", "git", "url", "file"):
                if key in item:
                    local = f"{key} {item[key]}"
        try:
            alts = () if local else poetry_constraint(constraint)
        except (InvalidSpecifier, InvalidVersion, IndexError):
            errors.append(Finding(f"{where}: cannot read the constraint {name} = "
                                  f"{constraint!r}", display))
            continue
        alts = tuple(a for a in alts if str(a)) if all(str(a) for a in alts) else ()
        text = f"{name} = {constraint!r}" if not local else f"{name} ({local})"
        out.append(DirectRequirement(canonicalize_name(name), text, alts, marker, where, local))
    return out


def direct_requirements(lock: ToolLock) -> tuple[list[DirectRequirement], list[Finding], str]:
    """The project's own requirements from pyproject.toml next to the lock."""
    data, path, error = read_pyproject(lock)
    display = path.name
    errors: list[Finding] = [error] if error else []
    if data is None:
        return [], errors, display
    out: list[DirectRequirement] = []
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    assert isinstance(project, dict)
    for dep in project.get("dependencies", []) or []:
        r = _pep508(dep, f"{display} [project] dependencies", errors, display)
        if r:
            out.append(r)
    for extra, deps in (project.get("optional-dependencies") or {}).items():
        for dep in deps or []:
            r = _pep508(dep, f"{display} [project.optional-dependencies] {extra}", errors,
                        display)
            if r:
                out.append(r)
    for group, deps in (data.get("dependency-groups") or {}).items():
        for dep in deps or []:
            if isinstance(dep, dict):
                continue  # {include-group = ...}
            r = _pep508(dep, f"{display} [dependency-groups] {group}", errors, display)
            if r:
                out.append(r)
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    assert isinstance(tool, dict)
    if lock.format == "poetry":
        poetry = tool.get("poetry") or {}
        tables = [("[tool.poetry.dependencies]", poetry.get("dependencies") or {}),
                  ("[tool.poetry.dev-dependencies]", poetry.get("dev-dependencies") or {})]
        for group, body in (poetry.get("group") or {}).items():
            tables.append((f"[tool.poetry.group.{group}.dependencies]",
                           (body or {}).get("dependencies") or {}))
        static_pep621 = "dependencies" in project
        for where, deps in tables:
            for name, value in deps.items():
                if name.lower() == "python":
                    continue
                if where == "[tool.poetry.dependencies]" and static_pep621:
                    # With [project] dependencies, Poetry 2 only uses these to enrich
                    # them (sources, develop); the requirements are checked there.
                    continue
                out.extend(_poetry_dep(name, value, f"{display} {where}", errors, display))
    elif lock.format == "uv":
        for dep in (tool.get("uv") or {}).get("dev-dependencies", []) or []:
            r = _pep508(dep, f"{display} [tool.uv] dev-dependencies", errors, display)
            if r:
                out.append(r)
    return out, errors, display


# --- SR103 covers inputs ----------------------------------------------------------------


def check_covers_inputs(lock: ToolLock) -> CheckResult:
    if lock.format == "pylock":
        return CheckResult.skipped(
            "SR103", f"{lock.display} does not record its inputs; checked via the lock "
            "it was exported from")
    reqs, errors, pyproject = direct_requirements(lock)
    pyproject_path = lock.path.parent / pyproject
    if not reqs and not errors:
        return CheckResult.skipped(
            "SR103", f"no {pyproject} with dependencies next to {lock.display}")
    env = marker_environment(None)
    locked = lock.by_name()
    root = lock.root()
    findings = list(errors)
    checked = 0
    fix = relock(lock)
    for r in reqs:
        if root is not None and r.name == root.name:
            continue  # the project's own extras, e.g. "app[dev]"
        candidates = locked.get(r.name, [])
        if not candidates:
            applies = True
            if r.marker:
                try:
                    applies = Marker(r.marker).evaluate({**env, "extra": ""})
                except (InvalidMarker, KeyError):
                    applies = True
            if applies:
                checked += 1
                findings.append(Finding(f"{r.text} is required by {r.where} but not in "
                                        f"{lock.display}", pyproject,
                                        requirement_line(pyproject_path, r.name), fix))
            continue
        checked += 1
        if r.local or not r.alternatives:
            continue
        versions = [c.version for c in candidates if c.version]
        if not versions:
            continue
        if not any(_contains(alt, v) for alt in r.alternatives for v in versions):
            where = f"{lock.display}:{candidates[0].line}" if candidates[0].line else \
                lock.display
            findings.append(Finding(
                f"{r.text} is required by {r.where} but {where} locks "
                f"{r.name} {', '.join(versions)}", pyproject,
                requirement_line(pyproject_path, r.name), fix))
    return CheckResult.from_findings(
        "SR103", findings, f"{plural(checked, 'direct requirement')} satisfied",
        f"{plural(len(findings), 'direct requirement')} not satisfied by the lock",
        inputs=checked)


def _contains(spec: SpecifierSet, version: str) -> bool:
    try:
        return spec.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True  # SR101 reports versions it cannot read


# --- SR110 fresh (Poetry's content-hash) ------------------------------------------------

_POETRY_LEGACY_KEYS = ("dependencies", "source", "extras", "dev-dependencies")
_POETRY_KEYS = (*_POETRY_LEGACY_KEYS, "group")
_PROJECT_KEYS = ("requires-python", "dependencies", "optional-dependencies")


def poetry_content_hash(pyproject: dict[str, Any], *, with_dependency_groups: bool = True
                        ) -> str:
    """The content-hash Poetry writes into poetry.lock for this pyproject.toml data.

    The same computation as Poetry's ``Locker._get_content_hash`` (poetry 2.x, and for
    a project with only [tool.poetry] the same as Poetry 1.x): sha256 of the sorted-keys
    JSON of [project] requires-python / dependencies / optional-dependencies,
    [dependency-groups] (from Poetry 2.3; ``with_dependency_groups=False`` for locks made
    before) and [tool.poetry] dependencies / source / extras / dev-dependencies / group.
    """
    project = pyproject.get("project") or {}
    groups = (pyproject.get("dependency-groups") or {}) if with_dependency_groups else {}
    poetry = (pyproject.get("tool") or {}).get("poetry") or {}
    relevant_project = {k: project[k] for k in _PROJECT_KEYS if project.get(k) is not None}
    relevant_poetry: dict[str, Any] = {}
    for key in _POETRY_KEYS:
        value = poetry.get(key)
        if value is None and (key not in _POETRY_LEGACY_KEYS or relevant_project or groups):
            continue
        relevant_poetry[key] = value
    content: dict[str, Any] = {}
    if relevant_project:
        content["project"] = relevant_project
    if groups:
        content["dependency-groups"] = groups
    if content:
        content["tool"] = {"poetry": relevant_poetry}
    else:
        content = relevant_poetry
    return sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _poetry_before_2_3(generator: str | None) -> bool:
    m = re.match(r"Poetry (\S+)", generator or "")
    if not m:
        return False
    try:
        return Version(m.group(1)) < Version("2.3.0")
    except InvalidVersion:
        return False


def check_poetry_fresh(lock: ToolLock) -> CheckResult:
    meta = lock.data.get("metadata") or {}
    recorded = meta.get("content-hash")
    data, path, error = read_pyproject(lock)
    if error is not None:
        return CheckResult.failed("SR110", f"cannot read {path.name}", [error])
    if data is None:
        return CheckResult.skipped("SR110", f"no pyproject.toml next to {lock.display}")
    if not recorded:
        return CheckResult.failed("SR110", f"{lock.display} has no content-hash", [
            Finding("[metadata] content-hash is missing", lock.display, None, relock(lock))])
    current = poetry_content_hash(data)
    if current == recorded:
        return CheckResult.passed("SR110", "content-hash matches pyproject.toml")
    if _poetry_before_2_3(lock.generator) and \
            poetry_content_hash(data, with_dependency_groups=False) == recorded:
        return CheckResult.passed(
            "SR110", f"content-hash matches pyproject.toml (as {lock.generator} computes it)")
    details = _poetry_differences(lock)
    line = _text_line(lock.path, "content-hash")
    findings = [Finding(
        f"pyproject.toml's dependencies changed since the lock was made: content-hash "
        f"{recorded[:12]}... in the lock, {current[:12]}... for pyproject.toml now"
        + (f"; {details}" if details else ""), lock.display, line, relock(lock))]
    return CheckResult.failed("SR110", f"{lock.display} is stale: pyproject.toml changed "
                              "since `poetry lock`", findings)


def _poetry_differences(lock: ToolLock) -> str:
    reqs, _, _ = direct_requirements(lock)
    locked = lock.by_name()
    out = []
    for r in reqs:
        candidates = locked.get(r.name)
        if not candidates:
            out.append(f"{r.text} ({r.where}) is not locked")
        elif r.alternatives and not any(
                _contains(a, c.version) for a in r.alternatives for c in candidates if c.version):
            out.append(f"{r.text} ({r.where}) is not met by the locked "
                       f"{', '.join(c.version or '?' for c in candidates)}")
    return "; ".join(out)


_QUOTED = re.compile(r""""([^"\n]+)"|'([^'\n]+)'""")
_TOML_KEY = re.compile(r"""^\s*["']?([A-Za-z0-9][A-Za-z0-9._-]*)["']?\s*=""")


def requirement_line(path: Path, name: str) -> int | None:
    """The line of pyproject.toml that requires ``name``: a quoted PEP 508 requirement
    (``"six>=1.16"``) or a Poetry table key (``six = "^1.16"``); None if not found."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    wanted = canonicalize_name(name)
    for no, line in enumerate(lines, 1):
        code = line.split("#", 1)[0]
        for m in _QUOTED.finditer(code):
            try:
                if canonicalize_name(Requirement(m.group(1) or m.group(2)).name) == wanted:
                    return no
            except InvalidRequirement:
                continue
        key = _TOML_KEY.match(code)
        if key and canonicalize_name(key.group(1)) == wanted and "{" not in code[:key.start()]:
            return no
    return None


def _text_line(path: Path, needle: str) -> int | None:
    try:
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith(needle):
                return no
    except (OSError, UnicodeDecodeError):
        pass
    return None


# --- SR111 fresh (uv), offline: pyproject's requirements vs those recorded in uv.lock --


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


def uv_offline_differences(lock: ToolLock) -> tuple[list[Finding], str | None]:
    """What pyproject.toml asks that uv.lock did not record: findings, or a skip reason."""
    root = lock.root()
    if root is None:
        return [], f"{lock.display} has no project package (a workspace or script lock)"
    data, path, error = read_pyproject(lock)
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
    groups: dict[str, list[Any]] = dict(data.get("dependency-groups") or {})
    legacy_dev = ((data.get("tool") or {}).get("uv") or {}).get("dev-dependencies")
    if legacy_dev:
        groups.setdefault("dev", []).extend(legacy_dev)
    recorded_dev = {g: [_key(d["name"], d.get("extras"), d.get("specifier"), d.get("url"))
                        for d in deps]
                    for g, deps in (root.metadata.get("requires-dev") or {}).items()}
    findings.extend(_diff(wanted, recorded, lock, path, fix, "[project]"))
    for group in sorted(set(groups) | set(recorded_dev)):
        w = []
        for dep in groups.get(group, []):
            if isinstance(dep, dict):
                continue
            try:
                req = Requirement(str(dep))
            except InvalidRequirement:
                continue
            w.append((f"[dependency-groups] {group}",
                      _key(req.name, req.extras, str(req.specifier), req.url)))
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


def _diff(wanted: list[tuple[str, tuple[str, tuple[str, ...], str, str]]],
          recorded: list[tuple[str, tuple[str, ...], str, str]], lock: ToolLock,
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


def check_uv_fresh_offline(lock: ToolLock) -> CheckResult:
    findings, skip = uv_offline_differences(lock)
    if skip is not None:
        return CheckResult.skipped("SR111", skip)
    return CheckResult.from_findings(
        "SR111", findings, "pyproject.toml's requirements match those recorded in uv.lock "
        "(offline comparison; markers are compared by `uv lock --check` only)",
        f"{lock.display} is stale: {plural(len(findings), 'requirement')} changed since "
        "`uv lock`")


# --- SR105 portable ---------------------------------------------------------------------


def _machine_local_url(url: str) -> bool:
    return url.startswith("file:") or bool(_LOOPBACK.match(url))


def check_portable(lock: ToolLock, project: Path) -> CheckResult:
    findings: list[Finding] = []
    base = lock.path.parent
    fix_path = ("Keep path dependencies inside the project (the Docker build context) or "
                "depend on a released version by name.")
    for p in lock.packages:
        src = p.source or ""
        if p.local and src:
            target = Path(src)
            outside = target.is_absolute() or not _inside((base / target), project)
            if outside:
                findings.append(Finding(f"{p.name} comes from {src}, outside the project",
                                        lock.display, p.line, fix_path))
        elif src and _machine_local_url(src):
            findings.append(Finding(f"{p.name} comes from {src}, which only exists on the "
                                    "machine that wrote the lock", lock.display, p.line,
                                    "Lock against an index other machines can reach."))
        for f in p.files:
            if f.name.startswith("file:") or f.name.startswith("/"):
                findings.append(Finding(f"{p.name} file {f.name} is a local path",
                                        lock.display, p.line, fix_path))
    local = [p for p in lock.packages if p.local and p is not lock.root()]
    note = f" ({len(local)} in-project path source(s): {', '.join(p.name for p in local)})" \
        if local else ""
    return CheckResult.from_findings(
        "SR105", findings, f"no machine-local indexes or paths{note}",
        f"{plural(len(findings), 'package')} only work on the machine that wrote the lock")


def _inside(path: Path, project: Path) -> bool:
    try:
        path.resolve().relative_to(project.resolve())
        return True
    except ValueError:
        return False
