"""What the image build needs to know about a Dockerfile and its build context.

Pure: no docker, no pytest. Finds instructions with their line numbers (for "step N
failed at Dockerfile:L"), tells whether the file needs BuildKit, and hashes the build
context into a content-addressed tag.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import ignore, parser

_ALWAYS_SKIP = frozenset({".git", ".venv", "venv", "__pycache__", ".pytest_cache",
                          ".mypy_cache", ".ruff_cache", ".tox"})


@dataclass(frozen=True)
class Instruction:
    line: int  # 1-based line of its first physical line
    keyword: str  # upper case: "RUN"
    text: str  # the logical line, continuations joined


def instructions(text: str) -> list[Instruction]:
    """The logical instructions, as the classic builder numbers its steps (comments and
    blank lines left out; text with continuations joined and spaces collapsed)."""
    parsed = parser.parse(text, "Dockerfile")
    return [Instruction(ins.line, ins.keyword, _collapse(f"{ins.keyword} {ins.raw}"))
            for ins in parsed.instructions]


def _collapse(text: str) -> str:
    return " ".join(text.split())


def needs_buildkit(text: str) -> str | None:
    """Why the Dockerfile needs BuildKit (the first feature found), or None."""
    features = parser.parse(text, "Dockerfile").buildkit_features()
    if not features:
        return None
    what, line = features[0]
    return f"line {line}: {what}"


def step_line(text: str, step: int) -> Instruction | None:
    """The instruction of the classic builder's "Step N/M" (1-based), if it exists."""
    found = instructions(text)
    return found[step - 1] if 0 < step <= len(found) else None


def content_hash(context: Path, dockerfile: Path, target: str,
                 build_args: dict[str, str]) -> str:
    """A hash of what the build sees: the Dockerfile, target, build args and every file
    of the context that the ignore file keeps, judged as SR206 and Docker judge it
    (virtualenvs and caches always left out)."""
    digest = hashlib.sha256()
    digest.update(dockerfile.read_bytes())
    digest.update(f"\0target={target}\0".encode())
    for key in sorted(build_args):
        digest.update(f"{key}={build_args[key]}\0".encode())
    # The same matcher and ignore file as SR206 (Docker's rules), not an approximation.
    patterns = ignore.load(context, dockerfile)
    for rel in ignore.context_files(context, patterns, _ALWAYS_SKIP):
        if rel.endswith(".pyc"):
            continue
        full = context / rel
        digest.update(rel.encode() + b"\0")
        try:
            if full.is_symlink():  # sent as a link: its target is what counts
                digest.update(b"-> " + os.readlink(full).encode())
            elif full.is_file():  # never open a fifo or socket: reading one blocks
                digest.update(full.read_bytes())
        except OSError:
            continue
        digest.update(b"\0")
    return digest.hexdigest()


def repository_name(project: Path) -> str:
    """A valid image repository name for the project: ``pytest-shipready/<dir>``."""
    name = re.sub(r"[^a-z0-9._-]+", "-", project.resolve().name.lower()).strip("-._")
    return f"pytest-shipready/{name or 'project'}"


_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def failing_step(log_lines: list[str], dockerfile_text: str) -> tuple[str, int | None]:
    """From a classic build's output: the text of the last step started, and its line."""
    for line in reversed(log_lines):
        m = _STEP.match(line.strip())
        if m:
            ins = step_line(dockerfile_text, int(m.group(1)))
            return m.group(3), ins.line if ins else None
    # BuildKit: "#9 [4/6] RUN false" then "ERROR: ..."; find the Dockerfile line in
    # its excerpt "  12 | >>> RUN false".
    for line in log_lines:
        m = re.match(r"^\s*(\d+)\s*\|\s*>>>\s*(.*)$", line)
        if m:
            return m.group(2).strip(), int(m.group(1))
    for line in reversed(log_lines):
        m = re.match(r"^#\d+ \[[^\]]*\] (.*)$", line.strip())
        if m:
            text = m.group(1)
            for ins in instructions(dockerfile_text):
                if ins.text == _collapse(text):
                    return text, ins.line
            return text, None
    return "", None


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOISE = re.compile(r"^\s*(---> |Removing intermediate container|Running in )")


def step_output(log_lines: list[str], error: str, count: int = 25) -> list[str]:
    """The output of the failing step: the classic builder's lines after the last
    "Step N/M", else BuildKit's last lines; escapes and builder chatter removed, and
    the error itself left out (it is shown on its own)."""
    start = 0
    for i, line in enumerate(log_lines):
        if _STEP.match(line.strip()):
            start = i + 1
    lines = [_ANSI.sub("", ln).rstrip() for ln in log_lines[start:]]
    kept = [ln for ln in lines if ln.strip() and not _NOISE.match(ln)
            and ln.strip() != error.strip()]
    return kept[-count:]
