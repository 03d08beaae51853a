"""A watch on the engine while a docker item runs: every ``engine_timeout`` seconds a
ping; when one gets no answer, the item is interrupted at once, whatever call it is
blocked in (docker-py turns socket timeouts off for streams, execs and attaches, so a
stalled engine could otherwise hold an item for minutes).

The interrupt is a signal to the main thread (as pytest-timeout's signal method does):
its handler raises :class:`EngineLostInterrupt` out of the blocked call. It is used only
in the main thread of a POSIX process and only where no one else handles the signal;
elsewhere items run unwatched, as before. No docker here: the ping is passed in.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

SIGNAL = getattr(signal, "SIGUSR2", None)


class EngineLostInterrupt(Exception):  # noqa: N818 - an interrupt, not an error of ours
    """Raised in the main thread when the watch found the engine gone."""


class EngineWatch:
    def __init__(self, interval: float, ping: Callable[[], str | None],
                 on_lost: Callable[[str], None]) -> None:
        self.interval = interval
        self.ping = ping  # None when the engine answers, else what went wrong
        self.on_lost = on_lost
        self._installed = False
        self._active: threading.Event | None = None
        self._previous: object = None

    def _install(self) -> bool:
        if self._installed:
            return True
        if SIGNAL is None or not hasattr(signal, "pthread_kill") \
                or threading.current_thread() is not threading.main_thread():
            return False
        try:
            previous = signal.getsignal(SIGNAL)
        except ValueError:
            return False
        if previous not in (signal.SIG_DFL, None):
            return False  # someone else's: leave it alone
        self._previous = previous

        def handler(signum: int, frame: FrameType | None) -> None:
            active = self._active
            if active is not None and active.is_set():
                active.clear()
                raise EngineLostInterrupt()

        signal.signal(SIGNAL, handler)
        self._installed = True
        return True

    def uninstall(self) -> None:
        """Put the previous handler back (at the end of the run)."""
        if self._installed and SIGNAL is not None:
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(SIGNAL, self._previous)  # type: ignore[arg-type]
            self._installed = False

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """The block, with the engine pinged every ``interval`` s while it runs; raises
        :class:`EngineLostInterrupt` in it once a ping gets no answer (after calling
        ``on_lost`` with why)."""
        if not self._install():
            yield
            return
        stop = threading.Event()
        fired = threading.Event()
        main = threading.main_thread().ident
        assert main is not None and SIGNAL is not None
        self._active = fired

        def watch() -> None:
            while not stop.wait(self.interval):
                why = self.ping()
                if why is None or stop.is_set():
                    continue
                self.on_lost(why)
                fired.set()
                if not stop.is_set():
                    signal.pthread_kill(main, SIGNAL)
                return

        thread = threading.Thread(target=watch, name="shipready engine watch", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            fired.clear()  # a signal still on its way is ignored by the handler
            self._active = None
