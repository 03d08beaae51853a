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
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

LABEL_SESSION = "io.pytest-shipready.session"
LABEL_PID = "io.pytest-shipready.pid"
LABEL_HOST = "io.pytest-shipready.host"
LABEL_CONTENT = "io.pytest-shipready.content"
LABEL_PROJECT = "io.pytest-shipready.project"
LABEL_KEEP = "io.pytest-shipready.keep"
ENV_VAR = "PYTEST_SHIPREADY_SESSION"


@dataclass(frozen=True)
class SessionId:
    id: str
    pid: int
    host: str

    def labels(self) -> dict[str, str]:
        return {LABEL_SESSION: self.id, LABEL_PID: str(self.pid), LABEL_HOST: self.host}


def current(is_worker: bool) -> SessionId:
    """This run's id. The controller (or a plain run) makes one and exports it in the
    environment, so that xdist workers, started after configure, share it."""
    host = socket.gethostname()
    inherited = os.environ.get(ENV_VAR, "")
    if is_worker and ":" in inherited:
        sid, _, pid = inherited.partition(":")
        if pid.isdigit():
            return SessionId(sid, int(pid), host)
    session = SessionId(uuid.uuid4().hex[:16], os.getpid(), host)
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


def begin(context: object, project_uses_docker: bool, is_worker: bool) -> SessionId:
    """Set up this process's docker session at configure time (under --shipready): the
    session id (shared with xdist workers), the SIGTERM handler, and, in the controller
    or a plain run, the final sweep of everything labelled with the session."""
    import shutil
    import tempfile
    from pathlib import Path

    from ..checks import RunContext

    assert isinstance(context, RunContext)
    session = current(is_worker)
    context.shared["docker.session"] = session
    context.add_cleanup(install_sigterm_handler())
    if not is_worker:
        context.add_cleanup(lambda: _unset(ENV_VAR))
    if is_worker or not project_uses_docker:
        return session

    def final_sweep() -> None:
        shutil.rmtree(Path(tempfile.gettempdir()) / f"pytest-shipready-{session.id}",
                      ignore_errors=True)
        from . import engine

        try:
            client = engine.connect()
        except engine.EngineUnavailableError:
            return
        try:
            engine.sweep(client, session.id)
        finally:
            client.close()

    context.add_cleanup(final_sweep)
    return session


def _unset(name: str) -> None:
    os.environ.pop(name, None)
