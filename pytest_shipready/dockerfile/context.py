"""What the image build needs to know about a Dockerfile and its build context.

Pure: no docker, no pytest. Finds instructions with their line numbers (for "step N
failed at Dockerfile:L"), tells whether the file needs BuildKit, and hashes the build
context into a content-addressed tag.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
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


def used_sources(text: str, target: str, build_args: dict[str, str] | None = None
                 ) -> list[ignore.Pattern] | None:
    """What the build takes from the context, as patterns: the sources of COPY/ADD
    (without ``--from``) and of ``RUN --mount=type=bind`` (without ``from``) in the
    stages the target needs (BuildKit builds no other). None when that cannot be told
    (a Dockerfile that does not parse into stages, an unknown target): then every file
    counts."""
    parsed = parser.parse(text, "Dockerfile", build_args or {})
    stage = parsed.target(target)
    if stage is None:
        return None
    patterns: list[ignore.Pattern] = []
    for s in parsed.needed(stage):
        for ins in s.instructions:
            sources: list[str] = []
            if ins.keyword in ("COPY", "ADD") and ins.flag("from") is None \
                    and not ins.heredocs:
                parts = list(ins.exec_form or parser.words(ins.rest, parsed.escape))
                sources = parts[:-1]
            elif ins.keyword == "RUN":
                for mount in ins.flag_values("mount"):
                    opts = parser.mount_options(mount)
                    if opts.get("type", "bind") == "bind" and "from" not in opts:
                        sources.append(opts.get("source", opts.get("src", ".")))
            scope = parsed.variables(s, ins.line)
            for source in sources:
                source = parser.expand(source, scope, parsed.escape)[0]
                if "://" in source or source.startswith("git@"):
                    continue  # ADD <url>: not from the context
                if "$" in source:
                    return None  # a variable without a value: cannot tell
                cleaned = posixpath.normpath(source).lstrip("/") or "."
                patterns += ignore.parse("**" if cleaned == "." else cleaned)
    return patterns


@dataclass(frozen=True)
class Context:
    """The build context as the build is sent it, walked once: the files (and symlinks)
    left after the ignore file, relative with /, and whether ``.git`` is sent."""

    root: Path
    files: tuple[str, ...]
    git_sent: bool


def walk(context: Path, dockerfile: Path, *, classic: bool = False, full: bool = False,
         deadline: float | None = None) -> Context:
    """The context's files the build is sent, by the ignore file the builder reads (the
    classic builder reads only the context's .dockerignore). ``full``: every directory
    is walked (what is sent to a classic build), else virtualenvs, caches and ``.git``
    are left out of the walk (only hashed: see :func:`content_hash`). Past
    ``deadline`` (monotonic) :class:`ignore.ContextTooSlowError` is raised."""
    if classic:
        path = context / ".dockerignore"
        try:
            patterns = ignore.parse(path.read_text(encoding="utf-8", errors="replace")) \
                if path.is_file() else []
        except OSError:
            patterns = []
    else:
        patterns = ignore.load(context, dockerfile)
    skip = frozenset() if full else _ALWAYS_SKIP
    files = tuple(ignore.context_files(context, patterns, skip, deadline=deadline))
    git = context / ".git"
    git_sent = git.exists() and not ignore.Matcher(patterns).excluded(".git")
    return Context(context, files, git_sent)


def _git_state(git: Path) -> bytes:
    """What a version taken from git depends on (setuptools_scm, ``git describe``): the
    commit HEAD names and the tags; not the objects, nor the index that `git status`
    rewrites. A worktree's ``.git`` file points at its git directory."""
    out = []
    try:
        if git.is_file():  # "gitdir: /path/to/repo/.git/worktrees/name"
            line = git.read_text(encoding="utf-8", errors="replace").strip()
            git = (git.parent / line.removeprefix("gitdir:").strip()).resolve()
            out.append(line.encode())
        head = (git / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
        out.append(head.encode())
        common = git
        if (git / "commondir").is_file():
            common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve()
        ref = head.removeprefix("ref:").strip() if head.startswith("ref:") else ""
        if ref and (common / ref).is_file():
            out.append((common / ref).read_bytes().strip())
        packed = common / "packed-refs"
        if packed.is_file() and packed.stat().st_size < 16_000_000:
            out.append(packed.read_bytes())
        tags = common / "refs" / "tags"
        for n, tag in enumerate(sorted(tags.rglob("*")) if tags.is_dir() else []):
            if n >= 10_000:
                break
            if tag.is_file():
                out.append(tag.relative_to(common).as_posix().encode() + b" "
                           + tag.read_bytes().strip())
    except (OSError, ValueError):
        pass
    return b"\0".join(out)


def content_hash(context: Path, dockerfile: Path, target: str,
                 build_args: dict[str, str], walked: Context | None = None) -> str:
    """A hash of what the build uses: the Dockerfile, target, build args and the files
    of the context that the ignore file keeps (judged as Docker judges it) and that a
    COPY/ADD or bind mount of the stages the target needs takes. A report or any other
    file no instruction takes does not change it. Virtualenvs and caches are left out;
    a ``.git`` the build takes counts by the commit it names and its tags."""
    digest = hashlib.sha256()
    text = dockerfile.read_bytes()
    digest.update(text)
    digest.update(f"\0target={target}\0".encode())
    for key in sorted(build_args):
        digest.update(f"{key}={build_args[key]}\0".encode())
    used = used_sources(text.decode("utf-8", errors="replace"), target, build_args)
    if walked is None:
        walked = walk(context, dockerfile)

    def takes(rel: str) -> bool:
        return used is None or any(p.matches_or_parent(rel) for p in used)

    for rel in walked.files:
        if rel.endswith(".pyc") or not set(rel.split("/")[:-1]).isdisjoint(_ALWAYS_SKIP) \
                or not takes(rel):
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
    if walked.git_sent and takes(".git/HEAD"):
        digest.update(b".git\0" + _git_state(context / ".git"))
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
