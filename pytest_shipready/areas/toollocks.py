"""Lockfile items for poetry.lock, uv.lock and pylock.toml, evaluated lazily.

Called by :mod:`pytest_shipready.areas.lockfile` for each such lock; same item layout
as pip-compile locks: ``shipready::lockfile::<lockfile>::<name>``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from .. import lockmodel, toollock
from ..config import Settings
from ..findings import CheckResult, Finding, Status
from ..plan import Options, PlannedCheck


class _Loaded(Protocol):
    @property
    def display(self) -> str: ...
    @property
    def error(self) -> Finding | None: ...


L = TypeVar("L", bound=_Loaded)


def parse_guarded(load: Callable[[], L], check: Callable[[L], CheckResult], check_id: str
                  ) -> Callable[[], CheckResult]:
    """``check`` on the loaded lock; a lock that cannot be read or parsed fails SR101 once
    and makes the lockfile's other checks skip."""
    def run() -> CheckResult:
        loaded = load()
        if loaded.error is not None:
            if check_id == "SR101":
                return CheckResult.failed("SR101", "the lockfile cannot be parsed",
                                          [loaded.error])
            return CheckResult.skipped(
                check_id, f"{loaded.display} cannot be parsed ({loaded.error.where()}); "
                "see its 'pinned' item")
        return check(loaded)
    return run


def plan_lock(path: Path, fmt: str, settings: Settings, options: Options
              ) -> list[PlannedCheck]:
    project = settings.project
    cfg = settings.config.lockfile

    @functools.cache
    def lock() -> lockmodel.ToolLock:
        return lockmodel.load(path, project, fmt)

    def guarded(check: Callable[[lockmodel.ToolLock], CheckResult], check_id: str
                ) -> Callable[[], CheckResult]:
        return parse_guarded(lock, check, check_id)

    # SR103's result, once: SR111 skips when it failed (as SR104 for pip-compile).
    covers = functools.cache(toollock.check_covers_inputs)

    def uv_fresh(loaded: lockmodel.ToolLock) -> CheckResult:
        from ..uvcheck import check_fresh

        # As SR104 for pip-compile: re-resolving a lock that misses an input only repeats it.
        if "SR103" not in settings.config.disable and \
                covers(loaded).status == Status.FAILED:
            return CheckResult.skipped(
                "SR111", "the lock does not cover its inputs (SR103 failed): fix that first; "
                "re-resolving would only repeat it")
        return check_fresh(loaded, project, resolve=cfg.resolve, offline=options.offline,
                           timeout=cfg.resolve_timeout, pip_config=cfg.pip_config)

    specs: list[tuple[str, str, Callable[[lockmodel.ToolLock], CheckResult]]] = [
        ("SR101", "pinned", toollock.check_pinned),
        ("SR102", "hashed", lambda lk: toollock.check_hashed(lk, cfg.require_hashes)),
    ]
    if fmt == "poetry":
        specs += [("SR103", "covers-inputs", covers),
                  ("SR110", "fresh", toollock.check_poetry_fresh)]
    elif fmt == "uv":
        specs += [("SR103", "covers-inputs", covers),
                  ("SR111", "fresh", uv_fresh)]
    specs.append(("SR105", "portable", lambda lk: toollock.check_portable(lk, project)))
    display = lockmodel.display_path(path, project)
    return [
        PlannedCheck("lockfile", display, check_id, name, path, guarded(fn, check_id))
        for check_id, name, fn in specs
    ]
