"""The logs area: is what the app logs machine-readable (SR501-SR505, SR510)?

SR501-SR505 check the smoke container's output (stdout and stderr, from start through
graceful stop, after the readiness probe and the ``[tool.shipready.logs] requests``).
They get it from a zero-argument *source* (:data:`~pytest_shipready.checks.LogSource`)
that the container area sets on the run as ``RunContext.container_logs``; when there is
no container output the items are skipped with the reason. SR510 runs the app's logging
setup in a subprocess; it needs no container.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from ..checks import (
    CheckResult,
    ContainerLogs,
    ContainerLogsLost,
    ImageRunner,
    LogSource,
    NoContainerLogs,
    Options,
    PlannedCheck,
    RunContext,
    Status,
)
from ..config import Settings
from . import lines

SOURCE = "container log"


def from_context(context: RunContext) -> LogSource:
    """The session container's output, from the source the container area set on the
    run (read when the checks run, not at planning)."""

    def source() -> ContainerLogs:
        if context.container_logs is None:
            raise NoContainerLogs(
                "no smoke container in this run: SR501-SR505 check the smoke container's "
                "output, which needs the image's Dockerfile ([tool.shipready.image] "
                "dockerfile) and a Docker engine")
        return context.container_logs()

    return source


def plan(settings: Settings, options: Options, context: RunContext) -> list[PlannedCheck]:
    return plan_with(settings, from_context(context), lambda: context.run_in_image)


def plan_with(settings: Settings, source: LogSource,
              in_image: Callable[[], ImageRunner | None] = lambda: None
              ) -> list[PlannedCheck]:
    cfg = settings.config.logs

    @functools.cache
    def analysis() -> tuple[lines.Analysis, str, str] | str | ContainerLogsLost:
        try:
            logs = source()
        except NoContainerLogs as exc:
            return f"no container logs: {exc}"
        except ContainerLogsLost as exc:  # the engine is gone: one line, as elsewhere
            return exc
        # A log over max_log_mb is its first part and a sample (and the starts of
        # lines too long to keep): the line says so.
        return lines.analyse(logs.lines, cfg, logs.env, source=SOURCE,
                             starts=logs.prefixes), logs.coverage(), logs.partly_read()

    def container_check(check_id: str) -> Callable[[], CheckResult]:
        def run() -> CheckResult:
            result = analysis()
            if isinstance(result, ContainerLogsLost):
                return CheckResult.failed(check_id, str(result), [])
            if isinstance(result, str):
                return CheckResult.skipped(check_id, result)
            verdict = lines.CHECKS[check_id](result[0])
            if result[1] and verdict.status != Status.SKIPPED:
                verdict = dataclasses.replace(verdict, summary=f"{verdict.summary}; "
                                              f"{result[1]}")
            elif result[2]:  # a skip: what was not read, too
                verdict = dataclasses.replace(verdict, summary=verdict.summary + result[2])
            return verdict
        return run

    def setup() -> CheckResult:
        from .setup import check_setup

        return check_setup(settings.project, cfg, in_image())

    names = [("SR501", "structured"), ("SR502", "required-keys"),
             ("SR503", "levels-and-timestamps"), ("SR504", "exceptions-structured"),
             ("SR505", "no-secrets")]
    checks = [PlannedCheck("logs", None, check_id, name, None, container_check(check_id),
                           runs_last=True)
              for check_id, name in names]
    checks.append(PlannedCheck("logs", None, "SR510", "setup", None, setup))
    return checks
