"""SR520/SR521 on the session container: the requests, and the log lines they caused."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..checks import CheckResult, Finding
from . import observability

if TYPE_CHECKING:
    from .build import DockerRun


class ObservabilityRun:
    def __init__(self, run: DockerRun) -> None:
        self.run = run
        self.cfg = run.settings.config.observability

    def metrics(self) -> CheckResult:
        path = self.cfg.metrics_path
        if not path:
            return CheckResult.skipped("SR520", "no metrics endpoint to check "
                                       "([tool.shipready.observability] metrics_path)")
        from .smokerun import smoke_run

        running, gate = smoke_run(self.run).session("SR520")
        if running is None:
            assert gate is not None
            return gate
        if not running.ports:
            return CheckResult.skipped("SR520", "the container publishes no port (EXPOSE or "
                                       "[tool.shipready.smoke] ports)")
        try:
            status, body = running.http(path, timeout=5.0)
        except (OSError, LookupError, ValueError) as exc:
            return CheckResult.failed("SR520", f"{path} did not answer",
                                      [Finding(f"{path}: {exc}")])
        return observability.check_metrics(path, status, "", body.decode("utf-8", "replace"))

    def error_event(self) -> CheckResult:
        path = self.cfg.error_path
        if not path:
            return CheckResult.skipped("SR521", "no failing request to check "
                                       "([tool.shipready.observability] error_path)")
        from .smokerun import smoke_run

        running, gate = smoke_run(self.run).session("SR521")
        if running is None:
            assert gate is not None
            return gate
        if not running.ports:
            return CheckResult.skipped("SR521", "the container publishes no port (EXPOSE or "
                                       "[tool.shipready.smoke] ports)")
        before = running.log_tail().splitlines()
        try:
            status, _ = running.http(path, timeout=5.0)
        except (OSError, LookupError, ValueError) as exc:
            return CheckResult.failed("SR521", f"{path} did not answer",
                                      [Finding(f"{path}: {exc}")])
        time.sleep(0.5)  # what the app logs for it reaches the engine's log
        after = running.log_tail().splitlines()
        return observability.check_error_event(
            path, status, observability.new_lines(before, after),
            self.run.settings.config.logs)
