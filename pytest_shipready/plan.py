"""Which checks run on this project: one :class:`PlannedCheck` per future pytest item.

Planning is cheap (it finds files, it does not check them); each check runs lazily when
its item runs, and what several checks share (a parsed lock, its inputs) is computed
once. No pytest, no docker: the plugin turns these into items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .config import Settings
from .findings import CheckResult


@dataclass(frozen=True)
class PlannedCheck:
    area: str  # "lockfile", "image", ...
    subject: str | None  # "requirements.txt"; None for area-wide checks
    check_id: str
    name: str  # the last part of the node id: "pinned"
    path: Path | None  # the file the check is about, for the item's location
    run: Callable[[], CheckResult]

    @property
    def node_path(self) -> tuple[str, ...]:
        parts = (self.area, self.subject, self.name)
        return tuple(p for p in parts if p is not None)


@dataclass(frozen=True)
class Options:
    """Per-run switches from the command line."""

    offline: bool = False
    require_docker: bool = False  # no engine: the docker items fail instead of skipping


class RunContext:
    """What the checks of one run share beyond their own area: cleanups to run at the end.

    Areas that start something (an image build, a container) register how to undo it
    here; the plugin runs every cleanup at session end, also after failures and Ctrl-C.
    Areas may also keep shared, lazily created objects in ``shared`` (e.g. the built
    image) so that fixtures and checks use the same one.
    """

    def __init__(self) -> None:
        self.cleanups: list[Callable[[], None]] = []
        self.shared: dict[str, object] = {}

    def add_cleanup(self, fn: Callable[[], None]) -> None:
        self.cleanups.append(fn)

    def close(self) -> list[BaseException]:
        """Run cleanups, newest first; return the errors instead of raising the first."""
        errors: list[BaseException] = []
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception as exc:
                errors.append(exc)
        return errors


class AreaPlanner(Protocol):
    def __call__(
        self, settings: Settings, options: Options, context: RunContext
    ) -> list[PlannedCheck]: ...


def planners() -> list[AreaPlanner]:
    """The areas, in the order their items run. Imported here, lazily, under --shipready."""
    from .areas import dockerfile, image, lockfile, logs

    return [
        lockfile.plan,
        dockerfile.plan,
        image.plan,  # image, smoke and parity (they share one build and one container)
        # before logs: the container-log checks read the smoke container's output
        logs.plan,
    ]


def plan(settings: Settings, options: Options, context: RunContext) -> list[PlannedCheck]:
    checks: list[PlannedCheck] = []
    for planner in planners():
        checks.extend(planner(settings, options, context))
    return checks
