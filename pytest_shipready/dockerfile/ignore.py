"""``.dockerignore`` files: read the patterns and decide what is left out of the context.

Follows Docker's own rules (moby/patternmatcher): one pattern a line, ``#`` comments at
the start of a line, whitespace trimmed, each pattern cleaned like a path (``./a/`` is
``a``) and anchored at the context root (a leading ``/`` changes nothing), ``*`` and
``?`` never cross ``/``, ``**`` matches any number of directories, ``[...]`` classes,
``\\`` escapes, ``!`` re-includes, and the last matching pattern wins. A pattern that
matches a directory also leaves out everything below it.

Matching runs the pattern as a set of positions over the path (no backtracking, as Go's
regexp does for Docker): time grows with pattern length times path length, whatever the
pattern (``**a**a**a**...b`` included). One pass over a path also answers for every
parent directory of it.

Pure: no pytest, no docker.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Token kinds of a compiled pattern.
_LIT, _ONE, _CLASS, _STAR, _DSTAR, _DSLASH = range(6)


@dataclass(frozen=True)
class _Token:
    kind: int
    char: str = ""  # _LIT
    ranges: tuple[tuple[str, str], ...] = ()  # _CLASS: (low, high), inclusive
    negate: bool = False  # _CLASS

    def accepts(self, ch: str) -> bool:
        if self.kind == _LIT:
            return ch == self.char
        if self.kind in (_ONE, _STAR):
            return ch != "/"
        if self.kind == _CLASS:
            inside = any(low <= ch <= high for low, high in self.ranges)
            return inside != self.negate and (not self.negate or ch != "/")
        return True  # _DSTAR, _DSLASH


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without "!"
    exclude: bool  # False for a "!" exception
    line: int
    tokens: tuple[_Token, ...] = ()

    def matches_or_parent(self, path: str) -> bool:
        """The pattern matches ``path`` or one of its parent directories."""
        return any(_run(self.tokens, path))


def parse(text: str) -> list[Pattern]:
    patterns: list[Pattern] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith("#"):
            continue
        line = raw.strip()
        if not line:
            continue
        exclude = True
        if line.startswith("!"):
            exclude = False
            line = line[1:].strip()
            if not line:
                continue
        cleaned = posixpath.normpath(line)
        if len(cleaned) > 1 and cleaned.startswith("/"):
            cleaned = cleaned.lstrip("/") or "/"
        patterns.append(Pattern(cleaned, exclude, number, _compile(cleaned)))
    return patterns


def _compile(pattern: str) -> tuple[_Token, ...]:
    out: list[_Token] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                    out.append(_Token(_DSLASH))
                else:
                    out.append(_Token(_DSTAR))
            else:
                out.append(_Token(_STAR))
        elif ch == "?":
            out.append(_Token(_ONE))
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(_Token(_LIT, pattern[i]))
        elif ch == "[" and pattern.find("]", i + 1) > i + 1:
            close = pattern.find("]", i + 1)
            body = pattern[i + 1:close]
            negate = body[:1] in ("^", "!") and len(body) > 1
            out.append(_Token(_CLASS, ranges=_class_ranges(body[1:] if negate else body),
                              negate=negate))
            i = close
        else:
            out.append(_Token(_LIT, ch))
        i += 1
    return tuple(out)


def _class_ranges(body: str) -> tuple[tuple[str, str], ...]:
    """``a-z_`` -> (("a", "z"), ("_", "_")): ``x-y`` ranges, everything else literal."""
    out: list[tuple[str, str]] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            if body[k] <= body[k + 2]:
                out.append((body[k], body[k + 2]))
            k += 3
        else:
            out.append((body[k], body[k]))
            k += 1
    return tuple(out)


# A state is a token index (``len(tokens)``: matched), or ``-1 - i`` for "inside the
# ``**/`` at token i" (some characters of it consumed, its ``/`` not yet).


def _closure(tokens: tuple[_Token, ...], states: set[int]) -> set[int]:
    todo = list(states)
    out = set(states)
    while todo:
        s = todo.pop()
        # a star matches zero characters too
        if 0 <= s < len(tokens) and tokens[s].kind in (_STAR, _DSTAR, _DSLASH) \
                and s + 1 not in out:
            out.add(s + 1)
            todo.append(s + 1)
    return out


def _step(tokens: tuple[_Token, ...], states: set[int], ch: str) -> set[int]:
    nxt: set[int] = set()
    end = len(tokens)
    for s in states:
        if s < 0:  # inside **/
            i = -1 - s
            nxt.add(s)
            if ch == "/":
                nxt.add(i + 1)
            continue
        if s == end:
            continue
        token = tokens[s]
        if token.kind == _DSLASH:
            nxt.add(-1 - s)
            if ch == "/":
                nxt.add(s + 1)
        elif token.accepts(ch):
            nxt.add(s if token.kind in (_STAR, _DSTAR) else s + 1)
    return _closure(tokens, nxt)


def _run(tokens: tuple[_Token, ...], path: str) -> list[bool]:
    """For each prefix of ``path`` that ends a path component (each parent directory,
    then the path itself), whether the pattern matches it."""
    end = len(tokens)
    states = _closure(tokens, {0})
    found: list[bool] = []
    for ch in path:
        if ch == "/":
            found.append(end in states)
        states = _step(tokens, states, ch)
        if not states:
            break
    else:
        found.append(end in states)
    return found


def excluded(patterns: list[Pattern], path: str) -> tuple[bool, Pattern | None]:
    """Whether ``path`` (relative to the context, with /) is left out, and the deciding
    pattern (None when no pattern matches)."""
    path = posixpath.normpath(path).lstrip("/")
    deciding: Pattern | None = None
    for pattern in patterns:
        if pattern.matches_or_parent(path):
            deciding = pattern
    return (deciding is not None and deciding.exclude), deciding


# --- the file Docker reads -----------------------------------------------------------


def ignore_file(context: Path, dockerfile: Path) -> tuple[Path | None, bool]:
    """The ignore file the build reads, and whether it is the Dockerfile's own
    (``<Dockerfile>.dockerignore``, which only BuildKit reads): the context's
    .dockerignore first, else the Dockerfile's own; (None, False) without either."""
    own = dockerfile.with_name(dockerfile.name + ".dockerignore")
    ignore = context / ".dockerignore"
    if ignore.is_file():
        return ignore, False
    if own.is_file():
        return own, True
    return None, False


def load(context: Path, dockerfile: Path) -> list[Pattern]:
    """The patterns of the ignore file the build reads (none when there is none or it
    cannot be read)."""
    path, _ = ignore_file(context, dockerfile)
    if path is None:
        return []
    try:
        return parse(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


def context_files(context: Path, patterns: list[Pattern], skip: frozenset[str] = frozenset(),
                  limit: int | None = None) -> Iterator[str]:
    """The files (and symlinks) of ``context`` the build is sent, relative with /, in
    sorted order. A left-out directory is not walked unless a ``!`` pattern could bring
    something in it back; directories named in ``skip`` are never walked."""
    exceptions = any(not p.exclude for p in patterns)
    count = 0
    for root, dirs, files in os.walk(context):
        base = Path(root).relative_to(context).as_posix()
        prefix = "" if base == "." else base + "/"
        kept = []
        for d in sorted(dirs):
            if d in skip:
                continue
            if not exceptions and excluded(patterns, prefix + d)[0]:
                continue
            kept.append(d)
        dirs[:] = kept
        for name in sorted(files):
            rel = prefix + name
            if excluded(patterns, rel)[0]:
                continue
            yield rel
            count += 1
            if limit is not None and count >= limit:
                return
