"""What reaches the image that ships: the target stage, the stages it is built on, and
what ``COPY --from`` brings over from the others.

A multi-stage build sends its context to every stage it builds; a file a builder stage
copies (a ``.git`` that setuptools_scm reads for the version, PEM test fixtures) is in
that stage's filesystem, not in the image that ships, unless a later ``COPY --from``
takes it over. :func:`context_copies` lists what each stage takes from the build
context and where it lands; :func:`reaches` follows a path in a stage through the
``COPY --from`` of the stages that lead to the target.

Shared by SR205, SR206 and SR220 (and the builders, which build the target stage only).
Pure: no pytest, no docker.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass

from . import ignore as dockerignore
from . import parser
from .parser import Dockerfile, Instruction, Stage


def shipped(df: Dockerfile, target: str | None = None) -> list[Stage]:
    """The stages whose layers make the image: the target (``[tool.shipready.image]
    target``, else the last stage) and the stages it is built on (``FROM <stage>``)."""
    stage = df.target(target or None)
    return df.chain(stage) if stage is not None else []


def built(df: Dockerfile, target: str | None = None) -> list[Stage]:
    """The stages BuildKit builds for the target: the shipped ones and those they copy
    from (``COPY --from``, ``RUN --mount=from=``), in file order."""
    stage = df.target(target or None)
    return df.needed(stage) if stage is not None else []


@dataclass(frozen=True)
class ContextCopy:
    """A COPY/ADD from the build context (or a ``RUN --mount=type=bind`` of it)."""

    stage: Stage
    ins: Instruction
    sources: tuple[str, ...]  # context paths, normalized ("." for the whole context)
    dest: str  # where they land in the stage (absolute; "" for a bind mount)
    into: bool  # the destination is a directory the sources are copied into

    @property
    def text(self) -> str:
        return " ".join(f"{self.ins.keyword} {self.ins.rest}".split())

    @property
    def told(self) -> str:
        """"`COPY . .` (line 5)"."""
        return f"`{self.text}` (line {self.ins.line})"

    @property
    def mounted(self) -> bool:
        return self.ins.keyword == "RUN"

    def takes(self, rel: str) -> bool:
        """It takes the context path ``rel`` (a file, or a directory and what is in it)."""
        return any(p.matches_or_parent(rel) for s in self.sources
                   for p in dockerignore.parse("**" if s == "." else s))

    def lands(self, rel: str) -> str:
        """Where the context path ``rel`` lands in the stage (it :meth:`takes` it). A
        directory source's contents go into the destination, as Docker copies them."""
        for source in self.sources:
            if source == ".":
                return posixpath.normpath(posixpath.join(self.dest, rel))
            if rel == source:
                return posixpath.normpath(posixpath.join(self.dest, posixpath.basename(rel))) \
                    if self.into else self.dest
            if rel.startswith(source + "/"):
                return posixpath.normpath(posixpath.join(self.dest,
                                                         posixpath.relpath(rel, source)))
        return posixpath.normpath(posixpath.join(self.dest, posixpath.basename(rel)))


def context_copies(df: Dockerfile) -> list[ContextCopy]:
    """What each stage takes from the build context, in file order."""
    out: list[ContextCopy] = []
    for stage in df.stages:
        for ins in stage.instructions:
            if ins.keyword == "RUN":
                for mount in ins.flag_values("mount"):
                    opts = parser.mount_options(mount)
                    if opts.get("type", "bind") != "bind" or "from" in opts:
                        continue
                    source = opts.get("source", opts.get("src", "")) or "."
                    cleaned = posixpath.normpath(source).lstrip("/") or "."
                    out.append(ContextCopy(stage, ins, (cleaned,), "", True))
                continue
            if ins.keyword not in ("COPY", "ADD") or ins.flag("from") is not None:
                continue
            parts = list(ins.exec_form or parser.words(ins.rest, df.escape))
            if ins.heredocs or len(parts) < 2:
                continue
            scope = df.variables(stage, ins.line)
            sources = []
            for source in parts[:-1]:
                source = parser.expand(source, scope, df.escape)[0]
                if "://" in source:
                    continue  # ADD <url>
                sources.append(posixpath.normpath(source).lstrip("/") or ".")
            if not sources:
                continue
            dest_raw = parser.expand(parts[-1], scope, df.escape)[0]
            dest = posixpath.normpath(posixpath.join(df.workdir(stage, ins.line), dest_raw))
            into = dest_raw.endswith("/") or len(sources) > 1 or dest_raw in (".", "./") \
                or any(s == "." for s in sources)
            out.append(ContextCopy(stage, ins, tuple(sources), dest, into))
    return out


def _covers(source: str, path: str) -> bool:
    source = posixpath.normpath("/" + source.lstrip("/"))
    if source == "/" or path == source or path.startswith(source + "/"):
        return True
    return any(c in source for c in "*?[") and fnmatch.fnmatchcase(path, source)


def reaches(df: Dockerfile, target: str | None, stage: Stage, path: str,
            depth: int = 0, part: bool = False) -> bool:
    """Whether ``path`` (absolute) in ``stage``'s filesystem ends up in the image that
    ships: the stage is shipped, or a ``COPY --from`` of it (or of a stage built on it)
    takes the path into a stage that reaches. A stage BuildKit does not build for the
    target reaches nothing. ``part``: a directory ``path`` reaches when any of what is
    under it is taken (``COPY --from=build /opt/venv/lib ...`` of a venv /opt/venv)."""
    ships = shipped(df, target)
    if stage in ships:
        return True
    if depth > 8 or stage not in built(df, target):
        return False
    for other in built(df, target):
        for ins in other.instructions:
            if ins.keyword not in ("COPY", "ADD"):
                continue
            source_ref = ins.flag("from")
            source = df.stage(source_ref) if source_ref else None
            if source is None or stage not in df.chain(source):
                continue
            parts = list(ins.exec_form or parser.words(ins.rest, df.escape))
            if len(parts) < 2:
                continue
            scope = df.variables(other, ins.line)
            dest = posixpath.normpath(posixpath.join(
                df.workdir(other, ins.line), parser.expand(parts[-1], scope, df.escape)[0]))
            for src in parts[:-1]:
                src = parser.expand(src, scope, df.escape)[0]
                root = posixpath.normpath("/" + src.lstrip("/"))
                if part and root.startswith(path.rstrip("/") + "/"):
                    landed = dest  # a part of the directory is taken
                elif _covers(src, path):
                    inner = posixpath.relpath(path, root) \
                        if not any(c in src for c in "*?[") else posixpath.basename(path)
                    landed = posixpath.normpath(posixpath.join(dest, inner))
                else:
                    continue
                if reaches(df, target, other, landed, depth + 1, part):
                    return True
    return False


@dataclass(frozen=True)
class Taken:
    """How the build takes a context path: the copies into the image that ships, and
    those into stages that do not ship it."""

    shipped: tuple[ContextCopy, ...]
    builders: tuple[ContextCopy, ...]

    @property
    def any(self) -> bool:
        return bool(self.shipped or self.builders)

    def builders_told(self) -> str:
        """"stage 'build' (`COPY . .` (line 5))", for the copies into builder stages."""
        return ", ".join(dict.fromkeys(f"{c.stage.label} ({c.told})" for c in self.builders))


def taken(df: Dockerfile, target: str | None, rel: str,
          copies: list[ContextCopy] | None = None) -> Taken:
    """The copies that take the context path ``rel``, split by whether it reaches the
    image that ships (a bind mount never does: it is not in any layer)."""
    copies = context_copies(df) if copies is None else copies
    into: list[ContextCopy] = []
    builders: list[ContextCopy] = []
    for copy in copies:
        if not copy.takes(rel):
            continue
        if not copy.mounted and reaches(df, target, copy.stage, copy.lands(rel)):
            into.append(copy)
        else:
            builders.append(copy)
    return Taken(tuple(into), tuple(builders))


def install_location(words: list[str], env: dict[str, str], workdir: str) -> str:
    """Where a pip install puts what it installs, as a directory of the stage: --target,
    --prefix, --root, --user, the virtualenv whose pip runs it (or $VIRTUAL_ENV), else
    the interpreter's prefix, taken as /usr (the python images' /usr/local, Debian's
    /usr). Empty when it cannot be told."""
    for option in ("--target", "-t", "--prefix", "--root"):
        for k, word in enumerate(words):
            value = words[k + 1] if word == option and k + 1 < len(words) else (
                word.partition("=")[2] if word.startswith(option + "=") else "")
            if value and "$" not in value:
                return posixpath.normpath(posixpath.join(workdir or "/", value))
    if "--user" in words:
        return posixpath.join(env.get("HOME", "/root"), ".local")
    first = words[0] if words else ""
    if first.startswith("/") and "/bin/" in first:
        return posixpath.dirname(posixpath.dirname(first))
    if env.get("VIRTUAL_ENV", "").startswith("/"):
        return env["VIRTUAL_ENV"]
    path = env.get("PATH", "")
    head = path.split(":", 1)[0] if path else ""
    if head.startswith("/") and head.endswith("/bin") and head not in (
            "/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin"):
        return posixpath.dirname(head)  # a virtualenv first on PATH
    return "/usr"
