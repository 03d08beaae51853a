"""The dockerfile area: static hygiene checks SR201-SR206, each evaluated lazily.

No Dockerfile: the project does not seem to ship a container, so every item is skipped
with that reason, unless ``[tool.shipready.dockerfile] required = true`` (then
base-pinned fails, saying where it looked). A Dockerfile Docker would reject (or a
``target`` that is not in it) fails base-pinned with the reasons; the others skip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from ..checks import CheckResult, Finding, Options, PlannedCheck, RunContext
from ..config import Settings
from ..locks import pipcompile
from . import command, hygiene, locate
from .parser import Dockerfile

SHARED_KEY = "dockerfile.parsed"
# (check ID, node name); the first one carries a missing or unparsable Dockerfile.
CHECKS = (
    ("SR201", "base-pinned"),
    ("SR202", "non-root-user"),
    ("SR203", "healthcheck"),
    ("SR204", "no-secrets"),
    ("SR205", "lock-used"),
    ("SR206", "dockerignore"),
    ("SR207", "start-command"),
    ("SR208", "production-server"),
    ("SR209", "no-migrate-on-start"),
)


def smoke_probe(settings: Settings) -> str | None:
    """A readiness probe configured for the smoke checks, which SR203 accepts instead of a
    HEALTHCHECK. The smoke area wires its probe settings (HTTP path, log line) in here;
    until then only ``healthcheck_optional`` stands in for it."""
    return None


def _inside(context: Path, outputs: tuple[tuple[Path, str], ...]) -> list[tuple[str, str]]:
    """The run's output files that lie in the build context: (path in it, option)."""
    root = context.resolve()
    return [(out.relative_to(root).as_posix(), option) for out, option in outputs
            if out.is_relative_to(root)]


def plan(settings: Settings, options: Options, context: RunContext) -> list[PlannedCheck]:
    project = settings.project
    cfg = settings.config.dockerfile
    image = settings.config.image  # which Dockerfile, context and stage: as built
    path = project / image.dockerfile
    target = image.target
    display = pipcompile.display_path(path, project)

    if not path.is_file():
        where = f"looked for {path} ([tool.shipready.image] dockerfile = " \
            f"{image.dockerfile!r})"
        if not cfg.required:
            found = locate.find_dockerfiles(project, image.dockerfile)
            reason = (f"no Dockerfile at {display}: the project does not seem to ship a "
                      "container image (set [tool.shipready.image] dockerfile to check one, "
                      "or required = true to fail instead)") if not found.all else (
                f"no Dockerfile at {display}, but the project has {found.told()}: set "
                f"[tool.shipready.image] dockerfile = \"{found.all[0]}\" to check and "
                "build the one that ships")
            planned = [_fixed(display, path, check_id, name,
                              CheckResult.skipped(check_id, reason))
                       for check_id, name in CHECKS if check_id not in ("SR208", "SR209")]
            return [*planned, *_procfile_checks(settings, display, path, reason)]
        missing = CheckResult.failed("SR201", "no Dockerfile", [Finding(
            where, str(path), None,
            "Create the Dockerfile or point [tool.shipready.image] dockerfile at it.")])
        return [_fixed(display, path, check_id, name, missing if check_id == "SR201" else
                       CheckResult.skipped(check_id, f"no Dockerfile at {display}; see "
                                           "base-pinned"))
                for check_id, name in CHECKS]

    @functools.cache
    def parsed() -> Dockerfile:
        # with the build args, as built: they decide the RUNs' shell conditions (SR205)
        return hygiene.load(path, display, image.build_args)

    # Other areas (image build, smoke) read EXPOSE, HEALTHCHECK, STOPSIGNAL, USER and the
    # BuildKit features from the same parse: context.shared[SHARED_KEY]() -> Dockerfile.
    context.shared[SHARED_KEY] = parsed

    @functools.cache
    def broken() -> list[Finding]:
        return hygiene.problems(parsed(), target)

    def guarded(check_id: str, check: Callable[[Dockerfile], CheckResult]
                ) -> Callable[[], CheckResult]:
        def run() -> CheckResult:
            if broken():
                if check_id == "SR201":
                    return CheckResult.failed("SR201", f"{display} cannot be used as it is",
                                              broken())
                return CheckResult.skipped(
                    check_id, f"{display} cannot be used as it is; see base-pinned")
            return check(parsed())
        return run

    context_dir = project / image.context
    smoke = settings.config.smoke

    def shipped() -> str:
        return "the final stage" if not target else f"target stage {target!r}"

    @functools.cache
    def processes() -> dict[str, str]:
        return _procfile(project)

    def procfile() -> str | None:
        return processes().get("web")

    def start_commands(df: Dockerfile) -> list[command.StartCommand]:
        found = command.image_command(df, df.target(target) or df.stages[-1])
        commands = [found] if found is not None else []
        return [*commands, *_platform_commands(settings, processes())]

    def serves(df: Dockerfile) -> tuple[str, str]:
        """What the service speaks ("http", "grpc", "none": a worker) and its start
        command, for the HEALTHCHECK SR203 proposes."""
        from ..starter import command_port, looks_like_worker

        stage = df.target(target) or df.stages[-1]
        found = command.image_command(df, stage)
        text = " ".join(smoke.command) or (found.text if found is not None else "")
        if hygiene.uses_grpc(_dependency_texts(settings, path.parent)):
            return "grpc", text
        if not df.exposed(stage) and not smoke.ports and command_port(text) is None \
                and looks_like_worker(text):
            return "none", text
        return "http", text

    read = command.project_reader(project, context_dir)
    checks: dict[str, Callable[[Dockerfile], CheckResult]] = {
        "SR201": lambda df: hygiene.check_base_pinned(df, cfg.pin),
        "SR202": lambda df: hygiene.check_non_root(df, target, read),
        "SR203": lambda df: hygiene.check_healthcheck(df, target, cfg.healthcheck_optional,
                                                      smoke_probe(settings), *serves(df)),
        "SR204": lambda df: hygiene.check_no_secrets(df, cfg.allowed_secret_names),
        "SR205": lambda df: hygiene.check_lock_used(df, hygiene.known_locks(settings), target,
                                                    cfg.allowed_installs, read),
        "SR206": lambda df: hygiene.check_dockerignore(
            context_dir, path, cfg.dockerignore_required, image.context, df,
            written=_inside(context_dir, options.outputs), target=target or None),
        "SR207": lambda df: command.check_start_command(
            df, df.target(target) or df.stages[-1], shipped(), smoke.command, procfile(),
            read),
        "SR208": lambda df: command.check_production_server(
            start_commands(df), df.variables(df.target(target) or df.stages[-1]), read),
        "SR209": lambda df: command.check_start_migrations(
            start_commands(df), read, processes().get("release")),
    }
    return [PlannedCheck("dockerfile", display, check_id, name, path,
                         guarded(check_id, checks[check_id]))
            for check_id, name in CHECKS]


def _dependency_texts(settings: Settings, beside: Path) -> list[str]:
    """The project's dependency files (its locks, pyproject.toml, requirements files at
    the top and beside the Dockerfile), as text."""
    project = settings.project
    paths = {project / lock.path for lock in hygiene.known_locks(settings)}
    for where in dict.fromkeys((project, beside)):
        paths.update(where.glob("requirements*.txt"))
        paths.update(where.glob("requirements*.in"))
        paths.add(where / "pyproject.toml")
    texts = []
    for found in sorted(paths):
        try:
            if found.resolve().is_relative_to(project.resolve()) and found.is_file():
                texts.append(found.read_text(encoding="utf-8", errors="replace")[:2_000_000])
        except OSError:
            continue
    return texts


def _procfile(project: Path) -> dict[str, str]:
    try:
        return command.procfile((project / "Procfile").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def _platform_commands(settings: Settings, processes: dict[str, str]
                       ) -> list[command.StartCommand]:
    """The start commands a platform gives: the Procfile's web process and
    [tool.shipready.smoke] command."""
    found: list[command.StartCommand] = []
    if processes.get("web"):
        found.append(command.StartCommand(processes["web"], "the Procfile's web process",
                                          "Procfile"))
    smoke = settings.config.smoke.command
    if smoke:
        found.append(command.StartCommand(" ".join(smoke), "[tool.shipready.smoke] command",
                                          argv=tuple(smoke)))
    return found


def _procfile_checks(settings: Settings, display: str, path: Path, no_dockerfile: str
                     ) -> list[PlannedCheck]:
    """SR208 and SR209 without a Dockerfile: a Procfile service (buildpacks) still has a
    start command to check, the Procfile's web process (and the smoke command)."""
    project = settings.project
    read = command.project_reader(project, project)

    def commands() -> tuple[list[command.StartCommand], dict[str, str]]:
        processes = _procfile(project)
        return _platform_commands(settings, processes), processes

    def server() -> CheckResult:
        found, _ = commands()
        if not found:
            return CheckResult.skipped("SR208", no_dockerfile)
        return command.check_production_server(found, {}, read)

    def migrations() -> CheckResult:
        found, processes = commands()
        if not found:
            return CheckResult.skipped("SR209", no_dockerfile)
        return command.check_start_migrations(found, read, processes.get("release"))

    return [PlannedCheck("dockerfile", display, "SR208", "production-server", path, server),
            PlannedCheck("dockerfile", display, "SR209", "no-migrate-on-start", path,
                         migrations)]


def _fixed(display: str, path: Path, check_id: str, name: str, result: CheckResult
           ) -> PlannedCheck:
    return PlannedCheck("dockerfile", display, check_id, name, path, lambda: result)
