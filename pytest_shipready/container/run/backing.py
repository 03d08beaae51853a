"""The backing services of the smoke run, as plain data: which ones, from where
(``[tool.shipready.services.<name>]`` or a Compose file), how each one's readiness is
judged, and the verdicts on them (SR320) and on the app when a service refused it.

Pure: no docker, no pytest. :mod:`.services` starts what this describes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...checks import CheckResult, Finding
from ...config import ShipreadyConfig
from ...deploy import compose
from . import smoke as verdicts

OBSERVE = 2.0  # seconds a service with no readiness signal is watched before it counts


@dataclass(frozen=True)
class Probe:
    """How a service's readiness is judged.

    ``exec``: ``argv`` run in it exits 0 (or its output matches ``accept``);
    ``log``: a log line matches ``pattern``; ``port``: one of ``ports`` listens (read off
    /proc/net/tcp in it); ``image``: the image's own HEALTHCHECK, run with docker exec,
    else its EXPOSEd ports; ``exit``: it runs to completion with exit code 0 (a one-shot).
    """

    kind: str
    describe: str
    argv: tuple[str, ...] = ()
    pattern: str = ""
    ports: tuple[int, ...] = ()
    accept: str = ""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    probe: Probe
    env: dict[str, str] = field(default_factory=dict, repr=False)  # values may be secret
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    copies: tuple[tuple[Path, str], ...] = ()
    ready_timeout: float = 60.0


@dataclass(frozen=True)
class ServicesPlan:
    """The services to start and what the app gets from the same source."""

    services: tuple[ServiceSpec, ...] = ()
    app_env: dict[str, str] = field(default_factory=dict, repr=False)
    app_command: tuple[str, ...] = ()
    source: str = ""  # "compose.yaml (service web)" or "[tool.shipready.services]"
    notes: tuple[str, ...] = ()
    error: str = ""  # the Compose file cannot be used: SR320 fails with this
    # A file the Compose file requires is not in this checkout (a .env made from a
    # committed .env.example): SR320 and the app's checks skip with this.
    missing: str = ""
    none_why: str = ""  # why there are no services (for SR320's skip)

    def secret_env(self) -> list[dict[str, str]]:
        """Every environment given to a container: what the secret masking reads."""
        return [dict(self.app_env), *(dict(s.env) for s in self.services)]


# --- readiness by image, from what testcontainers' modules wait for --------------------


def repository(image: str) -> str:
    """``docker.io/library/postgres:15`` -> ``postgres``; ``bitnami/redis@sha256:..`` ->
    ``redis``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


_PSQL = ('PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "${POSTGRES_USER:-postgres}" '
         '-d "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" -Atc "select 1"')


def known_probe(image: str) -> Probe | None:
    """The readiness signal of a well-known image: what testcontainers' module for it
    waits for, run through the engine (never from this process to a published port).
    PostgreSQL: a query over TCP with the service's own credentials (PostgresContainer);
    the official image's first-start server listens on no TCP port, so this passes only
    once the real server is up. Redis: ``redis-cli ping`` (a password-protected server
    answering NOAUTH is up too). RabbitMQ: the line it logs once it accepts connections."""
    repo = repository(image)
    if repo in ("postgres", "postgresql", "postgis", "timescaledb"):
        return Probe("exec", "a `select 1` over TCP with its POSTGRES_* credentials",
                     argv=("/bin/sh", "-c", _PSQL))
    if repo in ("redis", "valkey", "redis-stack-server"):
        return Probe("exec", "`redis-cli ping` answering", argv=("redis-cli", "ping"),
                     accept=r"PONG|NOAUTH")
    if repo in ("rabbitmq",):
        return Probe("log", "the log line /Server startup complete/",
                     pattern=r"Server startup complete")
    return None


def _probe(healthcheck: Sequence[str], ready_log: str, ports: Sequence[int],
           image: str) -> Probe:
    if healthcheck:
        return Probe("exec", f"its healthcheck `{_shown(healthcheck)}`",
                     argv=tuple(healthcheck))
    if ready_log:
        return Probe("log", f"the log line /{ready_log}/", pattern=ready_log)
    if ports:
        return Probe("port", f"port {', '.join(map(str, ports))} listening",
                     ports=tuple(ports))
    return known_probe(image) or Probe("image", "the image's HEALTHCHECK or EXPOSEd ports")


# --- the plan ------------------------------------------------------------------------------


def plan(config: ShipreadyConfig, project: Path, dockerfile: Path,
         environ: Mapping[str, str]) -> ServicesPlan:
    """The services of ``[tool.shipready.services]``, else of the Compose file."""
    if config.services:
        specs = tuple(
            ServiceSpec(name, svc.image, _probe(svc.healthcheck, svc.ready_log, svc.ports,
                                                svc.image),
                        dict(svc.env), tuple(svc.command), (), tuple(svc.aliases), (),
                        svc.ready_timeout)
            for name, svc in config.services.items())
        notes = ("the Compose file is not read: [tool.shipready.services] is given",) \
            if config.compose.enabled and compose.find(project) is not None else ()
        return ServicesPlan(specs, source="[tool.shipready.services]", notes=notes)
    cfg = config.compose
    if not cfg.enabled:
        return ServicesPlan(none_why="no [tool.shipready.services.<name>] table, and the "
                            "Compose file is not read ([tool.shipready.compose] enabled = "
                            "false)")
    path = (project / cfg.file) if cfg.file else compose.find(project)
    if path is None:
        below = [p.relative_to(project).as_posix() for p in compose.find_below(project)]
        elsewhere = (f" at the project's top ({', '.join(below)} is not read unless named: "
                     f"[tool.shipready.compose] file = \"{below[0]}\")" if below else "")
        return ServicesPlan(none_why="no backing services: no [tool.shipready.services.<name>]"
                            f" table and no compose.yaml / docker-compose.yml{elsewhere}")
    try:
        model = compose.load(path, project, dockerfile, environ=environ, service=cfg.service)
    except compose.ComposeMissingFileError as exc:
        make = (f"copy the committed template (`cp {exc.example} .env` beside it, then "
                "fill in its values)" if exc.example else "create it")
        return ServicesPlan(source=path.name, missing=(
            f"the backing services of {path.name} cannot be started here: {exc}. To run "
            f"them: {make} before the run (in CI, a step that writes it), mark the entry "
            "`required: false` if the services start without it, or name the services in "
            "[tool.shipready.services.<name>] tables"))
    except compose.ComposeError as exc:
        return ServicesPlan(error=str(exc), source=path.name)
    if model.app is None:
        return ServicesPlan(notes=model.notes, none_why=(
            f"no backing services: no service of {model.file} builds "
            f"{dockerfile.name} ([tool.shipready.compose] service names it)"))
    app = model.app
    source = f"{model.file} (service {app.name})"
    found_notes = list(model.notes)
    command: tuple[str, ...] = ()
    if app.command and cfg.use_command:
        if app.dev_command:
            found_notes.append(f"{app.name}: its command is not used: {app.dev_command}")
        else:
            command = app.command
    elif app.command:
        found_notes.append(f"{app.name}: its command `{' '.join(app.command)}` is not used (the "
                     "image's CMD runs; [tool.shipready.compose] use_command = true uses it)")
    found: list[ServiceSpec] = []
    for svc in model.services:
        if svc.condition == "service_completed_successfully":
            probe = Probe("exit", "running to completion with exit code 0")
        elif svc.healthcheck is not None:
            probe = Probe("exec", f"its healthcheck `{_shown(svc.healthcheck.argv)}`",
                          argv=svc.healthcheck.argv)
        else:
            probe = known_probe(svc.image) or Probe(
                "image", "the image's HEALTHCHECK or EXPOSEd ports")
        found.append(ServiceSpec(svc.name, svc.image, probe, dict(svc.env), svc.command,
                                 svc.entrypoint, svc.aliases,
                                 tuple((c.source, c.target) for c in svc.copies),
                                 cfg.ready_timeout))
    none_why = "" if found else f"no backing services: {source} depends on none"
    return ServicesPlan(tuple(found), dict(app.env), command, source, tuple(found_notes),
                        none_why=none_why)


def _shown(argv: Sequence[str]) -> str:
    """A command as written: a CMD-SHELL test without its ``/bin/sh -c``."""
    return argv[2] if len(argv) == 3 and tuple(argv[:2]) == ("/bin/sh", "-c") \
        else " ".join(argv)


# --- what a service shows ---------------------------------------------------------------


def listening(proc_net_tcp: str) -> set[int]:
    """The TCP ports in LISTEN state in /proc/net/tcp and /proc/net/tcp6 text."""
    ports: set[int] = set()
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) < 4 or ":" not in fields[1] or fields[3] != "0A":
            continue
        try:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except ValueError:
            continue
    return ports


# Lines a service logs when it refuses a client's credentials.
_REJECTED = re.compile(
    r"password authentication failed for user[^\n]*|role \"[^\"]+\" does not exist|"
    r"database \"[^\"]+\" does not exist|no pg_hba\.conf entry[^\n]*|"
    r"Access denied for user[^\n]*|(?:AMQP)?PLAIN login refused[^\n]*|"
    r"invalid credentials[^\n]*|access to vhost [^\n]* refused[^\n]*|"
    r"Authentication failed[^\n]*|WRONGPASS[^\n]*", re.IGNORECASE)


def rejections(log: str) -> list[str]:
    """What a service's log says it refused (credentials, a missing role or database),
    one entry per distinct message, at most three."""
    found: list[str] = []
    for m in _REJECTED.finditer(log):
        text = m.group(0).strip()
        if text not in found:
            found.append(text)
    return found[:3]


@dataclass(frozen=True)
class Outcome:
    """How one service's start went."""

    name: str
    image: str
    state: str  # ready, unverified, not-ready, exited, failed
    seconds: float = 0.0
    how: str = ""  # the probe's description
    log: bytes = field(default=b"", repr=False)
    exit_code: int | None = None
    error: str = ""  # why it did not start, or the last probe's answer


def services_verdict(outcomes: Sequence[Outcome], source: str, notes: Sequence[str],
                     timeouts: Mapping[str, float]) -> CheckResult:
    """SR320: every service ready, or what kept each one from it."""
    findings: list[Finding] = []
    parts: list[str] = []
    key = ("[tool.shipready.services.{}] ready_timeout" if source.startswith("[")
           else "[tool.shipready.compose] ready_timeout")
    for o in outcomes:
        label = f"{o.name} ({o.image})"
        if o.state == "ready":
            parts.append(f"{label} ready in {o.seconds:.1f} s ({o.how})")
        elif o.state == "unverified":
            parts.append(f"{label} running, nothing says it is ready (no healthcheck, "
                         "ready_log, port or EXPOSE)")
        elif o.state == "failed":
            findings.append(Finding(f"service {o.name}: {o.error}", None, None,
                                    f"Make the image {o.image} available to the engine "
                                    "(docker pull / docker build) or fix its settings."))
        elif o.state == "exited":
            findings.append(Finding(
                f"service {label} exited before becoming ready "
                f"({verdicts.exit_meaning(o.exit_code or 0)}, after {o.seconds:.1f} s); "
                + verdicts.tail(o.log), None, None,
                "Read its log: a missing or wrong setting in its environment (a password, "
                "a database name) is the usual cause."))
        else:
            last = f"; the last probe said: {o.error}" if o.error else ""
            findings.append(Finding(
                f"service {label} not ready within {o.seconds:.0f} s (waiting for {o.how})"
                f"{last}; " + verdicts.tail(o.log), None, None,
                f"Fix what keeps it from starting, or raise {key.format(o.name)}."))
    origin = f"; from {source}" if source else ""
    noted = f"; {'; '.join(notes)}" if notes else ""
    if findings:
        names = [f.message.split(":")[0].split(" (")[0].removeprefix("service ")
                 for f in findings]
        return CheckResult.failed(
            "SR320", f"service {', '.join(names)} did not become ready{origin}",
            findings + [Finding(n) for n in notes], services=len(outcomes))
    return CheckResult.passed("SR320", ", ".join(parts) + origin + noted,
                              services=len(outcomes))


def explain_app_failure(result: CheckResult, logs: Mapping[str, tuple[str, bytes]]
                        ) -> CheckResult:
    """SR301's failure with what the services said: a service that refused the app's
    credentials is named in the summary; each service's log tail is a finding.
    ``logs``: service name -> (image, its log tail)."""
    refused: list[str] = []
    findings = list(result.findings)
    for name, (image, log) in logs.items():
        text = log.decode("utf-8", "replace")
        found = rejections(text)
        if found:
            refused.append(name)
            findings.append(Finding(
                f"service {name} ({image}) refused the app: {'; '.join(found)}; "
                + verdicts.tail(log, 10), None, None,
                f"Give the app the credentials service {name} is set up with (user, "
                "password and database in its environment and in the app's URL)."))
        else:
            findings.append(Finding(f"service {name} ({image}) is running; "
                                    + verdicts.tail(log, 10)))
    summary = result.summary
    if refused:
        summary += f"; service {', '.join(refused)} refused the app's credentials"
    return CheckResult(result.check_id, result.status, summary, tuple(findings),
                       dict(result.figures))


def release_verdict(argv: Sequence[str], code: int | None, seconds: float, output: bytes,
                    timeout: float, entrypoint: Sequence[str] = ()) -> CheckResult:
    """SR321: the release command's exit and output. ``entrypoint``: the image's
    ENTRYPOINT, which the command ran as the arguments of."""
    shown = " ".join(argv)
    if code is None:
        return CheckResult.failed(
            "SR321", f"`{shown}` did not finish within {timeout:g} s",
            [Finding(f"the release phase was stopped after {timeout:g} s; "
                     + verdicts.tail(output), None, None,
                     "Make the command end (no prompt, no server in the foreground), or "
                     "raise [tool.shipready.smoke] release_timeout.")],
            seconds=round(seconds, 2))
    if code != 0:
        via = ""
        fix = ("Fix the command or what it runs (a migration that fails on a fresh "
               "database); `docker run` the image with the same command to reproduce.")
        if entrypoint:
            # taiga-back: an entrypoint script that migrates, then execs its server with
            # "$@" appended, never runs the command it is given.
            via = (f"; it ran as the arguments of the image's ENTRYPOINT "
                   f"`{' '.join(entrypoint)}` (as `docker run IMAGE {shown}` does)")
            fix += (" If that ENTRYPOINT does not run the command it is given (a script "
                    "that ends in its own server, e.g. `exec gunicorn ... \"$@\"`), the "
                    "release never ran as written: make it run a command it is given "
                    "(`if [ $# -gt 0 ]; then exec \"$@\"; fi` before its own start), or, "
                    "when the deployment runs the release in place of the ENTRYPOINT (a "
                    "Kubernetes Job's `command:`), set [tool.shipready.smoke] "
                    "release_replaces_entrypoint = true.")
        return CheckResult.failed(
            "SR321", f"`{shown}` failed ({verdicts.exit_meaning(code)})",
            [Finding(f"the release phase exited {code} after {seconds:.1f} s{via}; "
                     + verdicts.tail(output, 40), None, None, fix)],
            exit_code=code, seconds=round(seconds, 2))
    lines = output.decode("utf-8", "replace").strip().splitlines()
    last = f": {lines[-1][:200]}" if lines else ""
    return CheckResult.passed("SR321", f"`{shown}` exited 0 in {seconds:.1f} s{last}",
                              seconds=round(seconds, 2))
