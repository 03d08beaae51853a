"""``--shipready-init`` with an engine: build the image and run it once, to propose the
smoke settings from what the service really does (which ports it listens on, which health
path answers, which environment variable it stopped on). Everything it starts is removed
before it returns. Progress lines go to ``say`` (stderr): a build can take minutes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..checks import Finding, RunContext
from ..config import Settings
from ..starter import (
    HEALTH_PATHS,
    Explored,
    chosen_dockerfile,
    listening_ports,
    missing_env,
    smoke_guess,
)

if TYPE_CHECKING:
    from .run.smokerun import RunningContainer

_LOG_LINES = 8  # lines of a failed build's step output or a failed start log shown


def explore(settings: Settings, say: Callable[[str], None] | None = None) -> Explored | None:
    """What one run of the image shows, or None when no engine answers."""
    from . import engine
    from .build.image import DockerRun
    from .run.smokerun import start
    from .session import LABEL_SESSION, current

    command, ports, env = smoke_guess(settings.project)
    smoke = settings.config.smoke
    smoke = dataclasses.replace(smoke, command=smoke.command or command,
                                ports=smoke.ports or ports, env={**env, **smoke.env},
                                ready_timeout=min(smoke.ready_timeout, 30.0))
    image = dataclasses.replace(settings.config.image,
                                dockerfile=chosen_dockerfile(settings.project) or "Dockerfile")
    settings = dataclasses.replace(
        settings, config=dataclasses.replace(settings.config, smoke=smoke, image=image))
    context = RunContext()
    context.announce = say  # phase lines, and a heartbeat every 4 s while one lasts
    phases = context.phases
    session = current(is_worker=False)
    run = DockerRun(settings, context, session)
    try:
        client = run.client()
        if client is None:
            phases.note(f"no Docker engine ({run.unavailable}): the starter is inferred "
                        "from the files alone")
            return None
        phases.note(f"building {run.display} and running it once to see what it does")
        built = run.image()
        if built.ref is None or built.info is None:
            return Explored(f"could not build {run.display}: {built.result.summary}",
                            cause=_build_cause(built.result.findings), build_failed=True)
        started = time.monotonic()
        shown = built.tag or built.ref  # its tag, for people
        from .run.services import ServicesNotReadyError

        try:
            running = start(run, built.ref, built.info)
        except ServicesNotReadyError as exc:  # a backing service or the release failed
            return Explored(f"could not start {shown}: {exc.result.summary}")
        except engine.EngineError as exc:
            return Explored(f"could not start {shown}: {exc}")
        listening = _listening(running)
        watched = time.monotonic() - started
        answered: dict[str, int] = {}
        probe = [p for p in running.ports if listening is None or p in listening]
        if probe:
            with phases.phase("init-probe", f"trying {', '.join(HEALTH_PATHS)} on port "
                              f"{probe[0]}"):
                for path in HEALTH_PATHS:
                    with contextlib.suppress(OSError, LookupError, ValueError):
                        answered[path] = running.http(path, port=probe[0], timeout=2.0)[0]
        st = running.container.state()
        exited = (f"exited {st.exit_code} after {time.monotonic() - started:.1f} s"
                  if st.status in ("exited", "dead") else "")
        log = running.logs()
        failed = exited or any(code >= 500 for code in answered.values())
        cause = tuple(log.strip().splitlines()[-_LOG_LINES:]) if failed else ()
        return Explored(f"ran {shown} once to see what it does", answered,
                        missing_env(log), exited, None if exited else listening, cause,
                        watched=watched)
    finally:
        with phases.phase("init-cleanup", "removing what the trial run started",
                          quiet_start=True):
            context.close()
            with contextlib.suppress(Exception):
                client = run.client()
                if client is not None:
                    engine.sweep(client, LABEL_SESSION, session.id)


def _listening(running: RunningContainer) -> tuple[int, ...] | None:
    """The TCP ports the container listens on (None: it cannot be read)."""
    try:
        code, out = running.exec(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
    except Exception:  # an exec the engine refuses says nothing about the ports
        return None
    if code != 0 and not out.strip():
        return None
    return listening_ports(out)


def _build_cause(findings: tuple[Finding, ...]) -> tuple[str, ...]:
    """The failing step and the end of its output, from SR210's finding."""
    if not findings:
        return ()
    head, _, output = findings[0].message.partition("\noutput of the step:\n")
    lines = [head.strip(), *[ln for ln in output.splitlines() if ln.strip()][-_LOG_LINES:]]
    return tuple(ln for ln in lines if ln)
