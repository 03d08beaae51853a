"""Whether a command in a RUN runs: the shell conditions around it, evaluated.

``if [ "$DEVEL" = "yes" ]; then pip install -r dev.txt; fi`` with ``ARG DEVEL=no`` does
not install dev.txt. :class:`Flow` reads a RUN's simple commands in order (with the
separators between them, as :func:`~pytest_shipready.dockerfile.installs.split_commands`
gives them) and says, for each one, which conditions decide whether it runs: ``if`` /
``elif`` / ``else``, ``case``, and ``&&`` / ``||`` after a test (``test``, ``[ ]``,
``[[ ]]``, ``true``, ``false``). Tests are evaluated with the values the build has: the
build args, ARG defaults, ENV and ``export``s earlier in the RUN; an ARG declared without
a default and not passed is unset. What cannot be known from the Dockerfile (a variable
only the base image may set, a test on the image's files, a command substitution) makes
the condition undecidable, and it is said so, never guessed.

Only tests decide: a command after ``||`` following an ordinary command (``pip install a
|| pip install b``) is taken to run, as before.

Pure: no pytest, no docker.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..secrets import secret_reason
from .parser import VARIABLE, Dockerfile, Stage, arg_pairs, env_pairs


@dataclass(frozen=True)
class Condition:
    """A test in a RUN and the value it took in this build."""

    text: str  # as written, without the keyword before it: `[ "$DEVEL" = "yes" ]`
    line: int
    value: bool | None  # None: cannot be decided from the Dockerfile
    values: tuple[str, ...] = ()  # "DEVEL=no (ARG default, line 3)" for each variable
    why: str = ""  # why it cannot be decided

    def told(self) -> str:
        """"`[ "$DEVEL" = "yes" ]` (line 7) is false: DEVEL=no (ARG default, line 3)"."""
        head = f"`{self.text}` (line {self.line})"
        if self.value is None:
            return f"{head} cannot be decided from the Dockerfile: {self.why}"
        said = f"{head} is {'true' if self.value else 'false'}"
        return f"{said}: {', '.join(self.values)}" if self.values else said


@dataclass(frozen=True)
class Requirement:
    """A command runs only when ``condition`` takes the value ``wanted``."""

    condition: Condition
    wanted: bool

    @property
    def held(self) -> bool | None:
        value = self.condition.value
        return None if value is None else value == self.wanted


Guard = tuple[Requirement, ...]


def runs(guard: Guard) -> bool | None:
    """True: it runs; False: a condition keeps it from running; None: undecidable."""
    held = [r.held for r in guard]
    if False in held:
        return False
    return None if None in held else True


def explained(guard: Guard) -> str:
    """Why it runs, does not, or may: the deciding conditions, told."""
    verdict = runs(guard)
    deciding = [r for r in guard if r.held is verdict] or list(guard)
    return "; ".join(dict.fromkeys(r.condition.told() for r in deciding))


# --- where the values come from ------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What the shell of one RUN knows before it starts: where each value comes from,
    the ARGs declared without a value (unset), and whether the shell is bash."""

    origins: Mapping[str, str] = field(default_factory=dict)
    unset: frozenset[str] = frozenset()
    bash: bool = False


def scope(df: Dockerfile, stage: Stage, before_line: int) -> Scope:
    """The origins of the ARG and ENV values in force in ``stage`` before a RUN."""
    origins: dict[str, str] = {}
    unset: set[str] = set()
    for s in df.chain(stage):
        declared: dict[str, str] = {}
        for ins in s.instructions:
            if s is stage and ins.line >= before_line:
                break
            if ins.keyword == "ARG":
                for name, default in arg_pairs(ins, df.escape):
                    unset.discard(name)
                    if name in df.build_args:
                        declared[name] = "build arg"
                    elif default is not None:
                        declared[name] = f"ARG default, line {ins.line}"
                    elif df.global_args.get(name) is not None:
                        declared[name] = "ARG default before FROM"
                    else:
                        unset.add(name)
                        declared.pop(name, None)
            elif ins.keyword == "ENV":
                for name, _ in env_pairs(ins, df.escape):
                    origins[name] = f"ENV, line {ins.line}"
                    unset.discard(name)
        if s is stage:  # ARGs are not inherited from the stage built upon
            origins = {**declared, **origins}
        else:
            unset.clear()
    shell = df.last(stage, "SHELL")
    bash = False
    if shell is not None and shell[0].exec_form:
        bash = shell[0].exec_form[0].rsplit("/", 1)[-1] in ("bash", "zsh", "ksh")
    return Scope(origins, frozenset(unset - set(origins)), bash)


# --- words of a test, expanded ---------------------------------------------------------


@dataclass(frozen=True)
class _Word:
    text: str
    unknown: tuple[str, ...] = ()  # why its value is not known
    names: tuple[str, ...] = ()  # the variables it read


def _expand(chunk: str, values: Mapping[str, str], unset: Collection[str]
            ) -> tuple[str, list[str], list[str]]:
    unknown: list[str] = []
    names: list[str] = []

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        names.append(name)
        if name in values:
            value: str | None = values[name]
        elif name in unset:
            value = None
        else:
            unknown.append(f"{name} is not set by the Dockerfile (only the base image's "
                           "ENV could set it)")
            return ""
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return _expand(word, values, unset)[0]
        elif op in (":+", "+"):
            return (_expand(word, values, unset)[0]
                    if value is not None and (op == "+" or value != "") else "")
        return value or ""

    text = VARIABLE.sub(one, chunk)
    if "$(" in text or "`" in text:
        unknown.append("a command substitution runs at build time")
    return text, unknown, names


def _words(text: str, values: Mapping[str, str], unset: Collection[str]) -> list[_Word]:
    """Shell words of ``text`` with quotes removed and variables expanded (not inside
    single quotes)."""
    out: list[_Word] = []
    buf: list[str] = []
    unknown: list[str] = []
    names: list[str] = []
    in_word = False
    i = 0

    def add(chunk: str) -> None:
        expanded, more, read = _expand(chunk, values, unset)
        buf.append(expanded)
        unknown.extend(more)
        names.extend(read)

    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i + 1])
            in_word = True
            i += 2
        elif ch in "'\"":
            close = text.find(ch, i + 1)
            close = len(text) if close < 0 else close
            if ch == "'":
                buf.append(text[i + 1:close])
            else:
                add(text[i + 1:close])
            in_word = True
            i = close + 1
        elif ch.isspace():
            if in_word:
                out.append(_Word("".join(buf), tuple(unknown), tuple(names)))
            buf, unknown, names, in_word = [], [], [], False
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in "'\"\\":
                j += 1
            add(text[i:j])
            in_word = True
            i = j
    if in_word:
        out.append(_Word("".join(buf), tuple(unknown), tuple(names)))
    return out


# --- evaluating a test --------------------------------------------------------------------

_FILE_TESTS = frozenset({"-b", "-c", "-d", "-e", "-f", "-g", "-h", "-k", "-p", "-r", "-s",
                         "-t", "-u", "-w", "-x", "-G", "-L", "-N", "-O", "-S"})
_NUMBERS = {"-eq": lambda a, b: a == b, "-ne": lambda a, b: a != b,
            "-lt": lambda a, b: a < b, "-le": lambda a, b: a <= b,
            "-gt": lambda a, b: a > b, "-ge": lambda a, b: a >= b}


class _UndecidedError(Exception):
    pass


def _known(word: _Word) -> str:
    if word.unknown:
        raise _UndecidedError(word.unknown[0])
    return word.text


def _primary(args: list[_Word], double: bool) -> tuple[bool, list[_Word]]:
    if not args:
        raise _UndecidedError("an empty test")
    first = args[0].text
    if first == "!":
        value, rest = _primary(args[1:], double)
        return not value, rest
    if first == "(" and not args[0].unknown:
        value, rest = _or(args[1:], double)
        if rest and rest[0].text == ")":
            rest = rest[1:]
        return value, rest
    if len(args) >= 3 and args[1].text in ("=", "==", "!=", "=~", "<", ">", *_NUMBERS):
        op, left, right = args[1].text, _known(args[0]), _known(args[2])
        rest = args[3:]
        if op in ("=", "=="):
            same = fnmatch.fnmatchcase(left, right) if double else left == right
            return same, rest
        if op == "!=":
            return not (fnmatch.fnmatchcase(left, right) if double else left == right), rest
        if op == "=~":
            return re.search(right, left) is not None, rest
        if op in ("<", ">"):
            return (left < right if op == "<" else left > right), rest
        try:
            return _NUMBERS[op](int(left), int(right)), rest
        except ValueError:
            raise _UndecidedError(f"{op} compares {left!r} and {right!r}, not both numbers"
                             ) from None
    if first in ("-z", "-n") and len(args) >= 2:
        word = _known(args[1])
        return (word == "") if first == "-z" else (word != ""), args[2:]
    if first in _FILE_TESTS and len(args) >= 2:
        raise _UndecidedError(f"`{first} {args[1].text}` tests the image's files")
    return _known(args[0]) != "", args[1:]


def _and(args: list[_Word], double: bool) -> tuple[bool, list[_Word]]:
    value, rest = _primary(args, double)
    while rest and rest[0].text in ("-a", "&&"):
        other, rest = _primary(rest[1:], double)
        value = value and other
    return value, rest


def _or(args: list[_Word], double: bool) -> tuple[bool, list[_Word]]:
    value, rest = _and(args, double)
    while rest and rest[0].text in ("-o", "||"):
        other, rest = _and(rest[1:], double)
        value = value or other
    return value, rest


_OPENERS = frozenset({"if", "elif", "while", "until", "then", "else", "do", "{", "!"})


def evaluate_test(text: str, line: int, values: Mapping[str, str], shell: Scope
                   ) -> Condition | None:
    """The command ``text`` as a test (``[ ... ]``, ``test ...``, ``[[ ... ]]``,
    ``true``, ``false``, ``:``) evaluated, or None when it is not a test."""
    words = _words(text, values, shell.unset)
    negate = False
    while words and words[0].text in _OPENERS and not words[0].unknown:
        negate ^= words[0].text == "!"
        words = words[1:]
    if not words:
        return None
    head = words[0].text
    shown = without_keywords(text)
    if head in ("true", ":", "false") and len(words) == 1:
        return Condition(shown, line, (head != "false") != negate)
    double = head == "[["
    if (head == "[" and words[-1].text == "]") or (double and words[-1].text == "]]"):
        args = words[1:-1]
    elif head == "test":
        args = words[1:]
    else:
        return None
    read = list(dict.fromkeys(n for w in args for n in w.names))
    told = tuple(_told(n, values, shell) for n in read)
    try:
        value, rest = _or(args, double)
        if rest:
            raise _UndecidedError(f"cannot read the test from {rest[0].text!r} on")
    except _UndecidedError as exc:
        return Condition(shown, line, None, told, str(exc))
    value ^= negate
    if double and not shell.bash:
        dash = negate  # dash: `[[: not found`, a failure
        if value != dash:
            return Condition(shown, line, None, told,
                             "`[[` is bash's: it holds in bash, but the RUN's /bin/sh runs "
                             "it only if /bin/sh is bash (dash, Debian's /bin/sh, fails "
                             "with `[[: not found`); set SHELL [\"/bin/bash\", \"-c\"]")
    return Condition(shown, line, value, told)


def without_keywords(text: str) -> str:
    """A command as written, without the shell keywords before it (``then pip ...``)."""
    out = text.strip()
    while True:
        m = re.match(r"(if|elif|while|until|then|else|do|\{)\s+", out)
        if m is None:
            return out
        out = out[m.end():]


def _told(name: str, values: Mapping[str, str], shell: Scope) -> str:
    if name in values:
        value = values[name]
        if secret_reason(name) is not None:  # never a secret's value
            shown = "(set, secret-looking: not shown)" if value else "''"
        else:
            shown = value if value and not re.search(r"\s", value) else repr(value)
        origin = shell.origins.get(name, "exported earlier in this RUN")
        return f"{name}={shown} ({origin})"
    if name in shell.unset:
        return f"{name} unset (ARG without a default, not passed as a build arg)"
    return f"{name} not set by the Dockerfile"


# --- the flow through compound commands ------------------------------------------------


class _Shell(Protocol):
    """What :class:`Flow` needs of a command (installs.Command has it)."""

    @property
    def words(self) -> tuple[str, ...]: ...
    @property
    def text(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def ops(self) -> tuple[str, ...]: ...


@dataclass
class _Frame:
    kind: str  # "if", "case", "loop", "group", "subshell"
    entry: Guard
    phase: str = ""  # if: cond/body; case: pattern/body; loop: cond/body
    prior: Guard = ()  # if/case: no earlier branch taken
    branch: Guard = ()
    subject: str = ""  # case: the word, as written
    value: _Word | None = None  # case: the word, expanded
    patterns: list[str] = field(default_factory=list)
    line: int = 0
    told: tuple[str, ...] = ()  # case: the variables the word reads, with their values


def _negated(guard: Guard, line: int) -> Guard:
    """The requirement that ``guard`` (a condition list's success) does not hold."""
    if not guard:
        return ()  # an ordinary command: both ways are counted
    if len(guard) == 1:
        return (Requirement(guard[0].condition, not guard[0].wanted),)
    value = runs(guard)
    joined = " && ".join(r.condition.text for r in guard)
    why = "; ".join(r.condition.why for r in guard if r.held is None)
    return (Requirement(Condition(joined, line, None if value is None else not value,
                                  tuple(v for r in guard for v in r.condition.values), why),
                        True),)


class Flow:
    """Feed the commands of one RUN in order; each :meth:`step` gives the command's
    guard: the requirements under which it runs.

    An and-or list (``a && b || c``) is tracked by what its last command needed to run
    (``reach``) and what makes the list so far succeed (``success``): a test's value,
    an ordinary command taken to succeed."""

    def __init__(self, shell: Scope, outer: Guard = ()) -> None:
        self.shell = shell
        self.frames: list[_Frame] = [_Frame("group", outer)]
        self.reach: Guard = ()
        self.success: Guard = ()
        self.started = False  # a command of the current list has been seen
        self.finished: Guard = ()  # the success of the last list that ended
        self.pending = ""  # the operator before the next command: "&&", "||", "|" or ""

    def _frame_guard(self) -> Guard:
        top = self.frames[-1]
        if top.kind == "if" and top.phase == "cond":
            return (*top.entry, *top.prior)
        if top.kind in ("if", "case") and top.phase == "body":
            return (*top.entry, *top.branch)
        return top.entry

    def _end_list(self) -> None:
        if self.started:
            self.finished = self.success
        self.reach = self.success = ()
        self.started = False
        self.pending = ""

    def _next_reach(self) -> Guard:
        """What the next command of the and-or list needs, by the operator before it."""
        if self.pending == "&&":
            return self.success
        if self.pending == "||":
            return _negated(self.success, 0)
        return self.reach if self.pending == "|" else ()

    def _open(self, frame: _Frame) -> None:
        self.frames.append(frame)
        self._end_list()
        self.finished = ()

    def _ops(self, ops: Sequence[str], line: int) -> None:
        for op in ops:
            top = self.frames[-1]
            if op in ("&&", "||", "|"):
                self.pending = op
            elif op == "(" and not (top.kind == "case" and top.phase == "pattern"):
                self._open(_Frame("subshell", (*self._frame_guard(), *self._next_reach())))
            elif op == ")":
                if top.kind == "case" and top.phase == "pattern":
                    self._case_body(top)
                elif top.kind == "subshell":
                    self.frames.pop()
                    self._end_list()
            elif op == ";;" and top.kind == "case":
                top.phase = "pattern"
                top.patterns = []
                self._end_list()
            elif op in (";", "\n", "&", ";;"):
                self._end_list()

    def _case_body(self, frame: _Frame) -> None:
        subject = frame.value
        shown = f"case {frame.subject} in {'|'.join(frame.patterns)})"
        if subject is None or subject.unknown:
            why = subject.unknown[0] if subject is not None and subject.unknown \
                else f"cannot read the word {frame.subject!r}"
            cond = Condition(shown, frame.line, None, frame.told, why)
        else:
            hit = any(fnmatch.fnmatchcase(subject.text, p) for p in frame.patterns)
            cond = Condition(shown, frame.line, hit, frame.told)
        frame.branch = (*frame.prior, Requirement(cond, True))
        frame.prior = (*frame.prior, Requirement(cond, False))
        frame.phase = "body"
        self._end_list()

    def step(self, command: _Shell, values: Mapping[str, str]) -> Guard:
        self._ops(command.ops, command.line)
        words = list(command.words)
        top = self.frames[-1]
        if top.kind == "case" and top.phase == "pattern":
            if words and words[0] == "esac":
                self.frames.pop()
                self._end_list()
            else:
                top.patterns.extend(w for w in words if w != "(")
            return self._frame_guard()
        text = command.text
        while words:
            word = words[0]
            top = self.frames[-1]
            entry = (*self._frame_guard(), *self._next_reach())
            if word == "if":
                self._open(_Frame("if", entry, "cond", line=command.line))
            elif word == "elif" and top.kind == "if":
                top.prior = (*top.prior, *_negated(top.branch[len(top.prior):],
                                                   command.line))
                top.phase = "cond"
                self._end_list()
                self.finished = ()
            elif word == "then" and top.kind == "if":
                self._end_list()
                top.branch = (*top.prior, *self.finished)
                top.phase = "body"
            elif word == "else" and top.kind == "if":
                self._end_list()
                top.branch = (*top.prior, *_negated(top.branch[len(top.prior):],
                                                    command.line))
                top.phase = "body"
            elif word == "fi" and top.kind == "if":
                self.frames.pop()
                self._end_list()
            elif word in ("while", "until", "for", "select"):
                self._open(_Frame("loop", entry, "cond"))
                if word in ("for", "select"):
                    return self._frame_guard()  # `for x in a b c`: nothing runs here
            elif word == "do" and top.kind == "loop":
                self._end_list()
                top.phase = "body"
            elif word == "done" and top.kind == "loop":
                self.frames.pop()
                self._end_list()
            elif word == "{":
                self._open(_Frame("group", entry))
            elif word == "}" and top.kind == "group" and len(self.frames) > 1:
                self.frames.pop()
                self._end_list()
            elif word == "case" and len(words) >= 3 and words[2] == "in":
                raw = _case_word(text)
                found = _words(raw, values, self.shell.unset)
                read = list(dict.fromkeys(n for w in found for n in w.names))
                self._open(_Frame(
                    "case", entry, "pattern", subject=raw,
                    value=found[0] if len(found) == 1 else None, line=command.line,
                    told=tuple(_told(n, values, self.shell) for n in read)))
                self.frames[-1].patterns.extend(w for w in words[3:] if w != "(")
                return self._frame_guard()
            else:  # a simple command (`!` too: the test reads it)
                break
            words.pop(0)
            text = re.sub(r"^\s*\S+", "", text, count=1)
        if not words:
            return self._frame_guard()
        reach = self._next_reach()
        test = evaluate_test(text, command.line, values, self.shell)
        own: Guard = (Requirement(test, True),) if test is not None else ()
        if self.pending == "&&":
            self.success = (*self.success, *own)
        elif self.pending == "||":
            self.success = ()  # `a || b`: taken to succeed either way
        else:
            self.success = own
        self.reach = reach
        self.started = True
        self.pending = ""
        return (*self._frame_guard(), *reach)


def _case_word(text: str) -> str:
    """The word of ``case WORD in ...`` as written."""
    m = re.match(r"\s*case\s+(.*?)\s+in(\s|$)", text, re.S)
    return m.group(1) if m else ""


def guards(commands: Sequence[_Shell], values: Sequence[Mapping[str, str]], shell: Scope,
           outer: Guard = ()) -> Iterator[Guard]:
    """The guard of each command (``values``: the variables each one sees)."""
    flow = Flow(shell, outer)
    for command, known in zip(commands, values, strict=True):
        yield flow.step(command, known)
