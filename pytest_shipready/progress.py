"""Progress of the phases that can take a while (re-resolving, building, waiting for
ready, ...): a line when one starts and when it ends, with the elapsed time, a line
every ``heartbeat`` seconds while it lasts, and its duration for the report.

Pure: no pytest, no docker. Lines go to a ``write`` callable (the plugin's, which writes
to the terminal at any verbosity); heartbeat lines are written from a timer thread that
is stopped and joined before the phase returns, so nothing is written once the code
that opened the phase goes on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

PREFIX = "shipready: "


class Phase:
    """One running phase: ``status()`` sets what it is doing now (a build step), which
    the heartbeat lines show; ``end`` is the text of the end line."""

    def __init__(self, what: str, clock: Callable[[], float]) -> None:
        self.what = what
        self.end = ""
        self.detail = ""
        self._clock = clock
        self.started = clock()

    def status(self, detail: str) -> None:
        self.detail = detail.strip()

    def elapsed(self) -> float:
        return self._clock() - self.started


class Phases:
    """The phases of one process's run, and how long each took (summed by name)."""

    def __init__(self, write: Callable[[str], None] | None = None, heartbeat: float = 4.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.heartbeat = heartbeat
        self.timings: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def note(self, text: str) -> None:
        """One progress line (from the thread that runs the checks only)."""
        write = self.write
        if write is None:
            return
        with self._lock, contextlib.suppress(Exception):  # progress never fails a check
            write(PREFIX + text)

    def record(self, name: str, seconds: float) -> None:
        with self._lock:
            self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 3)

    def drain(self) -> dict[str, float]:
        """The timings recorded since the last drain (what one item spent, by phase)."""
        with self._lock:
            out, self.timings = self.timings, {}
        return out

    @contextlib.contextmanager
    def phase(self, name: str, what: str, quiet_start: bool = False) -> Iterator[Phase]:
        """``with phases.phase("build", "building the image") as p:`` -- a start line,
        heartbeat lines while it runs, an end line (``p.end``, or "<what>: done") with
        the elapsed time. ``quiet_start``: for a phase that is usually short (a stop),
        no start line, and no end line unless a heartbeat line was written."""
        current = Phase(what, self._clock)
        if not quiet_start:
            self.note(f"{what} ...")
        stop = threading.Event()
        beats: list[float] = []

        def beat() -> None:
            while not stop.wait(self.heartbeat):
                detail = f": {current.detail}" if current.detail else ""
                self.note(f"{what}{detail} ({current.elapsed():.0f} s)")
                beats.append(current.elapsed())

        ticker = None
        if self.write is not None and self.heartbeat > 0:
            ticker = threading.Thread(target=beat, name=f"shipready progress {name}",
                                      daemon=True)
            ticker.start()
        try:
            yield current
        finally:
            stop.set()
            if ticker is not None:
                ticker.join()
            seconds = current.elapsed()
            self.record(name, seconds)
            if beats or not quiet_start:  # a quiet phase that was short says nothing
                self.note(f"{current.end or what + ': done'} ({seconds:.1f} s)")
