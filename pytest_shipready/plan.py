"""Which checks run on this project: one :class:`PlannedCheck` per future pytest item.

Planning is cheap (it finds files, it does not check them); each check runs lazily when
its item runs, and what several checks share (a parsed lock, its inputs) is computed
once. No pytest, no docker: the plugin turns these into items.
"""

from __future__ import annotations

from .checks import AreaPlanner, Options, PlannedCheck, RunContext
from .config import Settings


def planners() -> list[AreaPlanner]:
    """The areas, in the order their items run. Imported here, lazily, under --shipready."""
    from .container import area as container
    from .deploy import area as deploy
    from .dockerfile import area as dockerfile
    from .locks import area as locks
    from .logs import area as logs

    return [
        locks.plan,
        dockerfile.plan,
        container.plan,  # image, smoke and parity (they share one build and one container)
        deploy.plan,  # the manifests against the session container (SR603 after SR304)
        # before logs: the container-log checks read the smoke container's output
        logs.plan,
    ]


def plan(settings: Settings, options: Options, context: RunContext) -> list[PlannedCheck]:
    checks: list[PlannedCheck] = []
    for planner in planners():
        checks.extend(planner(settings, options, context))
    return checks
