""".dockerignore files: read the patterns and decide what is left out of the context.

Follows Docker's own rules (moby/patternmatcher): one pattern a line, ``#`` comments at
the start of a line, whitespace trimmed, each pattern cleaned like a path (``./a/`` is
``a``) and anchored at the context root (a leading ``/`` changes nothing), ``*`` and
``?`` never cross ``/``, ``**`` matches any number of directories, ``[...]`` classes,
``\\`` escapes, ``!`` re-includes, and the last matching pattern wins. A pattern that
matches a directory also leaves out everything below it.

Pure: no pytest, no docker.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without "!"
    exclude: bool  # False for a "!" exception
    line: int
    regex: re.Pattern[str]


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


def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                    out.append("(.*/)?")
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            close = pattern.find("]", i + 1)
            if close < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:close]
                negate = body[:1] in ("^", "!")
                chars = _class_body(body[1:] if negate else body)
                out.append("[" + ("^" if negate else "") + chars + "]")
                i = close
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    try:
        return re.compile("".join(out))
    except re.error:
        return re.compile(re.escape(pattern) + "$")


def _class_body(body: str) -> str:
    """``a-z_`` -> an escaped regex class body: ``x-y`` ranges, everything else literal."""
    out: list[str] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            low, high = body[k], body[k + 2]
            if low <= high:
                out.append(f"{re.escape(low)}-{re.escape(high)}")
            k += 3
        else:
            out.append(re.escape(body[k]))
            k += 1
    return "".join(out)


def _matches(pattern: Pattern, path: str) -> bool:
    """The pattern matches the path or one of its parent directories."""
    parts = path.split("/")
    return any(pattern.regex.match("/".join(parts[:k])) for k in range(len(parts), 0, -1))


def excluded(patterns: list[Pattern], path: str) -> tuple[bool, Pattern | None]:
    """Whether ``path`` (relative to the context, with /) is left out, and the deciding
    pattern (None when no pattern matches)."""
    path = posixpath.normpath(path).lstrip("/")
    deciding: Pattern | None = None
    for pattern in patterns:
        if _matches(pattern, path):
            deciding = pattern
    return (deciding is not None and deciding.exclude), deciding
