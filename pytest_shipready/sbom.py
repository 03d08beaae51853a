"""What is shipped, written down: a CycloneDX 1.5 SBOM of the image, and what changed
since a previous report.

The input is the report's ``image`` section (made by the container area from the built
image, the parity probe and the lock)::

    {"ref": "app:0123abcd", "id": "sha256:...", "repo_digests": [], "size": 143000000,
     "base": {"name": "python:3.11-slim", "id": "sha256:...", "repo_digests": []},
     "python": "3.11.7", "interpreter": "/usr/local/bin/python", "lock": "requirements.txt",
     "packages": [{"name": "structlog", "version": "26.1.0", "hashes": ["sha256:..."]}]}

Pure: no pytest, no docker; the caller gives the time and the serial number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

SPEC_VERSION = "1.5"
_PROPERTY = "pytest-shipready"
_ALGORITHMS = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512",
               "sha1": "SHA-1", "md5": "MD5"}


def sbom_path(report: Path) -> Path:
    """Where the SBOM of ``report`` goes: ``report.json`` -> ``report.cdx.json``."""
    return report.with_name((report.stem if report.suffix else report.name) + ".cdx.json")


def purl(name: str, version: str) -> str:
    """The package URL of a PyPI distribution: name lower case, ``_`` as ``-``."""
    return f"pkg:pypi/{quote(name.lower().replace('_', '-'), safe='')}@{quote(version, safe='')}"


def _hashes(values: list[str]) -> list[dict[str, str]]:
    out = []
    for value in values:
        alg, _, content = str(value).partition(":")
        if alg.lower() in _ALGORITHMS and re.fullmatch(r"[0-9a-fA-F]{32,128}", content):
            out.append({"alg": _ALGORITHMS[alg.lower()], "content": content.lower()})
    return out


def _properties(**values: Any) -> list[dict[str, str]]:
    return [{"name": f"{_PROPERTY}:{k.replace('_', '-')}", "value": str(v)}
            for k, v in values.items() if v not in (None, "", [])]


def cyclonedx(image: dict[str, Any], *, serial: str, timestamp: str,
              tool_version: str, manifests: list[dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    """The CycloneDX 1.5 document (JSON) of the image: the image as the subject
    (``metadata.component``, type container, its id as version and SHA-256 hash), each
    Python distribution found in it as a library component with its purl and, where the
    lock has them, the lock's hashes for that version; the base image as a container
    component; the deployment files checked against it (``manifests``) as properties of
    the image. ``serial``: ``urn:uuid:...``; ``timestamp``: ISO 8601."""
    ref = str(image.get("ref") or "image")
    image_id = str(image.get("id") or "")
    name, _, tag = ref.rpartition(":") if ":" in ref.rpartition("/")[2] else (ref, "", "")
    subject: dict[str, Any] = {
        "type": "container", "bom-ref": "image", "name": name or ref,
        "version": image_id or tag,
        "properties": _properties(image_ref=ref, size_bytes=image.get("size"),
                                  repo_digest=", ".join(image.get("repo_digests") or []),
                                  python=image.get("python"),
                                  interpreter=image.get("interpreter"),
                                  lock=image.get("lock")),
    }
    if image_id.startswith("sha256:"):
        subject["hashes"] = _hashes([image_id])
    for manifest in manifests or []:
        for container in manifest.get("containers") or [None]:
            where = f"{manifest['path']}: {container}" if container else manifest["path"]
            subject["properties"].append({"name": f"{_PROPERTY}:deployed-by",
                                          "value": where})
    components: list[dict[str, Any]] = []
    for package in image.get("packages") or []:
        version = str(package.get("version", ""))
        component: dict[str, Any] = {
            "type": "library", "bom-ref": purl(str(package["name"]), version),
            "name": str(package["name"]), "version": version,
            "purl": purl(str(package["name"]), version),
        }
        hashes = _hashes(list(package.get("hashes") or []))
        if hashes:
            component["hashes"] = hashes
        components.append(component)
    base = image.get("base")
    if base:
        base_name = str(base.get("name", ""))
        repo, _, base_tag = (base_name.rpartition(":") if ":" in base_name.rpartition("/")[2]
                             else (base_name, "", ""))
        entry: dict[str, Any] = {
            "type": "container", "bom-ref": "base-image", "name": repo or base_name,
            "properties": _properties(role="base-image", image_ref=base_name,
                                      image_id=base.get("id"),
                                      repo_digest=", ".join(base.get("repo_digests") or [])),
        }
        if base_tag:
            entry["version"] = base_tag
        components.append(entry)
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "pytest-shipready",
                                      "version": tool_version}]},
            "component": subject,
        },
        "components": components,
        "dependencies": [{"ref": "image",
                          "dependsOn": [c["bom-ref"] for c in components]}],
    }


# --- compare --------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """What changed between two image sections (an older report and this run)."""

    added: tuple[tuple[str, str], ...] = ()  # (name, version)
    removed: tuple[tuple[str, str], ...] = ()
    upgraded: tuple[tuple[str, str, str], ...] = ()  # (name, old, new)
    downgraded: tuple[tuple[str, str, str], ...] = ()
    unchanged: int = 0
    size: tuple[int, int] | None = None  # (old, new) bytes
    image: tuple[str, str] = ("", "")  # (old id, new id)
    base: tuple[str, str] = ("", "")  # (old, new): name and id
    packages_known: bool = True  # both sides list packages
    notes: tuple[str, ...] = field(default=())


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _base_text(base: Any) -> str:
    if not isinstance(base, dict) or not base.get("name"):
        return ""
    ident = str(base.get("id") or "")
    return f"{base['name']} ({ident[:19]})" if ident else str(base["name"])


def _newer(old: str, new: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(new) > Version(old)
    except InvalidVersion:
        return new > old


def compare(old: dict[str, Any], new: dict[str, Any]) -> Changes:
    old_packages = old.get("packages")
    new_packages = new.get("packages")
    notes: list[str] = []
    known = isinstance(old_packages, list) and isinstance(new_packages, list)
    added: list[tuple[str, str]] = []
    removed: list[tuple[str, str]] = []
    upgraded: list[tuple[str, str, str]] = []
    downgraded: list[tuple[str, str, str]] = []
    unchanged = 0
    if known:
        assert isinstance(old_packages, list) and isinstance(new_packages, list)
        before = {_key(p["name"]): (p["name"], str(p["version"])) for p in old_packages}
        after = {_key(p["name"]): (p["name"], str(p["version"])) for p in new_packages}
        for key in sorted(set(before) | set(after)):
            if key not in before:
                added.append(after[key])
            elif key not in after:
                removed.append(before[key])
            elif before[key][1] != after[key][1]:
                row = (after[key][0], before[key][1], after[key][1])
                (upgraded if _newer(row[1], row[2]) else downgraded).append(row)
            else:
                unchanged += 1
    else:
        side = "previous report" if not isinstance(old_packages, list) else "this run"
        notes.append(f"the {side} has no package list (the parity probe did not run)")
    old_size, new_size = old.get("size"), new.get("size")
    size = ((old_size, new_size) if isinstance(old_size, int) and isinstance(new_size, int)
            else None)
    return Changes(tuple(added), tuple(removed), tuple(upgraded), tuple(downgraded),
                   unchanged, size, (str(old.get("id") or ""), str(new.get("id") or "")),
                   (_base_text(old.get("base")), _base_text(new.get("base"))), known,
                   tuple(notes))


def describe(changes: Changes, limit: int = 50) -> list[str]:
    """The lines the terminal shows: a summary, then one line per change."""
    lines: list[str] = []
    old_id, new_id = changes.image
    lines.append("image: unchanged (" + new_id[:19] + ")" if old_id == new_id
                 else f"image: {old_id[:19] or '?'} -> {new_id[:19] or '?'}")
    if changes.size is not None:
        before, after = changes.size
        delta = (after - before) / 1e6
        lines.append(f"size: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB "
                     f"({'+' if delta >= 0 else ''}{delta:.1f} MB)")
    old_base, new_base = changes.base
    if old_base != new_base:
        lines.append(f"base image: {old_base or '?'} -> {new_base or '?'}")
    elif new_base:
        lines.append(f"base image: unchanged ({new_base})")
    if changes.packages_known:
        lines.append(f"packages: {len(changes.added)} added, {len(changes.removed)} removed, "
                     f"{len(changes.upgraded)} upgraded, {len(changes.downgraded)} "
                     f"downgraded, {changes.unchanged} unchanged")
        rows = ([f"  + {n} {v}" for n, v in changes.added]
                + [f"  - {n} {v}" for n, v in changes.removed]
                + [f"  ^ {n} {a} -> {b}" for n, a, b in changes.upgraded]
                + [f"  v {n} {a} -> {b}" for n, a, b in changes.downgraded])
        lines += rows[:limit]
        if len(rows) > limit:
            lines.append(f"  ... and {len(rows) - limit} more")
    lines += [f"note: {n}" for n in changes.notes]
    return lines


_MAX_PREVIOUS_BYTES = 64 * 1024 * 1024  # a report or SBOM is far smaller


def previous(path: Path) -> dict[str, Any]:
    """The image section of a previous run, from its JSON report or its CycloneDX SBOM.
    Raises ValueError saying what is wrong with the file: not JSON, nested too deeply,
    too large, or not the shape a report or SBOM has."""
    give = ("give the JSON report of an earlier run (--shipready-report=report.json) or "
            "its .cdx.json")
    try:
        size = path.stat().st_size
        text = path.read_text(encoding="utf-8") if size <= _MAX_PREVIOUS_BYTES else ""
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc}): {give}") from None
    if size > _MAX_PREVIOUS_BYTES:
        raise ValueError(f"{path} is over {_MAX_PREVIOUS_BYTES // 2**20} MB: not a report; "
                         f"{give}")
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(f"{path} is JSON nested too deeply to be a report; {give}") \
            from None
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON ({exc}): {give}") from None
    if isinstance(data, dict) and data.get("schema") == "pytest-shipready/report":
        image = data.get("image")
        if not isinstance(image, dict):
            raise ValueError(f"{path} has no image section: that run built no image (or "
                             "was written by a pytest-shipready without it)")
        return _checked(image, path, "its image section")
    if isinstance(data, dict) and data.get("bomFormat") == "CycloneDX":
        try:
            image = _from_sbom(data)
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{path} is a CycloneDX SBOM of another shape than "
                             f"pytest-shipready writes ({type(exc).__name__}: {exc})"
                             ) from None
        return _checked(image, path, "its components")
    raise ValueError(f"{path} is neither a pytest-shipready JSON report nor a CycloneDX "
                     "SBOM")


def _checked(image: dict[str, Any], path: Path, where: str) -> dict[str, Any]:
    """``image`` when it has the shape :func:`compare` reads (a package list of names
    and versions, a size, an id, a base), else ValueError naming what is wrong."""
    def bad(what: str) -> ValueError:
        return ValueError(f"{path}: {where}: {what}; give the JSON report of an earlier "
                          "run (--shipready-report=report.json) or its .cdx.json, unedited")

    packages = image.get("packages")
    if packages is not None:
        if not isinstance(packages, list):
            raise bad("packages is not a list")
        for i, package in enumerate(packages):
            if not isinstance(package, dict) or not isinstance(package.get("name"), str) \
                    or not isinstance(package.get("version"), str | int | float) \
                    or isinstance(package.get("version"), bool):
                raise bad(f"package {i + 1} has no name and version")
    size = image.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise bad("size is not a number of bytes")
    if not isinstance(image.get("id") or "", str):
        raise bad("id is not a string")
    base = image.get("base")
    if base is not None and not isinstance(base, dict):
        raise bad("base is not an object")
    return image


def _from_sbom(bom: dict[str, Any]) -> dict[str, Any]:
    subject = (bom.get("metadata") or {}).get("component") or {}
    props = {p.get("name"): p.get("value") for p in subject.get("properties") or []}
    size = props.get(f"{_PROPERTY}:size-bytes")
    packages = []
    base: dict[str, Any] | None = None
    for c in bom.get("components") or []:
        if c.get("type") == "library":
            packages.append({"name": str(c.get("name", "")),
                             "version": str(c.get("version", "")), "hashes": []})
        elif c.get("type") == "container":
            cprops = {p.get("name"): p.get("value") for p in c.get("properties") or []}
            base = {"name": cprops.get(f"{_PROPERTY}:image-ref") or c.get("name"),
                    "id": cprops.get(f"{_PROPERTY}:image-id")}
    return {"ref": props.get(f"{_PROPERTY}:image-ref"), "id": subject.get("version"),
            "size": int(size) if isinstance(size, str) and size.isdigit() else None,
            "base": base, "packages": packages}
