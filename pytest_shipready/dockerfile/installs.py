"""Find the dependency install steps in a Dockerfile's RUN instructions.

A RUN's shell text is split into simple commands (``&&``, ``||``, ``;``, ``|``, newlines,
subshells), each with the physical line it starts on. Recognisers turn the commands they
know into :class:`InstallStep` records: what was installed from which file, what was
installed by name, and whether hashes are enforced. SR205 (lock-used) judges the steps.

Extension point: a recogniser is any function ``(Command) -> InstallStep | None``; add it
to :data:`RECOGNISERS`. pip (``pip``/``pip3``/``python -m pip`` ``install``/``wheel``/
``download``) is built in; Poetry (``poetry install``/``export``) and uv (``uv sync
--frozen``, ``uv pip install -r``) are meant to be added there, with the lockfiles they
read added to the known locks the check is given.

Pure: no pytest, no docker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..locks.selection import option_values
from .parser import Dockerfile, Instruction, Stage

_SEPARATORS = ("&&", "||", ";;", ";", "|", "&", "(", ")", "\n")


# Command prefixes that run the rest as a command.
_WRAPPERS = frozenset({"sudo", "exec", "time", "nice", "nohup", "command", "env", "xargs"})


@dataclass(frozen=True)
class Command:
    """One simple shell command: its words (quotes removed) and where it is."""

    words: tuple[str, ...]
    line: int
    text: str  # as written, for messages


def split_commands(text: str, first_line: int = 1,
                   line_at: Callable[[int], int] | None = None) -> list[Command]:
    """Split shell text into simple commands. Never raises; unbalanced quotes end a word.

    ``line_at`` maps an offset in ``text`` to a physical line; without it, lines are
    counted from ``first_line`` by the newlines in ``text``.
    """
    def where(offset: int) -> int:
        if line_at is not None:
            return line_at(offset)
        return first_line + text.count("\n", 0, offset)

    commands: list[Command] = []
    words: list[str] = []
    buf: list[str] = []
    in_word = False
    start: int | None = None
    i = 0
    n = len(text)

    def end_word() -> None:
        nonlocal buf, in_word
        if in_word:
            words.append("".join(buf))
        buf = []
        in_word = False

    def end_command(at: int) -> None:
        nonlocal words, start
        end_word()
        if words and start is not None:
            commands.append(Command(tuple(words), where(start), text[start:at].strip()))
        words = []
        start = None

    while i < n:
        ch = text[i]
        if start is None and not ch.isspace():
            start = i
        if ch == "\\" and i + 1 < n:
            if text[i + 1] != "\n":
                buf.append(text[i + 1])
                in_word = True
            i += 2
            continue
        if ch in "'\"":
            close = i + 1
            while close < n and text[close] != ch:
                close += 2 if ch == '"' and text[close] == "\\" else 1
            close = min(close, n)
            chunk = text[i + 1:close]
            if ch == '"':
                chunk = re.sub(r'\\([$`"\\])', r"\1", chunk)
            buf.append(chunk)
            in_word = True
            i = close + 1
            continue
        if ch == "#" and not in_word:
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        sep = next((s for s in _SEPARATORS if text.startswith(s, i)), None)
        if sep is not None:
            end_command(i)
            i += len(sep)
            continue
        if ch.isspace():
            end_word()
        else:
            buf.append(ch)
            in_word = True
        i += 1
    end_command(n)
    return commands


def run_commands(df: Dockerfile, ins: Instruction) -> list[Command]:
    """The commands a RUN executes: its shell text, its exec form, or its heredoc script."""
    if ins.exec_form is not None:
        return [Command(ins.exec_form, ins.line, " ".join(ins.exec_form))]
    commands = split_commands(ins.rest, ins.line, ins.line_at)
    for doc in ins.heredocs:
        # RUN <<EOF (the script itself) or RUN sh/bash <<EOF: the body is shell.
        outer = [w for c in commands for w in c.words
                 if not re.match(r"\d*<<", w) and w not in (doc.name, f"-{doc.name}")]
        if not outer or outer[0].rsplit("/", 1)[-1] in ("sh", "bash", "dash", "ash"):
            commands = [c for c in commands if not any(w.startswith("<<") for w in c.words)]
            commands.extend(split_commands(doc.body, doc.line))
    return commands


def stage_commands(df: Dockerfile, stage: Stage) -> Iterator[Command]:
    for ins in stage.of("RUN"):
        yield from run_commands(df, ins)


@dataclass(frozen=True)
class InstallStep:
    """What one install command does, as far as the lock is concerned."""

    tool: str  # "pip", later "poetry", "uv"
    line: int
    text: str  # the command as written
    files: tuple[str, ...] = ()  # requirement/lock files it installs from (-r)
    constraints: tuple[str, ...] = ()  # -c files
    packages: tuple[str, ...] = ()  # requirements given by name: outside any lock
    local: tuple[str, ...] = ()  # the project itself, local paths and wheels
    hashes_enforced: bool = False  # --require-hashes or the tool always checks hashes
    installs: bool = True  # False for "pip download"/"pip wheel": fetches, installs nothing
    exports: tuple[tuple[str, str], ...] = ()  # (file written, lock it comes from)
    exports_hashed: bool = True  # the exported file carries hashes
    problem: str = ""  # a weakness the lock check reports (e.g. "may re-lock")
    verb: str = ""  # poetry/uv: install, sync, export (the lock selection depends on it)
    options: tuple[str, ...] = ()  # poetry/uv: the words after the tool's name


Recogniser = Callable[[Command], "InstallStep | None"]


def _command_name(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _strip_prefix(words: tuple[str, ...]) -> tuple[str, ...]:
    """Drop ``VAR=value`` assignments and wrappers such as ``sudo`` or ``env X=1``."""
    i = 0
    while i < len(words):
        word = words[i]
        if re.match(r"[A-Za-z_][A-Za-z0-9_]*=", word):
            i += 1
        elif _command_name(word) in _WRAPPERS:
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 1
        else:
            break
    return words[i:]


_PIP = re.compile(r"pip(\d+(\.\d+)?)?$")


PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?$")  # python, python3, python3.11


# pip install/wheel/download options that take a value.
_PIP_VALUE = frozenset({
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target",
    "--prefix", "--root", "--trusted-host", "--platform", "--python-version",
    "--implementation", "--abi", "--progress-bar", "--cache-dir", "--src",
    "--upgrade-strategy", "--global-option", "--config-settings", "-C", "--no-binary",
    "--only-binary", "--log", "--proxy", "--retries", "--timeout", "--exists-action",
    "--cert", "--client-cert", "--report", "--python", "--root-user-action", "-w",
    "--wheel-dir", "-d", "--dest", "--build-option", "--keyring-provider", "--group",
    "--use-feature", "--use-deprecated", "--resume-retries",
})


def pip_words(words: tuple[str, ...]) -> tuple[str, ...] | None:
    """The arguments after ``pip`` for pip, pip3, pip3.11, python -m pip; else None."""
    if not words:
        return None
    name = _command_name(words[0])
    if _PIP.match(name):
        return words[1:]
    if PYTHON_NAME.match(name):
        rest = list(words[1:])
        while rest and rest[0].startswith("-") and rest[0] != "-m":
            rest.pop(0)
        if len(rest) >= 2 and rest[0] == "-m" and rest[1] == "pip":
            return tuple(rest[2:])
        if rest and rest[0] == "-mpip":
            return tuple(rest[1:])
    return None


def is_local(arg: str) -> bool:
    """The project itself or a local path/wheel/archive, not a package from an index."""
    target = arg.split("[", 1)[0]
    return (target in (".", "..") or target.startswith(("./", "../", "/", "~", "$", "file:"))
            or target.endswith((".whl", ".tar.gz", ".zip")) or "*" in target)


_FILE_OPTIONS = frozenset({"-r", "--requirement", "-c", "--constraint", "-e", "--editable"})


def recognise_pip(command: Command) -> InstallStep | None:
    args = pip_words(_strip_prefix(command.words))
    if args is None:
        return None
    # Global options may come before the subcommand (pip --no-cache-dir install ...).
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("--cache-dir", "--log", "--proxy", "--python", "--cert") else 1
    if i >= len(args) or args[i] not in ("install", "wheel", "download"):
        return None
    verb = args[i]
    files: list[str] = []
    constraints: list[str] = []
    packages: list[str] = []
    local: list[str] = []
    hashes = False
    rest = list(args[i + 1:])
    j = 0
    while j < len(rest):
        word = rest[j]
        key, eq, inline = word.partition("=")
        short = None if word.startswith("--") else re.fullmatch(r"(-[rce])(\S+)", word)
        if key in _FILE_OPTIONS or short is not None:
            if key in _FILE_OPTIONS:
                if eq:
                    value = inline
                else:
                    j += 1
                    value = rest[j] if j < len(rest) else ""
            else:
                assert short is not None
                key, value = short.group(1), short.group(2)
            if key in ("-r", "--requirement"):
                files.append(value)
            elif key in ("-c", "--constraint"):
                constraints.append(value)
            elif value:
                (local if is_local(value) else packages).append(value)
        elif word == "--require-hashes":
            hashes = True
        elif word.startswith("-"):
            if key in _PIP_VALUE and not eq:
                j += 1
        else:
            (local if is_local(word) else packages).append(word)
        j += 1
    return InstallStep("pip", command.line, command.text, tuple(files), tuple(constraints),
                       tuple(packages), tuple(local), hashes, installs=verb == "install")


def _option_value(args: tuple[str, ...], *names: str) -> str | None:
    found = option_values(args, *names)
    return found[0] if found else None


def _positional(args: tuple[str, ...], with_value: frozenset[str]) -> list[str]:
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


_POETRY_VALUE = frozenset({"--only", "--with", "--without", "-E", "--extras", "-C",
                           "--directory", "-P", "--project", "-f", "--format", "-o",
                           "--output", "--group", "-G", "--source"})


def recognise_poetry(command: Command) -> InstallStep | None:
    """``poetry install`` (from poetry.lock, hashes always checked), ``poetry export``
    (writes a requirements file from the lock), ``poetry add NAME`` (outside the lock)."""
    words = _strip_prefix(command.words)
    if not words or _command_name(words[0]) != "poetry":
        return None
    args = words[1:]
    verb_at = next((i for i, w in enumerate(args) if not w.startswith("-")), None)
    if verb_at is None:
        return None
    verb, rest = args[verb_at], args[verb_at + 1:]
    if verb in ("install", "sync"):
        return InstallStep("poetry", command.line, command.text, ("poetry.lock",),
                           hashes_enforced=True, verb=verb, options=args)
    if verb == "export":
        out = _option_value(rest, "-o", "--output")
        if out is None:
            return None  # to stdout: a later redirect is not followed
        return InstallStep("poetry", command.line, command.text, installs=False,
                           exports=((out, "poetry.lock"),),
                           exports_hashed="--without-hashes" not in rest,
                           verb=verb, options=args)
    if verb == "add":
        return InstallStep("poetry", command.line, command.text,
                           packages=tuple(_positional(rest, _POETRY_VALUE)))
    return None


_UV_VALUE = frozenset({"--extra", "--group", "--only-group", "--no-group", "--package",
                       "-p", "--python", "--directory", "--project", "-o",
                       "--output-file", "--format", "--index", "--index-url",
                       "--default-index", "--extra-index-url", "-f", "--find-links",
                       "-r", "--requirement", "-c", "--constraint", "--target",
                       "--prefix", "--no-binary", "--only-binary", "-P",
                       "--upgrade-package", "--config-file", "--cache-dir"})


def recognise_uv(command: Command) -> InstallStep | None:
    """``uv sync`` (from uv.lock), ``uv export -o FILE``, and ``uv pip install/sync``
    (like pip: from files, or by name outside the lock)."""
    words = _strip_prefix(command.words)
    if not words or _command_name(words[0]) != "uv":
        return None
    args = words[1:]
    if args[:1] == ("sync",):
        strict = any(w in ("--locked", "--frozen") for w in args)
        return InstallStep(
            "uv", command.line, command.text, ("uv.lock",), hashes_enforced=True,
            problem="" if strict else
            "`uv sync` without --locked or --frozen may update uv.lock during the build",
            verb="sync", options=args)
    if args[:1] == ("export",):
        out = _option_value(args, "-o", "--output-file")
        if out is None:
            return None
        return InstallStep("uv", command.line, command.text, installs=False,
                           exports=((out, "uv.lock"),),
                           exports_hashed="--no-hashes" not in args,
                           verb="export", options=args)
    if args[:2] in (("pip", "install"), ("pip", "sync")):
        rest = args[2:]
        files = [v for i, w in enumerate(rest) for v in
                 ([rest[i + 1]] if w in ("-r", "--requirement") and i + 1 < len(rest)
                  else [w.partition("=")[2]] if w.startswith("--requirement=") else [])]
        positional = _positional(rest, _UV_VALUE)
        if args[1] == "sync":
            files += positional
            positional = []
        return InstallStep(
            "uv", command.line, command.text, tuple(files),
            packages=tuple(p for p in positional if not is_local(p)),
            local=tuple(p for p in positional if is_local(p)),
            hashes_enforced="--require-hashes" in rest)
    return None


# The recognisers SR205 applies to every command, in order; the first match wins.
RECOGNISERS: list[Recogniser] = [recognise_pip, recognise_poetry, recognise_uv]


def install_steps(df: Dockerfile, stages: list[Stage]) -> list[InstallStep]:
    steps: list[InstallStep] = []
    for stage in stages:
        for command in stage_commands(df, stage):
            for recognise in RECOGNISERS:
                step = recognise(command)
                if step is not None:
                    steps.append(step)
                    break
    return steps
