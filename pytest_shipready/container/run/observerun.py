"""SR520/SR521 on the session container: the requests, and the log lines they caused."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ...checks import CheckResult, Finding
from . import observability
from .probe import ProbeUnavailableError

if TYPE_CHECKING:
    from ..build.image import DockerRun
    from .smokerun import RunningContainer

LOG_WAIT = 5.0  # seconds SR521 waits for the failing request's first log line


class ObservabilityRun:
    def __init__(self, run: DockerRun) -> None:
        self.run = run
        self.cfg = run.settings.config.observability

    def _container(self, check_id: str, path: str, key: str, what: str
                   ) -> RunningContainer | CheckResult:
        """The session container with a published port, or why the check cannot run."""
        if not path:
            return CheckResult.skipped(check_id, f"no {what} to check "
                                       f"([tool.shipready.observability] {key})")
        from .smokerun import smoke_run

        running, gate = smoke_run(self.run).session(check_id)
        if running is None:
            assert gate is not None
            return gate
        if not running.ports:
            return CheckResult.skipped(check_id, "the container publishes no port (EXPOSE "
                                       "or [tool.shipready.smoke] ports)")
        return running

    def metrics(self) -> CheckResult:
        path = self.cfg.metrics_path
        running = self._container("SR520", path, "metrics_path", "metrics endpoint")
        if isinstance(running, CheckResult):
            return running
        try:
            status, body = running.http(path, timeout=5.0)
        except ProbeUnavailableError as exc:
            return CheckResult.skipped("SR520", f"cannot request {path}: {exc}")
        except (OSError, LookupError, ValueError) as exc:
            return CheckResult.failed("SR520", f"{path} did not answer",
                                      [Finding(f"{path}: {exc}")])
        return observability.check_metrics(path, status, "", body.decode("utf-8", "replace"))

    def error_event(self) -> CheckResult:
        path = self.cfg.error_path
        running = self._container("SR521", path, "error_path", "failing request")
        if isinstance(running, CheckResult):
            return running
        before = running.log_tail().splitlines()
        try:
            status, _ = running.http(path, timeout=5.0)
        except ProbeUnavailableError as exc:
            return CheckResult.skipped("SR521", f"cannot request {path}: {exc}")
        except (OSError, LookupError, ValueError) as exc:
            return CheckResult.failed("SR521", f"{path} did not answer",
                                      [Finding(f"{path}: {exc}")])
        # What the app logs for it reaches the engine's log a moment later (longer on
        # a loaded or remote engine): wait for the first new line, then a little more
        # for the rest of the event (a traceback's lines).
        deadline = time.monotonic() + LOG_WAIT
        lines = observability.new_lines(before, running.log_tail().splitlines())
        while not lines and time.monotonic() < deadline:
            time.sleep(0.1)
            lines = observability.new_lines(before, running.log_tail().splitlines())
        if lines:
            time.sleep(0.3)
            lines = observability.new_lines(before, running.log_tail().splitlines())
        return observability.check_error_event(path, status, lines,
                                               self.run.settings.config.logs)
