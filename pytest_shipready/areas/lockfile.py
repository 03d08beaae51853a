"""The lockfile area: which lockfile checks run, each evaluated lazily."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from .. import lockmodel, piplock
from ..config import Settings
from ..findings import CheckResult, Finding, Status
from ..plan import Options, PlannedCheck, RunContext
from . import toollocks


def plan(settings: Settings, options: Options, context: RunContext
         ) -> list[PlannedCheck]:
    project = settings.project
    paths = lockmodel.find_lockfiles(project, settings.config.lockfile.paths)
    if not paths:
        missing = CheckResult.failed(
            "SR100", "no lockfile found",
            [Finding(piplock.where_looked(project) + ", poetry.lock, uv.lock or "
                     "pylock*.toml", str(project), None,
                     "Create one: pip-compile --generate-hashes --strip-extras "
                     "requirements.in (or list it in [tool.shipready.lockfile] paths).")],
        )
        return [PlannedCheck("lockfile", None, "SR100", "found", None, lambda: missing)]
    checks: list[PlannedCheck] = []
    for path in paths:
        fmt = lockmodel.sniff_format(path)
        if fmt is not None:  # poetry.lock, uv.lock, pylock.toml
            checks.extend(toollocks.plan_lock(path, fmt, settings, options))
        else:
            checks.extend(_lock_checks(path, settings, options))
    return checks


def _lock_checks(path: Path, settings: Settings, options: Options) -> list[PlannedCheck]:
    project = settings.project
    cfg = settings.config.lockfile

    @functools.cache
    def lock() -> piplock.PipLock:
        return piplock.load(path, project)

    @functools.cache
    def inputs() -> piplock.Inputs:
        return piplock.read_inputs(lock(), project)

    def guarded(check: Callable[[piplock.PipLock], CheckResult], check_id: str
                ) -> Callable[[], CheckResult]:
        return toollocks.parse_guarded(lock, check, check_id)

    @functools.cache
    def covers(loaded: piplock.PipLock) -> CheckResult:
        return piplock.check_covers_inputs(loaded, inputs())

    def fresh(loaded: piplock.PipLock) -> CheckResult:
        if not cfg.resolve:
            return CheckResult.skipped(
                "SR104", "re-resolution is off ([tool.shipready.lockfile] resolve = false)")
        if options.offline:
            return CheckResult.skipped("SR104", "needs the package index; --shipready-offline "
                                       "was given")
        if "SR103" not in settings.config.disable and covers(loaded).status == Status.FAILED:
            return CheckResult.skipped(
                "SR104", "the lock does not cover its inputs (SR103 failed): fix that first; "
                "re-resolving would only repeat it")
        from ..resolve import check_fresh

        return check_fresh(loaded, inputs(), project, timeout=cfg.resolve_timeout,
                           pip_config=cfg.pip_config)

    display = piplock.display_path(path, project)
    specs: list[tuple[str, str, Callable[[piplock.PipLock], CheckResult]]] = [
        ("SR101", "pinned", piplock.check_pinned),
        ("SR102", "hashed", lambda lk: piplock.check_hashed(lk, cfg.require_hashes)),
        ("SR103", "covers-inputs", covers),
        ("SR104", "fresh", fresh),
        ("SR105", "portable", piplock.check_portable),
    ]
    return [
        PlannedCheck("lockfile", display, check_id, name, path, guarded(fn, check_id))
        for check_id, name, fn in specs
    ]

