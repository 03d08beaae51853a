"""SR220/SR221 for the built image: stream its layers once (``docker save``) and judge
them with :mod:`pytest_shipready.container.inspect.contents`.

The read is kept in pytest's cache per set of layers (:mod:`.contentscache`): an image
with the same layers is not read again. When it must be read, it starts in a thread as
soon as the image is built (``begin``, called by the build and ready items), so that it
overlaps the session container's start and readiness wait; the two items run after the
other readiness items and wait for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...checks import CheckResult, Finding
from . import contents, contentscache

if TYPE_CHECKING:
    from ..build.image import BuiltImage, DockerRun
    from ..engine import ImageInfo


class _CancelledError(Exception):
    """The run ended (or ran out of budget) before the read did."""


class ContentsRun:
    def __init__(self, run: DockerRun) -> None:
        self.run = run
        self.wanted = False  # SR220 or SR221 will run (set by their prefetch)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._scanned: contents.ImageContents | CheckResult | None = None  # the thread's
        self._error: BaseException | None = None  # raised by the thread, re-raised here
        self._started = self._finished = 0.0
        self._read_result: contents.ImageContents | CheckResult | None = None
        self._cached_id: str | None = None  # the image whose kept scan was used
        self._looked_up: tuple[str, contents.ImageContents | None] | None = None

    # --- the cache ------------------------------------------------------------------

    def _slot(self) -> str:
        return contentscache.slot(self.run.display, self.run.cfg.target)

    def _kept(self, built: BuiltImage) -> contents.ImageContents | None:
        """The scan kept for this image by an earlier run (looked up once)."""
        from .. import engine

        cache = self.run.context.cache
        if cache is None or built.info is None or built.ref is None:
            return None
        key = _layers(built.info)
        if self._looked_up is None or self._looked_up[0] != key:
            client = self.run.client()
            # A kept scan must have the image's number of layers (a hand-made one with
            # none would pass SR220 over layers never read).
            count = engine.layer_count(client, built.ref) if client is not None else None
            self._looked_up = (key, None if count is None else contentscache.lookup(
                cache, self._slot(), contentscache.cache_key(key), count))
        return self._looked_up[1]

    def _keep(self, built: BuiltImage, scanned: contents.ImageContents) -> None:
        cache = self.run.context.cache
        if cache is not None and built.info is not None:
            contentscache.store(cache, self._slot(),
                                contentscache.cache_key(_layers(built.info)), scanned)

    # --- the read, in the background --------------------------------------------------

    def prefetch(self) -> None:
        """The plugin's call when the run starts and SR220 or SR221 is selected: read
        the layers in the background once the image is built."""
        self.wanted = True

    def begin(self) -> None:
        """Once the image is built: start reading its layers in a thread, unless no item
        wants them, they are kept from an earlier run, or it already started."""
        with self._lock:
            built = self.run.built
            if not self.wanted or self._thread is not None or self._read_result is not None \
                    or self.run.lost or built is None or built.ref is None \
                    or self._kept(built) is not None:
                return
            client = self.run.client()
            if client is None:
                return
            self._started = time.monotonic()
            self._thread = threading.Thread(target=self._scan_in_thread,
                                            args=(client, built.ref), daemon=True,
                                            name="shipready-layers")
            # Before the run ends: stop reading, and wait for the thread to see it.
            self.run.context.add_cleanup(self._stop)
            self._thread.start()

    def _chunks(self, client: Any, ref: str) -> Iterator[bytes]:
        from .. import engine

        for chunk in engine.save_image(client, ref):
            if self._cancel.is_set():
                raise _CancelledError
            yield chunk

    def _scan_in_thread(self, client: Any, ref: str) -> None:
        from .. import engine

        try:
            self._scanned = contents.scan(self._chunks(client, ref))
        except engine.EngineError as exc:
            self._scanned = _unreadable(exc)
        except _CancelledError:
            pass
        except BaseException as exc:  # an engine that stopped answering: the item says so
            self._error = exc
        finally:
            self._finished = time.monotonic()

    def _stop(self) -> None:
        """A cleanup: a read still going is stopped (at its next chunk: each waits at
        most engine_timeout) and its thread joined."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(self.run.settings.config.engine_timeout + 5)

    def _join(self) -> contents.ImageContents | CheckResult:
        """The thread's read, waited for within what is left of the run's budget."""
        thread = self._thread
        assert thread is not None
        phases = self.run.context.phases
        if thread.is_alive():
            with phases.phase("layers-wait", "waiting for the read of the image's layers",
                              quiet_start=True) as p:
                thread.join(self.run.context.remaining())
                p.end = "read the image's layers"
            if thread.is_alive():
                self._cancel.set()
                return CheckResult.failed(
                    "SR220", "cannot read the image's layers",
                    [Finding(f"the read did not finish within what was left of the run's "
                             f"budget ([tool.shipready] timeout = "
                             f"{self.run.settings.config.timeout:g})", None, None,
                             "Raise [tool.shipready] timeout, or disable SR220 and SR221.")])
        phases.record("layers", self._finished - self._started)
        if self._error is not None:
            raise self._error
        if self._scanned is None:  # stopped by the run's end
            return CheckResult.failed("SR220", "cannot read the image's layers",
                                      [Finding("the read was stopped before it finished")])
        return self._scanned

    # --- the items ------------------------------------------------------------------

    def _read(self) -> contents.ImageContents | CheckResult:
        if self._read_result is None:
            self._read_result = self._read_once()
        return self._read_result

    def _read_once(self) -> contents.ImageContents | CheckResult:
        from .. import engine

        built, skip = self.run.need_image("SR220")
        if skip is not None:
            return skip
        kept = self._kept(built)
        if kept is not None:
            assert built.info is not None
            self._cached_id = built.info.id
            return kept
        with self._lock:
            thread = self._thread
        if thread is not None:
            read = self._join()
        else:
            client = self.run.client()
            assert built.ref is not None and client is not None
            try:
                read = contents.scan(engine.save_image(client, built.ref))
            except engine.EngineError as exc:
                read = _unreadable(exc)
        if isinstance(read, contents.ImageContents):
            self._keep(built, read)
        return read

    def _gate(self, check_id: str) -> contents.ImageContents | CheckResult:
        read = self._read()
        if isinstance(read, CheckResult):
            return CheckResult(check_id, read.status, read.summary, read.findings)
        return read

    def _said(self, result: CheckResult) -> CheckResult:
        if self._cached_id is None:
            return result
        return contentscache.mark_cached(result, self._cached_id)

    def secrets(self) -> CheckResult:
        read = self._gate("SR220")
        if isinstance(read, CheckResult):
            return read
        from ...dockerfile import scope

        # Stages that do not ship but take the whole context (and may need .git in it).
        df = self.run.parsed()
        target = self.run.cfg.target or None
        builders = "" if df.problems else scope.taken(df, target, ".").builders_told()
        return self._said(contents.check_secrets(read, builders))

    def waste(self) -> CheckResult:
        read = self._gate("SR221")
        if isinstance(read, CheckResult):
            return read
        from .. import engine

        df = self.run.parsed()
        stage = df.target(self.run.cfg.target or None)
        multi = stage is not None and len(df.needed(stage)) > 1
        base = df.root(stage).base if stage is not None else ""
        client = self.run.client()
        own_from = (engine.layer_count(client, base) if client is not None and base else
                    None) or 0
        return self._said(contents.check_waste(read, self.run.cfg.wasted_budget_mb, multi,
                                               own_from))


def _unreadable(exc: BaseException) -> CheckResult:
    return CheckResult.failed("SR220", "cannot read the image's layers", [Finding(str(exc))])


def _layers(info: ImageInfo) -> str:
    """The cache's key for an image: what its layers hold (an engine that gives no layers
    key: the image ID, which changes with the labels too)."""
    return info.layers_key or info.id
