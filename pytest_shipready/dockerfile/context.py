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
_BK_HEADER = re.compile(r"^#(\d+) \[([^\]]*)\] (.*)$")
_BK_ERROR = re.compile(r"^#(\d+) ERROR:")
_BK_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ ?(.*)$")
_BK_EXCERPT = re.compile(r"^\s*(\d+)\s*\|\s*>>>\s?(.*)$")


def _errored_vertex(log_lines: list[str]) -> str | None:
    """BuildKit's plain progress: the number of the step that ERRORED (the first one),
    not one CANCELED because of it."""
    for line in log_lines:
        m = _BK_ERROR.match(line.strip())
        if m:
            return m.group(1)
    return None


def failing_error(log_lines: list[str]) -> str | None:
    """BuildKit: the error of the step that ERRORED first ("#7 ERROR: ..." without its
    prefix), so that the message and the step named belong together; None otherwise."""
    for line in log_lines:
        text = _ANSI.sub("", line).strip()
        m = _BK_ERROR.match(text)
        if m:
            return text[m.end():].strip() or None
    return None


def _buildkit_step(log_lines: list[str], dockerfile_text: str) -> tuple[str, int | None]:
    vertex = _errored_vertex(log_lines)
    header = None
    if vertex is not None:
        header = next((m for m in (_BK_HEADER.match(ln.strip()) for ln in log_lines)
                       if m and m.group(1) == vertex), None)
    # Newer clients quote the Dockerfile: "Dockerfile:12" then "  12 | >>> RUN ...".
    excerpt = [m for m in (_BK_EXCERPT.match(ln) for ln in log_lines) if m]
    if excerpt:
        text = " ".join(m.group(2).strip().rstrip("\\").strip() for m in excerpt)
        return (header.group(3) if header else text), int(excerpt[0].group(1))
    if header is None:
        return "", None
    text = header.group(3)
    where = header.group(2)  # "stage-1 3/3", "bad 2/2" or "3/4"
    parsed = parser.parse(dockerfile_text, "Dockerfile")
    candidates = [ins for ins in parsed.instructions
                  if _collapse(f"{ins.keyword} {ins.raw}") == _collapse(text)]
    if len(candidates) > 1:  # the same text in several stages: the header names it
        name = where.rsplit(" ", 1)[0] if " " in where else ""
        stage = parsed.stage(name) if name and not name.startswith("stage-") else \
            parsed.stage(name.removeprefix("stage-")) if name else None
        if stage is not None:
            inside = [i for i in candidates if i in stage.instructions]
            candidates = inside or candidates
    return text, candidates[0].line if candidates else None


def failing_step(log_lines: list[str], dockerfile_text: str) -> tuple[str, int | None]:
    """From a build's output: the text of the step that failed, and its Dockerfile line.
    Classic builder: the last "Step N/M" started. BuildKit: the step that ERRORED (not
    one CANCELED because another failed), by the Dockerfile excerpt when the client
    prints one, else by its text."""
    for line in reversed(log_lines):
        m = _STEP.match(line.strip())
        if m:
            ins = step_line(dockerfile_text, int(m.group(1)))
            return m.group(3), ins.line if ins else None
    return _buildkit_step(log_lines, dockerfile_text)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOISE = re.compile(r"^\s*(---> |Removing intermediate container|Running in )")


def step_output(log_lines: list[str], error: str, count: int = 25) -> list[str]:
    """The output of the failing step, one line of the tool's output a line: the classic
    builder's lines after the last "Step N/M"; BuildKit's lines of the step that
    ERRORED, without its "#N 1.234" prefixes (other steps' lines, such as one CANCELED,
    left out). Escapes and builder chatter removed, and the error itself left out (it
    is shown on its own)."""
    vertex = None if any(_STEP.match(ln.strip()) for ln in log_lines) else \
        _errored_vertex(log_lines)
    if vertex is not None:
        lines = [m.group(2) for m in (_BK_OUTPUT.match(_ANSI.sub("", ln).rstrip())
                                      for ln in log_lines) if m and m.group(1) == vertex]
        kept = [ln.rstrip() for ln in "\n".join(lines).replace("\r", "\n").split("\n")]
        while kept and not kept[-1].strip():
            kept.pop()
        while kept and not kept[0].strip():
            kept.pop(0)
        return kept[-count:]
    start = 0
    for i, line in enumerate(log_lines):
        if _STEP.match(line.strip()):
            start = i + 1
    lines = [_ANSI.sub("", ln).rstrip() for ln in log_lines[start:]]
    kept = [ln for ln in lines if ln.strip() and not _NOISE.match(ln)
            and ln.strip() != error.strip()]
    return kept[-count:]


# --- which Dockerfile: every one of the project, and the one to check --------------------

_FINDER_SKIP = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox",
                          "build", "dist", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
# Words of a path that say the Dockerfile is not what ships: an editor's dev container, a
# development, test or CI image.
_DEVELOPMENT = frozenset({".devcontainer", "dev", "develop", "development",
                          "local", "test", "tests", "testing", "ci", "debug", "docs",
                          "example", "examples", "sample", "samples"})
_PRODUCTION = frozenset({"prod", "production", "release", "deploy", "deployment", "live"})


def is_dockerfile_name(name: str) -> bool:
    """``Dockerfile``, ``Dockerfile.prod``, ``prod.Dockerfile``, ``web.dockerfile``."""
    return name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(
        (".Dockerfile", ".dockerfile"))


def find_dockerfiles(project: Path, max_depth: int = 4) -> list[str]:
    """Every Dockerfile of the project (posix paths relative to it, up to ``max_depth``
    directories down, virtualenvs, caches and build output left out), sorted by path."""
    found: list[str] = []
    for directory, dirs, files in os.walk(project):
        rel_dir = Path(directory).relative_to(project)
        depth = len(rel_dir.parts)
        dirs[:] = sorted(d for d in dirs if d not in _FINDER_SKIP and depth < max_depth)
        found += [(rel_dir / name).as_posix() for name in files if is_dockerfile_name(name)]
    return sorted(found)


def _words(path: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", path.lower()) if w} | {
        part.lower() for part in path.split("/")[:-1]}


def development_words(path: str) -> list[str]:
    """The words of ``path`` that say it is for development or tests (``.devcontainer``,
    ``dev``, ``test``...), sorted; empty for one that may ship."""
    return sorted(_DEVELOPMENT & _words(path))


def choose_dockerfile(found: list[str]) -> tuple[str, str] | None:
    """The Dockerfile to check among ``found`` and why: the root's ``Dockerfile``; else
    one whose path says production (``Dockerfile.prod``, ``deploy/Dockerfile``); else the
    shallowest that is not for development or tests (``.devcontainer/``, ``dev``,
    ``test``...); else, when all are, the shallowest of them, saying so."""
    if not found:
        return None
    if "Dockerfile" in found:
        return "Dockerfile", "the root's Dockerfile, what `docker build .` uses"
    shipping = [p for p in found if not development_words(p)]

    def rank(path: str) -> tuple[int, str]:
        return path.count("/"), path

    production = sorted((p for p in shipping if _PRODUCTION & _words(p)), key=rank)
    if production:
        words = sorted(_PRODUCTION & _words(production[0]))
        return production[0], f"its path says it ships ({', '.join(words)})"
    if shipping:
        chosen = min(shipping, key=rank)
        others = [p for p in found if p != chosen]
        if not others:
            return chosen, "the only Dockerfile"
        left = [p for p in others if development_words(p)]
        why = "the shallowest"
        if left:
            why += (" that is not for development or tests (left out: "
                    + ", ".join(f"{p} ({'/'.join(development_words(p))})" for p in left)
                    + ")")
        return chosen, why
    chosen = min(found, key=rank)
    return chosen, (f"the shallowest, though every Dockerfile found looks like one for "
                    f"development or tests ({', '.join(development_words(chosen))})")
