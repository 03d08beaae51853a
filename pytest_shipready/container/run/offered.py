"""The session container as the container area offers it to another family: the deploy
area's checks of a manifest (SR601-SR606) ask it what the app listens on, how it answers
a probe, how its stop went, and to run the image once more with a manifest's command.

Implements :class:`pytest_shipready.checks.SessionContainer`; everything goes through
the engine (exec in the container, the smoke container's own HTTP route), never a
container address.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ...checks import Answer, ImageCommand, Status
from ..session import LABEL_ROLE
from . import listening
from . import smoke as verdicts

if TYPE_CHECKING:
    from ..build.image import DockerRun
    from .hardened import HardenedRun
    from .smokerun import RunningContainer, SmokeRun

CHECK_ID = "SR600"  # what a skip result of the session names; only its summary is used
VARIANT_WATCH = 5.0  # seconds a long-running variant must stay up (at least the settle)


class SessionOffer:
    def __init__(self, run: DockerRun, smoke: SmokeRun, hardened: HardenedRun) -> None:
        self.run = run
        self.smoke = smoke
        self.hardened_run = hardened
        self._listening: Mapping[int, frozenset[str]] | str | None = None
        self._variants: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...], bool],
                             Answer] = {}

    def _running(self) -> RunningContainer | str:
        running, gate = self.smoke.session(CHECK_ID)
        if running is None:
            assert gate is not None
            return gate.summary or "the session container did not run"
        return running

    def unavailable(self) -> str:
        running = self._running()
        return running if isinstance(running, str) else ""

    def image(self) -> ImageCommand | None:
        built = self.run.built
        if built is None or built.info is None:
            return None
        info = built.info
        entry = info.entrypoint
        return ImageCommand(entry, info.command[len(entry):], info.user, dict(info.env))

    def ran(self) -> tuple[str, ...]:
        image = self.image()
        if image is None:
            return ()
        configured = tuple(self.run.settings.config.smoke.command)
        return (*image.entrypoint, *(configured or image.cmd))

    def listening(self) -> Mapping[int, frozenset[str]] | str:
        if self._listening is None:
            self._listening = self._read_listening()
        return self._listening

    def _read_listening(self) -> Mapping[int, frozenset[str]] | str:
        running = self._running()
        if isinstance(running, str):
            return running
        for argv in (listening.CAT, listening.PYTHON):
            _, output = running.exec_answered(list(argv), lambda c, text: "local_address"
                                              in text or c not in (0, None), timeout=10)
            if "local_address" in output:  # tcp6 may be missing (IPv6 off): cat exits 1
                return listening.parse(output)
        return ("cannot read /proc/net/tcp in the container (neither `cat` nor `python3` "
                "in the image)")

    def http(self, port: int, path: str, headers: Sequence[tuple[str, str]],
             timeout: float) -> Answer:
        running = self._running()
        if isinstance(running, str):
            return Answer(None, running)
        try:
            status, _ = running.http(path, port=port, timeout=timeout)
        except Exception as exc:  # the route's own errors: no answer is the verdict
            return Answer(False, f"no answer ({type(exc).__name__}: {exc})")
        return Answer(200 <= status < 400, f"answered {status}")

    def tcp(self, port: int, timeout: float) -> Answer:
        heard = self.listening()
        if isinstance(heard, str):
            return Answer(None, heard)
        addresses = heard.get(port)
        if addresses is None:
            return Answer(False, "nothing listens there")
        if addresses <= {"127.0.0.1", "::1"}:
            return Answer(False, f"listened on {', '.join(sorted(addresses))} only, which "
                          "the kubelet does not reach")
        return Answer(True, f"listened on ({', '.join(sorted(addresses))})")

    def exec(self, argv: Sequence[str], timeout: float) -> Answer:
        running = self._running()
        if isinstance(running, str):
            return Answer(None, running)
        code, output = running.container.exec_timed(list(argv), timeout)
        tail = output.decode("utf-8", "replace").strip()[-200:]
        if code is None:
            return Answer(False, f"timed out after {timeout:g} s" + (f": {tail}" if tail
                                                                      else ""))
        return Answer(code == 0, f"exit {code}" + (f": {tail}" if tail else ""))

    def stopped(self) -> tuple[float | None, bool, str]:
        if self.smoke.stopped_with is None:
            running = self._running()
            if isinstance(running, str):
                return None, False, running
            self.smoke.through_stop()
        result = self.smoke.stopped_with
        if result is None:
            return None, False, "the session container was not stopped"
        seconds = result.figures.get("seconds")
        if not isinstance(seconds, int | float):
            return None, False, result.summary
        return float(seconds), result.status == Status.PASSED, result.summary

    def hardened(self) -> tuple[str, str, str]:
        result = self.hardened_run.ready()
        return result.status.value, result.summary, self.hardened_run.settings().source

    def variant(self, command: Sequence[str], env: Mapping[str, str],
                one_shot: bool) -> Answer:
        key = (tuple(command), tuple(sorted(env.items())), one_shot)
        if key not in self._variants:
            self._variants[key] = self._run_variant(list(command), dict(env), one_shot)
        return self._variants[key]

    def _run_variant(self, command: list[str], env: dict[str, str],
                     one_shot: bool) -> Answer:
        """Another container of the image running ``command`` (entrypoint replaced, as a
        manifest's ``command`` does), with the smoke's environment and services: a
        long-running one must stay up, a one-shot one exit 0."""
        from .. import engine
        from .services import services_run

        built = self.run.built
        if built is None or built.ref is None:
            return Answer(None, "no image")
        client = self.run.client()
        if client is None or not command:
            return Answer(None, self.run.unavailable or "no command")
        services = services_run(self.run)
        gate = services.app_gate("SR605")
        if gate is not None:
            return Answer(None, gate.summary)
        cfg = self.run.settings.config.smoke
        container = engine.run_container(
            client, built.ref, entrypoint=command[:1], command=command[1:],
            env={**services.app_env(), **env}, ports=(),
            labels={**self.run.labels(), LABEL_ROLE: "variant"},
            network=services.network)
        self.run.created(f"container {container.short_id}")
        self.run.context.add_cleanup(lambda: self.run.remove_container(container))
        started = time.monotonic()
        watch = cfg.ready_timeout if one_shot else max(cfg.settle, VARIANT_WATCH)
        try:
            while True:
                state = container.state()
                elapsed = time.monotonic() - started
                if state.status in ("exited", "dead", "removed"):
                    if one_shot and state.exit_code == 0:
                        return Answer(True, f"ran and exited 0 in {elapsed:.1f} s")
                    tail = verdicts.tail(container.logs(tail=verdicts.LOG_FETCH))
                    return Answer(False, f"exited {verdicts.exit_meaning(state.exit_code)} "
                                  f"after {elapsed:.1f} s; {tail}")
                if elapsed >= watch:
                    what = ("still running after" if one_shot else "stayed up for")
                    return Answer(True, f"{what} {elapsed:.1f} s")
                time.sleep(0.25)
        finally:
            self.run.remove_container(container)

