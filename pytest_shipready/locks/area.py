"""The lockfile area: which lockfile checks run, each evaluated lazily."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from ..checks import CheckResult, Finding, Options, PlannedCheck, RunContext, Status
from ..config import Settings
from . import discover, lockpython, model, pipcompile, poetry, toolchecks, uvpip
from .target import Target
from .target import resolve as resolve_target


def plan(settings: Settings, options: Options, context: RunContext
         ) -> list[PlannedCheck]:
    project = settings.project
    paths = discover.find_lockfiles(project, settings.config.lockfile.paths, settings.scope)
    if not paths:
        rejected = pipcompile.not_locks(project)
        missing = CheckResult.failed(
            "SR100", f"no lockfile: {rejected}" if rejected else "no lockfile found",
            [Finding((f"{rejected}; " if rejected else "") + pipcompile.where_looked(project)
                     + ", poetry.lock, uv.lock or pylock*.toml", str(project), None,
                     ("Move the requirements to requirements.in and compile them: "
                      "pip-compile --generate-hashes --strip-extras requirements.in (writes "
                      "requirements.txt); a lock made otherwise is listed in "
                      "[tool.shipready.lockfile] paths." if rejected else
                      "Create one: pip-compile --generate-hashes --strip-extras "
                      "requirements.in (or list it in [tool.shipready.lockfile] paths)."))],
        )
        return [PlannedCheck("lockfile", None, "SR100", "found", None, lambda: missing)]
    checks: list[PlannedCheck] = []

    @functools.cache
    def target(lock_python: str | None = None,
               lock_python_from: str = "the lock's header") -> Target:
        """The image's platform, for markers: from the Dockerfile that is built, else
        the Python the lock declares (``lock_python``, from ``lock_python_from``)."""
        image = settings.config.image
        return resolve_target(settings.config.lockfile.platform,
                              dockerfile=project / image.dockerfile, stage=image.target,
                              build_args=image.build_args, lock_python=lock_python,
                              lock_python_from=lock_python_from)

    for path in paths:
        fmt = discover.sniff_format(path, settings.scope)
        if fmt is not None:  # poetry.lock, uv.lock, pylock.toml
            checks.extend(plan_lock(path, fmt, settings, options, target))
        else:
            checks.extend(_lock_checks(path, settings, options, target, context))
    return checks


class _Background:
    """SR104's re-resolution of one lock, started in a thread when the run starts (so it
    overlaps with the build and the container start) and joined when its item runs.
    Progress lines are written from the main thread only (the start here, the end when
    joined); a run that ends before joining kills the resolver's process group."""

    def __init__(self, context: RunContext, display: str) -> None:
        self.context = context
        self.display = display
        self.tool = "pip-compile"
        self.thread: threading.Thread | None = None
        self.result: CheckResult | None = None
        self.error: BaseException | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.started = self.finished = 0.0

    def start(self, work: Callable[[], CheckResult], tool: str = "pip-compile") -> None:
        self.tool = tool
        self.context.phases.note(f"re-resolving {self.display} with {self.tool}, in the "
                                 "background ...")
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, args=(work,), daemon=True,
                                       name=f"shipready SR104 {self.display}")
        self.context.add_cleanup(self._kill)
        self.thread.start()

    def _run(self, work: Callable[[], CheckResult]) -> None:
        try:
            self.result = work()
        except BaseException as exc:  # re-raised by join(), in the item
            self.error = exc
        finally:
            self.finished = time.monotonic()

    def track(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def _kill(self) -> None:
        if self.thread is not None and self.thread.is_alive() and self.proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def join(self) -> CheckResult:
        assert self.thread is not None
        phases = self.context.phases
        if self.thread.is_alive():
            with phases.phase("resolve-wait", f"waiting for {self.tool} on {self.display}"
                              ) as p:
                self.thread.join()
                p.end = (f"re-resolved {self.display} in "
                         f"{self.finished - self.started:.1f} s in the background; waited")
        else:
            phases.note(f"re-resolved {self.display} in {self.finished - self.started:.1f} "
                        "s, in the background")
        phases.record("resolve", self.finished - self.started)
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _lock_checks(path: Path, settings: Settings, options: Options,
                 target: Callable[[str | None, str], Target], context: RunContext
                 ) -> list[PlannedCheck]:
    project = settings.project
    cfg = settings.config.lockfile

    @functools.cache
    def lock() -> pipcompile.PipLock:
        return pipcompile.load(path, project, settings.scope)

    @functools.cache
    def inputs() -> pipcompile.Inputs:
        return pipcompile.read_inputs(lock(), project)

    def guarded(check: Callable[[pipcompile.PipLock], CheckResult], check_id: str
                ) -> Callable[[], CheckResult]:
        return parse_guarded(lock, check, check_id)

    @functools.cache
    def covers(loaded: pipcompile.PipLock) -> CheckResult:
        declared = lockpython.of_project(loaded.path, loaded.display, project)
        python, where = loaded.header.python, "the lock's header"
        if python is None and declared is not None:
            python = lockpython.lowest(declared)
            where = f"{declared.where} {declared.text!r}"
        judged = target(python, where)
        result = pipcompile.check_covers_inputs(loaded, inputs(), judged)
        if declared is None:
            return result
        return lockpython.with_finding(result, lockpython.excludes_image(declared, judged))

    def not_fresh_checked(loaded: pipcompile.PipLock) -> CheckResult | None:
        """Why SR104 does not re-resolve, or None."""
        if not cfg.resolve:
            return CheckResult.skipped(
                "SR104", "re-resolution is off ([tool.shipready.lockfile] resolve = false)")
        if options.offline:
            return CheckResult.skipped("SR104", "needs the package index; --shipready-offline "
                                       "was given")
        # Not skipped when SR103 fails: a re-resolution still checks every other pin.
        return None

    @functools.cache
    def cache_key(loaded: pipcompile.PipLock) -> str | None:
        if context.cache is None or cfg.resolve_max_age <= 0 or inputs().refused:
            return None
        try:
            if loaded.header.tool == uvpip.TOOL:
                from . import uvresolve

                return uvresolve.resolution_key(loaded, inputs(), project, cfg.pip_config)
            from .resolve import resolution_key

            return resolution_key(loaded, inputs(), project, cfg.pip_config)
        except OSError:
            return None

    def cached(loaded: pipcompile.PipLock) -> CheckResult | None:
        from . import resolvecache

        key = cache_key(loaded)
        if key is None:
            return None
        return resolvecache.lookup(context.cache, loaded.display, key, time.time(),
                                   cfg.resolve_max_age)

    background = _Background(context, pipcompile.display_path(path, project))

    def resolve_now(loaded: pipcompile.PipLock) -> CheckResult:
        if loaded.header.tool == uvpip.TOOL:
            from .uvresolve import check_fresh as uv_check_fresh

            return uv_check_fresh(loaded, inputs(), project, timeout=cfg.resolve_timeout,
                                  pip_config=cfg.pip_config, on_start=background.track)
        from .resolve import check_fresh

        return check_fresh(loaded, inputs(), project, timeout=cfg.resolve_timeout,
                           pip_config=cfg.pip_config, on_start=background.track)

    def prefetch() -> None:
        """When the run starts: re-resolve in the background unless SR104 would not
        (a skip, or a cached PASS)."""
        loaded = lock()
        if loaded.error is not None or not_fresh_checked(loaded) is not None \
                or cached(loaded) is not None:
            return
        if inputs().refused:  # read here, not in the thread; SR104 fails without it
            return
        background.start(lambda: resolve_now(loaded), loaded.header.tool)

    def fresh(loaded: pipcompile.PipLock) -> CheckResult:
        skip = not_fresh_checked(loaded)
        if skip is not None:
            return skip
        if background.thread is not None:
            result = background.join()
        else:
            hit = cached(loaded)
            if hit is not None:
                return hit
            with context.phases.phase("resolve", f"re-resolving {loaded.display} with "
                                      f"{loaded.header.tool}") as p:
                result = resolve_now(loaded)
                p.end = f"re-resolved {loaded.display}"
        key = cache_key(loaded)
        if key is not None:
            from . import resolvecache

            resolvecache.store(context.cache, loaded.display, key, time.time(), result)
        return result

    def index_hashes(loaded: pipcompile.PipLock) -> CheckResult:
        from . import indexhashes

        pinned, notes, skip = indexhashes.pinned_of_piplock(loaded)
        return indexhashes.check(loaded.display, loaded.path, pinned, notes, skip,
                                 offline=options.offline)

    display = pipcompile.display_path(path, project)
    specs: list[tuple[str, str, Callable[[pipcompile.PipLock], CheckResult]]] = [
        ("SR101", "pinned", pipcompile.check_pinned),
        ("SR102", "hashed", lambda lk: pipcompile.check_hashed(lk, cfg.require_hashes)),
        ("SR103", "covers-inputs", covers),
        ("SR104", "fresh", fresh),
        ("SR105", "portable", pipcompile.check_portable),
        ("SR106", "hashes-match-index", index_hashes),
    ]
    return [
        PlannedCheck("lockfile", display, check_id, name, path, guarded(fn, check_id),
                     deferred=check_id == "SR104",
                     prefetch=prefetch if check_id == "SR104" else None)
        for check_id, name, fn in specs
    ]


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


def plan_lock(path: Path, fmt: str, settings: Settings, options: Options,
              target: Callable[[str | None, str], Target] | None = None
              ) -> list[PlannedCheck]:
    project = settings.project
    cfg = settings.config.lockfile

    @functools.cache
    def lock() -> model.ToolLock:
        return discover.load(path, project, fmt, settings.scope)

    def guarded(check: Callable[[model.ToolLock], CheckResult], check_id: str
                ) -> Callable[[], CheckResult]:
        return parse_guarded(lock, check, check_id)

    # SR103's result, once: SR111 skips when it failed (as SR104 for pip-compile).
    @functools.cache
    def covers(loaded: model.ToolLock) -> CheckResult:
        declared = lockpython.of_toollock(loaded)
        python = lockpython.lowest(declared) if declared is not None else None
        judged = target(python, f"{declared.where} {declared.text!r}" if declared
                        else "the lock") if target is not None else None
        result = toolchecks.check_covers_inputs(loaded, judged)
        if declared is None or judged is None:
            return result
        return lockpython.with_finding(result, lockpython.excludes_image(declared, judged))

    def uv_fresh(loaded: model.ToolLock) -> CheckResult:
        from .uvcheck import check_fresh

        # As SR104 for pip-compile: re-resolving a lock that misses an input only repeats it.
        if "SR103" not in settings.config.disable and \
                covers(loaded).status == Status.FAILED:
            return CheckResult.skipped(
                "SR111", "the lock does not cover its inputs (SR103 failed): fix that first; "
                "re-resolving would only repeat it")
        return check_fresh(loaded, project, resolve=cfg.resolve, offline=options.offline,
                           timeout=cfg.resolve_timeout, pip_config=cfg.pip_config)

    specs: list[tuple[str, str, Callable[[model.ToolLock], CheckResult]]] = [
        ("SR101", "pinned", toolchecks.check_pinned),
        ("SR102", "hashed", lambda lk: toolchecks.check_hashed(lk, cfg.require_hashes)),
    ]
    if fmt == "poetry":
        specs += [("SR103", "covers-inputs", covers),
                  ("SR110", "fresh", poetry.check_poetry_fresh)]
    elif fmt == "uv":
        specs += [("SR103", "covers-inputs", covers),
                  ("SR111", "fresh", uv_fresh)]
    def index_hashes(loaded: model.ToolLock) -> CheckResult:
        from . import indexhashes

        pinned, notes, skip = indexhashes.pinned_of_toollock(loaded)
        return indexhashes.check(loaded.display, loaded.path, pinned, notes, skip,
                                 offline=options.offline)

    specs.append(("SR105", "portable", lambda lk: toolchecks.check_portable(lk, project)))
    specs.append(("SR106", "hashes-match-index", index_hashes))
    display = model.display_path(path, project)
    return [
        PlannedCheck("lockfile", display, check_id, name, path, guarded(fn, check_id))
        for check_id, name, fn in specs
    ]
