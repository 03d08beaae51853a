"""The smoke area: one session container of the built image, and what it must do.

SR301 ready, SR302 stays-up, SR303 non-root-runtime, SR305 commands, SR304
graceful-shutdown (last: it stops the container). The container's whole log, from start
to the graceful stop, is what :meth:`SmokeRun.container_logs` gives the logs area (set on
the run as ``RunContext.container_logs`` at planning).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...checks import CheckResult, ContainerLogs, Finding, NoContainerLogs, PlannedCheck, Status
from ...secrets import MaskedEnv
from ..session import LABEL_ROLE

# What the logs area reads: the session container's log, env, and how to finish it.
from . import logcap
from . import smoke as verdicts

if TYPE_CHECKING:
    from ...config import SmokeConfig
    from ..build.image import DockerRun
    from ..engine import Container, ImageInfo, Restrictions
    from .httpprobe import Answer
    from .probe import Prober

_POLL = 0.25


@dataclass
class RunningContainer:
    """A started container of the image, for checks and for users' fixtures.

    ``exec(["python", "-V"])`` -> (exit code, output); ``http("/health")`` -> (status,
    body), requested from inside the engine (:mod:`.probe`: whatever network lies between
    this process and the engine, and never through a proxy); ``url()``/``host_port()``
    for a client of one's own, when its ports are published (``published_host``: the
    user fixtures' containers); ``logs()`` -> its output so far.
    """

    container: Container
    info: ImageInfo = field(repr=False)
    env: dict[str, str] = field(repr=False)  # values may be secret: `pytest -l` shows reprs
    ports: tuple[int, ...] = ()
    started: float = field(default_factory=time.monotonic)
    ready: CheckResult | None = None
    stopped: bool = False
    exit_code: int | None = None  # set when it exited by itself
    probe: Prober | None = field(default=None, repr=False)  # HTTP from inside the engine
    # Where its published ports are reached ("" when none is published: the checks'
    # containers publish nothing, a user fixture's do).
    published_host: str = ""

    @property
    def id(self) -> str:
        return self.container.id

    def _port(self, port: int | None) -> int:
        wanted = port if port is not None else (self.ports[0] if self.ports else None)
        if wanted is None:
            raise LookupError("the container has no port (EXPOSE or [tool.shipready.smoke] "
                              "ports)")
        return wanted

    def host_port(self, port: int | None = None) -> int:
        wanted = self._port(port)
        found = self.container.host_port(wanted) if self.published_host else None
        if found is None:
            raise LookupError(f"container port {wanted} is not published (only the "
                              "containers of the shipready_container and "
                              "shipready_fresh_container fixtures publish theirs)")
        return found

    def url(self, path: str = "/", port: int | None = None) -> str:
        """The URL of ``path`` on a published port, at the address testcontainers would
        use (TESTCONTAINERS_HOST_OVERRIDE, the host of DOCKER_HOST, else 127.0.0.1)."""
        host = self.published_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.host_port(port)}{path}"

    def http(self, path: str = "/", port: int | None = None, timeout: float = 5.0
             ) -> tuple[int, bytes]:
        """GET ``path`` from inside the engine: (status, body). Raises OSError (a
        :class:`.probe.ProbeError` naming the route and the engine) without an answer."""
        if self.probe is None:
            raise LookupError("this container has no probe")
        return self.probe.http(path, self._port(port), timeout)

    def answers_now(self, path: str) -> bool:
        """Whether a GET of ``path`` on the first port got any HTTP answer, asked only
        if the probe can answer at once (see :meth:`.probe.Prober.status_now`); the
        first call opens the probe in the background."""
        if self.probe is None or not self.ports:
            return False
        self.probe.open_soon(path, self.ports[0])
        return self.probe.status_now(path, self.ports[0]) is not None

    def route(self) -> str:
        """How :meth:`http` reaches it ("with docker exec of python3 in the container")."""
        return self.probe.describe() if self.probe is not None else "not at all"

    def http_each(self, paths: list[str], port: int | None = None, timeout: float = 5.0
                  ) -> list[Answer]:
        """GET each of ``paths`` in turn, in one request to the probe: an answer (or
        error) per path."""
        if self.probe is None:
            raise LookupError("this container has no probe")
        return self.probe.get(paths, self._port(port), timeout)

    def exec(self, argv: list[str], env: dict[str, str] | None = None
             ) -> tuple[int, str]:
        code, output = self.container.exec(argv, env)
        return code, output.decode("utf-8", "replace")

    def exec_answered(self, argv: list[str], answered: Callable[[int | None, str], bool],
                      tries: int = 2, timeout: float | None = None) -> tuple[int | None, str]:
        """``exec`` (``exec_timed`` with a ``timeout``: then the code is None when it ran
        out), run again while ``answered(code, output)`` says the answer is missing: the
        engine can lose a short exec's output (moby#27289), and a lost answer must not
        become a verdict. The last attempt's code and output."""
        code: int | None = None
        output = ""
        for _ in range(tries):
            if timeout is None:
                code, output = self.exec(argv)
            else:
                code, raw = self.container.exec_timed(argv, timeout)
                output = raw.decode("utf-8", "replace")
            if answered(code, output):
                break
        return code, output

    def logs(self) -> str:
        return self.container.logs().decode("utf-8", "replace")

    def log_bytes(self) -> bytes:
        return self.container.logs()

    def log_tail(self) -> bytes:
        """The end of its log, for a verdict (bounded, whatever the log's size)."""
        return self.container.logs(tail=verdicts.LOG_FETCH)

    def stop_and_judge(self, cfg: SmokeConfig) -> CheckResult:
        """Stop it with its STOPSIGNAL within ``grace_period`` and judge how it went
        (SR304's verdict; SR311's for the hardened container). Raises EngineError when
        the engine cannot stop it."""
        pid1 = self.pid1()
        status = self.pid1_status()
        code, seconds = self.container.stop(cfg.grace_period)
        self.stopped = True
        return verdicts.shutdown_verdict(code, seconds, cfg.grace_period,
                                         tuple(cfg.stop_exit_codes), self.info.stop_signal,
                                         self.log_tail(), pid1, status)

    def pid1(self) -> tuple[str, ...]:
        """The command line of the container's PID 1 (/proc/1/cmdline): which process
        the stop signal reaches; () when it cannot be read (no `cat`, it exited)."""
        code, out = self.exec_answered(["cat", "/proc/1/cmdline"],
                                       lambda c, text: c != 0 or bool(text))
        return tuple(w for w in out.split("\0") if w) if code == 0 else ()

    def pid1_status(self) -> str:
        """/proc/1/status of the container (which signals PID 1 catches and ignores);
        "" when it cannot be read."""
        code, out = self.exec_answered(["cat", "/proc/1/status"],
                                       lambda c, text: c != 0 or "SigCgt" in text)
        return out if code == 0 else ""


def start(run: DockerRun, image: str, info: ImageInfo,
          restrictions: Restrictions | None = None, *, publish: bool = False
          ) -> RunningContainer:
    """Start a container of ``image`` with the smoke settings (under ``restrictions``,
    for the hardened smoke) and wait until ready (its ``ready`` result says how that
    went). Its ports are published only with ``publish`` (a user fixture's container),
    where testcontainers would reach them; the checks probe from inside the engine.
    Removed at session end in any case."""
    from .. import engine
    from .services import ServicesNotReadyError, services_run

    cfg = run.settings.config.smoke
    client = run.client()
    assert client is not None
    ports = tuple(cfg.ports) or info.exposed
    # The backing services ready and the release phase done, or no container of the app.
    services = services_run(run)
    gate = services.app_gate("SR301")
    if gate is not None:
        raise ServicesNotReadyError(gate)
    env = services.app_env()
    host, bind = engine.published_address() if publish and ports else ("", None)
    container = engine.run_container(client, image, command=services.app_command(),
                                     env=env, ports=ports,
                                     labels={**run.labels(), **(
                                         {LABEL_ROLE: "hardened"} if restrictions else {})},
                                     restrictions=restrictions, network=services.network,
                                     publish_on=bind)
    run.created(f"container {container.short_id}")
    run.context.add_cleanup(lambda: run.remove_container(container))
    running = RunningContainer(container, info, MaskedEnv(env), ports,
                               probe=prober(run, container, info), published_host=host)
    running.ready = _wait_ready(running, run)
    if running.ready.status == Status.FAILED:
        running.ready = services.explain(running.ready)
    return running


def prober(run: DockerRun, container: Container, info: ImageInfo) -> Prober:
    """The HTTP probe of ``container`` (see :mod:`.probe`): the image's interpreters as
    the parity probe finds them, else a probe container of a Python image on the engine,
    removed with the run."""
    from .. import engine
    from ..inspect.parity import interpreters
    from .probe import Prober

    cfg = run.settings.config
    command = tuple(cfg.smoke.command) or info.command
    found = interpreters(command, {**info.env, **cfg.smoke.env}, cfg.parity.python)
    # python3 first: it is there in nearly every image, and any Python runs the probe.
    order = [*(["python3"] if "python3" in found else []), *found]

    def spawn() -> tuple[Container, str] | None:
        client = run.client()
        if client is None:
            return None
        for image in engine.python_images(client)[:3]:
            try:
                probe = engine.start_probe_container(
                    client, image, container, {**run.labels(), LABEL_ROLE: "probe"})
            except engine.EngineError:
                continue
            run.created(f"container {probe.short_id}")
            run.context.add_cleanup(functools.partial(run.remove_container, probe))
            return probe, image
        return None

    return Prober(container, list(dict.fromkeys(order)), spawn)


def _wait_ready(running: RunningContainer, run: DockerRun) -> CheckResult:
    """SR301's wait (see :mod:`.readiness`), as a phase with progress lines."""
    from .readiness import wait_ready

    with run.context.phases.phase("ready", "waiting for the container to become ready"
                                  ) as phase:
        result = wait_ready(running, run)
        phase.end = ("the container is ready" if result.status.value == "passed"
                     else f"the container is not ready ({result.status.value})")
    return result


class SmokeRun:
    """The session container, started by the first item or fixture that needs it."""

    def __init__(self, run: DockerRun) -> None:
        self.run = run
        self.current: RunningContainer | None = None
        self.failure: CheckResult | None = None
        self.final_published = False
        self.published: ContainerLogs | None = None
        self._log_of: RunningContainer | None = None  # whose log is shared (read lazily)
        self.skip_reason: str | None = None  # why the session container did not run
        self.stopped_with: CheckResult | None = None  # SR304's verdict, once it ran

    def session(self, check_id: str) -> tuple[RunningContainer | None, CheckResult | None]:
        """The running session container, or the skip/failure result for ``check_id``."""
        built, skip = self.run.need_image(check_id)
        if skip is not None:
            self.skip_reason = self.skip_reason or skip.summary
            return None, skip
        # One session container per run: once started, it is never started again.
        if self.current is not None:
            return self._still_running(self.current, check_id)
        if self.failure is not None:
            return None, self._gate(check_id)
        from .. import engine
        from .services import ServicesNotReadyError

        assert built.ref is not None and built.info is not None
        # Its ports are published only when a test of the user's takes it as the
        # shipready_container fixture (the plugin says so at collection).
        publish = self.run.context.publish_session_ports
        try:
            running = start(self.run, built.ref, built.info, publish=publish)
        except ServicesNotReadyError as exc:
            self.failure = exc.result
            self.skip_reason = self.skip_reason or exc.result.summary
            if check_id == "SR301":
                return None, exc.result
            return None, CheckResult.skipped(check_id, exc.result.summary if
                                             exc.result.status == Status.SKIPPED else
                                             "the container did not start (see "
                                             "shipready::smoke::ready)")
        except engine.EngineError as exc:
            self.failure = CheckResult.failed("SR301", "the container did not start",
                                              [Finding(str(exc))])
            return None, self._gate(check_id)
        if running.ready is not None and running.ready.status == Status.FAILED:
            self._publish(running)
            self.failure = running.ready
            running.container.remove()
            running.stopped = True
            return None, self._gate(check_id)
        self._exercise(running)
        self._publish(running)
        self.current = running
        return running, None

    def _still_running(self, running: RunningContainer, check_id: str
                       ) -> tuple[RunningContainer | None, CheckResult | None]:
        if not running.stopped:
            st = running.container.state()
            if st.status not in ("exited", "dead", "removed"):
                return running, None
            running.stopped = True
            running.exit_code = st.exit_code
            self._publish(running)
        how = (f"it exited ({verdicts.exit_meaning(running.exit_code)})"
               if running.exit_code is not None else "it was stopped")
        return None, CheckResult.skipped(
            check_id, f"the container is not running: {how} (see shipready::smoke::stays-up "
            "and graceful-shutdown)")

    def _exercise(self, running: RunningContainer) -> None:
        """Request [tool.shipready.logs] requests once ready, so that warning and error
        paths (a 404) log too; the responses do not matter."""
        paths = list(self.run.settings.config.logs.requests)
        if not running.ports or not paths:
            return
        with contextlib.suppress(OSError, LookupError, ValueError):
            running.http_each(paths, timeout=2.0)  # one exec for them all

    def _gate(self, check_id: str) -> CheckResult:
        if self.failure is not None:
            self.skip_reason = self.skip_reason or self.failure.summary
        if check_id == "SR301" and self.failure is not None:
            return self.failure
        if self.failure is not None and self.failure.status == Status.SKIPPED:
            return CheckResult.skipped(check_id, "the container did not run (see "
                                       "shipready::smoke::ready)")
        return CheckResult.skipped(
            check_id, "the container did not become ready (see shipready::smoke::ready)")

    def _publish(self, running: RunningContainer, final: bool = False) -> None:
        """Share the session container's log; once the graceful stop has shared the whole
        log, a later session container (for fixtures) does not replace it."""
        if self.final_published and not final:
            return
        # A container that stopped (gracefully or by itself) has written its whole log.
        self.final_published = final or running.stopped
        self._log_of = running  # streamed through the cap, read once
        self.published = None
        if self.final_published and (self.failure is None or final):
            # Its whole log is written: read it now, before the session's cleanup
            # removes the container (a conftest may ask at sessionfinish).
            self._collect()

    def _collect(self) -> ContainerLogs | None:
        """The shared container's log through the [tool.shipready.logs] max_log_mb cap:
        never held whole (a container can write hundreds of megabytes)."""
        if self.published is None and self._log_of is not None:
            settings = self.run.settings.config
            running = self._log_of
            self.published = logcap.collect(
                running.container.log_chunks(settings.engine_timeout),
                int(settings.logs.max_log_mb * 1e6), container_env(running))
        return self.published

    # --- the checks -------------------------------------------------------------------

    def ready(self) -> CheckResult:
        running, gate = self.session("SR301")
        if running is None:
            assert gate is not None
            return gate
        assert running.ready is not None
        return running.ready

    def stays_up(self) -> CheckResult:
        settle = self.run.settings.config.smoke.settle
        exited = self.current
        if exited is not None and exited.stopped and exited.exit_code is not None:
            # It exited by itself while the items before this one ran (they skipped).
            return self._exited(exited, exited.exit_code, settle)
        running, gate = self.session("SR302")
        if running is None:
            assert gate is not None
            return gate
        # The settle period runs from ready, overlapping with the items in between
        # (SR303, SR305, parity): this item runs after them and waits what is left.
        ready_at = _ready_at(running)
        end = max(time.monotonic(), ready_at + settle)
        c = running.container
        while True:
            st = c.state()
            if st.status in ("exited", "dead", "removed"):
                running.stopped = True
                running.exit_code = st.exit_code
                self._publish(running)
                return self._exited(running, st.exit_code, settle)
            if st.health == "unhealthy":
                return verdicts.unhealthy(running.log_tail(),
                                          time.monotonic() - running.started, "SR302")
            if time.monotonic() >= end:
                up = time.monotonic() - ready_at
                return CheckResult.passed("SR302", f"up {up:.1f} s after ready (settle "
                                          f"period {settle:g} s)", settle=settle,
                                          up_seconds=round(up, 2))
            time.sleep(_POLL)

    def _exited(self, running: RunningContainer, code: int, settle: float) -> CheckResult:
        since = time.monotonic() - _ready_at(running)
        return CheckResult.failed(
            "SR302", f"exited after becoming ready ({verdicts.exit_meaning(code)})",
            [Finding(f"it exited within {since:.0f} s of becoming ready (settle period "
                     f"{settle:g} s); " + verdicts.tail(running.log_tail()), None, None,
                     "Read the log and fix the crash.")],
            exit_code=code)

    def non_root(self) -> CheckResult:
        running, gate = self.session("SR303")
        if running is None:
            assert gate is not None
            return gate
        # PID 1's own uid (an entrypoint may drop privileges); else `id -u`; else USER.
        code, output = running.exec(["cat", "/proc/1/status"])
        uid = verdicts.uid_from_status(output) if code == 0 else ""
        if not uid:
            code, output = running.exec(["id", "-u"])
            uid = output.strip() if code == 0 else ""
        return verdicts.uid_verdict(uid, running.info.user)

    def commands(self) -> CheckResult:
        cfg = self.run.settings.config.smoke
        if not cfg.commands:
            return CheckResult.skipped("SR305", "no command checks configured "
                                       "([[tool.shipready.smoke.commands]])")
        running, gate = self.session("SR305")
        if running is None:
            assert gate is not None
            return gate
        results: list[tuple[list[str], int, int | None, str, bytes]] = []
        for check in cfg.commands:
            argv = list(check.command)
            code, output = running.container.exec_timed(argv, check.timeout)
            results.append((argv, check.exit_code, code, check.output, output))
        return verdicts.command_verdicts(results, [c.timeout for c in cfg.commands])

    def graceful(self) -> CheckResult:
        running, gate = self.session("SR304")
        if running is None:
            assert gate is not None
            return gate
        from .. import engine

        cfg = self.run.settings.config.smoke
        try:
            with self.run.context.phases.phase("stop", "stopping the container "
                                               f"({running.info.stop_signal})",
                                               quiet_start=True):
                self.stopped_with = running.stop_and_judge(cfg)
        except engine.EngineError as exc:
            return CheckResult.failed("SR304", "cannot stop the container",
                                      [Finding(str(exc))])
        self._publish(running, final=True)
        return self.stopped_with

    def through_stop(self) -> None:
        """For the logs area when graceful-shutdown is not selected (``-k SR501``): run
        the session container through its stop, so that its whole log is shared. The
        stop's verdict is SR304's business; here only the log counts."""
        if not self.final_published:
            self.graceful()

    def container_logs(self) -> ContainerLogs:
        """The logs area's source: the session container's whole log, start through stop
        (running it through its stop when the smoke items were deselected)."""
        from .. import engine

        if self.run.lost:
            raise engine.EngineError(self.run.lost)
        try:
            return self._container_logs()
        except Exception as exc:
            if not engine.is_engine_failure(exc):
                raise
            from ..enginehost import lost

            self.run.context.shared["docker.lost"] = lost(
                os.environ.get("DOCKER_HOST"),
                engine.describe_failure(exc, self.run.settings.config.engine_timeout),
                "the reading of the container's log")
            raise engine.EngineError(self.run.lost) from None

    def _container_logs(self) -> ContainerLogs:
        if self._log_of is None or not self.final_published:
            self.through_stop()
        if self.failure is not None:  # its log is SR301's evidence, not a log to judge
            raise NoContainerLogs("the container did not become ready (see "
                                  "shipready::smoke::ready)")
        published = self._collect()
        if published is None:
            raise NoContainerLogs("the smoke container did not run "
                                  f"({self.skip_reason or 'no smoke area in this run'})")
        return published



def container_env(running: RunningContainer) -> dict[str, str]:
    """The environment the container ran with, for SR505: the image's own ENV, what the
    engine reports of the container, and the smoke env (its values may be secret)."""
    return MaskedEnv({**running.info.env, **running.container.environment(), **running.env})


def _ready_at(running: RunningContainer) -> float:
    """When the container became ready (monotonic clock)."""
    seconds = running.ready.figures.get("seconds", 0.0) if running.ready else 0.0
    return running.started + float(seconds)


def smoke_run(run: DockerRun) -> SmokeRun:
    if run.smoke is None:
        run.smoke = SmokeRun(run)
    assert isinstance(run.smoke, SmokeRun)
    return run.smoke


def plan(run: DockerRun, path: Path | None) -> list[PlannedCheck]:
    s = smoke_run(run)
    run.context.container_logs = s.container_logs
    return [
        PlannedCheck("smoke", None, "SR301", "ready", path, s.ready),
        PlannedCheck("smoke", None, "SR302", "stays-up", path, s.stays_up, deferred=True),
        PlannedCheck("smoke", None, "SR303", "non-root-runtime", path, s.non_root),
        PlannedCheck("smoke", None, "SR305", "commands", path, s.commands),
        PlannedCheck("smoke", None, "SR304", "graceful-shutdown", path, s.graceful,
                     runs_last=True),
    ]
