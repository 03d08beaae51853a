"""SR320 services, SR321 release: the backing services the app needs, started on a
Docker network of this run while the image builds, and the release phase run once on
them before any container of the app starts.

What to start comes from :mod:`.backing` (``[tool.shipready.services]`` or the Compose
file). Every container and the network carry the run's labels and are removed with the
rest (cleanups, the final sweep, the next run's reaping). The app reaches each service
by its name on the network; this process reaches the services only through the engine
(docker exec, their logs), never by an address.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...checks import CheckResult, Status
from ...secrets import secret_values
from ..session import LABEL_ROLE
from . import backing, logcap
from . import smoke as verdicts

if TYPE_CHECKING:
    from ..build.image import DockerRun
    from ..engine import Container

SHARED_KEY = "docker.services"
_POLL = 0.25
_EXITED = ("exited", "dead", "removed")


class ServicesNotReadyError(Exception):
    """The app's container is not started: a service or the release phase failed."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.summary)
        self.result = result


class _Started:
    """One started service while its readiness is awaited."""

    def __init__(self, spec: backing.ServiceSpec, container: Container) -> None:
        self.spec = spec
        self.container = container
        self.started = time.monotonic()
        self.probe = spec.probe
        self.last = ""  # the last probe's answer, for a not-ready verdict


class ServicesRun:
    """The backing services of one process's run, started once (by SR320's prefetch
    when the run starts, else by the first item that needs the app's container)."""

    def __init__(self, run: DockerRun) -> None:
        self.run = run
        self._plan: backing.ServicesPlan | None = None
        self._lock = threading.Lock()
        self._release_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._result: CheckResult | None = None
        self._release: CheckResult | None = None
        self.network: str | None = None
        self.started: dict[str, _Started] = {}
        # The checks whose own item has returned its verdict: the app's gate then points
        # at it instead of repeating it.
        self.reported: set[str] = set()

    # --- what to start ---------------------------------------------------------------

    def plan(self) -> backing.ServicesPlan:
        if self._plan is None:
            self._plan = backing.plan(self.run.settings.config, self.run.settings.project,
                                      self.run.dockerfile, os.environ)
        return self._plan

    @property
    def active(self) -> bool:
        plan = self.plan()
        return bool(plan.services or plan.error or plan.missing)

    def secrets(self) -> list[str]:
        """The secret values of every environment this run gives a container."""
        found: set[str] = set()
        for env in self.plan().secret_env():
            found.update(secret_values(env))
        return sorted(found)

    def app_env(self) -> dict[str, str]:
        """The app's environment: the Compose service's, under [tool.shipready.smoke]
        env (which wins)."""
        return {**self.plan().app_env, **self.run.settings.config.smoke.env}

    def app_command(self) -> list[str] | None:
        cfg = self.run.settings.config.smoke
        return list(cfg.command) or list(self.plan().app_command) or None

    # --- starting ---------------------------------------------------------------------

    def begin(self) -> None:
        """Start the services in the background (idempotent)."""
        with self._lock:
            if self._thread is not None or not self.active or self.plan().error \
                    or self.plan().missing:
                return
            plan = self.plan()
            names = ", ".join(f"{s.name} ({s.image})" for s in plan.services)
            self.run.context.phases.note(f"starting the backing services {names} "
                                         f"from {plan.source}")
            self._thread = threading.Thread(target=self._bring_up, daemon=True,
                                            name="shipready-services")
            self._thread.start()
            # Newest cleanups run first: the containers registered by the thread are
            # removed, then the wait ends, then the thread is joined.
            self.run.context.add_cleanup(self._thread.join)
            self.run.context.add_cleanup(self._stop.set)

    def wait(self) -> CheckResult:
        """SR320's verdict, once every service is ready or has failed."""
        plan = self.plan()
        if plan.error:
            from ...checks import Finding

            return CheckResult.failed("SR320", f"the Compose file cannot be used "
                                      f"({plan.source})", [Finding(plan.error, None, None,
                                      "Fix the file, or name the services in "
                                      "[tool.shipready.services.<name>] tables and set "
                                      "[tool.shipready.compose] enabled = false.")])
        if plan.missing:  # not this deployment's fault: the app's checks skip too
            return CheckResult(  # the figure: the report's note that the app did not run
                "SR320", Status.SKIPPED, plan.missing, figures={"app_not_run": 1})
        if not plan.services:
            return CheckResult.skipped("SR320", plan.none_why or "no backing services")
        self.begin()
        thread = self._thread
        assert thread is not None
        if thread.is_alive():
            names = ", ".join(s.name for s in plan.services)
            with self.run.context.phases.phase(
                    "services", f"waiting for the backing services ({names})") as phase:
                thread.join()
                phase.end = ("the backing services are ready" if self._result is not None
                             and self._result.status == Status.PASSED
                             else "the backing services are not ready")
        thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def _bring_up(self) -> None:
        try:
            self._result = self._start_all()
        except BaseException as exc:  # handed to the thread that waits
            self._error = exc

    def _start_all(self) -> CheckResult:
        from .. import engine

        run = self.run
        plan = self.plan()
        client = run.client()
        if client is None:
            return run.engine_gate("SR320")
        timeout = run.settings.config.engine_timeout
        labels = run.labels()
        name = f"pytest-shipready-{run.session.id}-{os.getpid()}"
        engine.create_network(client, name, labels, timeout)
        run.created(f"network {name}")
        run.context.add_cleanup(lambda: self._remove_network(client, name))
        self.network = name
        outcomes: dict[str, backing.Outcome] = {}
        for spec in plan.services:
            if self._stop.is_set():
                break
            try:
                container = engine.start_service(
                    client, spec.image, env=dict(spec.env), command=list(spec.command),
                    entrypoint=list(spec.entrypoint), network=name,
                    aliases=(spec.name, *spec.aliases),
                    labels={**labels, LABEL_ROLE: f"service {spec.name}"},
                    copies=spec.copies, engine_timeout=timeout)
            except engine.EngineError as exc:
                outcomes[spec.name] = backing.Outcome(spec.name, spec.image, "failed",
                                                      error=str(exc))
                continue
            run.created(f"container {container.short_id} (service {spec.name})")
            run.context.add_cleanup(_remover(run, container))
            self.started[spec.name] = _Started(spec, container)
        pending = dict(self.started)
        delay = 0.05
        while pending and not self._stop.is_set():
            for svc_name, started in list(pending.items()):
                outcome = self._check(started)
                if outcome is not None:
                    outcomes[svc_name] = outcome
                    del pending[svc_name]
            if pending:
                time.sleep(delay)
                delay = min(delay * 1.5, _POLL * 2)
        ordered = [outcomes[s.name] for s in plan.services if s.name in outcomes]
        return backing.services_verdict(ordered, plan.source, plan.notes,
                                        {s.name: s.ready_timeout for s in plan.services})

    def _remove_network(self, client: Any, name: str) -> None:
        if self.run.lost:
            return
        from .. import engine

        try:
            engine.remove_network(client, name)
        except Exception as exc:
            if not engine.is_engine_failure(exc):
                return  # still in use (a container being removed): the final sweep's
            from ..enginehost import lost

            # As for a container: the final sweep says once what is left, and the next
            # run removes it.
            self.run.context.shared["docker.lost"] = lost(
                os.environ.get("DOCKER_HOST"),
                engine.describe_failure(exc, self.run.settings.config.engine_timeout),
                "the cleanup")

    def _check(self, s: _Started) -> backing.Outcome | None:
        """The service's outcome once known, else None (still waiting)."""
        c = s.container
        spec = s.spec
        elapsed = time.monotonic() - s.started
        st = c.state()
        tail = verdicts.LOG_FETCH

        def outcome(state: str, **kw: Any) -> backing.Outcome:
            return backing.Outcome(spec.name, spec.image, state,
                                   round(kw.pop("seconds", elapsed), 2), s.probe.describe,
                                   c.logs(tail=tail), **kw)

        if s.probe.kind == "exit":
            if st.status in _EXITED:
                if st.exit_code == 0:
                    return outcome("ready")
                return outcome("exited", exit_code=st.exit_code)
        elif st.status in _EXITED:
            return outcome("exited", exit_code=st.exit_code)
        elif st.status == "running" and self._probe(s, elapsed):
            return outcome("unverified" if s.probe.kind == "running" else "ready")
        if elapsed >= spec.ready_timeout:
            return outcome("not-ready", seconds=spec.ready_timeout, error=s.last)
        return None

    def _probe(self, s: _Started, elapsed: float) -> bool:
        from .. import engine

        c = s.container
        if s.probe.kind == "image":  # resolved once it runs: HEALTHCHECK, else EXPOSE
            found = engine.healthcheck_of(c)
            if found is not None:
                s.probe = backing.Probe("exec", "the image's HEALTHCHECK", argv=found.argv)
            else:
                client = self.run.client()
                exposed = engine.inspect_image(client, s.spec.image).exposed if client \
                    else ()
                s.probe = (backing.Probe("port", f"port {', '.join(map(str, exposed))} "
                                         "listening (EXPOSE)", ports=exposed) if exposed
                           else backing.Probe("running", "running"))
        probe = s.probe
        left = max(1.0, s.spec.ready_timeout - elapsed)
        if probe.kind == "exec":
            code, raw = c.exec_timed(list(probe.argv), min(10.0, left))
            output = raw.decode("utf-8", "replace").strip()
            s.last = (f"exit {code}: " if code is not None else "timed out: ") + output[-300:]
            return code == 0 or bool(probe.accept and re.search(probe.accept, output))
        if probe.kind == "log":
            pattern = re.compile(probe.pattern)
            return logcap.any_line(c.log_chunks(self.run.settings.config.engine_timeout),
                                   lambda line: pattern.search(line) is not None)
        if probe.kind == "port":
            code, raw = c.exec_timed(["cat", "/proc/net/tcp", "/proc/net/tcp6"], min(5.0, left))
            text = raw.decode("utf-8", "replace")
            if code in (126, 127) or (code is not None and "local_address" not in text):
                s.probe = backing.Probe("running", "running (no `cat` in it to read its "
                                        "listening ports)")
                return False
            ports = backing.listening(text)
            s.last = f"listening on {sorted(ports) or 'no port'}"
            return bool(ports & set(probe.ports))
        return elapsed >= backing.OBSERVE  # "running": watched a moment, then it counts

    # --- the items ----------------------------------------------------------------------

    def item(self) -> CheckResult:
        """SR320."""
        try:
            return self.wait()
        finally:
            self.reported.add("SR320")

    def release_item(self) -> CheckResult:
        """SR321."""
        try:
            return self.release()
        finally:
            self.reported.add("SR321")

    def release(self) -> CheckResult:
        with self._release_lock:
            if self._release is None:
                self._release = self._run_release()
            return self._release

    def _run_release(self) -> CheckResult:
        from .. import engine

        run = self.run
        argv = list(run.settings.config.smoke.release)
        if not argv:
            return CheckResult.skipped("SR321", _no_release(run.settings.project))
        built, skip = run.need_image("SR321")
        if skip is not None:
            return skip
        assert built.ref is not None
        services = self.wait() if self.active else None
        if services is not None and services.status != Status.PASSED:
            return CheckResult.skipped("SR321", "the backing services are not ready (see "
                                       "shipready::smoke::services)")
        client = run.client()
        assert client is not None
        timeout = run.settings.config.smoke.release_timeout
        shown = " ".join(argv)
        with run.context.phases.phase("release", f"running the release phase `{shown}`"
                                      ) as phase:
            replaces = run.settings.config.smoke.release_replaces_entrypoint
            try:
                container = engine.run_container(
                    client, built.ref, command=argv[1:] if replaces else argv,
                    env=self.app_env(), ports=(),
                    labels={**run.labels(), LABEL_ROLE: "release"}, network=self.network,
                    entrypoint=argv[:1] if replaces else None)
            except engine.EngineError as exc:
                from ...checks import Finding

                return CheckResult.failed("SR321", "the release container did not start",
                                          [Finding(str(exc))])
            run.created(f"container {container.short_id} (release)")
            run.context.add_cleanup(lambda: run.remove_container(container))
            started = time.monotonic()
            code: int | None = None
            while True:
                st = container.state()
                if st.status in _EXITED:
                    code = st.exit_code
                    break
                if time.monotonic() - started >= timeout:
                    break
                time.sleep(_POLL)
            seconds = time.monotonic() - started
            output = container.logs(tail=verdicts.LOG_FETCH)
            run.remove_container(container)
            phase.end = ("the release phase succeeded" if code == 0
                         else "the release phase failed")
        return backing.release_verdict(
            argv, code, seconds, output, timeout,
            built.info.entrypoint if built.info and not replaces else ())

    # --- the app's containers ------------------------------------------------------------

    def app_gate(self, check_id: str) -> CheckResult | None:
        """None when the app's containers may start (services ready, release done), else
        ``check_id``'s result: a skip pointing at the item that failed, or that item's
        failure itself when its own item did not run (deselected)."""
        if self.active:
            services = self.wait()
            if services.status == Status.SKIPPED:
                if self.plan().missing and ("SR320" in self.reported
                                            or check_id != "SR301"):
                    return CheckResult.skipped(check_id, "the backing services cannot be "
                                               "started here (see shipready::smoke::"
                                               "services)")
                return CheckResult.skipped(check_id, services.summary)
            if services.status != Status.PASSED:
                return self._pointer(check_id, "SR320", services, "a backing service did "
                                     "not become ready (see shipready::smoke::services)")
        release = self.release()
        if release.status == Status.FAILED:
            return self._pointer(check_id, "SR321", release, "the release phase failed "
                                 "(see shipready::smoke::release)")
        return None

    def _pointer(self, check_id: str, owner: str, result: CheckResult, why: str
                 ) -> CheckResult:
        if owner in self.reported or check_id != "SR301":
            return CheckResult.skipped(check_id, why)
        return CheckResult(check_id, Status.FAILED, f"{why.split(' (see')[0]}: "
                           f"{result.summary}", result.findings, dict(result.figures))

    def explain(self, result: CheckResult) -> CheckResult:
        """The app's readiness failure with what each service's log says."""
        if not self.started:
            return result
        logs = {name: (s.spec.image, s.container.logs(tail=verdicts.LOG_FETCH))
                for name, s in self.started.items()}
        return backing.explain_app_failure(result, logs)


def _remover(run: DockerRun, container: Container) -> Callable[[], None]:
    return lambda: run.remove_container(container)


def services_run(run: DockerRun) -> ServicesRun:
    existing = run.context.shared.get(SHARED_KEY)
    if isinstance(existing, ServicesRun) and existing.run is run:
        return existing
    created = ServicesRun(run)
    run.context.shared[SHARED_KEY] = created
    return created


def _no_release(project: Path) -> str:
    """SR321's skip: no release phase configured; a Procfile's ``release:`` process is
    named (it is not run unless declared), with the setting that runs it."""
    from ...dockerfile import command as start

    try:
        release = start.procfile((project / "Procfile").read_text(encoding="utf-8")
                                 ).get("release")
    except (OSError, UnicodeDecodeError):
        release = None
    if not release:
        return ('no release phase ([tool.shipready.smoke] release, e.g. ["python", '
                '"manage.py", "migrate"])')
    try:
        words = shlex.split(release)
    except ValueError:
        words = []
    # A variable set before the command, or shell syntax, needs a shell, as Heroku's.
    plain = bool(words) and "=" not in words[0] and not re.search(r"[;&|<>$`]", release)
    argv = json.dumps(words if plain else ["sh", "-c", release])
    return (f"no release phase run: the Procfile's release process `{release}` is not run "
            f"unless declared: [tool.shipready.smoke] release = {argv}")

