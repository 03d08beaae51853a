"""The container area: image (SR210 build, SR211 size), smoke (SR30x) and parity (SR40x)
items of one build and one session container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..checks import Options, PlannedCheck, RunContext
from ..config import Settings
from .build import check_size, docker_run, uses_docker

if TYPE_CHECKING:
    pass


def plan(settings: Settings, options: Options, context: RunContext) -> list[PlannedCheck]:
    """The image, smoke and parity checks (one planner: they share one DockerRun)."""
    if not uses_docker(settings):
        return []
    from . import declared, integrity, parityrun, shipped, smokerun

    run = docker_run(settings, context)
    run.require_engine = options.require_docker
    run.require_why = options.require_docker_why
    run.readiness_only = options.readiness_only
    path = run.dockerfile if run.dockerfile.is_file() else None
    checks = [
        PlannedCheck("image", None, "SR210", "build", path, lambda: run.image().result),
        PlannedCheck("image", None, "SR211", "size", path, lambda: check_size(run)),
        PlannedCheck("image", None, "SR230", "declared-facts", path,
                     lambda: declared.check(run, smoke)),
    ]
    smoke = smokerun.smoke_run(run)
    smoke_checks = smokerun.plan(run, path)
    parity = parityrun.ParityRun(run)
    # The integrity checks reuse parity's probe and interpreter.
    parity_checks = parityrun.plan(run, path, parity, integrity.plan(run, parity, smoke, path))
    # What the image ships, for the report's SBOM (read when the run ends).
    context.image_inventory = shipped.Inventory(run, parity)
    # graceful-shutdown stops the session container: run it after parity.
    checks += smoke_checks[:-1] + parity_checks + smoke_checks[-1:]
    return checks
