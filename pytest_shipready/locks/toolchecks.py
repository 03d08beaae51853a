"""Offline checks of Poetry, uv and pylock.toml lockfiles (SR101-SR103, SR105, SR110).

Same items and report style as the pip-compile checks in
:mod:`pytest_shipready.locks.pipcompile`. Pure: reads files, returns
:class:`~pytest_shipready.checks.CheckResult` values. Format-specific freshness (SR110,
SR111) is in :mod:`~pytest_shipready.locks.poetry` and :mod:`~pytest_shipready.locks.uv`.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from ..checks import CheckResult, Finding, plural
from .inputs import direct_requirements, requirement_line
from .model import LockedPackage, ToolLock
from .target import Target
from .target import resolve as resolve_target

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
        f"{len(findings)} of {plural(checked, 'package')} not pinned", packages=checked,
        verified=checked, nothing=f"{lock.display} locks no package from an index"
        f"{_local_note(lock)}")


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
    if not checked:
        return CheckResult.skipped("SR102", f"{lock.display} locks no package from an index"
                                   f"{_local_note(lock)}")
    if not missing:
        return CheckResult.passed(
            "SR102", f"{plural(checked, 'package')} hashed{_local_note(lock)}",
            packages=checked)
    if len(missing) == checked and not require_hashes:
        return CheckResult.skipped(
            "SR102", f"no hashes in {lock.display} ({plural(checked, 'package')}), and none "
            "required: [tool.shipready.lockfile] require_hashes = false")
    findings = [Finding(f"{p.label}: {why}", lock.display, p.line,
                        f"Restore the hashes: {relock(lock)}") for p, why in missing]
    return CheckResult.failed(
        "SR102", f"{len(missing)} of {plural(checked, 'package')} without file hashes",
        findings, packages=checked)


def check_covers_inputs(lock: ToolLock, target: Target | None = None) -> CheckResult:
    """SR103. Markers are judged for ``target`` (the image's platform; default Linux
    x86_64 with this interpreter's Python, see :mod:`~pytest_shipready.locks.target`)."""
    if lock.format == "pylock":
        return CheckResult.skipped(
            "SR103", f"{lock.display} does not record its inputs; checked via the lock "
            "it was exported from")
    reqs, errors, read = direct_requirements(lock)
    if not reqs and not errors:
        return CheckResult.skipped(
            "SR103", f"no pyproject.toml with dependencies next to {lock.display}"
            + (f" (read {read})" if "," in read else ""))
    if target is None:
        target = resolve_target("linux/x86_64")
    env = target.environment()
    locked = lock.by_name()
    own = {p.name for p in lock.members()} if lock.format == "uv" else set()
    root = lock.root()
    if root is not None:
        own.add(root.name)
    findings = list(errors)
    checked = 0
    not_here = 0
    fix = relock(lock)
    for r in reqs:
        pyproject = r.file
        pyproject_path = lock.path.parent / r.file
        if r.name in own:
            continue  # the project's own extras ("app[dev]"), a workspace member
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
            else:
                not_here += 1
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
    note = f"; {not_here} not for this platform (marker)" if not_here else ""
    if "," in read:  # a workspace: the members' files are the inputs too
        note += f"; read {read}"
    return CheckResult.from_findings(
        "SR103", findings,
        f"{plural(checked, 'direct requirement')} satisfied for {target.describe()}{note}",
        "; ".join(([f"{plural(len(errors), 'input file')} not read (see below)"]
                   if errors else [])
                  + ([f"{plural(len(findings) - len(errors), 'direct requirement')} not "
                      f"satisfied by the lock (markers judged for {target.describe()})"]
                     if len(findings) > len(errors) or not errors else [])),
        inputs=checked,
        verified=checked, nothing=f"no direct requirement applies here (markers judged for "
        f"{target.describe()}){note}")


def _contains(spec: SpecifierSet, version: str) -> bool:
    try:
        return spec.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True  # SR101 reports versions it cannot read


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
