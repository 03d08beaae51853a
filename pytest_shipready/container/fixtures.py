"""What the user fixtures (``shipready_image``, ``shipready_container``,
``shipready_fresh_container``) get from the container area.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..checks import RunContext, Status
from ..config import Settings
from .build.image import BuiltImage, DockerRun, docker_run

if TYPE_CHECKING:
    pass


class FixtureUnavailableError(Exception):
    """Why a fixture cannot give what it promises; ``skip`` tells skip from fail."""

    def __init__(self, message: str, skip: bool) -> None:
        super().__init__(message)
        self.skip = skip


def _engine_lost(run: DockerRun, what: str, exc: Exception) -> FixtureUnavailableError:
    """A fixture's one line when the engine stops answering (not a urllib3 traceback)."""
    import os

    from . import engine
    from .enginehost import lost

    if not engine.is_engine_failure(exc):
        raise exc
    message = run.lost or lost(os.environ.get("DOCKER_HOST"),
                               engine.describe_failure(exc, run.settings.config.engine_timeout),
                               f"the {what} fixture")
    run.context.shared.setdefault("docker.lost", message)
    return FixtureUnavailableError(f"pytest-shipready: {message}", False)


def fixture_image(settings: Settings, context: RunContext) -> BuiltImage:
    run = docker_run(settings, context)
    try:
        return _fixture_image(settings, context)
    except Exception as exc:
        raise _engine_lost(run, "shipready_image", exc) from None


def _fixture_image(settings: Settings, context: RunContext) -> BuiltImage:
    built = docker_run(settings, context).image()
    if built.ref is None:
        skip = built.result.status == Status.SKIPPED
        detail = "; ".join(f.message.splitlines()[0] for f in built.result.findings)
        raise FixtureUnavailableError(
            f"pytest-shipready: the image is not available: {built.result.summary}"
            + (f" ({detail})" if detail else ""), skip)
    return built


def fixture_session_container(settings: Settings, context: RunContext) -> Any:
    from .run.smokerun import smoke_run

    fixture_image(settings, context)
    run = docker_run(settings, context)
    try:
        running, gate = smoke_run(run).session("SR301")
    except Exception as exc:
        raise _engine_lost(run, "shipready_container", exc) from None
    if running is None:
        assert gate is not None
        raise FixtureUnavailableError(
            f"pytest-shipready: the container is not ready: {gate.summary}",
            gate.status == Status.SKIPPED)
    return running


def fixture_fresh_container(settings: Settings, context: RunContext) -> Any:
    from .run.services import ServicesNotReadyError
    from .run.smokerun import start

    built = fixture_image(settings, context)
    assert built.ref is not None and built.info is not None
    run = docker_run(settings, context)
    try:
        running = start(run, built.ref, built.info, publish=True)
    except ServicesNotReadyError as exc:
        raise FixtureUnavailableError(
            f"pytest-shipready: the container is not started: {exc.result.summary}",
            exc.result.status == Status.SKIPPED) from None
    except Exception as exc:
        raise _engine_lost(run, "shipready_fresh_container", exc) from None
    if running.ready is not None and running.ready.status == Status.FAILED:
        running.container.remove()
        raise FixtureUnavailableError(
            f"pytest-shipready: the container is not ready: {running.ready.summary}", False)
    return running
