"""Parse pip requirements files (what pip-compile writes) into plain records.

A deliberately small parser: logical lines (backslash continuations), comments, global
options (index and find-links options, -r/-c includes, -e) and requirement lines with
their ``--hash`` options. Every record keeps the line it starts on, so findings can say
``requirements.txt:12``. Pure: no pip, no pytest, no docker.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

# Options that take a value and apply to the whole file.
_GLOBAL_WITH_VALUE = {
    "-i": "--index-url", "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "-f": "--find-links", "--find-links": "--find-links",
    "--trusted-host": "--trusted-host",
    "-r": "--requirement", "--requirement": "--requirement",
    "-c": "--constraint", "--constraint": "--constraint",
    "-e": "--editable", "--editable": "--editable",
    "--no-binary": "--no-binary", "--only-binary": "--only-binary",
    "--use-feature": "--use-feature",
}
_GLOBAL_FLAGS = {"--no-index", "--pre", "--prefer-binary", "--require-hashes"}
_COMMENT = re.compile(r"(^|\s+)#.*$")
_PATH_LIKE = re.compile(r"^(\.{1,2}[\\/]|/|~|[A-Za-z]:[\\/]|file:)")
_URL_LIKE = re.compile(r"^[a-z][a-z0-9+.-]*://|^(git|hg|svn|bzr)\+", re.IGNORECASE)


_QUOTED_MAX = 120


def _quote(text: str) -> str:
    """``text`` as a message quotes it: repr'd, at most 120 characters (a malformed line
    is named, not copied whole into reports)."""
    if len(text) <= _QUOTED_MAX:
        return repr(text)
    return repr(text[:_QUOTED_MAX]) + f" ... ({len(text):,} characters)"


class ParseError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Option:
    """A file-wide option line such as ``--extra-index-url URL``."""

    name: str
    value: str
    line: int


@dataclass(frozen=True)
class Entry:
    """One requirement line."""

    line: int
    text: str  # the requirement as written, without options
    name: str | None  # canonical name; None for a bare path or URL with no name
    specifier: str  # e.g. "==1.2.3" or ">=1"; empty when none
    url: str | None
    marker: str | None
    extras: tuple[str, ...]
    hashes: tuple[str, ...]
    editable: bool = False

    @property
    def pinned_version(self) -> str | None:
        """The version when the specifier is exactly ``==X`` or ``===X`` (no wildcard)."""
        m = re.fullmatch(r"===?\s*([^\s,*]+)", self.specifier)
        return m.group(1) if m else None

    @property
    def local(self) -> bool:
        """A path or file: URL: only exists on the machine that wrote the lock."""
        target = self.url if self.url is not None else self.text
        return bool(_PATH_LIKE.match(target)) or target.startswith("file:")


@dataclass(frozen=True)
class RequirementsFile:
    entries: tuple[Entry, ...]
    options: tuple[Option, ...]
    header: tuple[str, ...]  # the leading comment block, without "#"

    def by_name(self) -> dict[str, Entry]:
        return {e.name: e for e in self.entries if e.name is not None}


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations and drop comments; yield (first line number, text)."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buf:
            start = number
        line = _COMMENT.sub("", raw)
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = " ".join(part.strip() for part in buf).strip()
        buf = []
        if joined:
            out.append((start, joined))
    if buf:
        joined = " ".join(part.strip() for part in buf).strip()
        if joined:
            out.append((start, joined))
    return out


def header_lines(text: str) -> tuple[str, ...]:
    lines: list[str] = []
    for raw in text.splitlines():
        if not raw.startswith("#"):
            break
        lines.append(raw[1:].strip())
    return tuple(lines)


def parse(text: str) -> RequirementsFile:
    """Parse requirements text; raise :class:`ParseError` naming the first bad line."""
    entries: list[Entry] = []
    options: list[Option] = []
    for number, line in logical_lines(text):
        if line.startswith("-") and not line.startswith("--hash"):
            try:
                tokens = shlex.split(line, posix=True)
            except ValueError as exc:
                raise ParseError(number, f"cannot split {_quote(line)}: {exc}") from None
            options_here, entry = _option_line(number, tokens)
            options.extend(options_here)
            if entry is not None:
                entries.append(entry)
            continue
        entries.append(_requirement(number, line))
    return RequirementsFile(tuple(entries), tuple(options), header_lines(text))


def _option_line(number: int, tokens: list[str]) -> tuple[list[Option], Entry | None]:
    head = tokens[0]
    name, _, inline = head.partition("=")
    if name in _GLOBAL_FLAGS:
        return [Option(name, "", number)], None
    if name not in _GLOBAL_WITH_VALUE:
        raise ParseError(number, f"unknown option {_quote(name)}")
    canonical = _GLOBAL_WITH_VALUE[name]
    rest = tokens[1:]
    if inline:
        value = inline
    elif rest:
        value, rest = rest[0], rest[1:]
    else:
        raise ParseError(number, f"option {name} needs a value")
    if canonical == "--editable":
        entry = _requirement(number, " ".join([value, *rest]), editable=True)
        return [Option(canonical, value, number)], entry
    if rest:
        raise ParseError(number, f"unexpected text after {name} {_quote(value)}: "
                         f"{_quote(' '.join(rest))}")
    return [Option(canonical, value, number)], None


_OPTION_START = re.compile(r"\s+(?=--?[A-Za-z])")


def _requirement(number: int, text: str, editable: bool = False) -> Entry:
    # Not shlex: quotes inside environment markers must survive.
    chunks = _OPTION_START.split(text.strip())
    req_text, options = chunks[0], chunks[1:]
    if req_text.startswith("-"):
        req_text, options = "", chunks
    hashes: list[str] = []
    for chunk in options:
        name, sep, value = chunk.partition("=")
        if not sep:
            name, _, value = chunk.partition(" ")
        name, value = name.strip(), value.strip()
        if name != "--hash":
            raise ParseError(number, f"unknown per-requirement option {_quote(name)}")
        if not value:
            raise ParseError(number, "--hash needs a value such as sha256:<hex>")
        if not re.fullmatch(r"[a-z0-9]+:[0-9a-fA-F]+", value):
            raise ParseError(number, f"malformed hash {_quote(value)} (expected sha256:<hex>)")
        hashes.append(value.lower())
    if not req_text:
        raise ParseError(number, "--hash without a requirement")
    if _PATH_LIKE.match(req_text) or _URL_LIKE.match(req_text):
        return Entry(number, req_text, _egg_name(req_text), "", req_text, None, (),
                     tuple(hashes), editable)
    try:
        req = Requirement(req_text)
    except InvalidRequirement as exc:
        why = str(exc).splitlines()[0] if str(exc) else "invalid"
        raise ParseError(number, f"not a valid requirement {_quote(req_text)}: {why}") from None
    return Entry(
        line=number,
        text=req_text,
        name=canonicalize_name(req.name),
        specifier=str(req.specifier),
        url=req.url,
        marker=str(req.marker) if req.marker is not None else None,
        extras=tuple(sorted(req.extras)),
        hashes=tuple(hashes),
        editable=editable,
    )


def _egg_name(target: str) -> str | None:
    m = re.search(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)", target)
    return canonicalize_name(m.group(1)) if m else None


def read(path: Path) -> RequirementsFile:
    """Read and parse a file; OSError and UnicodeDecodeError are left to the caller."""
    return parse(path.read_text(encoding="utf-8"))


def positional(args: tuple[str, ...] | list[str], with_value: frozenset[str]) -> list[str]:
    """The positional words of a command line (pip-compile's, an installer's): options
    and the values of those in ``with_value`` left out."""
    out: list[str] = []
    skip = False
    for word in args:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in with_value
        else:
            out.append(word)
    return out
