"""The project's lockfile as users' tests see it (the ``shipready_lockfile`` fixture).

:func:`find` picks the project's one lockfile as the checks do (``[tool.shipready.parity]
lockfile``, else ``[tool.shipready.lockfile] paths``, else the lockfiles found) and reads
it into a :class:`ProjectLock`: whatever made it (pip-compile, Poetry, uv, pylock.toml),
``packages()`` says which distributions an install from it puts into an environment.

Pure: no pytest, no docker.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import lockmodel, piplock
from .config import Settings


class NoLockError(LookupError):
    """No lockfile to give; ``skip``: there is none (not an error of the project)."""

    def __init__(self, message: str, skip: bool) -> None:
        super().__init__(message)
        self.skip = skip


@dataclass(frozen=True)
class ProjectLock:
    path: Path
    display: str  # relative to the project
    format: str  # "pip-compile", "poetry", "uv" or "pylock"
    lock: piplock.PipLock | lockmodel.ToolLock  # the parsed file, for anything else

    def packages(self, env: Mapping[str, str] | None = None, *,
                 groups: Collection[str] | None = None,
                 extras: Collection[str] = ()) -> dict[str, str]:
        """{canonical name: version} an install from the lock puts into ``env`` (a PEP 508
        marker environment; default: this interpreter's), with the dependency ``groups``
        and ``extras`` besides the runtime dependencies (Poetry, uv, pylock)."""
        if env is None:
            env = piplock.marker_environment(None)
        return lockmodel.expected_distributions(self.lock, env, groups=groups,
                                                extras=extras)


def find(settings: Settings) -> ProjectLock:
    """The project's lockfile; raises :class:`NoLockError` saying why there is none."""
    project = settings.project
    paths = lockmodel.find_lockfiles(
        project, [settings.config.parity.lockfile] if settings.config.parity.lockfile
        else settings.config.lockfile.paths)
    if not paths:
        raise NoLockError(f"no lockfile in {project} (requirements*.txt with a pip-compile "
                          "header, poetry.lock, uv.lock or pylock.toml)", skip=True)
    if len(paths) > 1:
        names = ", ".join(lockmodel.display_path(p, project) for p in paths)
        raise NoLockError(f"several lockfiles ({names}): name the one to use in "
                          "[tool.shipready.parity] lockfile", skip=False)
    path = paths[0]
    if not path.is_file():
        raise NoLockError(f"{path} does not exist", skip=False)
    lock = lockmodel.load_any(path, project)
    if lock.error is not None:
        raise NoLockError(f"{lock.display} cannot be parsed: {lock.error.where()}: "
                          f"{lock.error.message}", skip=False)
    fmt = lock.format if isinstance(lock, lockmodel.ToolLock) else "pip-compile"
    return ProjectLock(path, lock.display, fmt, lock)
