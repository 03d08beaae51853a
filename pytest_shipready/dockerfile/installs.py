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

import posixpath
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from ..locks.requirements import positional
from ..locks.selection import option_values
from . import conditions
from .conditions import Guard
from .parser import VARIABLE, Dockerfile, Instruction, Stage

_SEPARATORS = ("&&", "||", ";;", ";", "|", "&", "(", ")", "\n")


# Command prefixes that run the rest as a command.
_WRAPPERS = frozenset({"sudo", "exec", "time", "nice", "nohup", "command", "env", "xargs"})


@dataclass(frozen=True)
class Command:
    """One simple shell command: its words (quotes removed) and where it is."""

    words: tuple[str, ...]
    line: int
    text: str  # as written, for messages
    # The environment the command runs with: the stage's ENV and ARG values in scope,
    # ``export``s earlier in the same RUN, and its own ``VAR=value`` prefixes.
    env: Mapping[str, str] = field(default_factory=dict)
    # The directory it runs in: the stage's WORKDIR, changed by a `cd` earlier in the
    # same RUN; empty when not known.
    cwd: str = ""
    # The separators between the command before it and this one ("&&", ";", "(" ...).
    ops: tuple[str, ...] = ()
    # The shell conditions it runs under (conditions.runs(guard): True, False, None).
    guard: Guard = ()


def _expand(chunk: str, values: Mapping[str, str]) -> str:
    """``$VAR`` and ``${VAR}`` (with ``:-``/``:+``) replaced where ``values`` knows VAR;
    an unknown variable stays as written (it may be set at run time)."""
    if "$" not in chunk or not values:
        return chunk

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        value = values.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return _expand(word, values)
        elif op in (":+", "+"):
            return _expand(word, values) if value is not None and (
                op == "+" or value != "") else ""
        return m.group(0) if value is None else value

    return VARIABLE.sub(one, chunk)


def split_commands(text: str, first_line: int = 1,
                   line_at: Callable[[int], int] | None = None,
                   values: Mapping[str, str] | None = None) -> list[Command]:
    """Split shell text into simple commands. Never raises; unbalanced quotes end a word.

    ``line_at`` maps an offset in ``text`` to a physical line; without it, lines are
    counted from ``first_line`` by the newlines in ``text``. ``values``: variables the
    shell knows (the stage's ENV and ARG), expanded outside single quotes.
    """
    known = values or {}
    def where(offset: int) -> int:
        if line_at is not None:
            return line_at(offset)
        return first_line + text.count("\n", 0, offset)

    commands: list[Command] = []
    words: list[str] = []
    buf: list[str] = []
    ops: list[str] = []  # the separators since the last command
    word_at: list[int] = []  # where each word of the command starts
    in_word = False
    double = False  # inside bash's [[ ... ]], where && and || are the test's own
    start: int | None = None
    i = 0
    n = len(text)

    def end_word() -> None:
        nonlocal buf, in_word, double
        if in_word:
            words.append("".join(buf))
            if words[-1] == "[[" and len(words) == 1:
                double = True
            elif words[-1] == "]]":
                double = False
        buf = []
        in_word = False

    def mark(at: int) -> bool:
        """A word goes on at ``at``: record where it started, if it starts here."""
        if not in_word:
            word_at.append(at)
        return True

    def end_command(at: int, sep: str | None = None) -> None:
        nonlocal words, start, ops, double
        end_word()
        if words and start is not None:
            # its line: that of its first word after the keywords (`then \` pip ...)
            k = next((k for k, w in enumerate(words) if w not in _KEYWORDS), 0)
            at_word = word_at[k] if k < len(word_at) else start
            commands.append(Command(tuple(words), where(at_word), text[start:at].strip(),
                                    ops=tuple(ops)))
            ops = []
        if sep is not None:
            ops.append(sep)
        words = []
        word_at.clear()
        start = None
        double = False

    while i < n:
        ch = text[i]
        if start is None and not ch.isspace():
            start = i
        if ch == "\\" and i + 1 < n:
            if text[i + 1] != "\n":
                buf.append(text[i + 1])
                in_word = mark(i)
            i += 2
            continue
        if ch in "'\"":
            close = i + 1
            while close < n and text[close] != ch:
                close += 2 if ch == '"' and text[close] == "\\" else 1
            close = min(close, n)
            chunk = text[i + 1:close]
            if ch == '"':
                chunk = _expand(chunk, known)
                chunk = re.sub(r'\\([$`"\\])', r"\1", chunk)
            buf.append(chunk)
            in_word = mark(i)
            i = close + 1
            continue
        if ch == "#" and not in_word:
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        sep = next((s for s in _SEPARATORS if text.startswith(s, i)), None)
        if sep in ("&&", "||") and double:
            end_word()
            word_at.append(i)
            words.append(sep)
            i += 2
            continue
        if sep is not None:
            end_command(i, sep)
            i += len(sep)
            continue
        if ch == "$" and known:
            m = VARIABLE.match(text, i)
            if m is not None:
                buf.append(_expand(m.group(0), known))
                in_word = mark(i)
                i = m.end()
                continue
        if ch.isspace():
            end_word()
        else:
            buf.append(ch)
            in_word = mark(i)
        i += 1
    end_command(n)
    return commands


# Shell words that open or close a compound command; the simple command follows them.
_KEYWORDS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}",
                       "fi", "done", "esac"})
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh"})


def _assignment(word: str) -> tuple[str, str] | None:
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)$", word, re.S)
    return (m.group(1), m.group(2)) if m else None


def _cd(cwd: str, words: list[str]) -> str:
    """The directory after ``cd ARGS`` in ``cwd`` (empty: not known)."""
    args = [w for w in words[1:] if not w.startswith("-")]
    if len(args) != 1 or "$" in args[0] or args[0].startswith("~"):
        return ""  # `cd` (home), `cd -`, an unknown variable
    if args[0].startswith("/"):
        return posixpath.normpath(args[0])
    return posixpath.normpath(posixpath.join(cwd, args[0])) if cwd else ""


def _simple(commands: list[Command], env: Mapping[str, str], depth: int = 0,
            cwd: str = "", shell: conditions.Scope | None = None,
            outer: Guard = ()) -> list[Command]:
    """The commands with shell keywords dropped (``if pip install ...; then``), ``sh -c
    "..."`` opened, and the environment each runs with (``export``s carry over), the
    directory (``cd`` carries over) and the conditions each runs under (``shell``: where
    the values come from; ``outer``: the conditions of the ``sh -c`` that runs them)."""
    scope = dict(env)
    out: list[Command] = []
    flow = conditions.Flow(shell or conditions.Scope(), outer)
    for command in commands:
        guard = flow.step(command, scope)
        words = list(command.words)
        while words and words[0] in _KEYWORDS:
            words.pop(0)
        exported = {k: v for k, v in scope.items() if env.get(k) != v}
        if exported:  # set earlier in this RUN: the shell expands them now
            words = [_expand(w, exported) for w in words]
        if not words:
            continue
        if words[0] in ("export", "declare", "readonly") or (
                len(words) > 0 and all(_assignment(w) for w in words)):
            for word in words:
                pair = _assignment(word)
                if pair is not None:
                    scope[pair[0]] = _expand(pair[1], scope)
            continue
        name = words[0].rsplit("/", 1)[-1]
        if name in _SHELLS and depth < 3:
            script = next((words[k + 1] for k, w in enumerate(words[:-1])
                           if re.fullmatch(r"-[a-z]*c[a-z]*", w)), None)
            if script is not None:
                inner = split_commands(script, command.line, values=scope)
                base = shell or conditions.Scope()
                out.extend(_simple(inner, scope, depth + 1, cwd,
                                   replace(base, bash=name in ("bash", "zsh")), guard))
                continue
        text = command.text if words[0] == command.words[0] \
            else conditions.without_keywords(command.text)
        out.append(replace(command, words=tuple(words), text=text, env=dict(scope), cwd=cwd,
                           guard=guard))
        if name in ("cd", "pushd"):
            cwd = _cd(cwd, words)
    return out


def run_commands(df: Dockerfile, ins: Instruction, stage: Stage | None = None
                 ) -> list[Command]:
    """The commands a RUN executes: its shell text, its exec form, or its heredoc script,
    each with the environment it runs with (the ``stage``'s ENV and ARG in scope) and
    the shell conditions it runs under."""
    env = df.variables(stage, ins.line) if stage is not None else {}
    cwd = df.workdir(stage, ins.line) if stage is not None else ""
    shell = conditions.scope(df, stage, ins.line) if stage is not None else None
    if ins.exec_form is not None:
        command = Command(ins.exec_form, ins.line, " ".join(ins.exec_form), env)
        return _simple([command], env, cwd=cwd, shell=shell)
    commands = split_commands(ins.rest, ins.line, ins.line_at, env)
    for doc in ins.heredocs:
        # RUN <<EOF (the script itself) or RUN sh/bash <<EOF: the body is shell.
        outer = [w for c in commands for w in c.words
                 if not re.match(r"\d*<<", w) and w not in (doc.name, f"-{doc.name}")]
        if not outer or outer[0].rsplit("/", 1)[-1] in ("sh", "bash", "dash", "ash"):
            commands = [c for c in commands if not any(w.startswith("<<") for w in c.words)]
            commands.extend(split_commands(doc.body, doc.line, values=env))
    return _simple(commands, env, cwd=cwd, shell=shell)


def stage_commands(df: Dockerfile, stage: Stage) -> Iterator[Command]:
    for ins in stage.of("RUN"):
        yield from run_commands(df, ins, stage)


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
    # poetry/uv: the words after the tool's name, with the options the installer's own
    # environment variables stand for first (UV_NO_DEV=1 -> --no-dev)
    options: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()  # those variables, as "UV_NO_DEV=1", for messages
    root: bool = False  # installs the project itself (poetry install without --no-root)
    environment: str = ""  # where it installs, when set (UV_PROJECT_ENVIRONMENT)
    # uv sync/export: the directory uv looks for the project from (the command's
    # directory, then --directory / UV_WORKING_DIR, then --project / UV_PROJECT); empty
    # when not known
    workdir: str = ""
    # The shell conditions it runs under (``if [ "$DEVEL" = yes ]; then ...``).
    guard: Guard = ()
    # A program that installs packages it chooses itself, outside any lock: what it
    # installs ("the OpenTelemetry instrumentations ...") and how to lock them instead.
    indirect: str = ""
    indirect_fix: str = ""
    # Found in a script the RUN executes: "install.sh, line 3" (``text`` is the script's
    # command, ``line`` the RUN's).
    via: str = ""

    @property
    def runs(self) -> bool | None:
        """True: it runs in this build; False: a condition keeps it from running (with
        the build args and ARG defaults); None: that cannot be decided."""
        return conditions.runs(self.guard)

    @property
    def condition(self) -> str:
        """The conditions that decide whether it runs, told; empty without any."""
        return conditions.explained(self.guard) if self.guard else ""

    @property
    def described(self) -> str:
        """The command for messages: as written, with the variables that changed it."""
        if not self.settings:
            return self.text
        return f"{self.text}` with `{' '.join(self.settings)}"


Recogniser = Callable[[Command], "InstallStep | None"]


def _command_name(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _strip_prefix(words: tuple[str, ...]) -> tuple[str, ...]:
    """Drop ``VAR=value`` assignments and wrappers such as ``sudo`` or ``env X=1``."""
    return _prefixed(Command(words, 0, ""))[0]


def _prefixed(command: Command) -> tuple[tuple[str, ...], dict[str, str]]:
    """The command's words without ``VAR=value`` prefixes and wrappers (``sudo``,
    ``env X=1``), and its environment with those assignments."""
    words = command.words
    env = dict(command.env)
    i = 0
    while i < len(words):
        word = words[i]
        pair = _assignment(word)
        if pair is not None:
            env[pair[0]] = pair[1]
            i += 1
        elif _command_name(word) in _WRAPPERS:
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 1
        else:
            break
    return words[i:], env


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


def _on(env: Mapping[str, str], name: str) -> bool:
    """A boolean setting given as an environment variable (1, true, yes, on ...)."""
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on", "y", "t")


def _off(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("0", "false", "no", "off", "n", "f")


# The packaging tools themselves: installing or upgrading them by name (a bootstrap
# `pip install -U pip setuptools wheel`) is not an install outside the lock, for SR205
# and SR402 alike (SR402 still compares their versions when the lock pins them).
BOOTSTRAP = ("pip", "setuptools", "wheel")


def recognise_pip(command: Command) -> InstallStep | None:
    words, env = _prefixed(command)
    args = pip_words(words)
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
    hashes = _on(env, "PIP_REQUIRE_HASHES")
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
                       tuple(packages), tuple(local), hashes, installs=verb == "install",
                       settings=("PIP_REQUIRE_HASHES=" + env["PIP_REQUIRE_HASHES"],)
                       if hashes and "--require-hashes" not in rest else ())


def _option_value(args: tuple[str, ...], *names: str) -> str | None:
    found = option_values(args, *names)
    return found[0] if found else None


_POETRY_VALUE = frozenset({"--only", "--with", "--without", "-E", "--extras", "-C",
                           "--directory", "-P", "--project", "-f", "--format", "-o",
                           "--output", "--group", "-G", "--source"})


def _redirect(words: tuple[str, ...]) -> str | None:
    """The file of a ``> FILE`` (or ``>FILE``) redirect of stdout among ``words``."""
    for k, word in enumerate(words):
        if word in (">", "1>", ">|") and k + 1 < len(words):
            return words[k + 1]
        m = re.fullmatch(r"1?>\|?(\S+)", word)
        if m:
            return m.group(1)
    return None


def recognise_poetry(command: Command) -> InstallStep | None:
    """``poetry install`` (from poetry.lock, hashes always checked; the project itself
    too unless --no-root), ``poetry export`` (writes a requirements file from the lock,
    with -o or a ``>`` redirect), ``poetry add NAME`` (outside the lock)."""
    words, env = _prefixed(command)
    if not words or _command_name(words[0]) != "poetry":
        return None
    args = words[1:]
    verb_at = next((i for i, w in enumerate(args) if not w.startswith("-")), None)
    if verb_at is None:
        return None
    verb, rest = args[verb_at], args[verb_at + 1:]
    settings = tuple(f"{k}={env[k]}" for k in ("POETRY_VIRTUALENVS_CREATE",) if k in env)
    where = "the system interpreter" if _off(env, "POETRY_VIRTUALENVS_CREATE") else ""
    if verb in ("install", "sync"):
        return InstallStep("poetry", command.line, command.text, ("poetry.lock",),
                           hashes_enforced=True, verb=verb, options=args,
                           settings=settings, root="--no-root" not in rest,
                           environment=where)
    if verb == "export":
        out = _option_value(rest, "-o", "--output") or _redirect(rest)
        if out is None:
            return None  # to stdout, piped on: not followed
        return InstallStep("poetry", command.line, command.text, installs=False,
                           exports=((out, "poetry.lock"),),
                           exports_hashed="--without-hashes" not in rest,
                           verb=verb, options=args)
    if verb == "add":
        return InstallStep("poetry", command.line, command.text,
                           packages=tuple(positional(rest, _POETRY_VALUE)))
    return None


_UV_VALUE = frozenset({"--extra", "--group", "--only-group", "--no-group", "--package",
                       "-p", "--python", "--directory", "--project", "-o",
                       "--output-file", "--format", "--index", "--index-url",
                       "--default-index", "--extra-index-url", "-f", "--find-links",
                       "-r", "--requirement", "-c", "--constraint", "--target",
                       "--prefix", "--no-binary", "--only-binary", "-P",
                       "--upgrade-package", "--config-file", "--cache-dir"})


# uv's global options that take a value.
_UV_GLOBAL_VALUE = frozenset({"--directory", "--project", "--cache-dir", "--config-file",
                              "--color", "--python-preference", "--allow-insecure-host",
                              "--trusted-host"})


# uv's own boolean variables that stand for `uv sync` / `uv export` options.
UV_FLAGS = {
    "UV_NO_DEV": "--no-dev", "UV_NO_DEFAULT_GROUPS": "--no-default-groups",
    "UV_FROZEN": "--frozen", "UV_LOCKED": "--locked",
    "UV_NO_INSTALL_PROJECT": "--no-install-project", "UV_NO_EDITABLE": "--no-editable",
}


def _uv_env(env: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(options, "NAME=value" settings) from uv's variables in ``env``: the boolean ones
    of :data:`UV_FLAGS`, and ``UV_NO_GROUP`` (space-separated groups: ``--no-group``)."""
    names = [k for k in UV_FLAGS if _on(env, k)]
    options = [UV_FLAGS[k] for k in names]
    settings = [f"{k}={env[k]}" for k in names]
    no_group = env.get("UV_NO_GROUP", "").split()
    if no_group:
        options.extend(w for g in no_group for w in ("--no-group", g))
        settings.append(f"UV_NO_GROUP={env['UV_NO_GROUP']}")
    return tuple(options), tuple(settings)


def _uv_workdir(cwd: str, args: tuple[str, ...], env: Mapping[str, str]) -> str:
    """Where ``uv sync`` / ``uv export`` start looking for the project: ``cwd``, changed
    by ``--directory`` (UV_WORKING_DIR), then ``--project`` (UV_PROJECT), each relative
    to the directory before it."""
    for option, variable in (("--directory", "UV_WORKING_DIR"), ("--project", "UV_PROJECT")):
        value = _option_value(args, option) or env.get(variable, "")
        if not value:
            continue
        if value.startswith("/"):
            cwd = posixpath.normpath(value)
        elif "$" in value or value.startswith("~"):
            return ""
        elif cwd:
            cwd = posixpath.normpath(posixpath.join(cwd, value))
    return cwd


def recognise_uv(command: Command) -> InstallStep | None:
    """``uv sync`` (from uv.lock), ``uv export -o FILE``, and ``uv pip install/sync``
    (like pip: from files, or by name outside the lock). uv's variables (UV_NO_DEV,
    UV_LOCKED, UV_FROZEN ...) count as the options they stand for."""
    words, env = _prefixed(command)
    if not words or _command_name(words[0]) != "uv":
        return None
    # uv's global options may come before the subcommand (`uv --directory app sync`):
    # moved after it, where the subcommand's options are read
    lead: list[str] = []
    i = 1
    while i < len(words) and words[i].startswith("-"):
        lead.append(words[i])
        if words[i] in _UV_GLOBAL_VALUE and i + 1 < len(words):
            i += 1
            lead.append(words[i])
        i += 1
    args = (*words[i:i + 1], *lead, *words[i + 1:])
    flags, settings = _uv_env(env)
    if args[:1] == ("sync",):
        options = (*flags, *args)
        strict = any(w in ("--locked", "--frozen") for w in options)
        return InstallStep(
            "uv", command.line, command.text, ("uv.lock",), hashes_enforced=True,
            problem="" if strict else
            "`uv sync` without --locked or --frozen (or UV_LOCKED=1 / UV_FROZEN=1) may "
            "update uv.lock during the build",
            verb="sync", options=options, settings=settings,
            root="--no-install-project" not in options,
            environment=env.get("UV_PROJECT_ENVIRONMENT", ""),
            workdir=_uv_workdir(command.cwd, args, env))
    if args[:1] == ("export",):
        out = _option_value(args, "-o", "--output-file") or _redirect(args)
        if out is None:
            return None
        options = (*(f for f in flags if f not in ("--frozen", "--locked")), *args)
        return InstallStep("uv", command.line, command.text, installs=False,
                           exports=((out, "uv.lock"),),
                           exports_hashed="--no-hashes" not in args,
                           verb="export", options=options, settings=settings,
                           workdir=_uv_workdir(command.cwd, args, env))
    if args[:2] in (("pip", "install"), ("pip", "sync")):
        rest = args[2:]
        files = [v for i, w in enumerate(rest) for v in
                 ([rest[i + 1]] if w in ("-r", "--requirement") and i + 1 < len(rest)
                  else [w.partition("=")[2]] if w.startswith("--requirement=") else [])]
        named = positional(rest, _UV_VALUE)
        if args[1] == "sync":
            files += named
            named = []
        return InstallStep(
            "uv", command.line, command.text, tuple(files),
            packages=tuple(p for p in named if not is_local(p)),
            local=tuple(p for p in named if is_local(p)),
            hashes_enforced="--require-hashes" in rest or _on(env, "UV_REQUIRE_HASHES"))
    return None


def recognise_self_installers(command: Command) -> InstallStep | None:
    """Programs that pip-install packages they choose themselves, unpinned:
    ``opentelemetry-bootstrap -a install`` (an instrumentation for each library it finds
    installed) and ``spacy download MODEL`` (the model's package)."""
    words, _ = _prefixed(command)
    if not words:
        return None
    name = _command_name(words[0])
    args = list(words[1:])
    if PYTHON_NAME.match(name) and args[:1] == ["-m"] and len(args) > 1:
        name, args = args[1], args[2:]
    if name in ("opentelemetry-bootstrap", "opentelemetry.instrumentation.bootstrap"):
        action = _option_value(tuple(args), "-a", "--action")
        action = action or next((a[2:] for a in args if a.startswith("-a") and len(a) > 2
                                 and not a.startswith("--")), None)
        if action != "install":
            return None  # the default action only prints the requirements
        return InstallStep(
            "pip", command.line, command.text, installs=True,
            indirect="the OpenTelemetry instrumentation packages for the libraries it "
            "finds installed (it runs pip install on each, unpinned, without hashes)",
            indirect_fix="Lock them: `opentelemetry-bootstrap -a requirements` prints "
            "what it would install; add those to the lock's input (requirements.in or "
            "pyproject.toml), re-lock, and drop this RUN (the lock installs them)")
    if name == "spacy" and args[:1] == ["download"]:
        model = next((a for a in args[1:] if not a.startswith("-")), "a model")
        return InstallStep(
            "pip", command.line, command.text, installs=True,
            indirect=f"the spaCy model package {model} (spacy download runs pip "
            "install for it)",
            indirect_fix=f"Pin the model's wheel in the lock (its URL with a hash, from "
            f"spaCy's model releases) and drop `spacy download {model}`")
    return None


# The recognisers SR205 applies to every command, in order; the first match wins.
RECOGNISERS: list[Recogniser] = [recognise_pip, recognise_poetry, recognise_uv,
                                 recognise_self_installers]


def _script_of(command: Command, read: Callable[[str], str | None] | None
               ) -> tuple[str, str] | None:
    """(name, text) of the shell script ``command`` runs (``./install.sh``, ``sh
    scripts/setup.sh``, ``bash -e x.sh``), read from the build context; None."""
    if read is None or not command.words:
        return None
    words = list(_prefixed(command)[0])
    if words and _command_name(words[0]) in _SHELLS:
        words = [w for w in words[1:] if not w.startswith("-")]
    if not words or "$" in words[0]:
        return None
    path = words[0]
    if not path.endswith(".sh") and "/" not in path:
        return None
    text = read(path)
    if text is None or not (path.endswith(".sh") or (text.startswith("#!") and any(
            shell in text.split("\n", 1)[0] for shell in _SHELLS))):
        return None
    return path.rsplit("/", 1)[-1], text


def install_steps(df: Dockerfile, stages: list[Stage],
                  read: Callable[[str], str | None] | None = None) -> list[InstallStep]:
    """The install commands of ``stages``; with ``read`` (files of the build context),
    also those of the shell scripts a RUN executes."""
    steps: list[InstallStep] = []
    for stage in stages:
        for command in stage_commands(df, stage):
            found = _recognise(command)
            if found is not None:
                steps.append(found)
                continue
            script = _script_of(command, read)
            if script is None:
                continue
            name, text = script
            for inner in _simple(split_commands(text), command.env, cwd=command.cwd):
                step = _recognise(inner)
                if step is not None:
                    steps.append(replace(step, line=command.line, guard=command.guard,
                                         via=f"{name}, line {inner.line}, run by RUN line "
                                         f"{command.line}"))
    return steps


def _recognise(command: Command) -> InstallStep | None:
    for recognise in RECOGNISERS:
        step = recognise(command)
        if step is not None:
            return replace(step, guard=command.guard)
    return None
