"""The container area: image (SR210 build, SR211 size), smoke (SR30x) and parity (SR40x)
items of one build and one session container.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..checks import CheckResult, Options, PlannedCheck, RunContext, Status
from ..config import Settings
from .build.image import check_size, docker_run, uses_docker
from .inspect.contentsrun import ContentsRun
from .run.hardened import HardenedRun
from .run.observerun import ObservabilityRun
from .run.offered import SessionOffer
from .run.services import services_run

if TYPE_CHECKING:
    pass


def plan(settings: Settings, options: Options, context: RunContext) -> list[PlannedCheck]:
    """The image, smoke and parity checks (one planner: they share one DockerRun)."""
    if not uses_docker(settings):
        return []
    from .inspect import declared, inimage, integrity, parityrun, shipped
    from .run import smokerun

    run = docker_run(settings, context)
    run.require_engine = options.require_docker
    run.require_why = options.require_docker_why
    run.readiness_only = options.readiness_only
    path = run.dockerfile if run.dockerfile.is_file() else None
    contents = ContentsRun(run)

    def build() -> CheckResult:
        result = run.image().result
        contents.begin()  # read the layers while the smoke and parity items run
        return result

    # The layers are read in the background from the build on (or taken from the cache):
    # their items run after the other readiness items, which overlap with the read.
    # The backing services start when the run starts (SR320's prefetch), so that they
    # become ready while the image builds; their secret values are masked from now on.
    services = services_run(run)
    context.add_secrets(services.secrets())
    checks = [
        PlannedCheck("image", None, "SR210", "build", path, build),
        PlannedCheck("image", None, "SR211", "size", path, lambda: check_size(run)),
        PlannedCheck("image", None, "SR220", "contents-secrets", path, contents.secrets,
                     deferred=True, prefetch=contents.prefetch),
        PlannedCheck("image", None, "SR221", "contents-waste", path, contents.waste,
                     deferred=True, prefetch=contents.prefetch),
        PlannedCheck("smoke", None, "SR320", "services", path, services.item,
                     prefetch=services.begin),
        PlannedCheck("smoke", None, "SR321", "release", path, services.release_item),
        PlannedCheck("image", None, "SR230", "declared-facts", path,
                     lambda: declared.check(run, smoke)),
    ]
    smoke = smokerun.smoke_run(run)
    smoke_checks = smokerun.plan(run, path)
    hardened = HardenedRun(run)
    # The deploy area judges the manifests against this session container.
    offer = SessionOffer(run, smoke, hardened)
    context.session_container = lambda: offer
    ready = smoke_checks[0]
    assert ready.check_id == "SR301"

    def ready_and_harden() -> CheckResult:
        run.image()  # built here if the build item did not run (-k), before the threads
        contents.begin()  # the layers' read, if the build item did not start it
        if services.active:
            # Both containers share the services: the hardened one starts once the
            # session container is ready, so they never race on first-start side effects.
            result = ready.run()
            if result.status == Status.PASSED:
                hardened.begin(early=True)
            return result
        hardened.begin(early=True)  # its readiness wait overlaps the session container's
        return ready.run()

    smoke_checks[0] = dataclasses.replace(ready, run=ready_and_harden)
    graceful = smoke_checks[-1]
    assert graceful.check_id == "SR304"

    def stop_both() -> CheckResult:
        hardened.stop_begin()  # both grace periods at once; SR311 judges its own
        return graceful.run()

    smoke_checks[-1] = dataclasses.replace(graceful, run=stop_both)
    observe = ObservabilityRun(run)
    late_checks = [
        PlannedCheck("smoke", None, "SR520", "metrics", path, observe.metrics),
        PlannedCheck("smoke", None, "SR521", "error-event", path, observe.error_event),
        PlannedCheck("smoke", None, "SR310", "hardened-ready", path, hardened.ready,
                     prefetch=hardened.want),
    ]
    # After SR304, which stops the hardened container beside its own: a fault of both
    # (SR304 failed too) is reported once.
    hardened_stop = PlannedCheck("smoke", None, "SR311", "hardened-shutdown", path,
                                 hardened.stop, runs_last=True, prefetch=hardened.want)
    parity = parityrun.ParityRun(run)
    # The integrity checks reuse parity's probe and interpreter.
    parity_checks = parityrun.plan(run, path, parity, integrity.plan(run, parity, smoke, path))
    # What the image ships, for the report's SBOM (read when the run ends).
    context.image_inventory = shipped.Inventory(run, parity)
    # SR510 runs the app's logging setup in the session container too.
    context.run_in_image = inimage.runner(run, parity, smoke)
    # graceful-shutdown stops the session container: run it after parity.
    checks += smoke_checks[:-1] + parity_checks + late_checks + smoke_checks[-1:] + [
        hardened_stop]
    # An engine that stops answering mid-run: one line per item, not a traceback.
    return [run.guarded(check) for check in checks]
