"""``--shipready-init`` with an engine: build the image and run it once, to propose the
smoke settings from what the service really does (which health path answers, which
environment variable it stopped on). Everything it starts is removed before it returns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

from ..checks import RunContext
from ..config import Settings
from ..starter import HEALTH_PATHS, Explored, chosen_dockerfile, missing_env, smoke_guess


def explore(settings: Settings) -> Explored | None:
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
    session = current(is_worker=False)
    run = DockerRun(settings, context, session)
    try:
        client = run.client()
        if client is None:
            return None
        built = run.image()
        if built.ref is None or built.info is None:
            return Explored(f"could not build {run.display}: {built.result.summary}")
        started = time.monotonic()
        from .run.services import ServicesNotReadyError

        try:
            running = start(run, built.ref, built.info)
        except ServicesNotReadyError as exc:  # a backing service or the release failed
            return Explored(f"could not start {built.ref}: {exc.result.summary}")
        except engine.EngineError as exc:
            return Explored(f"could not start {built.ref}: {exc}")
        answered: dict[str, int] = {}
        if running.ports:
            for path in HEALTH_PATHS:
                with contextlib.suppress(OSError, LookupError, ValueError):
                    answered[path] = running.http(path, timeout=2.0)[0]
        st = running.container.state()
        exited = (f"exited {st.exit_code} after {time.monotonic() - started:.1f} s"
                  if st.status in ("exited", "dead") else "")
        log = running.logs()
        return Explored(f"ran {built.ref} once to see what it does", answered,
                        missing_env(log), exited)
    finally:
        context.close()
        with contextlib.suppress(Exception):
            client = run.client()
            if client is not None:
                engine.sweep(client, LABEL_SESSION, session.id)
