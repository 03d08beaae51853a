"""What the user fixtures (``shipready_image``, ``shipready_container``,
``shipready_fresh_container``) get from the container area.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..checks import RunContext, Status
from ..config import Settings
from .build import BuiltImage, docker_run

if TYPE_CHECKING:
    pass


class FixtureUnavailableError(Exception):
    """Why a fixture cannot give what it promises; ``skip`` tells skip from fail."""

    def __init__(self, message: str, skip: bool) -> None:
        super().__init__(message)
        self.skip = skip


def fixture_image(settings: Settings, context: RunContext) -> BuiltImage:
    built = docker_run(settings, context).image()
    if built.ref is None:
        skip = built.result.status == Status.SKIPPED
        detail = "; ".join(f.message.splitlines()[0] for f in built.result.findings)
        raise FixtureUnavailableError(
            f"pytest-shipready: the image is not available: {built.result.summary}"
            + (f" ({detail})" if detail else ""), skip)
    return built


def fixture_session_container(settings: Settings, context: RunContext) -> Any:
    from .smokerun import smoke_run

    fixture_image(settings, context)
    running, gate = smoke_run(docker_run(settings, context)).session("SR301")
    if running is None:
        assert gate is not None
        raise FixtureUnavailableError(
            f"pytest-shipready: the container is not ready: {gate.summary}",
            gate.status == Status.SKIPPED)
    return running


def fixture_fresh_container(settings: Settings, context: RunContext) -> Any:
    from .smokerun import start

    built = fixture_image(settings, context)
    assert built.ref is not None and built.info is not None
    running = start(docker_run(settings, context), built.ref, built.info)
    if running.ready is not None and running.ready.status == Status.FAILED:
        running.container.remove()
        raise FixtureUnavailableError(
            f"pytest-shipready: the container is not ready: {running.ready.summary}", False)
    return running
