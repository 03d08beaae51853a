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


class _Machine:
    """One pattern's automaton, built lazily as paths are matched: each set of positions
    seen gets a number and a table of moves, so that matching a character is one lookup
    (the set-of-positions step runs once per new (set, character), whatever the number
    of paths). Shared by every pattern with the same tokens."""

    _LIMIT = 20000  # sets kept; past it the tables start over (memory stays bounded)

    def __init__(self, tokens: tuple[_Token, ...]) -> None:
        self.tokens = tokens
        self._reset()

    def _reset(self) -> None:
        self.ids: dict[frozenset[int], int] = {}
        self.sets: list[frozenset[int]] = []
        self.moves: list[dict[str, int]] = []
        self.accepts: list[bool] = []
        self.start = self._id(frozenset(_closure(self.tokens, {0})))
        self.dead = self._id(frozenset())

    def _id(self, states: frozenset[int]) -> int:
        found = self.ids.get(states)
        if found is None:
            found = self.ids[states] = len(self.sets)
            self.sets.append(states)
            self.moves.append({})
            self.accepts.append(len(self.tokens) in states)
        return found

    def step(self, state: int, ch: str) -> int:
        nxt = self.moves[state].get(ch)
        if nxt is None:
            if len(self.sets) > self._LIMIT:  # only the start and dead numbers survive
                states = self.sets[state]
                self._reset()
                state = self._id(states)
            nxt = self._id(frozenset(_step(self.tokens, set(self.sets[state]), ch)))
            self.moves[state][ch] = nxt
        return nxt

    def run(self, state: int, text: str) -> int:
        dead = self.dead
        for ch in text:
            if state == dead:
                return state
            state = self.step(state, ch)
        return state


_MACHINES: dict[tuple[_Token, ...], _Machine] = {}


def _machine(tokens: tuple[_Token, ...]) -> _Machine:
    found = _MACHINES.get(tokens)
    if found is None:
        if len(_MACHINES) > 1000:
            _MACHINES.clear()
        found = _MACHINES[tokens] = _Machine(tokens)
    return found


def _run(tokens: tuple[_Token, ...], path: str) -> list[bool]:
    """For each prefix of ``path`` that ends a path component (each parent directory,
    then the path itself), whether the pattern matches it."""
    machine = _machine(tokens)
    state = machine.start
    found: list[bool] = []
    for part in path.split("/"):
        if found:
            state = machine.step(state, "/")
        state = machine.run(state, part)
        found.append(machine.accepts[state])
        if state == machine.dead:
            break
    return found


class Matcher:
    """``patterns`` applied to many paths: the state after each directory is kept, so a
    file costs the characters of its own name, and a pattern written twice is matched
    once (the later copy decides wherever the earlier one would)."""

    def __init__(self, patterns: list[Pattern]) -> None:
        last: dict[tuple[str, bool], int] = {}
        for i, p in enumerate(patterns):
            last[(p.text, p.exclude)] = i
        self.patterns = [p for i, p in enumerate(patterns) if last[(p.text, p.exclude)] == i]
        self.machines = [_machine(p.tokens) for p in self.patterns]
        start = tuple(m.start for m in self.machines)
        # directory ("" for the root) -> (states after "dir/", whether dir or a parent
        # matched), per pattern
        self._dirs: dict[str, tuple[tuple[int, ...], tuple[bool, ...]]] = {
            "": (start, tuple(False for _ in self.machines))}

    def _directory(self, directory: str) -> tuple[tuple[int, ...], tuple[bool, ...]]:
        found = self._dirs.get(directory)
        if found is not None:
            return found
        pending: list[str] = []
        while directory not in self._dirs:
            pending.append(directory)
            directory = directory.rpartition("/")[0]
        states, hits = self._dirs[directory]
        for d in reversed(pending):
            name = d.rpartition("/")[2]
            ends = [m.run(s, name) for m, s in zip(self.machines, states, strict=True)]
            hits = tuple(h or m.accepts[e]
                         for m, e, h in zip(self.machines, ends, hits, strict=True))
            states = tuple(m.step(e, "/") if e != m.dead else e
                           for m, e in zip(self.machines, ends, strict=True))
            if len(self._dirs) > 200_000:  # bounded memory on huge trees
                self._dirs = {"": self._dirs[""]}
            self._dirs[d] = (states, hits)
        return states, hits

    def decide(self, path: str) -> Pattern | None:
        """The pattern deciding ``path`` (normalised, relative, with /): the last one
        matching it or a parent directory; None when none does."""
        parent, _, name = path.rpartition("/")
        states, hits = self._directory(parent)
        deciding: Pattern | None = None
        for pattern, machine, state, hit in zip(self.patterns, self.machines, states, hits,
                                                strict=True):
            if hit or machine.accepts[machine.run(state, name)]:
                deciding = pattern
        return deciding

    def excluded(self, path: str) -> bool:
        deciding = self.decide(path)
        return deciding is not None and deciding.exclude


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


class ContextTooSlowError(Exception):
    """Walking the context took longer than allowed; the message says how far it got."""


def context_files(context: Path, patterns: list[Pattern], skip: frozenset[str] = frozenset(),
                  limit: int | None = None, deadline: float | None = None) -> Iterator[str]:
    """The files (and symlinks) of ``context`` the build is sent, relative with /, in
    sorted order. A left-out directory is not walked unless a ``!`` pattern could bring
    something in it back; directories named in ``skip`` are never walked. Past
    ``deadline`` (``time.monotonic()``) :class:`ContextTooSlowError` is raised."""
    import time

    matcher = Matcher(patterns)
    exceptions = any(not p.exclude for p in patterns)
    count = 0
    looked = 0
    for root, dirs, files in os.walk(context):
        base = Path(root).relative_to(context).as_posix()
        prefix = "" if base == "." else base + "/"
        kept = []
        for d in sorted(dirs):
            if d in skip:
                continue
            if not exceptions and matcher.excluded(prefix + d):
                continue
            kept.append(d)
        dirs[:] = kept
        for name in sorted(files):
            looked += 1
            if deadline is not None and looked % 64 == 0 and time.monotonic() > deadline:
                raise ContextTooSlowError(
                    f"{looked} paths of {context} looked at, {count} of them sent")
            rel = prefix + name
            if matcher.excluded(rel):
                continue
            yield rel
            count += 1
            if limit is not None and count >= limit:
                return
