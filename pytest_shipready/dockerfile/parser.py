"""Parse a Dockerfile into instructions and build stages, as BuildKit reads it.

What it understands: parser directives at the top (``# syntax=``, ``# escape=``,
``# check=``), comments, line continuations with the escape character (also across
comment and empty lines), heredocs (``RUN <<EOF`` ... ``EOF``, ``<<-`` and quoted
names), flags (``--platform``, ``--mount``, ``--from`` ...), JSON (exec) and shell forms,
multi-stage builds (``FROM ... AS name``, stages built on earlier stages, ``--target``)
and ``ARG`` before ``FROM`` with ``$VAR``/``${VAR:-default}`` substitution.

What a later check needs is derived per stage, following stages built on earlier ones
(their image settings are inherited): the user, exposed ports, healthcheck, stop signal,
CMD and ENTRYPOINT, and which BuildKit-only features the file uses.

The parser never raises on bad input: what Docker would reject is collected as
:class:`Problem` records with their line. Pure: no pytest, no docker.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

KEYWORDS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
})
DIRECTIVES = ("syntax", "escape", "check")
# Instructions whose arguments may start with --flags.
_FLAGGED = frozenset({"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"})
# Instructions with an exec (JSON array) form.
_JSON_FORM = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME", "COPY", "ADD"})
_HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([\"']?)([A-Za-z0-9_][A-Za-z0-9_.-]*)\3$")
_FLAG = re.compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)")
# BuildKit-only flags, by instruction: the classic builder rejects them.
_BUILDKIT_FLAGS = {
    "RUN": ("mount", "network", "security"),
    "COPY": ("link", "chmod", "parents", "exclude"),
    "ADD": ("link", "chmod", "checksum", "keep-git-dir", "parents", "exclude"),
}


@dataclass(frozen=True)
class Problem:
    """Something Docker would reject or that makes the file impossible to read."""

    line: int | None
    message: str


@dataclass(frozen=True)
class Heredoc:
    name: str
    body: str
    line: int  # the first line of the body
    strip_tabs: bool = False


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: "RUN"
    raw: str  # the argument text after the keyword, continuations joined, flags included
    line: int  # first physical line
    end_line: int  # last physical line (heredoc bodies included)
    flags: tuple[tuple[str, str | None], ...] = ()
    rest: str = ""  # the argument text after the flags
    exec_form: tuple[str, ...] | None = None  # the JSON array, when written that way
    heredocs: tuple[Heredoc, ...] = ()
    # (offset in ``rest``, physical line) for each joined piece: see line_at().
    pieces: tuple[tuple[int, int], ...] = ()

    def flag(self, name: str) -> str | None:
        """The value of ``--name=value`` (the last one); "" for a bare ``--name``."""
        found = None
        for key, value in self.flags:
            if key == name:
                found = "" if value is None else value
        return found

    def flag_values(self, name: str) -> list[str]:
        return [v or "" for k, v in self.flags if k == name]

    def line_at(self, offset: int) -> int:
        """The physical line of character ``offset`` in :attr:`rest`."""
        line = self.line
        for start, number in self.pieces:
            if start <= offset:
                line = number
            else:
                break
        return line


@dataclass(frozen=True)
class Stage:
    index: int
    base: str  # the image after ARG substitution: "python:3.11-slim" or a stage name
    base_raw: str  # as written
    name: str | None  # lower case, as Docker compares them
    platform: str | None
    line: int
    instructions: tuple[Instruction, ...]
    parent: int | None  # index of the earlier stage this one is built on
    unresolved: tuple[str, ...] = ()  # variables in FROM without a value

    @property
    def label(self) -> str:
        return f"stage {self.name!r}" if self.name else f"stage {self.index}"

    @property
    def external(self) -> bool:
        """Built on an image from a registry (not scratch, not an earlier stage)."""
        return self.parent is None and self.base.lower() != "scratch"

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass(frozen=True)
class ImageRef:
    """``[registry[:port]/]repository[:tag][@digest]``."""

    text: str
    repository: str
    tag: str | None
    digest: str | None


@dataclass(frozen=True)
class Healthcheck:
    none: bool  # HEALTHCHECK NONE: switched off, also the base image's
    command: tuple[str, ...] | str  # exec form or shell form
    options: tuple[tuple[str, str | None], ...]
    line: int


@dataclass(frozen=True)
class Setting:
    """An image setting (USER, STOPSIGNAL ...) and where it was set."""

    value: str
    line: int
    stage: Stage


@dataclass(frozen=True)
class Dockerfile:
    path: str  # for messages
    directives: Mapping[str, str]
    escape: str
    instructions: tuple[Instruction, ...]
    global_args: Mapping[str, str | None]
    stages: tuple[Stage, ...]
    problems: tuple[Problem, ...]
    build_args: Mapping[str, str] = field(default_factory=dict)

    # --- stages ------------------------------------------------------------------------

    def stage(self, name_or_index: str) -> Stage | None:
        key = name_or_index.lower()
        for s in self.stages:
            if s.name == key:
                return s
        if key.isdigit() and int(key) < len(self.stages):
            return self.stages[int(key)]
        return None

    def target(self, target: str | None = None) -> Stage | None:
        """The stage that is built: ``target`` (a name) or the last one."""
        if target:
            return self.stage(target)
        return self.stages[-1] if self.stages else None

    def chain(self, stage: Stage) -> list[Stage]:
        """``stage`` and the earlier stages it is built on, the oldest first."""
        out = [stage]
        seen = {stage.index}
        while out[0].parent is not None and out[0].parent not in seen:
            seen.add(out[0].parent)
            out.insert(0, self.stages[out[0].parent])
        return out

    def root(self, stage: Stage) -> Stage:
        return self.chain(stage)[0]

    def needed(self, stage: Stage) -> list[Stage]:
        """The stages BuildKit builds for ``stage``: its chain and what it copies from."""
        todo = [stage]
        seen: dict[int, Stage] = {}
        while todo:
            s = todo.pop()
            if s.index in seen:
                continue
            seen[s.index] = s
            if s.parent is not None:
                todo.append(self.stages[s.parent])
            for ins in s.instructions:
                refs = ins.flag_values("from") if ins.keyword in ("COPY", "ADD") else []
                for mount in ins.flag_values("mount") if ins.keyword == "RUN" else []:
                    opts = mount_options(mount)
                    if "from" in opts:
                        refs.append(opts["from"])
                for ref in refs:
                    other = self.stage(ref)
                    if other is not None and other.index < s.index:
                        todo.append(other)
        return [seen[i] for i in sorted(seen)]

    # --- settings, following the stages a stage is built on ---------------------------

    def last(self, stage: Stage, keyword: str) -> tuple[Instruction, Stage] | None:
        found = None
        for s in self.chain(stage):
            for ins in s.of(keyword):
                found = (ins, s)
        return found

    def variables(self, stage: Stage, before_line: int | None = None) -> dict[str, str]:
        """ARG and ENV values in force in ``stage`` (before ``before_line``).

        ENV is inherited from the stages this one is built on; ARG is not (an ARG is
        visible from its declaration to the end of its stage; a global ARG must be
        declared again inside the stage). ENV wins over an ARG of the same name.
        """
        env: dict[str, str] = {}
        stage_args: dict[str, str] = {}
        for s in self.chain(stage):
            stage_args = {}
            for ins in s.instructions:
                if s is stage and before_line is not None and ins.line >= before_line:
                    break
                scope = {**stage_args, **env}
                if ins.keyword == "ARG":
                    for name, default in arg_pairs(ins, self.escape):
                        if name in self.build_args:
                            stage_args[name] = self.build_args[name]
                        elif default is not None:
                            stage_args[name] = expand(default, scope, self.escape)[0]
                        elif self.global_args.get(name) is not None:
                            stage_args[name] = str(self.global_args[name])
                elif ins.keyword == "ENV":
                    for name, value in env_pairs(ins, self.escape):
                        env[name] = expand(value, scope, self.escape)[0]
        return {**stage_args, **env}

    def workdir(self, stage: Stage, before_line: int | None = None) -> str:
        """The working directory in force in ``stage`` (before ``before_line``): the
        WORKDIRs of the stage and the stages it is built on, a relative one joined to the
        one before, variables expanded; ``/`` when none is set."""
        current = "/"
        for s in self.chain(stage):
            for ins in s.of("WORKDIR"):
                if s is stage and before_line is not None and ins.line >= before_line:
                    break
                value = expand(ins.rest.strip(), self.variables(s, ins.line), self.escape)[0]
                value = value.strip().strip('"').strip("'")
                if value:
                    current = posixpath.normpath(posixpath.join(current, value))
        return current

    def user(self, stage: Stage) -> Setting | None:
        found = self.last(stage, "USER")
        if found is None:
            return None
        ins, s = found
        value = expand(ins.rest.strip(), self.variables(s, ins.line), self.escape)[0]
        return Setting(value, ins.line, s)

    def stopsignal(self, stage: Stage) -> Setting | None:
        found = self.last(stage, "STOPSIGNAL")
        if found is None:
            return None
        ins, s = found
        return Setting(expand(ins.rest.strip(), self.variables(s, ins.line),
                              self.escape)[0], ins.line, s)

    def healthcheck(self, stage: Stage) -> Healthcheck | None:
        found = self.last(stage, "HEALTHCHECK")
        if found is None:
            return None
        ins, _ = found
        rest = ins.rest.strip()
        if rest.upper() == "NONE":
            return Healthcheck(True, (), ins.flags, ins.line)
        m = re.match(r"(?i)CMD(\s+|$)", rest)
        command_text = rest[m.end():] if m else rest
        return Healthcheck(False, exec_form(command_text) or command_text, ins.flags,
                           ins.line)

    def exposed(self, stage: Stage) -> list[tuple[int, str]]:
        """EXPOSEd ports as (port, protocol), in order, following earlier stages."""
        ports: list[tuple[int, str]] = []
        for s in self.chain(stage):
            for ins in s.of("EXPOSE"):
                text = expand(ins.rest, self.variables(s, ins.line), self.escape)[0]
                for word in text.split():
                    m = re.fullmatch(r"(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?", word, re.I)
                    if not m:
                        continue
                    low = int(m.group(1))
                    high = int(m.group(2) or low)
                    proto = (m.group(3) or "tcp").lower()
                    for port in range(low, min(high, low + 1024) + 1):
                        if (port, proto) not in ports:
                            ports.append((port, proto))
        return ports

    def command(self, stage: Stage) -> tuple[Instruction | None, Instruction | None]:
        """The (ENTRYPOINT, CMD) in force. An ENTRYPOINT resets a CMD of an earlier stage."""
        chain = self.chain(stage)
        entry = self.last(stage, "ENTRYPOINT")
        cmd = self.last(stage, "CMD")
        if entry is not None and cmd is not None and chain.index(cmd[1]) < chain.index(entry[1]):
            cmd = None
        return (entry[0] if entry else None, cmd[0] if cmd else None)

    def buildkit_features(self) -> list[tuple[str, int]]:
        """BuildKit-only features in use, as (what, line): the classic builder fails them."""
        out: list[tuple[str, int]] = []
        if "syntax" in self.directives:
            out.append((f"# syntax={self.directives['syntax']}", 1))
        for ins in self.instructions:
            for flag in _BUILDKIT_FLAGS.get(ins.keyword, ()):
                for value in ins.flag_values(flag):
                    what = f"{ins.keyword} --{flag}"
                    if flag == "mount":
                        what += f" type={mount_options(value).get('type', 'bind')}"
                    out.append((what, ins.line))
            if ins.heredocs:
                out.append((f"{ins.keyword} heredoc <<{ins.heredocs[0].name}", ins.line))
        return out

    def uses_buildkit(self) -> bool:
        return bool(self.buildkit_features())


# --- small parsers shared with the checks ---------------------------------------------


def parse_image(text: str) -> ImageRef:
    """Split an image reference; the tag is after the last ``:`` of the last path part."""
    name, _, digest = text.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        repository, tag = name[:colon], name[colon + 1:]
    else:
        repository, tag = name, None
    return ImageRef(text, repository, tag or None, digest or None)


def mount_options(value: str) -> dict[str, str]:
    """``type=secret,id=npm,target=/x`` -> {"type": "secret", ...}; bare keys -> ""."""
    out: dict[str, str] = {}
    for part in value.split(","):
        key, _, val = part.partition("=")
        if key.strip():
            out[key.strip().lower()] = val.strip()
    return out


def exec_form(text: str) -> tuple[str, ...] | None:
    """The JSON array form (``["python", "-m", "app"]``), or None for shell form."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def words(text: str, escape: str = "\\") -> list[str]:
    """Split on whitespace outside quotes, removing quotes and escapes (as ENV/ARG do)."""
    out: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    in_word = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and i + 1 < len(text) and quote != "'":
            buf.append(text[i + 1])
            in_word = True
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = None
            else:
                buf.append(ch)
        elif ch in "\"'":
            quote = ch
            in_word = True
        elif ch.isspace():
            if in_word:
                out.append("".join(buf))
                buf = []
                in_word = False
        else:
            buf.append(ch)
            in_word = True
        i += 1
    if in_word:
        out.append("".join(buf))
    return out


def arg_pairs(ins: Instruction, escape: str = "\\") -> list[tuple[str, str | None]]:
    """``ARG A B=1`` -> [("A", None), ("B", "1")]."""
    pairs: list[tuple[str, str | None]] = []
    for word in words(ins.rest, escape):
        name, eq, value = word.partition("=")
        if name:
            pairs.append((name, value if eq else None))
    return pairs


def env_pairs(ins: Instruction, escape: str = "\\") -> list[tuple[str, str]]:
    """``ENV A=1 B="x y"`` and the legacy ``ENV A some value`` -> [(name, value)]."""
    parts = words(ins.rest, escape)
    if not parts:
        return []
    if "=" not in parts[0]:
        name, _, value = ins.rest.strip().partition(" ")
        return [(name, value.strip())] if name else []
    pairs: list[tuple[str, str]] = []
    for word in parts:
        name, _, value = word.partition("=")
        if name:
            pairs.append((name, value))
    return pairs


_VAR = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)
# ``$VAR``, ``${VAR}``, ``${VAR:-word}``: groups (name, op, word) or (name) in group 4.
VARIABLE = _VAR


def expand(text: str, values: Mapping[str, str | None], escape: str = "\\"
           ) -> tuple[str, tuple[str, ...]]:
    """Substitute ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:+alt}``.

    Returns the text and the names that had no value (replaced by "", as Docker does).
    An escaped ``$`` stays literal.
    """
    unresolved: list[str] = []
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and i + 1 < len(text) and text[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        m = _VAR.match(text, i) if ch == "$" else None
        if m is None:
            out.append(ch)
            i += 1
            continue
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        value = values.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                value = expand(word, values, escape)[0]
        elif op in (":+", "+"):
            value = (expand(word, values, escape)[0]
                     if value is not None and (op == "+" or value != "") else "")
        if value is None:
            unresolved.append(name)
            value = ""
        out.append(value)
        i = m.end()
    return "".join(out), tuple(unresolved)


# --- the parser -----------------------------------------------------------------------


@dataclass
class _Reader:
    lines: list[str]
    pos: int = 0
    problems: list[Problem] = field(default_factory=list)

    def next(self) -> tuple[int, str] | None:
        if self.pos >= len(self.lines):
            return None
        self.pos += 1
        return self.pos, self.lines[self.pos - 1]


def parse(text: str, path: str = "Dockerfile",
          build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """Parse Dockerfile text. Never raises: problems are in :attr:`Dockerfile.problems`."""
    text = text.removeprefix("\ufeff")
    lines = [ln.removesuffix("\r") for ln in text.split("\n")]
    reader = _Reader(lines)
    directives, escape = _directives(reader)
    instructions = list(_instructions(reader, escape))
    return _stages(path, directives, escape, instructions, reader.problems,
                   dict(build_args or {}))


def _directives(reader: _Reader) -> tuple[dict[str, str], str]:
    directives: dict[str, str] = {}
    while reader.pos < len(reader.lines):
        m = _DIRECTIVE.match(reader.lines[reader.pos])
        if m is None or m.group(1).lower() not in DIRECTIVES:
            break
        key = m.group(1).lower()
        if key in directives:
            reader.problems.append(Problem(reader.pos + 1, f"parser directive {key!r} "
                                           "is given twice"))
        directives[key] = m.group(2)
        reader.pos += 1
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        reader.problems.append(Problem(None, f"invalid escape directive {escape!r}: must "
                                       "be a backslash or a backtick"))
        escape = "\\"
    return directives, escape


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _instructions(reader: _Reader, escape: str) -> Iterator[Instruction]:
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    while True:
        got = reader.next()
        if got is None:
            return
        start, line = got
        if _is_blank_or_comment(line):
            continue
        pieces: list[tuple[int, str]] = []
        number, current = start, line
        while True:
            m = continuation.search(current)
            pieces.append((number, current[:m.start()] if m else current))
            if m is None:
                break
            nxt = reader.next()
            while nxt is not None and _is_blank_or_comment(nxt[1]):
                nxt = reader.next()
            if nxt is None:
                break
            number, current = nxt
        ins = _instruction(reader, pieces, escape)
        if ins is not None:
            yield ins


def _instruction(reader: _Reader, pieces: list[tuple[int, str]], escape: str
                 ) -> Instruction | None:
    start = pieces[0][0]
    joined = ""
    offsets: list[tuple[int, int]] = []
    for number, piece in pieces:
        offsets.append((len(joined), number))
        joined += piece
    m = re.match(r"\s*(\S+)\s*", joined)
    if m is None:  # only an escape character and blank continuation lines
        return None
    keyword = m.group(1).upper()
    raw = joined[m.end():]
    base = m.end()
    flags: list[tuple[str, str | None]] = []
    pos = 0
    if keyword in _FLAGGED:
        while True:
            fm = _FLAG.match(raw, pos)
            if fm is None:
                break
            flags.append((fm.group(1).lower(), fm.group(2)))
            pos = fm.end()
    rest = raw[pos:]
    rest_base = base + pos
    pieces_in_rest = tuple((max(0, off - rest_base), number) for off, number in offsets)
    heredocs: list[Heredoc] = []
    form = exec_form(rest) if keyword in _JSON_FORM else None
    if keyword in _HEREDOC_KEYWORDS and form is None and "<<" in rest:
        for word in rest.split():
            hm = _HEREDOC.match(word)
            if hm is None:
                continue
            heredocs.append(_heredoc(reader, hm.group(4), bool(hm.group(2)), start))
    end = max(reader.pos, pieces[-1][0])
    if keyword not in KEYWORDS:
        reader.problems.append(Problem(start, f"unknown instruction {m.group(1)!r}"))
    return Instruction(keyword, raw, start, end, tuple(flags), rest, form, tuple(heredocs),
                       pieces_in_rest)


def _heredoc(reader: _Reader, name: str, strip_tabs: bool, start: int) -> Heredoc:
    body: list[str] = []
    first = reader.pos + 1
    while True:
        got = reader.next()
        if got is None:
            reader.problems.append(Problem(start, f"heredoc <<{name} is not closed: no line "
                                           f"{name!r} follows"))
            break
        line = got[1].lstrip("\t") if strip_tabs else got[1]
        if line == name:
            break
        body.append(line)
    return Heredoc(name, "\n".join(body) + ("\n" if body else ""), first, strip_tabs)


def _stages(path: str, directives: dict[str, str], escape: str,
            instructions: list[Instruction], problems: list[Problem],
            build_args: dict[str, str]) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    current: Stage | None = None
    body: list[Instruction] = []

    def close() -> None:
        if current is not None:
            stages.append(dataclasses.replace(current, instructions=tuple(body)))

    for ins in instructions:
        if ins.keyword == "FROM":
            close()
            body = []
            current = _from(ins, stages, global_args, build_args, escape, problems)
        elif current is None:
            if ins.keyword == "ARG":
                for name, default in arg_pairs(ins, escape):
                    value = build_args.get(name, default)
                    global_args[name] = (None if value is None
                                         else expand(value, global_args, escape)[0])
            elif ins.keyword in KEYWORDS:
                problems.append(Problem(ins.line, f"{ins.keyword} before the first FROM: only "
                                        "ARG may come before FROM"))
        else:
            body.append(ins)
    close()
    if not stages:
        problems.append(Problem(None, "no FROM instruction: a Dockerfile starts its first "
                                "stage with FROM <image>"))
    return Dockerfile(path, directives, escape, tuple(instructions), global_args,
                      tuple(stages), tuple(problems), build_args)


def _from(ins: Instruction, stages: list[Stage], global_args: dict[str, str | None],
          build_args: dict[str, str], escape: str, problems: list[Problem]
          ) -> Stage:
    parts = ins.rest.split()
    name: str | None = None
    if not parts:
        problems.append(Problem(ins.line, "FROM without an image"))
        parts = [""]
    if len(parts) >= 2:
        if parts[1].lower() == "as" and len(parts) == 3:
            name = parts[2].lower()
            if any(s.name == name for s in stages):
                problems.append(Problem(ins.line, f"stage name {name!r} is used twice"))
        else:
            problems.append(Problem(ins.line, "FROM takes an image and optionally "
                                    f"'AS name', not {ins.rest.strip()!r}"))
    values: dict[str, str | None] = {**global_args, **build_args}
    base, unresolved = expand(parts[0], values, escape)
    platform = None
    for key, value in ins.flags:
        if key == "platform":
            platform = value
    parent = None
    for s in stages:
        if s.name is not None and s.name == base.lower():
            parent = s.index
    return Stage(len(stages), base, parts[0], name, platform, ins.line, (), parent,
                 unresolved)
