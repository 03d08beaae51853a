"""The logs area: is what the app logs machine-readable (SR501-SR505, SR510)?

SR501-SR505 check the smoke container's output (stdout and stderr, from start through
graceful stop, after the readiness probe and the ``[tool.shipready.logs] requests``).
They get it from a zero-argument *source*: :func:`from_shared` reads what the smoke area
leaves in ``RunContext.shared`` (``"smoke.logs"``: list of bytes lines, ``"smoke.env"``:
the environment given to the container). When there is no container output the items
are skipped with the reason. SR510 runs the app's logging setup in a subprocess; it needs
no container.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..checks import CheckResult, Options, PlannedCheck, RunContext
from ..config import Settings
from . import lines

LOGS_KEY = "smoke.logs"
ENV_KEY = "smoke.env"
SKIP_KEY = "smoke.skip_reason"  # why the smoke container did not run, if the area says
THROUGH_STOP_KEY = "smoke.through_stop"  # runs the session container through its stop
FINAL_KEY = "smoke.logs_final"  # the shared log runs through the graceful stop
SOURCE = "container log"


@dataclass(frozen=True)
class ContainerLogs:
    lines: Sequence[bytes]
    env: Mapping[str, str] = field(default_factory=dict)


class NoContainerLogs(Exception):  # noqa: N818 - reads as "raise NoContainerLogs(why)"
    """Raised by a log source when no container ran; the message is the reason."""


LogSource = Callable[[], ContainerLogs]


def from_shared(context: RunContext) -> LogSource:
    """The smoke container's output as the smoke area shares it (read when checks run)."""

    def source() -> ContainerLogs:
        lines = context.shared.get(LOGS_KEY)
        through_stop = context.shared.get(THROUGH_STOP_KEY)
        if (lines is None or not context.shared.get(FINAL_KEY)) and callable(through_stop):
            through_stop()  # the smoke items that run the container were deselected
            lines = context.shared.get(LOGS_KEY)
        if lines is None:
            why = context.shared.get(SKIP_KEY) or "no smoke area in this run"
            raise NoContainerLogs(f"the smoke container did not run ({why})")
        if not isinstance(lines, list | tuple):  # pragma: no cover - a wiring bug
            raise NoContainerLogs(f"shared[{LOGS_KEY!r}] is not a list of lines")
        env = context.shared.get(ENV_KEY) or {}
        return ContainerLogs([bytes(x) for x in lines],
                             dict(env) if isinstance(env, Mapping) else {})

    return source


def plan(settings: Settings, options: Options, context: RunContext) -> list[PlannedCheck]:
    return plan_with(settings, from_shared(context))


def plan_with(settings: Settings, source: LogSource) -> list[PlannedCheck]:
    cfg = settings.config.logs

    @functools.cache
    def analysis() -> lines.Analysis | str:
        try:
            logs = source()
        except NoContainerLogs as exc:
            return f"no container logs: {exc}"
        return lines.analyse(logs.lines, cfg, logs.env, source=SOURCE)

    def container_check(check_id: str) -> Callable[[], CheckResult]:
        def run() -> CheckResult:
            result = analysis()
            if isinstance(result, str):
                return CheckResult.skipped(check_id, result)
            return lines.CHECKS[check_id](result)
        return run

    def setup() -> CheckResult:
        from .setup import check_setup

        return check_setup(settings.project, cfg)

    names = [("SR501", "structured"), ("SR502", "required-keys"),
             ("SR503", "levels-and-timestamps"), ("SR504", "exceptions-structured"),
             ("SR505", "no-secrets")]
    checks = [PlannedCheck("logs", None, check_id, name, None, container_check(check_id))
              for check_id, name in names]
    checks.append(PlannedCheck("logs", None, "SR510", "setup", None, setup))
    return checks
