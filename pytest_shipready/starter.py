"""``--shipready-init``: a starter ``[tool.shipready]`` section inferred from the project.

It prints what it found (lockfiles, every Dockerfile and the one chosen, the final
stage's user, ports and health check, the start command from CMD or a Procfile) as
comments, and the keys a team usually sets next, with the values inferred, commented out
where the default already matches. With a Docker engine the plugin also runs the image
once (:class:`Explored`): which health path answers, and which environment variable the
app stopped on. The output is valid TOML that the strict schema accepts. Pure: reads
files, never writes them.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .dockerfile import command as start_command
from .dockerfile import parser
from .dockerfile.locate import choose_dockerfile, find_dockerfiles
from .locks import discover, pipcompile

HEALTH_PATHS = ("/health", "/healthz", "/_health/", "/__lbheartbeat__", "/")


@dataclass(frozen=True)
class Explored:
    """What running the image once showed (when an engine answers)."""

    ran: str  # "ran pytest-shipready/app:1a2b3c for 4.2 s", or why it could not
    answered: dict[str, int] = field(default_factory=dict)  # probe path -> HTTP status
    missing_env: tuple[str, ...] = ()  # variables the app stopped on at start
    exited: str = ""  # "exited 1 after 0.4 s", when it did
    # The TCP ports the container listened on (None: not known, e.g. it exited first).
    listening: tuple[int, ...] | None = None
    cause: tuple[str, ...] = ()  # why the trial build failed, or the end of a failed log
    build_failed: bool = False
    watched: float = 0.0  # seconds from the start to the look at its ports


def dockerfiles(project: Path) -> list[str]:
    """Every Dockerfile of the project (posix paths), the root's first, then by depth."""
    return sorted(find_dockerfiles(project, selected="").all,
                  key=lambda p: (p != "Dockerfile", p.count("/"), p))


def dockerfile_choice(project: Path) -> tuple[str, str] | None:
    """The Dockerfile the starter uses and why: the configured one, else the one
    :func:`~pytest_shipready.dockerfile.locate.choose_dockerfile` picks (never a
    ``.devcontainer/`` or test one over one that ships)."""
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        configured = data["tool"]["shipready"]["image"]["dockerfile"]
        if isinstance(configured, str):
            return configured, "[tool.shipready.image] dockerfile"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        pass
    return choose_dockerfile(list(find_dockerfiles(project, selected="").all))


def chosen_dockerfile(project: Path) -> str | None:
    """The configured Dockerfile, else the root's, else the one that ships (see
    :func:`dockerfile_choice`)."""
    choice = dockerfile_choice(project)
    return choice[0] if choice else None


_BIND = re.compile(r"(?:--bind|-b|--port|-p|--listen)[= ](?:[\w.\[\]:]*:)?(\$\{?PORT\}?|\d+)"
                   r"|(?:0\.0\.0\.0|127\.0\.0\.1|\[::\]):(\$\{?PORT\}?|\d+)")


def command_port(command: str) -> str | None:
    """The port a start command binds (``--bind 0.0.0.0:8000``, ``--port $PORT``...)."""
    m = _BIND.search(command)
    return (m.group(1) or m.group(2)) if m else None


_MISSING_ENV = (
    re.compile(r"KeyError: ['\"]([A-Z][A-Z0-9_]+)['\"]"),  # os.environ["X"]
    re.compile(r"(?i)environment variable ['\"]?\$?([A-Z][A-Z0-9_]+)['\"]? (?:is )?(?:not "
               r"set|missing|required|undefined)"),  # environs, hand-written checks
    re.compile(r"\b([A-Z][A-Z0-9_]{2,}) environment variable (?:is )?(?:not set|missing|"
               r"required|must be set|undefined)"),
    re.compile(r"Set the ([A-Z][A-Z0-9_]+) environment variable"),  # django-environ
    re.compile(r"\b([A-Z][A-Z0-9_]+) not found\. Declare it as envvar"),  # decouple
    re.compile(r"(?i)missing (?:required )?environment variables?:? ['\"]?([A-Z][A-Z0-9_]+)"),
)
# pydantic-settings: "1 validation error for Settings\ndatabase_url\n  Field required"
_PYDANTIC_MISSING = re.compile(r"(?m)^([A-Za-z][A-Za-z0-9_]*)\s*\n\s*Field required")


def missing_env(log: str) -> tuple[str, ...]:
    """Names of environment variables a start log says are missing."""
    names: list[str] = []
    for pattern in _MISSING_ENV:
        names += pattern.findall(log)
    names += [name.upper() for name in _PYDANTIC_MISSING.findall(log)]
    return tuple(dict.fromkeys(names))


def listening_ports(proc_net_tcp: str) -> tuple[int, ...]:
    """The TCP ports listened on, from ``/proc/net/tcp`` and ``tcp6`` (state 0A)."""
    ports: set[int] = set()
    for row in proc_net_tcp.splitlines():
        cols = row.split()
        if len(cols) > 3 and cols[3] == "0A" and ":" in cols[1]:
            try:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return tuple(sorted(ports))


# Start commands of processes that serve no port: task queues, schedulers, consumers.
_WORKER = re.compile(r"(?:^|[\s/'\"])(?:celery|rq|dramatiq|arq|huey_consumer\S*|faust)"
                     r"(?:[\s'\"]|$)"
                     r"|\b(?:worker|consumer|scheduler|beat|cron)\b", re.IGNORECASE)


def looks_like_worker(command: str) -> bool:
    """Whether a start command runs a process that opens no port (``celery -A app
    worker``, ``rq worker``, ``python -m app.consumer``)."""
    return bool(_WORKER.search(command + " "))


def unset_args(df: parser.Dockerfile, build_args: dict[str, str], stage: parser.Stage
               ) -> list[str]:
    """ARGs the build of ``stage`` uses without a usable value: declared without a
    default (or with an empty one) and not given in build_args."""
    declared: dict[str, str | None] = dict(df.global_args)
    for s in df.chain(stage):
        for ins in s.of("ARG"):
            declared.update(parser.arg_pairs(ins, df.escape))
    text = "\n".join(ins.raw for ins in df.instructions if ins.keyword != "ARG")
    used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))
    return sorted(name for name, value in declared.items()
                  if not value and name not in build_args and name in used)


def starter(project: Path, explored: Explored | None = None) -> str:
    out = [
        f"# pytest-shipready starter configuration, inferred from {project}",
        "# Paste into pyproject.toml; every key is optional (defaults shown commented).",
    ]
    present = _present_tables(project)
    if present:
        out.append(f"# pyproject.toml already has {', '.join(present)}: merge the keys "
                   "below into them (TOML forbids a table twice).")
    out.append("")
    out += _lockfile_section(project)
    out += _dockerfile_section(project)
    services, app_env = _services_section(project)
    out += _smoke_section(project, explored, app_env)
    out += services
    out += [
        "[tool.shipready.disable]",
        '# SR105 = "why this check does not apply here"',
        "",
    ]
    return "\n".join(out)


def _present_tables(project: Path) -> list[str]:
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    tool = data.get("tool")
    table = tool.get("shipready") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        return []
    nested = [f"[tool.shipready.{k}]" for k, v in table.items() if isinstance(v, dict)]
    return nested or ["[tool.shipready]"]


def _lockfile_section(project: Path) -> list[str]:
    locks = pipcompile.discover(project)
    lines = ["[tool.shipready.lockfile]"]
    if not locks and not discover.discover(project):
        lines += [
            "# No lockfile found (requirements*.txt, requirements/*.txt, poetry.lock, uv.lock, "
            "pylock.toml).",
            "# Create one:  pip-compile --generate-hashes --strip-extras requirements.in",
            '# paths = ["requirements.txt"]',
        ]
    for path in locks:
        lock = pipcompile.load(path, project)
        sources = ", ".join(lock.header.sources) or "pip-compile's default inputs"
        hashed = lock.error is None and all(e.hashes for e in lock.data.entries)
        lines.append(f"# found {lock.display}: pip-compile lock of {sources}, "
                     f"{len(lock.data.entries)} requirements, "
                     f"{'hashed' if hashed else 'NOT hashed'}")
    for path in discover.discover(project):
        lines.append(f"# found {pipcompile.display_path(path, project)} (checked "
                     "automatically)")
    if locks:
        listed = ", ".join(f'"{pipcompile.display_path(p, project)}"' for p in locks)
        lines.append(f"# paths = [{listed}]   # found automatically")
    lines += ["# require_hashes = true", "# resolve_timeout = 180.0", ""]
    return lines


def _parse(project: Path) -> tuple[str | None, parser.Dockerfile | None]:
    chosen = chosen_dockerfile(project)
    if chosen is None:
        return None, None
    try:
        return chosen, parser.parse((project / chosen).read_text(encoding="utf-8"), chosen)
    except (OSError, UnicodeDecodeError):
        return chosen, None


def _dockerfile_section(project: Path) -> list[str]:
    image = ["[tool.shipready.image]"]
    lines = ["[tool.shipready.dockerfile]"]
    found = dockerfiles(project)
    chosen, parsed = _parse(project)
    if chosen is None or parsed is None:
        return [*image, "# No readable Dockerfile in the project: the Dockerfile and "
                "image checks are skipped.", '# dockerfile = "docker/Dockerfile"', ""]
    if len(found) > 1 or chosen != "Dockerfile":
        why = dockerfile_choice(project)
        image.append(f"# Dockerfiles found: {', '.join(found) or '(none)'}")
        image.append(f"# chose {chosen}: {why[1] if why else 'configured'}")
        image.append(f'dockerfile = "{chosen}"' if chosen != "Dockerfile"
                     else '# dockerfile = "Dockerfile"')
    stage = parsed.target()
    if stage is None:
        return [*lines, "# Dockerfile has no FROM: fix it before the checks can run.", ""]
    user = parsed.user(stage)
    ports = parsed.exposed(stage)
    health = parsed.healthcheck(stage)
    image += [
        f"# found {chosen}: {len(parsed.stages)} stage(s), final {stage.label} "
        f"FROM {stage.base}",
        *(['# dockerfile = "Dockerfile"   # what the Dockerfile checks read and the build '
           'uses'] if chosen == "Dockerfile" else []),
        '# context = "."',
        '# target = ""                 # the stage that ships; empty: the last one',
        "",
    ]
    lines += [
        f"# the final stage: USER {user.value if user else '(none: runs as root)'}, "
        f"EXPOSE {' '.join(f'{p}/{proto}' for p, proto in ports) or '(none)'}, "
        f"HEALTHCHECK {'present' if health and not health.none else 'missing'}",
        '# pin = "tag"            # or "digest" for base images pinned by @sha256',
    ]
    if health is None or health.none:
        lines.append("healthcheck_optional = false   # add a HEALTHCHECK, or probe readiness "
                     "another way and set true")
    lines.append("")
    return image + lines


def _smoke_section(project: Path, explored: Explored | None,
                   app_env: dict[str, str] | None = None) -> list[str]:
    lines = ["[tool.shipready.smoke]"]
    _, parsed = _parse(project)
    stage = parsed.target() if parsed is not None else None
    if parsed is None or stage is None:
        return []
    own = start_command.image_command(parsed, stage)
    try:
        web = start_command.procfile_web((project / "Procfile").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        web = None
    text = own.text if own else (web or "")
    env: dict[str, str] = {}
    if own is not None:
        lines.append(f"# the image starts `{own.text}` ({own.where})")
    elif web is not None:
        lines.append("# no CMD in the image: the Procfile's web process starts the service")
        lines.append(f"command = {json.dumps(['sh', '-c', web])}")
    else:
        lines.append('# no CMD and no Procfile: name the start command, e.g. '
                     'command = ["gunicorn", "app:app"]')
    exposed = [p for p, proto in parsed.exposed(stage) if proto == "tcp"]
    bound = command_port(text) if text else None
    ran = explored is not None and explored.listening is not None and not explored.exited
    listening = explored.listening if explored is not None and ran else None
    serves = True
    if exposed:
        lines.append(f"# ports = {json.dumps(exposed)}   # EXPOSEd")
    elif bound is not None:
        port = 8000 if bound.lstrip("${").rstrip("}") == "PORT" else int(bound)
        lines.append(f"ports = [{port}]   # the start command binds it")
        if not bound.isdigit():
            env["PORT"] = str(port)
    elif listening == ():
        serves = False
        watched = f" in {explored.watched:.0f} s" if explored and explored.watched else ""
        lines.append(f"# the trial run opened no port{watched}: no ports and no HTTP probe; "
                     "the container counts as ready while it runs, or set ready_log to a "
                     "line it logs when ready")
    elif listening:
        lines.append(f"ports = [{listening[0]}]   # it listened on {listening[0]} in the "
                     "trial run")
        if listening[0] == 8000:  # the trial run gave it PORT=8000
            env["PORT"] = "8000"
    elif text and looks_like_worker(text):
        serves = False
        lines.append("# the start command runs a worker, which serves no port: no ports and "
                     "no HTTP probe; the container counts as ready while it runs, or set "
                     "ready_log to a line it logs when ready")
    else:
        answered = explored is not None and bool(explored.answered)
        lines.append("ports = [8000]   # no EXPOSE and no bind option: "
                     + ("8000 answered" if answered else "a guess, check it"))
        env["PORT"] = "8000"
    if explored is not None:
        lines += _explored_lines(explored, serves, env)
        unset = unset_args(parsed, _build_args(project), stage) if explored.build_failed \
            else []
        if unset:
            given = ", ".join(f'{name} = "..."' for name in unset)
            lines.append(f"# the Dockerfile has ARG {', '.join(unset)} without a usable "
                         f"default: give the build values under [tool.shipready.image]: "
                         f"build_args = {{ {given} }}")
    elif serves:
        lines.append(f"# probe_path = \"/health\"   # with a Docker engine, --shipready-init "
                     f"tries {', '.join(HEALTH_PATHS)}")
    for name, value in (app_env or {}).items():
        env.setdefault(name, value)
    if env:
        lines.append("env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items())
                     + " }")
    if (project / "manage.py").is_file():
        lines.append('# release = ["python", "manage.py", "migrate", "--noinput"]   # run once '
                     "before the app starts (SR321)")
    return [*lines, ""]


# Variables an app reads that name a backing service: the service to start for each
# (name, image, its environment) and the value the app gets. The images are the ones
# testcontainers has modules for; the credentials are test values.
_Proposal = tuple[str, str, dict[str, str], str]
_PG: _Proposal = ("db", "postgres:15", {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "change-me",
                             "POSTGRES_DB": "app"}, "postgresql://app:change-me@db:5432/app")
_REDIS: _Proposal = ("cache", "redis:7", {}, "redis://cache:6379/0")
_AMQP: _Proposal = ("broker", "rabbitmq:3", {"RABBITMQ_DEFAULT_USER": "app",
                                  "RABBITMQ_DEFAULT_PASS": "change-me"},
         "amqp://app:change-me@broker:5672/%2F")
SERVICE_VARIABLES: dict[str, _Proposal] = {
    "DATABASE_URL": _PG, "POSTGRES_URL": _PG, "POSTGRES_DSN": _PG, "PG_DSN": _PG,
    "REDIS_URL": _REDIS, "CACHE_URL": _REDIS, "CELERY_RESULT_BACKEND": _REDIS,
    "CELERY_BROKER_URL": _AMQP, "BROKER_URL": _AMQP, "AMQP_URL": _AMQP,
    "RABBITMQ_URL": _AMQP, "CLOUDAMQP_URL": _AMQP,
}
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", "build", "dist"}
_MAX_SOURCES = 400  # files read for the variables (the first ones, by path)


def service_variables(project: Path) -> list[str]:
    """The variables of :data:`SERVICE_VARIABLES` the project's Python code, settings and
    .env templates name (as a string or a settings field), in that table's order."""
    words = re.compile(r"\b(" + "|".join(SERVICE_VARIABLES) + r")\b", re.IGNORECASE)
    found: set[str] = set()
    read = 0
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if _SKIP_DIRS.intersection(rel.parts[:-1]) or "tests" in rel.parts[:-1]:
            continue
        if not (path.suffix == ".py" or path.name.startswith(".env.")
                or path.name in ("settings.toml", "app.json")) or not path.is_file():
            continue
        read += 1
        if read > _MAX_SOURCES:
            break
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:200_000]
        except OSError:
            continue
        found.update(m.group(1).upper() for m in words.finditer(text))
    return [name for name in SERVICE_VARIABLES if name in found]


def _services_section(project: Path) -> tuple[list[str], dict[str, str]]:
    """Backing services: what the Compose file gives with no configuration, else tables
    proposed from the variables the app reads; and the app's env for them."""
    from .deploy import compose

    chosen = chosen_dockerfile(project) or "Dockerfile"
    path = compose.find(project)
    if path is not None:
        try:
            model = compose.load(path, project, project / chosen, environ={})
        except compose.ComposeError as exc:
            return [f"# {exc}", "# Fix it to start its services, or describe them in "
                    "[tool.shipready.services.<name>] tables (docs/services.md)", ""], {}
        if model.app is not None:
            names = ", ".join(f"{s.name} ({s.image})" for s in model.services) or "none"
            lines = [f"# Backing services: {model.file} (service {model.app.name}) depends "
                     f"on {names}.",
                     "# They start for the smoke run with no configuration, and the app gets "
                     "that service's environment"
                     + (f" ({', '.join(model.app.env)})" if model.app.env else "") + ".",
                     *(f"# {note}" for note in model.notes)]
            if model.app.command and not model.app.dev_command:
                lines.append("# [tool.shipready.compose] use_command = true   # run its "
                             f"`{' '.join(model.app.command)}` instead of the image's CMD")
            return [*lines, ""], {}
    variables = service_variables(project)
    if not variables:
        return [], {}
    lines = [f"# The app reads {', '.join(variables)}: start what they name for the smoke "
             "run (test credentials; docs/services.md)."]
    env: dict[str, str] = {}
    proposed: set[str] = set()
    for name in variables:
        service, image, service_env, value = SERVICE_VARIABLES[name]
        env[name] = value
        if service in proposed:
            continue
        proposed.add(service)
        lines += ["", f"[tool.shipready.services.{service}]", f'image = "{image}"']
        if service_env:
            lines.append("env = { " + ", ".join(f"{k} = {json.dumps(v)}"
                                                for k, v in service_env.items()) + " }")
    return [*lines, ""], env


def _build_args(project: Path) -> dict[str, str]:
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        args = data["tool"]["shipready"]["image"]["build_args"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return {}
    return {str(k): str(v) for k, v in args.items()} if isinstance(args, dict) else {}


def _explored_lines(explored: Explored, serves: bool, env: dict[str, str]) -> list[str]:
    """What the trial run showed, as comments and keys (``env`` gets the variables the app
    stopped on)."""
    lines = [f"# {explored.ran}"]
    if explored.exited:
        lines.append(f"# the container {explored.exited}")
    good = [p for p, code in explored.answered.items() if 200 <= code < 400]
    failing = {p: c for p, c in explored.answered.items() if c >= 500}
    if explored.answered:
        tried = ", ".join(f"{p} {c}" for p, c in explored.answered.items())
        lines.append(f"# health paths tried: {tried}")
    if serves and good and good[0] != "/health":
        lines.append(f'probe_path = "{good[0]}"')
    elif serves and good:
        lines.append('# probe_path = "/health"   # answers')
    for name in explored.missing_env:
        env.setdefault(name, "change-me")
    trouble = ("exited" if explored.exited else "answered " + ", ".join(
        sorted({str(c) for c in failing.values()})) if failing else "")
    if explored.missing_env:
        what = ("stopped on" if explored.exited else
                f"{trouble} for" if failing else "logged")
        lines.append(f"# the app {what} missing {', '.join(explored.missing_env)}: "
                     "give it test values")
    elif trouble:
        lines.append(f"# the app {trouble}, and its log names no missing environment "
                     "variable" + ("; its last lines:" if explored.cause else ""))
    if not explored.missing_env:  # the cause: a failed build's step, a failed start's log
        lines += [f"#   {line}" for line in explored.cause]
    return lines


def smoke_guess(project: Path) -> tuple[tuple[str, ...], tuple[int, ...], dict[str, str]]:
    """The command (when the image has no CMD), ports and env a first smoke run needs."""
    _, parsed = _parse(project)
    stage = parsed.target() if parsed is not None else None
    if parsed is None or stage is None:
        return (), (), {}
    own = start_command.image_command(parsed, stage)
    try:
        web = start_command.procfile_web((project / "Procfile").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        web = None
    command = ("sh", "-c", web) if own is None and web else ()
    text = own.text if own else (web or "")
    if parsed.exposed(stage):
        return command, (), {}
    bound = command_port(text) if text else None
    if bound is None and text and looks_like_worker(text):
        return command, (), {}  # a worker opens no port: nothing to publish or probe
    if bound is None:  # nothing says: try the usual port, and say it was a guess
        return command, (8000,), {"PORT": "8000"}
    if bound.isdigit():
        return command, (int(bound),), {}
    return command, (8000,), {"PORT": "8000"}
