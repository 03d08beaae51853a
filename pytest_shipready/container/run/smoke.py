"""Verdicts of the smoke checks from plain observations (exit codes, uids, outputs).

Pure: no docker, no pytest. The smoke area observes the container and asks here what
the observation means.
"""

from __future__ import annotations

import re
import shlex

from ...checks import CheckResult, Finding

LOG_TAIL = 20
# Lines of the log fetched for a verdict (never the whole log: it can be huge). With
# this many, the log may be longer: the count is not told.
LOG_FETCH = 1000


def tail(logs: bytes, count: int = LOG_TAIL) -> str:
    lines = logs.decode("utf-8", "replace").splitlines()
    if not lines:
        return "(the container wrote no output)"
    shown = lines[-count:]
    head = f"last {len(shown)} of {len(lines)} log lines:" if len(lines) > count \
        else "its log:"
    if len(lines) >= LOG_FETCH:
        head = f"last {len(shown)} log lines:"
    return head + "\n" + "\n".join(shown)


def exit_meaning(code: int, oom: bool = False) -> str:
    if oom:
        return f"exit code {code}, killed for running out of memory"
    if code == 137:
        return "exit code 137 (SIGKILL)"
    if code > 128 and code - 128 < 65:
        return f"exit code {code} (signal {code - 128})"
    return f"exit code {code}"


def exited_early(code: int, logs: bytes, seconds: float, oom: bool = False) -> CheckResult:
    return CheckResult.failed(
        "SR301", f"the container exited after {seconds:.1f} s ({exit_meaning(code, oom)})",
        [Finding(f"it exited before becoming ready, {exit_meaning(code, oom)}; "
                 + tail(logs), None, None,
                 "Fix the start command (CMD/ENTRYPOINT or [tool.shipready.smoke] command); "
                 "run the image with `docker run` to reproduce.")],
        exit_code=code, seconds=round(seconds, 2))


def unhealthy(logs: bytes, seconds: float, check_id: str = "SR301",
              probe_output: str = "") -> CheckResult:
    probe = (f"the last probe said ({probe_output[:600]}); " if probe_output.strip()
             else "")
    return CheckResult.failed(
        check_id, f"the HEALTHCHECK reports unhealthy after {seconds:.1f} s",
        [Finding("Docker's HEALTHCHECK failed its retries; " + probe + tail(logs), None,
                 None, "Make the service answer its health check (or fix the HEALTHCHECK).")],
        seconds=round(seconds, 2))


def nothing_to_wait_for(seconds: float) -> CheckResult:
    """No HEALTHCHECK, no port and no ready_log: readiness cannot be verified."""
    return CheckResult.skipped(
        "SR301", f"nothing to wait for: the image has no HEALTHCHECK, no port (EXPOSE or "
        f"[tool.shipready.smoke] ports) and no [tool.shipready.smoke] ready_log; the "
        f"container was still running after {seconds:.1f} s")


def not_ready(how: str, timeout: float, logs: bytes) -> CheckResult:
    return CheckResult.failed(
        "SR301", f"not ready within {timeout:.0f} s ({how})",
        [Finding(f"still not ready after {timeout:.0f} s waiting for {how}; " + tail(logs),
                 None, None,
                 "Fix what keeps it from starting, or raise [tool.shipready.smoke] "
                 "ready_timeout.")],
        seconds=timeout)


def uid_from_status(status: str) -> str:
    """The effective uid from /proc/<pid>/status ("Uid: real effective saved fs")."""
    for line in status.splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            return fields[2] if len(fields) > 2 else ""
    return ""


def uid_verdict(uid_text: str, configured_user: str) -> CheckResult:
    uid = uid_text.strip()
    if not uid.isdigit():
        user = configured_user or "root"
        if user in ("root", "0") or user.startswith(("0:", "root:")):
            return _root(f"the image's USER is {configured_user or 'unset (root)'}")
        return CheckResult.skipped(
            "SR303", f"cannot tell the running uid: the image has neither /proc/1/status nor "
            f"`id`; its USER is {configured_user} (see non-root-user, SR202)")
    if int(uid) == 0:
        return _root(f"the container's main process (PID 1) runs as uid 0 (USER "
                     f"{configured_user or 'unset'})")
    return CheckResult.passed("SR303", f"uid {uid}", uid=int(uid))


def _root(message: str) -> CheckResult:
    return CheckResult.failed(
        "SR303", "the container runs as root",
        [Finding(message, None, None,
                 "End the final stage of the Dockerfile with an unprivileged USER: create "
                 "one if the image has none (`RUN useradd --system --uid 10001 app`), then "
                 "`USER app` (or `USER 10001`).")])


_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})
_SIGNALS = {"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGKILL": 9, "SIGUSR1": 10,
            "SIGUSR2": 12, "SIGTERM": 15, "SIGWINCH": 28, "SIGPWR": 30}
# A line that says the process got the signal or is stopping (uWSGI: "SIGINT/SIGTERM
# received...killing workers...", gunicorn: "Handling signal: term", "Shutting down").
_STOPPING = re.compile(r"SIG[A-Z]+|signal|shutting down|shutdown|stopping|graceful|"
                       r"killing workers|terminat", re.IGNORECASE)


def signal_disposition(status: str, signal_name: str) -> str:
    """What a process does with ``signal_name``, from its /proc/<pid>/status:
    "caught" (a handler), "ignored" (SIG_IGN), "default" (neither: as PID 1, the kernel
    drops the signal), or "" when the status does not say (or the signal is unknown)."""
    number = _SIGNALS.get(signal_name.upper())
    if number is None and signal_name.upper().removeprefix("SIG").isdigit():
        number = int(signal_name.upper().removeprefix("SIG"))
    masks: dict[str, int] = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("SigCgt", "SigIgn"):
            try:
                masks[key] = int(value.strip(), 16)
            except ValueError:
                return ""
    if number is None or len(masks) < 2:
        return ""
    bit = 1 << (number - 1)
    if masks["SigCgt"] & bit:
        return "caught"
    return "ignored" if masks["SigIgn"] & bit else "default"


def shutdown_verdict(code: int, seconds: float, grace: float, accepted: tuple[int, ...],
                     signal_name: str, logs: bytes, pid1: tuple[str, ...] = (),
                     pid1_status: str = "") -> CheckResult:
    """``pid1``: the command line of the container's PID 1 before the stop, when known
    (a shell there neither handles the signal nor passes it on); ``pid1_status``: its
    /proc/1/status then, which tells a process that handles the signal but was still
    stopping when the grace period ended from one that never heard it."""
    figures: dict[str, int | float | str] = {"exit_code": code, "seconds": round(seconds, 2)}
    if code in accepted:
        return CheckResult.passed(
            "SR304", f"{signal_name}: exited {code} in {seconds:.1f} s", **figures)
    if code == 137 and seconds >= grace - 0.5:
        shown = shlex.join(pid1)
        shown = shown if len(shown) <= 160 else shown[:157] + "..."
        who = f"PID 1 (`{shown}`)" if pid1 else "PID 1"
        disposition = signal_disposition(pid1_status, signal_name)
        if disposition == "caught":
            return _slow_stop(who, signal_name, grace, logs, figures)
        if pid1 and pid1[0].rsplit("/", 1)[-1] in _SHELLS:
            return CheckResult.failed(
                "SR304", f"ignored {signal_name}: PID 1 is a shell, killed after the "
                f"{grace:.0f} s grace period",
                [Finding(f"PID 1 is a shell (`{shown}`): it does not pass {signal_name} on "
                         "to the program it started, and as PID 1 ignores it itself; "
                         f"Docker killed it after {grace:.0f} s (exit code 137). "
                         + tail(logs, 10), None, None,
                         "Make the program take the shell's place, so that it is PID 1 and "
                         f"gets {signal_name}: start it with `exec` (`sh -c '... && exec "
                         "python -m app.server'`; an entrypoint script ends with `exec "
                         "\"$@\"` or `exec gunicorn ...`); or run under an init that "
                         "forwards signals (tini as the ENTRYPOINT, `docker run --init`).")],
                **figures)
        if disposition:  # not a shell, and it has no handler: the exec form is no cure
            how = (f"ignores {signal_name} (its disposition is SIG_IGN)"
                   if disposition == "ignored" else f"has no handler for {signal_name}, "
                   "and the kernel drops a signal without a handler that is sent to PID 1")
            return CheckResult.failed(
                "SR304", f"ignored {signal_name}, killed after the {grace:.0f} s grace "
                "period",
                [Finding(f"{who} {how} (/proc/1/status); Docker killed it after "
                         f"{grace:.0f} s (exit code 137). " + tail(logs, 10), None, None,
                         f"Handle {signal_name} in the program: install a handler that "
                         "stops it and exits 0 (Python: `signal.signal(signal.SIGTERM, "
                         "...)` that stops the server, e.g. gRPC's `server.stop(grace)`, "
                         "or raises SystemExit); or run it under an init as PID 1 (tini "
                         "as the ENTRYPOINT, `docker run --init`), where the signal's "
                         "default action ends it with exit code 143: then list 143 in "
                         "[tool.shipready.smoke] stop_exit_codes.")],
                **figures, disposition=disposition)
        return CheckResult.failed(
            "SR304", f"ignored {signal_name}, killed after the {grace:.0f} s grace period",
            [Finding(f"{who} did not exit on {signal_name}; Docker killed it after "
                     f"{grace:.0f} s (exit code 137). " + tail(logs, 10), None, None,
                     f"Handle {signal_name} in PID 1: install a signal handler that shuts "
                     "the program down (as PID 1, a signal without a handler is ignored), "
                     'use the exec form of CMD (CMD ["python", "-m", "app"]) rather than '
                     "a shell, or run with an init such as tini (`docker run --init`).")],
            **figures)
    return CheckResult.failed(
        "SR304", f"{signal_name}: {exit_meaning(code)} (expected "
        f"{', '.join(map(str, accepted))})",
        [Finding(f"after {signal_name} it exited with {exit_meaning(code)} in "
                 f"{seconds:.1f} s. " + tail(logs, 10), None, None,
                 "Exit 0 after a clean shutdown, or list the code in "
                 "[tool.shipready.smoke] stop_exit_codes.")], **figures)


def _slow_stop(who: str, signal_name: str, grace: float, logs: bytes,
               figures: dict[str, int | float | str]) -> CheckResult:
    """PID 1 handles the signal and had not exited when the grace period ended."""
    said = [line.strip() for line in logs.decode("utf-8", "replace").splitlines()[-200:]
            if _STOPPING.search(line)]
    evidence = (f"it logged `{said[0][:200]}`" + (f" and then `{said[-1][:200]}`"
                                                 if len(said) > 1 else "") + "; "
                if said else "")
    return CheckResult.failed(
        "SR304", f"received {signal_name} but did not finish stopping within the "
        f"{grace:.0f} s grace period, killed",
        [Finding(f"{who} handles {signal_name} (it has a handler: /proc/1/status), so it "
                 f"got the signal; {evidence}it had not exited when Docker killed it after "
                 f"{grace:.0f} s (exit code 137). " + tail(logs, 10), None, None,
                 "Its shutdown is slower than the grace period: measure how long a clean "
                 "stop takes (`docker stop -t 120` and `docker logs`), then make it faster "
                 "(shorter worker and request timeouts, stop background daemons first) or "
                 "raise the grace period to fit it: [tool.shipready.smoke] grace_period "
                 "here and the platform's own (`docker stop -t`, compose "
                 "`stop_grace_period`, Kubernetes `terminationGracePeriodSeconds`, ECS "
                 "`stopTimeout`). If it never exits on this signal (uWSGI 2.0 reloads on "
                 "SIGTERM unless `die-on-term = true`), make it exit instead.")],
        **figures, disposition="caught")


def command_verdicts(results: list[tuple[list[str], int, int | None, str, bytes]],
                     timeouts: list[float] | None = None) -> CheckResult:
    """``results``: (argv, expected code, actual code, output pattern, output); an actual
    code of None means the command did not finish within its ``timeouts`` entry."""
    findings: list[Finding] = []
    for i, (argv, expected, code, pattern, output) in enumerate(results):
        text = output.decode("utf-8", "replace")
        shown = " ".join(argv)
        if code is None:
            limit = timeouts[i] if timeouts else 0.0
            lines = text.splitlines()[-10:]
            so_far = ("its last output lines:\n" + "\n".join(lines)) if lines \
                else "it wrote nothing"
            findings.append(Finding(
                f"`{shown}` did not finish within {limit:g} s; {so_far}", None, None,
                "Make the command end (no prompt, no server in the foreground), or raise "
                "its `timeout` in [[tool.shipready.smoke.commands]]."))
        elif code != expected:
            findings.append(Finding(
                f"`{shown}` exited {code}, expected {expected}; output:\n{text[-1500:]}"))
        elif pattern and not re.search(pattern, text):
            findings.append(Finding(
                f"`{shown}` output does not match /{pattern}/; output:\n{text[-1500:]}"))
    return CheckResult.from_findings(
        "SR305", findings, f"{len(results)} command(s) succeeded",
        f"{len(findings)} of {len(results)} command(s) failed", commands=len(results))
