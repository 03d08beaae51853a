"""SR106: every hash a lock pins is one the package index publishes for that file.

A hash edited by hand (or a lock merged badly) is otherwise only noticed when an
install fails, or not at all when the edited hash is of a file someone else built. The
comparison is pure (:func:`compare`); :func:`fetch_pypi` asks PyPI's JSON API for a
release's files (``/pypi/<name>/<version>/json``, each file's ``digests.sha256``), and
where that API does not answer (some mirrors), the PEP 691 simple index
(``/simple/<name>/``). Requests are bounded: a timeout each, a small thread pool, and the
first package alone first, so an unreachable index skips the check in one timeout.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from ..checks import CheckResult, Finding, plural
from .model import ToolLock
from .pipcompile import PipLock

PYPI = "https://pypi.org"
PYPI_INDEXES = frozenset({"https://pypi.org/simple", "https://pypi.python.org/simple",
                          "https://pypi.org/pypi"})
TIMEOUT = 15.0  # seconds per request
WORKERS = 8  # concurrent requests at most


@dataclass(frozen=True)
class Pinned:
    """A package version as a lock pins it, with the hashes it accepts."""

    name: str  # canonical
    version: str
    line: int | None  # the package's line in the lock
    hashes: tuple[tuple[str | None, str], ...]  # (file name if the lock says, "sha256:hex")


class Unreachable(Exception):  # noqa: N818 - reads as "raise Unreachable(why)"
    """The index did not answer (network, timeout, server error); the message says how."""


# Published files of a release: {file name: sha256 hex}; None when the index does not
# know the project or the version.
Published = Mapping[str, str] | None
Fetch = Callable[[str, str], Published]


# --- the pure comparison ---------------------------------------------------------------


def compare(pinned: Pinned, published: Published, display: str,
            line_of: Callable[[str], int | None], index: str = "PyPI") -> list[Finding]:
    """Findings for the hashes of ``pinned`` that ``published`` does not confirm."""
    fix = ("Do not edit hashes by hand: restore the lock from version control or "
           "regenerate it; if the index really serves another file, find out why before "
           "trusting it.")
    label = f"{pinned.name} {pinned.version}"
    if not published:
        return [Finding(f"{label}: {index} publishes no files for this version, but the "
                        "lock pins hashes for it", display, pinned.line, fix)]
    by_hash = {digest.lower(): name for name, digest in published.items()}
    out: list[Finding] = []
    for filename, value in pinned.hashes:
        algorithm, _, digest = value.partition(":")
        if algorithm.lower() != "sha256":
            continue  # counted as unverified by the caller
        digest = digest.lower()
        line = line_of(digest) or pinned.line
        if filename is None:
            if digest not in by_hash:
                out.append(Finding(
                    f"{label}: sha256:{digest} is not the hash of any of the "
                    f"{plural(len(published), 'file')} {index} publishes for it",
                    display, line, fix))
        elif filename in published:
            if published[filename].lower() != digest:
                out.append(Finding(
                    f"{label}: {filename} has sha256:{digest} in the lock, but {index} "
                    f"publishes sha256:{published[filename].lower()}", display, line, fix))
        elif digest not in by_hash:
            out.append(Finding(
                f"{label}: the lock pins sha256:{digest} for {filename}, a file {index} "
                "does not publish for this version", display, line, fix))
    return out


def unverifiable(pinned: Pinned) -> int:
    return sum(1 for _, v in pinned.hashes if v.partition(":")[0].lower() != "sha256")


def release_files(files: Iterable[Mapping[str, object]], name: str, version: str
                  ) -> dict[str, str]:
    """{file name: sha256} of ``name`` ``version`` among PEP 691 ``files`` entries."""
    wanted = _version(version)
    out: dict[str, str] = {}
    for entry in files:
        filename = str(entry.get("filename", ""))
        hashes = entry.get("hashes")
        if not isinstance(hashes, Mapping) or "sha256" not in hashes:
            continue
        try:
            if filename.endswith(".whl"):
                project, found, _, _ = parse_wheel_filename(filename)
            else:
                project, found = parse_sdist_filename(filename)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        if project == canonicalize_name(name) and found == wanted:
            out[filename] = str(hashes["sha256"])
    return out


def _version(text: str) -> Version | str:
    try:
        return Version(text)
    except InvalidVersion:
        return text


# --- what a lock pins ------------------------------------------------------------------


def _hash_lines(path: Path) -> Callable[[str], int | None]:
    try:
        lines = path.read_text(encoding="utf-8").lower().splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []

    def line_of(digest: str) -> int | None:
        for no, text in enumerate(lines, 1):
            if digest in text:
                return no
        return None
    return line_of


def _pypi(url: str | None) -> bool:
    return url is None or url.rstrip("/") in PYPI_INDEXES


def pinned_of_piplock(lock: PipLock) -> tuple[list[Pinned], list[str], str | None]:
    """(packages to compare, notes, why the whole lock is skipped)."""
    for opt in lock.data.options:
        if opt.name == "--index-url" and not _pypi(opt.value):
            return [], [], (f"{lock.display} installs from {opt.value} (--index-url, line "
                            f"{opt.line}), not PyPI: SR106 compares with PyPI only")
    notes = [f"--extra-index-url {o.value}: packages not on PyPI are not compared"
             for o in lock.data.options if o.name == "--extra-index-url" and not _pypi(o.value)]
    out: list[Pinned] = []
    for e in lock.data.entries:
        version = e.pinned_version
        if e.hashes and e.name and version and e.url is None and not e.editable:
            out.append(Pinned(e.name, version, e.line, tuple((None, h) for h in e.hashes)))
    return out, notes, None


def pinned_of_toollock(lock: ToolLock) -> tuple[list[Pinned], list[str], str | None]:
    out: list[Pinned] = []
    elsewhere: list[str] = []
    for p in lock.packages:
        if p.kind not in ("registry", "legacy") or not p.version or not p.files:
            continue  # local, git, URL: not from an index (SR102/SR105 judge those)
        if not _pypi(p.source):
            elsewhere.append(f"{p.name} ({p.source})")
            continue
        hashes = tuple((f.name or None, h) for f in p.files for h in f.hashes)
        if hashes:
            out.append(Pinned(p.name, p.version, p.line, hashes))
    notes = [f"not compared, from another index: {', '.join(elsewhere)}"] if elsewhere \
        else []
    return out, notes, None


# --- asking PyPI -----------------------------------------------------------------------


def _get(url: str, accept: str, timeout: float) -> bytes | None:
    """The body, None for 404; raises :class:`Unreachable` for anything else."""
    request = urllib.request.Request(url, headers={
        "Accept": accept, "User-Agent": "pytest-shipready (SR106 hashes-match-index)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise Unreachable(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"{url}: {reason}") from None


def fetch_pypi(name: str, version: str, *, base: str = PYPI, timeout: float = TIMEOUT
               ) -> Published:
    """{file name: sha256} PyPI publishes for ``name`` ``version``; None if it has none."""
    body = _get(f"{base}/pypi/{quote(name)}/{quote(version)}/json", "application/json",
                timeout)
    if body is not None:
        try:
            urls = json.loads(body).get("urls") or []
            return {str(u["filename"]): str(u["digests"]["sha256"]) for u in urls}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise Unreachable(f"{base}/pypi/{name}/{version}/json is not PyPI's JSON") \
                from None
    # The per-release JSON API is missing on some mirrors: the simple index has it all.
    body = _get(f"{base}/simple/{quote(name)}/", "application/vnd.pypi.simple.v1+json",
                timeout)
    if body is None:
        return None
    try:
        files = json.loads(body).get("files") or []
    except (ValueError, AttributeError):
        raise Unreachable(f"{base}/simple/{name}/ is not a PEP 691 JSON page") from None
    found = release_files(files, name, version)
    return found or None


# --- the check -------------------------------------------------------------------------


def check(display: str, path: Path, pinned: Sequence[Pinned], notes: Sequence[str],
          skip: str | None, *, offline: bool, fetch: Fetch | None = None,
          workers: int = WORKERS) -> CheckResult:
    if skip is not None:
        return CheckResult.skipped("SR106", skip)
    if not pinned:
        return CheckResult.skipped(
            "SR106", f"{display} pins no hashes of packages from PyPI to compare"
            + (f" ({'; '.join(notes)})" if notes else ""))
    if offline:
        return CheckResult.skipped("SR106", "needs the package index (PyPI); "
                                   "--shipready-offline was given")
    get: Fetch = fetch or (lambda n, v: fetch_pypi(n, v))
    try:
        first = get(pinned[0].name, pinned[0].version)
    except Unreachable as exc:
        return CheckResult.skipped("SR106", f"cannot reach PyPI to compare hashes: {exc}")
    answers: dict[int, Published] = {0: first}
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(pinned) - 1))) as pool:
        futures = {pool.submit(get, p.name, p.version): i
                   for i, p in enumerate(pinned) if i > 0}
        for future, i in futures.items():
            try:
                answers[i] = future.result()
            except Unreachable as exc:
                failed.append(str(exc))
                pool.shutdown(wait=False, cancel_futures=True)
                break
    line_of = _hash_lines(path)
    findings: list[Finding] = []
    compared = 0
    for i, p in enumerate(pinned):
        if i not in answers:
            continue
        compared += len(p.hashes) - unverifiable(p)
        findings.extend(compare(p, answers[i], display, line_of))
    if failed and not findings:
        return CheckResult.skipped("SR106", "cannot reach PyPI for every package: "
                                   f"{failed[0]}")
    other = sum(unverifiable(p) for p in pinned)
    extra = list(notes)
    if other:
        extra.append(f"{plural(other, 'hash', 'hashes')} not sha256, not compared")
    if failed:
        extra.append(f"not every package compared: {failed[0]}")
    note = f" ({'; '.join(extra)})" if extra else ""
    return CheckResult.from_findings(
        "SR106", findings,
        f"{plural(compared, 'hash', 'hashes')} of {plural(len(pinned), 'package')} match "
        f"the files PyPI publishes{note}",
        f"{plural(len(findings), 'pinned hash', 'pinned hashes')} not published by PyPI"
        f"{note}", hashes=compared, packages=len(pinned))
