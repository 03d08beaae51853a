"""SR520 metrics and SR521 error-event: know that the app fails before a user does.

Optional, configured by path in ``[tool.shipready.observability]``. SR520 reads the
metrics endpoint of the session container and requires Prometheus' text format with at
least one sample. SR521 requests a path that makes the app fail and requires what it
logs for that to be one structured event at error level, with the exception as data
(not a raw traceback).

Pure: the verdicts take the HTTP answer and the log lines; the container area fetches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ...checks import CheckResult, Finding
from ...config import LogsConfig
from ...logs import lines as loglines

_METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(
    rf"^({_METRIC})(\{{[^}}]*\}})?\s+([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?Inf|NaN)"
    r"(\s+-?\d+)?\s*$")
_COMMENT = re.compile(rf"^#\s*(HELP|TYPE)\s+{_METRIC}(\s.*)?$|^#")
ERROR_LEVELS = frozenset({"error", "err", "critical", "crit", "fatal", "alert", "emergency",
                          "emerg", "exception"})
EXCEPTION_KEYS = ("exception", "exc_info", "exc", "error", "stack", "stack_trace",
                  "stacktrace", "traceback", "error.stack_trace")


def check_metrics(path: str, status: int, content_type: str, body: str) -> CheckResult:
    """SR520: ``path`` answers 200 with Prometheus text exposition and samples."""
    if status != 200:
        return CheckResult.failed("SR520", f"{path} answered {status}", [Finding(
            f"the metrics endpoint {path} answered HTTP {status}, not 200", None, None,
            "Expose metrics there (prometheus_client's make_wsgi_app / make_asgi_app, or "
            "start_http_server on a port you publish), or correct "
            "[tool.shipready.observability] metrics_path.")])
    samples: set[str] = set()
    count = 0
    bad: list[str] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip() or _COMMENT.match(line):
            continue
        m = _SAMPLE.match(line)
        if m:
            count += 1
            samples.add(m.group(1))
        elif len(bad) < 3:
            bad.append(f"line {number}: {line[:120]!r}")
    if bad:
        return CheckResult.failed("SR520", f"{path} is not in Prometheus text format",
                                  [Finding("; ".join(bad), None, None,
                                           "Serve the text exposition format (what "
                                           "prometheus_client's generate_latest writes).")])
    if not count:
        return CheckResult.failed("SR520", f"{path} has no samples", [Finding(
            f"{path} answered with no sample line ({content_type or 'no content type'})",
            None, None, "Register at least one metric (a request counter).")])
    return CheckResult.passed(
        "SR520", f"{path}: {count} samples of {len(samples)} metrics in Prometheus text "
        "format", samples=count, metrics=len(samples))


def new_lines(before: Sequence[bytes], after: Sequence[bytes]) -> list[bytes]:
    """The lines of ``after`` (a later tail of the same log) that came after ``before``."""
    if not before:
        return list(after)
    last = before[-1]
    for i in range(len(after) - 1, -1, -1):
        if after[i] == last:
            return list(after[i + 1:])
    return list(after)


def check_error_event(path: str, status: int, lines: Sequence[bytes], cfg: LogsConfig
                      ) -> CheckResult:
    """SR521: what the app logged for a request to ``path`` (which must fail) holds one
    event at error level with the exception as structured data, and no raw traceback."""
    if status < 500:
        return CheckResult.failed("SR521", f"{path} answered {status}, not an error", [
            Finding(f"a request to {path} was to make the app fail (HTTP 5xx) and answered "
                    f"{status}", None, None,
                    "Point [tool.shipready.observability] error_path at a request that "
                    "raises (a test-only route, or one with an invalid payload).")])
    analysis = loglines.analyse(lines, cfg, source="container log")
    content = analysis.content
    if not content:
        return CheckResult.failed("SR521", f"nothing was logged for the failing {path}", [
            Finding(f"{path} answered {status} and the app logged nothing: the failure is "
                    "invisible to whoever watches the logs", None, None,
                    "Log unhandled exceptions (structlog's or logging's exception()) in "
                    "your error handler.")])
    raw = [ln for ln in content if ln.traceback]
    errors = []
    for ln in content:
        if ln.fields is None:
            continue
        key = loglines._first_key(ln.fields, cfg.level_keys)
        level = str(loglines.lookup(ln.fields, key) if key else "").lower()
        if level in ERROR_LEVELS:
            errors.append(ln)
    structured = [ln for ln in errors if ln.fields is not None and any(
        loglines.lookup(ln.fields, k) not in (loglines._MISSING, None, "", False)
        for k in EXCEPTION_KEYS)]
    findings: list[Finding] = []
    if raw:
        findings.append(Finding(
            f"{len(raw)} raw traceback line{'s' if len(raw) > 1 else ''} for {path}: "
            f"{raw[0].shown}", "container log", raw[0].number,
            "Render exceptions as a field of the event (structlog's dict_tracebacks or "
            "format_exc_info), not as lines of their own."))
    if not errors:
        findings.append(Finding(
            f"none of the {len(content)} lines logged for {path} is at error level", None,
            None, "Log the failure with logger.exception(...) or at error level."))
    elif not structured:
        findings.append(Finding(
            f"the error event for {path} carries no exception field "
            f"({'/'.join(EXCEPTION_KEYS[:4])}...): {errors[0].shown}", "container log",
            errors[0].number, "Log it with exc_info (logger.exception), rendered as data."))
    return CheckResult.from_findings(
        "SR521", findings,
        f"{path} answered {status} and was logged as {len(structured)} structured error "
        f"event{'s' if len(structured) > 1 else ''} with the exception as data",
        f"the failure at {path} is not logged as a structured error event",
        events=len(structured))
