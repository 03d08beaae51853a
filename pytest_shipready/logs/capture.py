"""Capture log events through the application's real processor chain.

``structlog.testing.capture_logs`` replaces the configured processors, so the renderer the
app ships with is never exercised. :class:`LogCapture` instead leaves the chain in place
and wraps only its final step, recording what reached it and what it rendered:

* structlog's own chain (``structlog.get_config()["processors"]``): the last processor
  is wrapped, in place, so loggers that were already bound and cached see it too. When
  that last processor is ``ProcessorFormatter.wrap_for_formatter`` the rendering happens
  in the stdlib handler, so it is left alone;
* every stdlib ``logging`` handler (pytest's own excepted): its ``format`` is wrapped, so
  the line it writes is recorded, and a ``ProcessorFormatter``'s final renderer is
  wrapped to record the event dict it rendered. Records of libraries that log through
  stdlib are captured as rendered by the app's setup.

The captured lines can be checked with the same validators as the container's output
(:meth:`LogCapture.assert_structured`). Imported only by the ``shipready_log_capture``
fixture (it imports structlog).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterator, MutableSequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from ..checks import CheckResult, Status
from ..config import LogsConfig
from .lines import check_all


@dataclass(frozen=True)
class Captured:
    """One log call as the app's chain handled it."""

    event: dict[str, Any] | None  # the event dict as it reached the renderer (a copy)
    rendered: str | bytes | None  # what the renderer / handler produced
    record: logging.LogRecord | None  # the stdlib record, when it went through stdlib

    @property
    def line(self) -> str | None:
        if isinstance(self.rendered, bytes):
            return self.rendered.decode("utf-8", "replace")
        return self.rendered


class LogCapture:
    """What the app logged while active: ``entries``, ``events`` and ``lines``."""

    def __init__(self, config: LogsConfig | None = None) -> None:
        self.config = config  # the project's [tool.shipready.logs]: format, keys, ...
        self.entries: list[Captured] = []
        self._pending = threading.local()
        self._undo: list[Callable[[], None]] = []

    @property
    def events(self) -> list[dict[str, Any]]:
        """The event dicts that reached a renderer (after every earlier processor)."""
        return [e.event for e in self.entries if e.event is not None]

    @property
    def lines(self) -> list[str]:
        """The rendered lines, as the app's setup would write them."""
        return [line for e in self.entries if (line := e.line) is not None]

    def clear(self) -> None:
        self.entries.clear()

    def check(self, config: LogsConfig | None = None) -> list[CheckResult]:
        """SR501-SR505 on the captured lines (secrets: shapes only), with ``config``, else
        the project's ``[tool.shipready.logs]`` settings the fixture was given."""
        return check_all([line.encode("utf-8", "surrogatepass") for line in self.lines],
                         config or self.config, source="captured log")

    def assert_structured(self, config: LogsConfig | None = None) -> None:
        """Fail with the validators' report unless every captured line passes."""
        if not self.lines:
            raise AssertionError("no log lines were captured")
        failed = [r for r in self.check(config) if r.status == Status.FAILED]
        if failed:
            report = []
            for r in failed:
                report.append(f"{r.check_id}: {r.summary}")
                report.extend(f"  {f.where()}: {f.message}" for f in r.findings)
            raise AssertionError("captured logs are not structured:\n" + "\n".join(report))

    # --- wiring ------------------------------------------------------------------------

    def attach(self) -> None:
        """Wrap the chain as configured *now* (call again after re-configuring logging)."""
        self.detach()
        self._wrap_structlog()
        for handler in _app_handlers():
            self._wrap_handler(handler)

    def detach(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _record(self, event: dict[str, Any] | None, rendered: Any,
                record: logging.LogRecord | None) -> None:
        if not isinstance(rendered, str | bytes):
            rendered = None if rendered is None else repr(rendered)
        self.entries.append(Captured(event, rendered, record))

    def _wrap_structlog(self) -> None:
        chain = structlog.get_config()["processors"]
        if not chain:
            return
        final = chain[-1]
        if _is_wrap_for_formatter(final):
            return  # rendered by the stdlib handler's ProcessorFormatter

        def renderer(logger: WrappedLogger, method: str, event_dict: EventDict) -> Any:
            snapshot = _copy(event_dict)
            out = final(logger, method, event_dict)
            self._record(snapshot, out, None)
            return out

        if isinstance(chain, MutableSequence):
            chain[-1] = renderer

            def undo() -> None:
                if chain and chain[-1] is renderer:
                    chain[-1] = final
        else:  # a tuple: cached loggers keep the old one, new ones get ours
            original = chain
            structlog.configure(processors=[*chain[:-1], renderer])

            def undo() -> None:
                structlog.configure(processors=original)
        self._undo.append(undo)

    def _wrap_handler(self, handler: logging.Handler) -> None:
        original_format = handler.format
        formatter = handler.formatter
        if isinstance(formatter, structlog.stdlib.ProcessorFormatter) and formatter.processors:
            processors = formatter.processors
            final: Processor = processors[-1]
            pending = self._pending

            def renderer(logger: WrappedLogger, method: str, event_dict: EventDict) -> Any:
                pending.event = _copy(event_dict)
                return final(logger, method, event_dict)

            formatter.processors = [*processors[:-1], renderer]

            def undo_formatter() -> None:
                formatter.processors = processors
            self._undo.append(undo_formatter)

        def format_(record: logging.LogRecord) -> str:
            self._pending.event = None
            out = original_format(record)
            self._record(getattr(self._pending, "event", None), out, record)
            self._pending.event = None
            return out

        handler.format = format_  # type: ignore[method-assign]

        def undo_handler() -> None:
            if handler.__dict__.get("format") is format_:
                del handler.format
        self._undo.append(undo_handler)


def _is_wrap_for_formatter(processor: Any) -> bool:
    return getattr(processor, "__name__", "") == "wrap_for_formatter" or (
        processor is structlog.stdlib.ProcessorFormatter.wrap_for_formatter)


def _copy(event_dict: EventDict) -> dict[str, Any]:
    try:
        return copy.deepcopy(dict(event_dict))
    except Exception:  # objects that refuse deepcopy: a shallow copy still helps
        return dict(event_dict)


def _app_handlers() -> list[logging.Handler]:
    """Handlers on the root logger and named loggers, except pytest's own."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers.extend(v for v in logging.Logger.manager.loggerDict.values()
                   if isinstance(v, logging.Logger))
    seen: list[logging.Handler] = []
    for logger in loggers:
        for handler in logger.handlers:
            if type(handler).__module__.startswith("_pytest") or handler in seen:
                continue
            seen.append(handler)
    return seen


@contextmanager
def capture(config: LogsConfig | None = None) -> Iterator[LogCapture]:
    """Capture through the real chain while the block runs; restore it afterwards.
    ``config``: the ``[tool.shipready.logs]`` settings the checks use by default."""
    cap = LogCapture(config)
    cap.attach()
    try:
        yield cap
    finally:
        cap.detach()
