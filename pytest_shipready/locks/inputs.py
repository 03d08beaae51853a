"""The project's direct requirements, read from pyproject.toml next to a lock
(PEP 621, dependency groups, Poetry tables and Poetry's constraint syntax).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..checks import Finding
from .model import ToolLock, display_path, read_pyproject


@dataclass(frozen=True)
class DirectRequirement:
    name: str  # canonical
    text: str  # as written, for messages
    alternatives: tuple[SpecifierSet, ...]  # any of them satisfies; empty: any version
    marker: str | None
    where: str  # "pyproject.toml [project] dependencies"
    local: str | None = None  # a path/url/git source: only presence is checked
    file: str = "pyproject.toml"  # where it is written, relative to the lock's directory


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
    """The project's own requirements from pyproject.toml next to the lock and, for a uv
    workspace, from each member's pyproject.toml (the lock's inputs): the requirements,
    what cannot be read, and the files read ("pyproject.toml, backend/pyproject.toml")."""
    paths = [lock.path.parent / "pyproject.toml"]
    if lock.format == "uv":
        paths += lock.member_pyprojects()
    out: list[DirectRequirement] = []
    errors: list[Finding] = []
    shown: list[str] = []
    for path in paths:
        data, _, error = read_pyproject(lock, path)
        display = display_path(path, lock.path.parent)
        if error:
            errors.append(error)
        if data is not None:
            shown.append(display)
            found = _from_pyproject(lock, data, display, errors)
            out.extend(dataclasses.replace(r, file=display) for r in found)
    return out, errors, ", ".join(shown) or "pyproject.toml"


def _from_pyproject(lock: ToolLock, data: dict[str, Any], display: str,
                    errors: list[Finding]) -> list[DirectRequirement]:
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
    return out


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
