"""SR301: wait until the container is ready, probing it directly.

The engine runs a HEALTHCHECK first after its interval (30 s by default, 10 s as people
often write it), so waiting for it to say "healthy" costs a whole interval on every run.
Instead the HEALTHCHECK's own command is run with ``docker exec`` as soon as the
container runs (the engine runs exactly that command the same way), polling fast at
first and then less often; an HTTP answer on the container's port, when there is one,
makes the next exec come at once. The engine's own verdict still counts: "healthy"
passes, "unhealthy" (its retries failed) fails, and the PASS says what it had said by
then. Without a HEALTHCHECK: a configured ``ready_log`` (an explicit setting wins over
the HTTP probe that an EXPOSEd port implies: a gRPC server never answers HTTP), else the
HTTP probe; a port that answers, but not over HTTP (HTTP/2 frames, TLS), shows a server
listening, which is all that PASS says. HTTP requests are made from inside the engine
(:mod:`.probe`: never through a published port or a proxy; after the first, a round
trip costs no exec).
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING, Protocol

from ...checks import CheckResult
from ..enginehost import route_of
from . import logcap
from . import smoke as verdicts
from .httpprobe import Answer, non_http, printable
from .probe import ProbeUnavailableError

if TYPE_CHECKING:
    from ..build.image import DockerRun
    from ..engine import Container, ImageInfo


class RunningContainer(Protocol):
    """What the wait needs of :class:`.smokerun.RunningContainer`."""

    @property
    def container(self) -> Container: ...
    @property
    def info(self) -> ImageInfo: ...
    @property
    def ports(self) -> tuple[int, ...]: ...
    @property
    def started(self) -> float: ...
    def http_each(self, paths: list[str], port: int | None = None, timeout: float = 5.0
                  ) -> list[Answer]: ...
    def route(self) -> str: ...
    def answers_now(self, path: str) -> bool: ...
    def log_tail(self) -> bytes: ...

FIRST_POLL = 0.05  # seconds between the first probes; each wait is 1.5 times the last
MAX_POLL = 0.5
SLOW_EXEC = 1.0  # at most this long between HEALTHCHECK execs while HTTP does not answer
OBSERVE = 2.0  # seconds a container with nothing to wait for is watched before SR301


def _engine_said(health: str | None, interval: float) -> str:
    if health == "healthy":
        return "the engine's HEALTHCHECK says healthy too"
    if health == "starting" or health is None:
        return (f"the engine's own HEALTHCHECK had not passed yet: it first runs after "
                f"its {interval:g} s interval")
    return f"the engine's HEALTHCHECK says {health}"


def wait_ready(running: RunningContainer, run: DockerRun) -> CheckResult:
    from .. import engine

    cfg = run.settings.config.smoke
    c = running.container
    deadline = running.started + cfg.ready_timeout
    pattern = re.compile(cfg.ready_log) if cfg.ready_log else None
    healthcheck = engine.healthcheck_of(c) if running.info.healthcheck else None
    # Said in a PASS: a configured ready_log that the HEALTHCHECK takes precedence over.
    unused = ("; [tool.shipready.smoke] ready_log is not used: the image's HEALTHCHECK "
              "decides" if pattern is not None else "")
    if running.info.healthcheck:
        how = "the HEALTHCHECK to pass"
    elif pattern is not None:
        how = f"a log line matching /{cfg.ready_log}/ ([tool.shipready.smoke] ready_log)"
    elif running.ports:
        how = f"HTTP {cfg.probe_path} on port {running.ports[0]}"
    else:
        how = "nothing (no HEALTHCHECK, port or ready_log): running counts as ready"
    delay = FIRST_POLL
    last_exec = float("-inf")
    last_probe = ""
    while True:
        now = time.monotonic()
        elapsed = now - running.started
        st = c.state()
        if st.status in ("exited", "dead", "removed"):
            return verdicts.exited_early(st.exit_code, running.log_tail(), elapsed,
                                         st.oom_killed)
        if running.info.healthcheck:
            if st.health == "healthy":
                return CheckResult.passed("SR301", f"healthy after {elapsed:.1f} s "
                                          f"(the engine's HEALTHCHECK{unused})",
                                          seconds=round(elapsed, 2))
            if st.health == "unhealthy":
                return verdicts.unhealthy(running.log_tail(), elapsed,
                                          probe_output=st.probe_output)
            # Never waits: the probe opens in the background meanwhile, and the
            # HEALTHCHECK execs go on at full speed.
            answered = running.answers_now(cfg.probe_path)
            if healthcheck is not None and st.status == "running" and (
                    answered or now - last_exec >= SLOW_EXEC or delay < MAX_POLL):
                last_exec = now
                left = max(1.0, deadline - time.monotonic())
                code, output = c.exec_timed(list(healthcheck.argv),
                                            min(healthcheck.timeout, left))
                last_probe = (f"exit {code}: " if code is not None else "timed out: ") + \
                    output.decode("utf-8", "replace").strip()[-300:]
                if code == 0:
                    elapsed = time.monotonic() - running.started
                    said = _engine_said(c.state().health, healthcheck.interval)
                    return CheckResult.passed(
                        "SR301", f"the HEALTHCHECK command passed after {elapsed:.1f} s "
                        f"(run with docker exec; {said}{unused})", seconds=round(elapsed, 2))
        elif pattern is not None:
            chunks = c.log_chunks(run.settings.config.engine_timeout)
            if logcap.any_line(chunks, lambda line: pattern.search(line) is not None):
                return CheckResult.passed(
                    "SR301", f"log line /{cfg.ready_log}/ after {elapsed:.1f} s "
                    "([tool.shipready.smoke] ready_log; no HTTP probe)",
                    seconds=round(elapsed, 2))
        elif running.ports:
            other = ""
            try:
                answer = running.http_each([cfg.probe_path], timeout=1.0)[0]
            except ProbeUnavailableError as exc:
                return CheckResult.skipped(
                    "SR301", f"readiness by {how} cannot be verified: {exc}; or give the "
                    "image a HEALTHCHECK, or set [tool.shipready.smoke] ready_log")
            except (OSError, LookupError, ValueError) as exc:
                last_probe = str(exc)
                status = 599
            else:
                status = answer.status if answer.status is not None else 599
                other = non_http(answer.error) if answer.status is None else ""
                last_probe = (f"{cfg.probe_path} answered {status}"
                              if answer.status is not None else
                              f"no HTTP answer: {printable(answer.error)[:300]} "
                              f"({route_of(os.environ.get('DOCKER_HOST'), running.route())})")
            if other:
                elapsed = time.monotonic() - running.started
                return CheckResult.passed(
                    "SR301", f"port {running.ports[0]} answered after {elapsed:.1f} s, but "
                    f"not over HTTP ({other}): a server listens there, which is all this "
                    "verified; a HEALTHCHECK that asks the service itself (for gRPC, "
                    "grpc_health_probe) or [tool.shipready.smoke] ready_log says more",
                    seconds=round(elapsed, 2))
            if status < 500:
                # The first request may have found the probe's route (seconds, for an
                # image without Python): the time is when the answer came.
                elapsed = time.monotonic() - running.started
                # Any answer shows the server is up; a 404 also shows it has no such
                # route, which the summary says rather than hide.
                route = (f": the server is up but has no {cfg.probe_path} route (set "
                         "[tool.shipready.smoke] probe_path to its health route)"
                         if status == 404 else "")
                return CheckResult.passed(
                    "SR301", f"HTTP {cfg.probe_path} answered {status} after "
                    f"{elapsed:.1f} s (requested {running.route()}){route}",
                    seconds=round(elapsed, 2))
        elif elapsed >= OBSERVE:
            # Nothing says "ready": not a pass. Watching it run a moment first makes a
            # container that exits at once fail here, the same way on every run.
            return verdicts.nothing_to_wait_for(elapsed)
        if time.monotonic() >= deadline:
            if last_probe and healthcheck is not None:
                how += f"; the last probe run with docker exec: {last_probe}"
            elif last_probe:
                how += f"; the last request: {last_probe}"
            return verdicts.not_ready(how, cfg.ready_timeout, running.log_tail())
        time.sleep(delay)
        delay = min(delay * 1.5, MAX_POLL)

