"""Who owns the containers and images of this run: the session id, its labels, SIGTERM.

No docker here: this runs at configure time under --shipready. Every container and
image the plugin creates carries :data:`LABEL_SESSION` (this run) and :data:`LABEL_PID`
(the pytest process that owns it, the xdist controller under -n), so that the run
removes them at its end and a later run can reap what a killed one left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

LABEL_SESSION = "io.pytest-shipready.session"
LABEL_PID = "io.pytest-shipready.pid"
LABEL_HOST = "io.pytest-shipready.host"
LABEL_CONTENT = "io.pytest-shipready.content"
LABEL_PROJECT = "io.pytest-shipready.project"
LABEL_KEEP = "io.pytest-shipready.keep"
# The checkout a kept image belongs to (a key of the project's absolute path): pruning
# the project's older kept images never touches another checkout's.
LABEL_CHECKOUT = "io.pytest-shipready.checkout"
LABEL_ROLE = "io.pytest-shipready.role"  # "hardened": SR310's second container
LABEL_PIDNS = "io.pytest-shipready.pidns"  # the owner's PID namespace: pids mean nothing
LABEL_BOOT = "io.pytest-shipready.boot"  # outside it, nor across a reboot
# A session whose owner cannot be proven dead (another PID namespace, another host, an
# older plugin without the labels) is reaped only when older than this: twice the
# longest a run may take (the run budget's default is an hour).
STALE_AGE = 2 * 3600.0
ENV_VAR = "PYTEST_SHIPREADY_SESSION"


@dataclass(frozen=True)
class SessionId:
    id: str
    pid: int
    host: str
    pidns: str = ""
    boot: str = ""

    def labels(self) -> dict[str, str]:
        return {LABEL_SESSION: self.id, LABEL_PID: str(self.pid), LABEL_HOST: self.host,
                LABEL_PIDNS: self.pidns, LABEL_BOOT: self.boot}


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return ""


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def owner_record(session: SessionId) -> str:
    """What a run writes into its shared directory: who owns it, and where its pid means
    something."""
    return f"{session.pid} {session.pidns} {session.boot}"


def owner_gone(record: str, me: SessionId, alive: Callable[[int], bool] | None = None
               ) -> bool | None:
    """Whether the run that wrote ``record`` is provably gone (its pid dead in the same PID
    namespace and boot as ours); None when that cannot be told from here."""
    alive = alive or pid_alive
    pid, _, rest = record.strip().partition(" ")
    pidns, _, boot = rest.partition(" ")
    if not pid.isdigit() or not me.pidns or pidns != me.pidns or not me.boot or boot != me.boot:
        return None
    return not alive(int(pid))


def stale_sessions(found: Iterable[tuple[Mapping[str, str], float]], me: SessionId,
                   now: float, alive: Callable[[int], bool] | None = None) -> dict[str, str]:
    """The sessions among ``found`` (labels, creation time) that can be reaped, with why.

    A pid is only meaningful in the PID namespace and boot it came from: a session of the
    same host, namespace and boot whose pytest is gone is dead. Anything else (CI jobs
    in containers sharing one engine, often with one hostname) is left alone until it
    is older than :data:`STALE_AGE`."""
    alive = alive or pid_alive
    stale: dict[str, str] = {}
    for labels, created in found:
        sid = labels.get(LABEL_SESSION, "")
        if not sid or sid == me.id or sid in stale:
            continue
        pid = labels.get(LABEL_PID, "")
        provable = (bool(me.pidns) and bool(me.boot) and labels.get(LABEL_HOST) == me.host
                    and labels.get(LABEL_PIDNS) == me.pidns
                    and labels.get(LABEL_BOOT) == me.boot and pid.isdigit())
        age = now - created if created else 0.0
        if provable and not alive(int(pid)):
            stale[sid] = f"its pytest (pid {pid}) is gone"
        elif age > STALE_AGE:
            stale[sid] = f"created {age / 3600:.1f} h ago, over the {STALE_AGE / 3600:.0f} h limit"
    return stale


def current(is_worker: bool) -> SessionId:
    """This run's id. The controller (or a plain run) makes one and exports it in the
    environment, so that xdist workers, started after configure, share it."""
    host = socket.gethostname()
    inherited = os.environ.get(ENV_VAR, "")
    if is_worker and ":" in inherited:
        sid, _, pid = inherited.partition(":")
        if pid.isdigit():
            return SessionId(sid, int(pid), host, _pid_namespace(), _boot_id())
    session = SessionId(uuid.uuid4().hex[:16], os.getpid(), host, _pid_namespace(),
                        _boot_id())
    os.environ[ENV_VAR] = f"{session.id}:{session.pid}"
    return session


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interrupt so that pytest tears down and cleans up."""


def install_sigterm_handler() -> Callable[[], None]:
    """Turn SIGTERM into a KeyboardInterrupt-style teardown (main thread only), so a
    terminated run still removes its containers. Only called under --shipready.
    Returns how to put the previous handler back."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:  # pragma: no cover - not the main thread
        return lambda: None
    if previous not in (signal.SIG_DFL, None):
        return lambda: None  # someone else handles it; do not take it over

    def restore() -> None:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)

    def handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills
        raise _Terminated(f"pytest-shipready: {signal.Signals(signum).name} received")

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, handler)
    return restore


def begin(context: object, project_uses_docker: bool, is_worker: bool,
          engine_timeout: float = 120.0) -> SessionId:
    """Set up this process's docker session at configure time (under --shipready): the
    session id (shared with xdist workers), the SIGTERM handler, and, in the controller
    or a plain run, the final sweep of everything labelled with the session."""
    from ..checks import RunContext

    assert isinstance(context, RunContext)
    session = current(is_worker)
    context.shared["docker.session"] = session
    context.add_cleanup(install_sigterm_handler())
    if not is_worker:
        context.add_cleanup(lambda: _unset(ENV_VAR))
    if is_worker or not project_uses_docker:
        return session
    context.add_cleanup(lambda: final_sweep(context, session, engine_timeout))
    return session


def final_sweep(context: object, session: SessionId, engine_timeout: float) -> None:
    """Remove everything labelled with this session. When the engine does not answer,
    raise one error saying what is left, and keep the run's shared directory (its record
    of unfinished build steps) for the next run, which removes both."""
    import shutil
    import tempfile
    from pathlib import Path

    from ..checks import RunContext
    from .enginehost import not_removed

    assert isinstance(context, RunContext)
    shared = Path(tempfile.gettempdir()) / f"pytest-shipready-{session.id}"
    recorded = context.shared.get("docker.created")
    created = [str(x) for x in recorded] if isinstance(recorded, list) else []
    lost = str(context.shared.get("docker.lost", ""))
    if lost:
        from .engine import EngineError

        raise EngineError(not_removed(created, "the Docker engine does not answer",
                                      session.id))
    if context.shared.get("docker.unavailable") and not created:
        shutil.rmtree(shared, ignore_errors=True)
        return  # no engine all along: nothing was created
    from . import engine

    try:
        client = engine.connect(engine_timeout)
    except engine.EngineUnavailableError as exc:
        if created:
            raise engine.EngineError(not_removed(created, str(exc).split(";")[0],
                                                 session.id)) from None
        shutil.rmtree(shared, ignore_errors=True)
        return
    try:
        engine.sweep(client, LABEL_SESSION, session.id)
    except Exception as exc:
        if not engine.is_engine_failure(exc):
            raise
        raise engine.EngineError(not_removed(
            created, engine.describe_failure(exc, engine_timeout), session.id)) from None
    finally:
        client.close()
    shutil.rmtree(shared, ignore_errors=True)


def _unset(name: str) -> None:
    os.environ.pop(name, None)
