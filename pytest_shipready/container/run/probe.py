"""HTTP requests to a container of this run, made from inside the engine.

The test process may not reach the engine host's ports at all (GitLab's docker:dind, a
``tcp://`` or ``ssh://`` engine, a CI runner's remote engine), so a probe never goes
through a published port: it runs in the container's own network namespace and connects
to the container's address there (:mod:`.httpprobe`). Routes, chosen once per container,
in order:

1. the image's own Python in the container (the image is a Python service; its
   interpreter is found as the parity probe finds it);
2. when the container has no Python: a probe container of a Python image the engine
   already has, in the container's network namespace (``--network container:<id>``),
   started once and removed with the run.

On that route the probe runs as one long-lived ``docker exec`` with its stdin attached
(:class:`.engine.ExecSession`): each request is a line written to it, so a round trip
costs no exec (readiness polls it often). Should that session end, a request runs the
probe as an exec of its own. Without a route, a request raises
:class:`ProbeUnavailableError`, saying what was tried. Each failure names the route and
the engine (DOCKER_HOST).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import httpprobe

if TYPE_CHECKING:
    from ..engine import Container, ExecSession

BODY_CAP = 16 << 20  # bytes of a response body kept (a metrics page is a few MB at most)
ENGINE_SLACK = 10.0  # seconds the engine gets beyond the requests' own timeouts
SESSIONS = 3  # sessions opened per container at most (then one exec per request)


class ProbeError(OSError):
    """A request through the engine got no HTTP answer; the message says why, the route
    and the engine."""


class ProbeUnavailableError(ProbeError):
    """No route into the container's network: no Python in it, none on the engine."""


class Route:
    """Where the probe runs: ``target`` (the container itself, or a probe container in
    its network namespace) with ``python``; ``what`` for messages."""

    def __init__(self, target: Container, python: str, what: str) -> None:
        self.target = target
        self.python = python
        self.what = what


class _Session:
    """The probe serving requests in one exec (see :func:`.httpprobe.serve_argv`)."""

    def __init__(self, route: Route) -> None:
        from .. import engine

        self._out = bytearray()
        self._err = bytearray()
        self._cond = threading.Condition()
        self.ended = False
        self._exec: ExecSession = engine.ExecSession(
            route.target, httpprobe.serve_argv(route.python), self._output, self._end)

    def _output(self, stream: int, data: bytes) -> None:
        with self._cond:
            if stream == 1:
                self._out.extend(data)
            elif len(self._err) < 4096:
                self._err.extend(data)
            self._cond.notify_all()

    def _end(self) -> None:
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def said(self) -> str:
        """What it wrote besides answers (an interpreter that would not start)."""
        with self._cond:
            return bytes(self._err or self._out).decode("utf-8", "replace").strip()

    def ask(self, line: bytes, count: int, bound: float) -> list[httpprobe.Answer] | None:
        """The answers to one request line; None when the session ended first; raises
        TimeoutError after ``bound`` s without them (the session is then closed)."""
        try:
            self._exec.send(line)
        except OSError:
            self.close()
            return None
        deadline = time.monotonic() + bound
        with self._cond:
            while True:
                found = httpprobe.parse_prefix(self._out, count)
                if found is not None:
                    del self._out[:found[1]]
                    return found[0]
                if self.ended:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        self.close()
        raise TimeoutError

    def close(self) -> None:
        self.ended = True
        self._exec.close()


class Prober:
    """The probe of one container. ``interpreters`` are tried in order; ``spawn`` starts
    a probe container in its network namespace (registered for removal by the caller),
    or None when the run cannot start one."""

    def __init__(self, container: Container, interpreters: list[str],
                 spawn: Callable[[], tuple[Container, str] | None] | None = None) -> None:
        self.container = container
        self.interpreters = interpreters
        self.spawn = spawn
        self.route: Route | None = None
        self._session: _Session | None = None
        self._sessions = 0
        self._unavailable: str | None = None
        self._opening = False  # open_soon's thread was started
        self._lock = threading.Lock()

    def describe(self) -> str:
        """The route, once known, for messages ("with docker exec of python3 in the
        container")."""
        return self.route.what if self.route is not None else \
            "with docker exec in the container (no request made yet)"

    def _fail(self, message: str, cls: type[ProbeError] = ProbeError) -> ProbeError:
        from ..enginehost import route_of

        return cls(f"{message} ({route_of(os.environ.get('DOCKER_HOST'), self.describe())})")

    def get(self, paths: list[str], port: int, timeout: float = 5.0
            ) -> list[httpprobe.Answer]:
        """GET each of ``paths`` on ``port`` of the container, one after the other; an
        answer per path (a status and body, or the socket's error)."""
        with self._lock:  # one route, one session: requests take turns
            return self._get(paths, port, timeout)

    def _get(self, paths: list[str], port: int, timeout: float) -> list[httpprobe.Answer]:
        host = self.container.address() or "127.0.0.1"
        bound = timeout * len(paths) + ENGINE_SLACK
        if self.route is None:
            return self._first(host, port, paths, timeout, bound)
        answers = self._served(self.route, host, port, paths, timeout, bound)
        if answers is not None:
            return answers
        return self._run(self.route, host, port, paths, timeout, bound)

    def open_soon(self, path: str, port: int) -> None:
        """Find the route and open the session in the background, with a first request
        of ``path`` (its answer is not used): a wait that polls with :meth:`status_now`
        meanwhile goes on at full speed."""
        if self.route is not None or self._opening:  # never waits for the lock
            return
        self._opening = True

        def first() -> None:
            with contextlib.suppress(Exception):  # the polls and the checks say why
                self.get([path], port, 1.0)

        threading.Thread(target=first, name="shipready-probe", daemon=True).start()

    def status_now(self, path: str, port: int, timeout: float = 1.0) -> int | None:
        """The status of a GET of ``path`` when the session is open and free, else None
        at once (never waits for a route, a session to open, or another request)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            session = self._session
            if self.route is None or session is None or session.ended:
                return None
            answer = self._get([path], port, timeout)[0]
        except OSError:
            return None
        finally:
            self._lock.release()
        return answer.status

    def close(self) -> None:
        """End the probe's session (the exec ends with its stdin)."""
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _served(self, route: Route, host: str, port: int, paths: list[str],
                timeout: float, bound: float) -> list[httpprobe.Answer] | None:
        """The answers through the route's session (opened if need be), or None when no
        session serves (it could not start, or it ended): then an exec of its own."""
        if self._session is None or self._session.ended:
            self._session = None
            if self._sessions >= SESSIONS:
                return None
            self._sessions += 1
            from .. import engine

            try:
                self._session = _Session(route)
            except (engine.EngineError, OSError):
                return None
        line = httpprobe.request(host, port, paths, timeout, BODY_CAP)
        try:
            return self._session.ask(line, len(paths), bound)
        except TimeoutError:
            self._session = None
            raise self._fail(f"the engine gave no answer to the probe within "
                             f"{bound:.0f} s") from None

    def _run(self, route: Route, host: str, port: int, paths: list[str], timeout: float,
             bound: float) -> list[httpprobe.Answer]:
        """The probe as one exec, for these ``paths`` only."""
        argv = httpprobe.argv(route.python, host, port, paths, timeout, BODY_CAP)
        code: int | None = None
        out = err = b""
        for _ in range(2):  # the engine can lose a short exec's output (moby#27289)
            code, out, err = route.target.exec_apart(argv, bound, 2 * BODY_CAP)
            if code is None:
                raise self._fail(f"the engine gave no answer to the probe within "
                                 f"{bound:.0f} s")
            answers = httpprobe.parse(out, len(paths))
            if answers is not None:
                return answers
            if out or err:
                break
        text = (err or out).decode("utf-8", "replace").strip()[-300:]
        if "is not running" in text or "is paused" in text:
            raise self._fail(f"the container is not running: {text[-200:]}")
        raise self._fail(f"the probe did not run: exit code {code}: {text or 'no output'}")

    def _first(self, host: str, port: int, paths: list[str], timeout: float, bound: float
               ) -> list[httpprobe.Answer]:
        """The first request: find the route with it (the session of the first
        interpreter that serves; no extra exec in the common case)."""
        if self._unavailable is not None:
            raise ProbeUnavailableError(self._unavailable)
        tried: list[str] = []
        for python in self.interpreters:
            route = Route(self.container, python, f"with docker exec of {python} in the "
                          "container")
            answers = self._served(route, host, port, paths, timeout, bound)
            if answers is not None:
                self.route = route
                self._sessions = 1  # the failed tries of other interpreters do not count
                return answers
            # No session answered: one exec of its own says why (an interpreter that is
            # not there, a container that stopped) with an exit code.
            argv = httpprobe.argv(python, host, port, paths, timeout, BODY_CAP)
            code, out, err = self.container.exec_apart(argv, bound, 2 * BODY_CAP)
            answers = httpprobe.parse(out, len(paths))
            if answers is not None:
                self.route = route
                return answers
            text = (err or out).decode("utf-8", "replace").strip()
            if code is None:
                self.route = route
                raise self._fail(f"the engine gave no answer to the probe within "
                                 f"{bound:.0f} s")
            if "is not running" in text or "is paused" in text:
                raise self._fail(f"the container is not running: {text[-200:]}")
            if not httpprobe.missing_interpreter(code, text):
                # It ran and said something else: the output may have been lost; the
                # route stands, and runs again.
                self.route = route
                return self._run(route, host, port, paths, timeout, bound)
            tried.append(f"{python}: {text.splitlines()[-1][-160:] if text else code}")
        spawned = None
        if self.spawn is not None:
            try:
                spawned = self.spawn()
            except Exception as exc:  # EngineError: the engine refused the container
                tried.append(str(exc))
        if spawned is not None:
            target, image = spawned
            self.route = Route(target, "python3", "with docker exec of python3 in a probe "
                               f"container of {image} sharing the container's network")
            self._sessions = 0
            answers = self._served(self.route, host, port, paths, timeout, bound)
            if answers is not None:
                return answers
            return self._run(self.route, host, port, paths, timeout, bound)
        from ..enginehost import describe_host

        self._unavailable = (
            "cannot probe the container over HTTP from inside the engine: it has no "
            f"Python ({'; '.join(tried)}) and the engine at "
            f"{describe_host(os.environ.get('DOCKER_HOST'))} has no python:* image for a "
            "probe container beside it. Set [tool.shipready.parity] python to the "
            "image's interpreter, or make a python image available on the engine "
            "(`docker pull python:3.12-slim`)")
        raise ProbeUnavailableError(self._unavailable)

    def http(self, path: str, port: int, timeout: float = 5.0) -> tuple[int, bytes]:
        """One GET: (status, body); raises :class:`ProbeError` without an HTTP answer."""
        answer = self.get([path], port, timeout)[0]
        if answer.status is None:
            other = httpprobe.non_http(answer.error)
            if other:
                raise self._fail(f"{self._where(port)}{path} answered, but not over HTTP: "
                                 f"{other}")
            raise self._fail(f"no HTTP answer from {self._where(port)}{path}: "
                             f"{httpprobe.printable(answer.error)}")
        return answer.status, answer.body

    def _where(self, port: int) -> str:
        host = self.container.address() or "127.0.0.1"
        return f"{host}:{port}"
