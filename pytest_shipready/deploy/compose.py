"""A Compose file, read for what the smoke run needs: the service that builds this
project's Dockerfile (the app), its environment, and the services it ``depends_on``
(the backing services: image, environment, command, healthcheck, condition).

Pure: plain data in and out, no docker, no pytest (PyYAML is imported when a file is
read). Values are interpolated as ``docker compose`` does (``$VAR``, ``${VAR:-default}``,
``${VAR:?error}``, ``$$``), from the process environment first, then the ``.env`` file
beside the Compose file. Development-only settings are not used, and each one left out
is said in :attr:`ComposeModel.notes`: bind mounts of the app's source, override files
(``compose.override.yaml``), commands that reload (``--reload``, ``runserver``), named
volumes (every run starts from fresh services).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The names `docker compose` looks for, in its order (compose.yaml wins when several exist).
FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yaml", "docker-compose.override.yml")
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
# A command that reloads on code changes is a development server, not what ships.
_DEV_COMMAND = re.compile(r"(^|\s)--reload\b|(^|\s)--debug\b|\brunserver\b|\bwatchmedo\b|"
                          r"\bnodemon\b")


class ComposeError(Exception):
    """The Compose file cannot be used; the message names the file and the key."""


class ComposeMissingFileError(ComposeError):
    """A file the Compose file requires is not in this checkout (an ``env_file: .env``
    each developer makes from a committed ``.env.example``): ``docker compose up``
    refuses it as well. Not a fault of the deployment: the message says how to make it
    (``example``: the committed template beside it, when there is one)."""

    def __init__(self, message: str, example: str = "") -> None:
        super().__init__(message)
        self.example = example


# Templates committed beside a .env that is not (.env.example, .env.sample, ...).
_TEMPLATES = (".example", ".sample", ".template", ".dist", ".tmpl", ".default")


def env_template(path: Path) -> str:
    """The name of a committed template of the env file ``path`` (``.env.example``), or
    ""."""
    for suffix in _TEMPLATES:
        if path.with_name(path.name + suffix).is_file():
            return path.name + suffix
    stem = path.name.lstrip(".")
    for name in (f"example{path.name}", f"{stem}.example", f"example.{stem}"):
        if stem and path.with_name(name).is_file():
            return name
    return ""


@dataclass(frozen=True)
class Healthcheck:
    """A service's healthcheck: the argv run in it (``CMD-SHELL`` as ``/bin/sh -c``)."""

    argv: tuple[str, ...]
    interval: float = 30.0
    timeout: float = 30.0
    start_period: float = 0.0
    retries: int = 3


@dataclass(frozen=True)
class CopyIn:
    """A file or directory of the project bind-mounted into a backing service (an initdb
    script, a config file): copied into the container before it starts."""

    source: Path
    target: str


@dataclass(frozen=True)
class BackingService:
    name: str
    image: str
    env: dict[str, str] = field(default_factory=dict, repr=False)  # values may be secret
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    healthcheck: Healthcheck | None = None
    condition: str = "service_started"  # how the app waits for it (depends_on)
    aliases: tuple[str, ...] = ()  # names it is reached by besides its own
    copies: tuple[CopyIn, ...] = ()


@dataclass(frozen=True)
class AppService:
    """The service that builds this Dockerfile."""

    name: str
    env: dict[str, str] = field(default_factory=dict, repr=False)
    command: tuple[str, ...] = ()  # its `command` ("" when none)
    dev_command: str = ""  # why that command is development-only ("" when it is not)


@dataclass(frozen=True)
class ComposeModel:
    file: str  # as shown: "compose.yaml"
    app: AppService | None  # None: no service builds this Dockerfile
    services: tuple[BackingService, ...] = ()  # dependencies first
    notes: tuple[str, ...] = ()  # what was left out, and why
    candidates: tuple[str, ...] = ()  # every service that builds this Dockerfile


# --- finding the file ------------------------------------------------------------------


def find(project: Path) -> Path | None:
    """The Compose file `docker compose` would read in ``project``, or None."""
    for name in FILE_NAMES:
        path = project / name
        if path.is_file():
            return path
    return None


def find_below(project: Path, depth: int = 2) -> list[Path]:
    """Compose files in folders under ``project`` (``docker/docker-compose.yml``), up to
    ``depth`` folders down, outside hidden folders: `docker compose` does not read them
    from the project's top, so neither does the smoke run unless one is named."""
    found: list[Path] = []
    level = [project]
    for _ in range(depth):
        below: list[Path] = []
        for folder in level:
            try:
                below += sorted(p for p in folder.iterdir() if p.is_dir()
                                and not p.name.startswith(".") and p.name not in
                                ("node_modules", "venv", "site-packages", "tests",
                                 "test"))
            except OSError:
                continue
        found += [folder / name for folder in below for name in FILE_NAMES
                  if (folder / name).is_file()]
        level = below
    return found


# --- interpolation ---------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", re.DOTALL)


def interpolate(text: str, lookup: Callable[[str], str | None], where: str,
                unset: list[str] | None = None) -> str:
    """``text`` with its variables replaced as Compose does; a variable that is not set
    and has no default becomes "" (its name is added to ``unset``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text.startswith("${", j):
                    depth += 1
                    j += 2
                    continue
                if text[j] == "}":
                    depth -= 1
                j += 1
            if depth:
                raise ComposeError(f"{where}: {text!r}: a `${{` is not closed")
            out.append(_expand(text[i + 2:j - 1], lookup, where, unset))
            i = j
            continue
        m = _NAME.match(text, i + 1)
        if m is None:  # a lone "$": kept, as Compose keeps "$" before a non-name
            out.append("$")
            i += 1
            continue
        value = lookup(m.group())
        if value is None and unset is not None:
            unset.append(m.group())
        out.append(value or "")
        i = m.end()
    return "".join(out)


def _expand(body: str, lookup: Callable[[str], str | None], where: str,
            unset: list[str] | None) -> str:
    m = _BRACED.fullmatch(body)
    if m is None:
        raise ComposeError(f"{where}: `${{{body}}}` is not a valid variable reference")
    name, op, arg = m.group(1), m.group(2), m.group(3) or ""
    value = lookup(name)

    def rest() -> str:
        return interpolate(arg, lookup, where, unset)

    if op is None:
        if value is None and unset is not None:
            unset.append(name)
        return value or ""
    if op == ":-":
        return value if value else rest()
    if op == "-":
        return value if value is not None else rest()
    if op in (":?", "?"):
        if (op == ":?" and not value) or value is None:
            raise ComposeError(f"{where}: required variable {name} is not set"
                               + (f": {rest()}" if arg else ""))
        return value
    if op == ":+":
        return rest() if value else ""
    return rest() if value is not None else ""  # "+"


def _interpolated(value: Any, lookup: Callable[[str], str | None], where: str,
                  unset: list[str]) -> Any:
    """Every string in a YAML value interpolated (mapping keys are not)."""
    if isinstance(value, str):
        return interpolate(value, lookup, where, unset)
    if isinstance(value, list):
        return [_interpolated(v, lookup, where, unset) for v in value]
    if isinstance(value, dict):
        return {k: _interpolated(v, lookup, f"{where}.{k}", unset) for k, v in value.items()}
    return value


# --- .env files -------------------------------------------------------------------------


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=value`` lines as Compose reads an env file: ``#`` comments, ``export``,
    single quotes (literal), double quotes (with ``\\n`` escapes), inline ``# ...`` after
    an unquoted value."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        found[key] = value
    return found


# --- reading a service ------------------------------------------------------------------


def _duration(value: object, where: str) -> float:
    """A Compose duration ("1m30s", "500ms", "10s", 10) in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ComposeError(f"{where} = {value!r}: not a duration (e.g. \"10s\", \"1m30s\")")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def _argv(value: object, where: str) -> tuple[str, ...]:
    """A command: a string is split as a shell would, a list taken as it is."""
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise ComposeError(f"{where}: {exc}") from None
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    raise ComposeError(f"{where}: must be a string or a list, not {type(value).__name__}")


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _environment(service: Mapping[str, Any], where: str, base: Path,
                 environ: Mapping[str, str]) -> dict[str, str]:
    """``env_file`` then ``environment`` (which wins), as Compose merges them. A name
    without a value takes the process environment's (unset: left out)."""
    env: dict[str, str] = {}
    files = service.get("env_file")
    for entry in [files] if isinstance(files, str | dict) else (files or []):
        path_text = entry.get("path") if isinstance(entry, dict) else entry
        required = entry.get("required", True) if isinstance(entry, dict) else True
        path = base / str(path_text)
        try:
            env.update(parse_dotenv(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            if required:
                example = env_template(path)
                raise ComposeMissingFileError(
                    f"{where}.env_file names {path_text}, which is not in this checkout: "
                    f"`docker compose up` refuses the file as well (env file {path_text} "
                    "not found)" + (f"; {example} is committed beside it" if example
                                    else ""), example) from None
        except (OSError, UnicodeDecodeError) as exc:
            if required:
                raise ComposeError(f"{where}.env_file: cannot read {path_text}: "
                                   f"{getattr(exc, 'strerror', None) or exc}") from None
    raw = service.get("environment")
    if isinstance(raw, dict):
        for key, value in raw.items():
            if value is None:
                if str(key) in environ:
                    env[str(key)] = environ[str(key)]
            else:
                env[str(key)] = _scalar(value)
    elif isinstance(raw, list):
        for item in raw:
            key, sep, value = str(item).partition("=")
            if sep:
                env[key] = value
            elif key in environ:
                env[key] = environ[key]
    elif raw is not None:
        raise ComposeError(f"{where}.environment: must be a mapping or a list")
    return env


def _healthcheck(raw: object, where: str) -> Healthcheck | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ComposeError(f"{where}.healthcheck: must be a mapping")
    if raw.get("disable") is True:
        return None
    test = raw.get("test")
    if isinstance(test, str):
        argv: tuple[str, ...] = ("/bin/sh", "-c", test)
    elif isinstance(test, list) and test:
        kind, *rest = [str(t) for t in test]
        if kind == "NONE":
            return None
        if kind == "CMD-SHELL" and rest:
            argv = ("/bin/sh", "-c", " ".join(rest))
        elif kind == "CMD" and rest:
            argv = tuple(rest)
        else:
            raise ComposeError(f"{where}.healthcheck.test: {test!r} must start with CMD, "
                               "CMD-SHELL or NONE")
    elif test is None:
        return None  # timing only: the image's own HEALTHCHECK applies
    else:
        raise ComposeError(f"{where}.healthcheck.test: must be a string or a list")
    retries = raw.get("retries", 3)
    return Healthcheck(
        argv,
        _duration(raw.get("interval", "30s"), f"{where}.healthcheck.interval"),
        _duration(raw.get("timeout", "30s"), f"{where}.healthcheck.timeout"),
        _duration(raw.get("start_period", "0s"), f"{where}.healthcheck.start_period"),
        int(retries) if isinstance(retries, int) else 3)


def _depends_on(raw: object, where: str) -> dict[str, str]:
    """name -> condition, in the order written."""
    if raw is None:
        return {}
    if isinstance(raw, list):
        return {str(name): "service_started" for name in raw}
    if isinstance(raw, dict):
        found: dict[str, str] = {}
        for name, spec in raw.items():
            condition = (spec or {}).get("condition", "service_started") \
                if isinstance(spec, dict) else "service_started"
            if condition not in CONDITIONS:
                raise ComposeError(f"{where}.depends_on.{name}.condition = {condition!r}: "
                                   f"must be one of {', '.join(CONDITIONS)}")
            found[str(name)] = str(condition)
        return found
    raise ComposeError(f"{where}.depends_on: must be a list or a mapping")


def _mounts(raw: object) -> list[tuple[str, str, str]]:
    """(kind, source, target) of a service's volumes; kind is bind, volume or tmpfs."""
    found: list[tuple[str, str, str]] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            kind = str(item.get("type", "volume"))
            found.append((kind, str(item.get("source", "")), str(item.get("target", ""))))
            continue
        parts = str(item).split(":")
        if len(parts) == 1:
            found.append(("volume", "", parts[0]))  # an anonymous volume
            continue
        source, target = parts[0], parts[1]
        bind = source.startswith((".", "/", "~"))
        found.append(("bind" if bind else "volume", source, target))
    return found


def _builds(service: Mapping[str, Any], base: Path,
            lookup: Callable[[str], str | None] = lambda _name: None) -> Path | None:
    """The Dockerfile a service builds (resolved), or None. Its context and dockerfile
    are interpolated first (opentelemetry-demo: ``dockerfile: ${RECOMMENDATION_DOCKERFILE}``
    from the committed .env)."""
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    elif isinstance(build, dict):
        context = str(build.get("context", "."))
        dockerfile = str(build.get("dockerfile", "Dockerfile"))
        if "dockerfile_inline" in build:
            return None
    else:
        return None
    try:
        context = interpolate(context, lookup, "build.context")
        dockerfile = interpolate(dockerfile, lookup, "build.dockerfile")
    except ComposeError:
        return None
    if "://" in context or context.startswith("git@"):
        return None  # a remote context is not this project
    root = (base / context).resolve()
    return (root / dockerfile).resolve()


# --- the model -------------------------------------------------------------------------


def load(path: Path, project: Path, dockerfile: Path, *, environ: Mapping[str, str],
         service: str = "") -> ComposeModel:
    """What ``path`` says about the app that builds ``dockerfile`` (``service`` chooses
    when several do). Raises :class:`ComposeError` on a file Compose would refuse."""
    import yaml  # type: ignore[import-untyped]

    display = _display(path, project)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeError(f"{display}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ComposeError(f"{display}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise ComposeError(f"{display}: has no `services:` mapping")
    base = path.parent
    dotenv: dict[str, str] = {}
    if (base / ".env").is_file():
        try:
            dotenv = parse_dotenv((base / ".env").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            dotenv = {}

    def lookup(name: str) -> str | None:
        return environ[name] if name in environ else dotenv.get(name)

    services: dict[str, Any] = data["services"]
    model = _model(display, services, base, project, dockerfile, lookup, environ, service,
                   [n for n in OVERRIDE_NAMES if (base / n).is_file()])
    # Not followed: say so, since what they hold is missing from the model.
    unread = [f"{display}: `include` is not followed (only this file is read)"] \
        if data.get("include") else []
    used = [model.app.name] if model.app is not None else []
    used += [s.name for s in model.services]
    unread += [f"{name}: `extends` is not followed (its base's settings are not used)"
               for name in used if isinstance(services.get(name), dict)
               and "extends" in services[name]]
    if not unread:
        return model
    return ComposeModel(model.file, model.app, model.services, (*model.notes, *unread),
                        model.candidates)


def _model(display: str, services: Mapping[str, Any], base: Path, project: Path,
           dockerfile: Path, lookup: Callable[[str], str | None],
           environ: Mapping[str, str], chosen: str, overrides: list[str]) -> ComposeModel:
    notes: list[str] = []
    if overrides:
        notes.append(f"{', '.join(overrides)} not read (override files hold development "
                     "settings)")
    target = dockerfile.resolve()
    candidates = [name for name, svc in services.items()
                  if isinstance(svc, dict) and _builds(svc, base, lookup) == target]
    if chosen:
        if chosen not in services:
            raise ComposeError(f"{display}: no service {chosen!r} ([tool.shipready.compose] "
                               f"service); services: {', '.join(map(str, services))}")
        name: str | None = chosen
    elif not candidates:
        return ComposeModel(display, None, (), tuple(notes))
    else:
        # Several services build the image (web and worker): the one that publishes ports.
        with_ports = [n for n in candidates if services[n].get("ports")]
        name = (with_ports or candidates)[0]
        if len(candidates) > 1:
            notes.append(f"services {', '.join(candidates)} build the Dockerfile; chose "
                         f"{name} ([tool.shipready.compose] service chooses)")
    assert name is not None
    unset: list[str] = []

    def read(svc_name: str) -> dict[str, Any]:
        raw = services.get(svc_name)
        if not isinstance(raw, dict):
            raise ComposeError(f"{display}: services.{svc_name} must be a mapping")
        where = f"{display}: services.{svc_name}"
        value = _interpolated(raw, lookup, where, unset)
        assert isinstance(value, dict)
        return value

    app_raw = read(name)
    where = f"{display}: services.{name}"
    for kind, source, target_path in _mounts(app_raw.get("volumes")):
        what = f"bind mount {source}:{target_path}" if kind == "bind" else \
            f"{kind} {source or '(anonymous)'}:{target_path}"
        notes.append(f"{name}: {what} not used (the image must hold what it runs)")
    command = _argv(app_raw.get("command"), f"{where}.command")
    entry = _argv(app_raw.get("entrypoint"), f"{where}.entrypoint")
    shown = " ".join((*entry, *command))
    dev = _DEV_COMMAND.search(shown)
    app = AppService(name, _environment(app_raw, where, base, environ), command,
                     f"`{shown}` reloads or debugs (a development server)" if dev else "")
    order: list[str] = []
    conditions: dict[str, str] = {}

    def visit(svc_name: str, trail: tuple[str, ...]) -> None:
        raw = read(svc_name)
        for dep, condition in _depends_on(raw.get("depends_on"),
                                          f"{display}: services.{svc_name}").items():
            if dep in trail:
                raise ComposeError(f"{display}: depends_on forms a cycle: "
                                   f"{' -> '.join((*trail, dep))}")
            if dep not in services:
                raise ComposeError(f"{display}: services.{svc_name}.depends_on names "
                                   f"{dep!r}, which is not a service")
            conditions.setdefault(dep, condition)
            if dep not in order:
                visit(dep, (*trail, dep))
                order.append(dep)

    visit(name, (name,))
    backing: list[BackingService] = []
    for dep in order:
        raw = read(dep)
        dwhere = f"{display}: services.{dep}"
        image = str(raw.get("image") or "")
        if not image:
            notes.append(f"{dep}: not started: it builds its own image (build:) and only "
                         "services with an `image` are started; a one-shot that runs "
                         "migrations belongs in [tool.shipready.smoke] release")
            continue
        copies: list[CopyIn] = []
        for kind, source, target_path in _mounts(raw.get("volumes")):
            if kind != "bind":
                if kind == "volume" and source:
                    notes.append(f"{dep}: named volume {source} not used (each run starts "
                                 "from a fresh service)")
                continue
            src = (base / source).expanduser().resolve()
            if src.exists() and src.is_relative_to(project.resolve()):
                copies.append(CopyIn(src, target_path))
            else:
                notes.append(f"{dep}: bind mount {source} not used (not a file of the "
                             "project)")
        aliases = tuple(str(raw[k]) for k in ("container_name", "hostname")
                        if raw.get(k) and str(raw[k]) != dep)
        backing.append(BackingService(
            dep, image, _environment(raw, dwhere, base, environ),
            _argv(raw.get("command"), f"{dwhere}.command"),
            _argv(raw.get("entrypoint"), f"{dwhere}.entrypoint"),
            _healthcheck(raw.get("healthcheck"), dwhere), conditions.get(dep, "service_started"),
            aliases, tuple(copies)))
        if conditions.get(dep) == "service_healthy" and backing[-1].healthcheck is None:
            notes.append(f"{dep}: `condition: service_healthy` without a healthcheck in "
                         f"{display}: readiness is judged by the image's own signal")
    for var in dict.fromkeys(unset):
        notes.append(f"the variable {var} is not set: it became an empty string, as "
                     "Compose does")
    return ComposeModel(display, app, tuple(backing), tuple(notes), tuple(candidates))


def _display(path: Path, project: Path) -> str:
    try:
        return path.resolve().relative_to(project.resolve()).as_posix()
    except ValueError:
        return str(path)
