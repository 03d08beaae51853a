"""What the image runs when it starts: SR207 start-command and SR208 production-server.

SR207: the stage that ships has a CMD or ENTRYPOINT of its own (or of a stage it is built
on); otherwise it inherits the base image's, which for the python images is an
interactive ``python3`` that exits at once without a terminal. SR208: that command (and
a Procfile's ``web:`` line, and ``[tool.shipready.smoke] command``) does not run a
development server or an auto-reloader.

Pure: no pytest, no docker. Files named by the command (an entrypoint script, the Python
file it runs) are read through a callable, so that nothing outside the project is read.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..checks import CheckResult, Finding
from . import uwsgi
from .parser import Dockerfile, Instruction, Stage

# What the usual base images run when the Dockerfile says nothing (their own CMD).
_INHERITED = (
    (re.compile(r"^(docker\.io/)?(library/)?python[:@]|^(docker\.io/)?(library/)?python$"),
     "`python3`, an interactive interpreter that exits at once without a terminal"),
    (re.compile(r"^(docker\.io/)?(library/)?(debian|ubuntu)([:@]|$)"),
     "`bash`, a shell that exits at once without a terminal"),
    (re.compile(r"^(docker\.io/)?(library/)?(alpine|busybox)([:@]|$)"),
     "`/bin/sh`, a shell that exits at once without a terminal"),
)


@dataclass(frozen=True)
class StartCommand:
    """A command the service may be started with, and where it was found."""

    text: str  # as one shell-like line, for messages and matching
    where: str  # "CMD (line 12)", "Procfile web:", "[tool.shipready.smoke] command"
    path: str | None = None
    line: int | None = None
    argv: tuple[str, ...] = ()  # as the container gets it; () -> a shell runs ``text``

    @property
    def args(self) -> tuple[str, ...]:
        return self.argv or ("/bin/sh", "-c", self.text)


def _argv(ins: Instruction) -> list[str]:
    if ins.exec_form is not None:
        return list(ins.exec_form)
    return ["/bin/sh", "-c", ins.rest]


def image_command(df: Dockerfile, stage: Stage) -> StartCommand | None:
    """The ENTRYPOINT and CMD in force for ``stage``, as one command, or None."""
    entry, cmd = df.command(stage)
    if entry is None and cmd is None:
        return None
    argv = [*(_argv(entry) if entry else []), *(_argv(cmd) if cmd else [])]
    shown = entry or cmd
    assert shown is not None
    where = " + ".join(f"{i.keyword} (line {i.line})" for i in (entry, cmd) if i is not None)
    return StartCommand(shlex.join(argv), where, df.path, shown.line, tuple(argv))


def procfile_web(text: str) -> str | None:
    """The ``web:`` process of a Procfile (Heroku, Dokku, honcho), or None."""
    return procfile(text).get("web")


def procfile(text: str) -> dict[str, str]:
    """Every process of a Procfile, by name: ``{"web": "gunicorn app:app", ...}``."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if sep and re.fullmatch(r"[A-Za-z0-9_-]+", name.strip()) and command.strip():
            found.setdefault(name.strip(), command.strip())
    return found


# --- what a start command runs, through shells and scripts --------------------------------

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})
# Commands of a start script that only set it up: not part of the chain shown.
_SETUP = frozenset({"set", "echo", "printf", "export", "cd", "true", ":", "[", "test",
                    "umask", "trap", "shift", "source", ".", "unset", "wait", "sleep"})


@dataclass(frozen=True)
class Step:
    """One program a start command runs: through ``sh -c``, a start script, ``exec``."""

    words: tuple[str, ...]
    where: str  # "the command", "start.sh, line 4"
    replaces: bool = False  # run with `exec`: it takes the shell's place (and PID)

    @property
    def text(self) -> str:
        return shlex.join(self.words)


def _words_of(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``env``, ``VAR=value`` prefixes and ``exec``."""
    words = list(argv)
    while words and (re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0])
                     or words[0].rsplit("/", 1)[-1] in ("env", "exec", "nohup")):
        words.pop(0)
        while words and words[0].startswith("-") and words[0] not in ("-",):
            words.pop(0)  # env -i, exec -a NAME (rare): options
    return words


def _is_script(word: str, read: Callable[[str], str | None]) -> str | None:
    """The text of a shell script ``word`` names (``/entrypoint.sh``, ``./start``), or
    None: a ``.sh`` file, or a file whose ``#!`` line names a shell."""
    if "/" not in word and not word.endswith(".sh"):
        return None
    body = read(word)
    if body is None:
        return None
    first = body.split("\n", 1)[0]
    if word.endswith(".sh") or (first.startswith("#!") and any(
            re.search(rf"\b{s}\b", first) for s in SHELLS)):
        return body
    return None


def start_steps(argv: Sequence[str], read: Callable[[str], str | None],
                where: str = "the command", depth: int = 0) -> list[Step]:
    """The programs ``argv`` runs: ``sh -c "a && b"`` opened, a start script
    (``/entrypoint.sh``, ``sh start.sh``) read with ``read`` and its commands followed,
    ``exec "$@"`` replaced by the arguments it was given (the CMD after an ENTRYPOINT
    script). Setup commands (``set -e``, ``echo``, ``cd``) are left out."""
    from .installs import split_commands

    words = _words_of(argv)
    replaces = len(words) != len(argv) and "exec" in [w.rsplit("/", 1)[-1]
                                                     for w in argv[:len(argv) - len(words)]]
    if not words:
        return []
    name = words[0].rsplit("/", 1)[-1]
    script: str | None = None
    args: list[str] = []
    shown = where
    if name in SHELLS and depth < 4:
        i = 1
        while i < len(words) and words[i].startswith("-") and words[i] != "-":
            if not words[i].startswith("--") and "c" in words[i][1:]:
                script = words[i + 1] if i + 1 < len(words) else ""
                args = words[i + 3:]  # after the script: $0, then $1...
                break
            i += 1
        if script is None and i < len(words):
            script = read(words[i])
            args = words[i + 1:]
            shown = f"{words[i].rsplit('/', 1)[-1]}"
    elif depth < 4:
        script = _is_script(words[0], read)
        args = words[1:]
        shown = words[0].rsplit("/", 1)[-1] if script is not None else where
    if script is None:
        hooks: list[Step] = []
        if uwsgi.is_uwsgi(words) and depth < 4:  # what its ini runs before the app
            for hook, at in uwsgi.hook_commands(uwsgi.options(words, read)):
                hooks.extend(start_steps(hook, read, at, depth + 1))
        return [*hooks, Step(tuple(words), where, replaces)]
    out: list[Step] = []
    for c in split_commands(script):
        inner = list(c.words)
        while inner and inner[0] in ("if", "then", "else", "elif", "do", "while", "until",
                                     "!", "{", "}", "fi", "done", "esac"):
            inner.pop(0)
        inner = [a for w in inner for a in (args if w == "$@" else [w])]
        if not inner or inner[0].rsplit("/", 1)[-1] in _SETUP \
                or (re.match(r"[A-Za-z_][A-Za-z0-9_]*=", inner[0]) and len(inner) == 1):
            continue
        line = f"{shown}, line {c.line}" if shown != where else where
        out.extend(start_steps(inner, read, line, depth + 1))
    return out


def chain(steps: Sequence[Step]) -> str:
    """"`python -m app.migrate`, then `python -m app.server`" (``exec``: said)."""
    return ", then ".join(f"`{_short(s.text, 80)}`" + (" (exec)" if s.replaces else "")
                          for s in steps)


def inherited(base: str) -> str:
    for pattern, what in _INHERITED:
        if pattern.search(base):
            return what
    return f"whatever CMD {base} defines"


def check_start_command(df: Dockerfile, stage: Stage, shipped: str,
                        smoke_command: Sequence[str], procfile: str | None,
                        read: Callable[[str], str | None] = lambda name: None
                        ) -> CheckResult:
    """SR207: the image says what it runs (and, through a shell or a start script that
    ``read`` finds, the programs it runs in turn)."""
    own = image_command(df, stage)
    if own is not None:
        steps = start_steps(own.args, read)
        runs = ""
        if len(steps) > 1 or any(s.where != "the command" for s in steps):
            runs = f", which runs {chain(steps)}"
        return CheckResult.passed("SR207", f"{shipped} starts `{_short(own.text)}` "
                                  f"({own.where}){runs}")
    root = df.root(stage)
    base = root.base if root.external else root.label
    if smoke_command:
        return CheckResult.passed(
            "SR207", f"{shipped} has no CMD or ENTRYPOINT; the platform's start command is "
            f"declared in [tool.shipready.smoke] command (`{_short(shlex.join(smoke_command))}`)")
    web = f" The Procfile's web process is `{procfile}`." if procfile else ""
    return CheckResult.failed(
        "SR207", f"no CMD or ENTRYPOINT in {shipped}: it runs {base}'s",
        [Finding(f"{shipped} ({stage.label}) declares no CMD or ENTRYPOINT, so the container "
                 f"runs the base image's: {inherited(base)}.{web}", df.path, stage.line,
                 "Add the service's start command, e.g. `CMD [\"gunicorn\", \"app:app\", "
                 "\"--bind\", \"0.0.0.0:8000\"]`; if your platform supplies it (a Procfile, "
                 "a manifest's `command:`), declare it in [tool.shipready.smoke] command.")])


# --- SR208: development servers ----------------------------------------------------------

_DEV_SERVERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bflask\b(\s+\S+)*?\s+run\b"),
     "`flask run` is Flask's development server"),
    (re.compile(r"\bfastapi\s+dev\b"), "`fastapi dev` is a development server with auto-reload"),
    (re.compile(r"\b(uvicorn|hypercorn|granian|gunicorn|flask)\b.*\s--reload\b"),
     "--reload restarts the server on file changes (development only)"),
    (re.compile(r"\b(manage\.py|django-admin)\s+runserver(_plus)?\b"),
     "`runserver` is Django's development server"),
    (re.compile(r"\badev\s+runserver\b"), "`adev runserver` is aiohttp's development server"),
    (re.compile(r"-m\s+http\.server\b"), "`python -m http.server` is a development server"),
    (re.compile(r"\b(watchmedo\s+auto-restart|nodemon|watchfiles)\b"),
     "an auto-reloader restarts the process on file changes (development only)"),
    (re.compile(r"\bFLASK_(DEBUG=(1|true)|ENV=development)\b|\bflask\b.*\s--debug\b",
                re.IGNORECASE),
     "the Flask debugger is switched on"),
)
_UV_RUN = re.compile(r"\buv\s+run\b")
_UV_NO_SYNC = re.compile(r"\buv\s+run\b(\s+-[-\w=.]*(\s+(?!-)\S+)?)*?\s+--no-(sync|project)\b")
# A Python file that starts a development server itself.
_IN_CODE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\s*[\w.]+\.run\((?!.*\bhost\s*=\s*None)", re.MULTILINE),
     "calls Flask's `app.run()`, the development server"),
    (re.compile(r"\buvicorn\.run\([^)]*reload\s*=\s*True"), "calls `uvicorn.run(reload=True)`"),
)


def dev_servers(command: str, env: dict[str, str] | None = None) -> list[str]:
    """Every reason why ``command`` is not a production server (none: it is one)."""
    found = [why for pattern, why in _DEV_SERVERS if pattern.search(command)]
    # `uv run --no-project` ignores the project and syncs nothing (`uv run -v` says
    # "Ignoring discovered project"); `--frozen` only leaves the lock alone: it still
    # installs what the environment lacks (the dev group after `uv sync --no-dev`).
    if _UV_RUN.search(command) and not _UV_NO_SYNC.search(command) \
            and (env or {}).get("UV_NO_SYNC", "") not in ("1", "true"):
        found.append("`uv run` syncs the environment at every start (it may install or "
                     "remove packages, and needs the index; --frozen does not stop that); "
                     "add --no-sync (or --no-project), or run the "
                     "program from the virtualenv directly")
    return found


def dev_servers_in_code(text: str) -> list[str]:
    """Every reason why a Python file run under ``__main__`` starts a development server."""
    uses_flask = re.search(r"^\s*(from\s+flask\b|import\s+flask\b)", text, re.MULTILINE)
    if "__main__" not in text:
        return []
    return [why for pattern, why in _IN_CODE
            if (uses_flask or pattern is not _IN_CODE[0][0]) and pattern.search(text)]


def _scripts(command: str) -> list[str]:
    """Files a command runs that may be in the project: shell scripts and Python files."""
    try:
        words = [part for word in shlex.split(command) for part in word.split()]
    except ValueError:
        words = command.split()
    return [w.strip(";&|'\"") for w in words
            if w.strip(";&|'\"").endswith((".sh", ".py")) and not w.startswith("-")]


def check_production_server(commands: Sequence[StartCommand], env: dict[str, str],
                            read: Callable[[str], str | None]) -> CheckResult:
    """SR208: none of the start commands runs a development server or an auto-reloader.
    ``read(name)`` gives the text of a file the command names, when the project has it."""
    if not commands:
        return CheckResult.skipped(
            "SR208", "no start command to check: no CMD/ENTRYPOINT, Procfile web process or "
            "[tool.shipready.smoke] command (see start-command)")
    findings: list[Finding] = []
    looked: list[str] = []
    flagged = 0
    for c in commands:
        looked.append(c.where)
        reasons = dev_servers(c.text, env)
        for script in _scripts(c.text):
            body = read(script)
            if body is None:
                continue
            looked.append(script)
            inner = dev_servers_in_code(body) if script.endswith(".py") \
                else dev_servers(body, env)
            reasons.extend(f"{script}: {why}" for why in inner)
        for why in dict.fromkeys(reasons):  # each distinct reason once, in order
            findings.append(Finding(f"{c.where} `{_short(c.text)}`: {why}", c.path, c.line,
                                    "Serve with a production server (gunicorn, uvicorn "
                                    "without --reload, waitress) and no auto-reload."))
        flagged += bool(reasons)
    looked_at = ", ".join(dict.fromkeys(looked))
    problems = f" ({len(findings)} problems)" if len(findings) > flagged else ""
    return CheckResult.from_findings(
        "SR208", findings, f"no development server or auto-reload in {looked_at}",
        f"{flagged} start command{'s run' if flagged > 1 else ' runs'} "
        f"a development server{problems}")


def project_reader(project: Path, context: Path) -> Callable[[str], str | None]:
    """Read a file named in a command from the build context (by its path relative to
    the context, or else by its name), never outside the project."""
    root = project.resolve()

    def read(name: str) -> str | None:
        rel = name.lstrip("/")
        candidates = [context / rel, context / Path(rel).name]
        candidates += sorted(p for p in context.glob(f"*/{Path(rel).name}")
                             if ".venv" not in p.parts and "node_modules" not in p.parts)
        for path in candidates:
            try:
                resolved = path.resolve()
                if not resolved.is_relative_to(root) or not resolved.is_file():
                    continue
                return resolved.read_text(encoding="utf-8", errors="replace")[:200_000]
            except OSError:
                continue
        return None

    return read


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- SR209: migrations at every start ----------------------------------------------------


def _migrates(words: Sequence[str]) -> bool:
    """``manage.py migrate`` / ``django-admin migrate``, ``alembic upgrade``, ``flask db
    upgrade`` (also through ``python -m``)."""
    names = [w.rsplit("/", 1)[-1] for w in words]
    rest = [w for w in names if not w.startswith("-")]
    for i, word in enumerate(rest):
        after = rest[i + 1:]
        if word in ("manage.py", "django-admin", "django-admin.py") and after[:1] == ["migrate"]:
            return True
        if word == "alembic" and "upgrade" in after:
            return True
        if word == "flask" and "db" in after and "upgrade" in after[after.index("db"):]:
            return True
    return False


def check_start_migrations(commands: Sequence[StartCommand],
                           read: Callable[[str], str | None],
                           release: str | None = None) -> CheckResult:
    """SR209: no start command runs schema migrations (each replica would, at every
    start). ``release``: the Procfile's release process, said in the PASS when it
    migrates."""
    if not commands:
        return CheckResult.skipped(
            "SR209", "no start command to check: no CMD/ENTRYPOINT, Procfile web process or "
            "[tool.shipready.smoke] command (see start-command)")
    findings: list[Finding] = []
    looked: list[str] = []
    for c in commands:
        looked.append(c.where)
        steps = start_steps(c.args, read)
        looked.extend(s.where.partition(",")[0] for s in steps if s.where != "the command")
        for step in steps:
            if not _migrates(step.words):
                continue
            inside = "" if step.where == "the command" else f" ({step.where})"
            findings.append(Finding(
                f"{c.where} `{_short(c.text)}` runs `{_short(step.text)}`{inside} at every "
                "start: with more than one replica each one migrates as it starts, so they "
                "race at every deploy (and the new code may serve before the schema is "
                "ready)", c.path, c.line,
                "Run migrations once per release, before the new version starts, and "
                "start only the server: a release phase such as a Kubernetes Job (a Helm "
                "pre-upgrade hook), Heroku's `release:` process in the Procfile, or your "
                "platform's equivalent; [tool.shipready.smoke] release runs it before the "
                "smoke checks. A single replica by design: [tool.shipready.disable] SR209 = "
                "\"<why>\"."))
    looked_at = ", ".join(dict.fromkeys(looked))
    released = ""
    if release and any(_migrates(s.words) for s in start_steps(("/bin/sh", "-c", release),
                                                              read)):
        released = f" (the Procfile's release process migrates: `{_short(release)}`)"
    return CheckResult.from_findings(
        "SR209", findings, f"no schema migration at start in {looked_at}{released}",
        f"{len(findings)} start command{'s run' if len(findings) > 1 else ' runs'} "
        "schema migrations at every start")
