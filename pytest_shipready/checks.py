"""Results of readiness checks: plain frozen data that round-trips through JSON.

Nothing here imports pytest or docker. Check logic returns these; the pytest glue turns
them into passed, failed or skipped items, and the report writer serialises them (they
are also what pytest-xdist workers would share through a file).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .config import Settings
from .progress import Phases


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Finding:
    """One problem a check found: what, where (file and line when known), how to fix."""

    message: str
    path: str | None = None
    line: int | None = None
    hint: str = ""

    def where(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line is not None else self.path

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "path": self.path, "line": self.line, "hint": self.hint}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(
            message=str(data["message"]),
            path=data.get("path"),
            line=data.get("line"),
            hint=str(data.get("hint", "")),
        )


Figure = int | float | str


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one subject (e.g. SR101 on requirements.txt).

    ``summary`` is the one-line key figure shown next to the status ("14 packages
    pinned"), or the reason of a skip. ``findings`` is empty unless the check failed.
    """

    check_id: str
    status: Status
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    figures: dict[str, Figure] = field(default_factory=dict)

    @classmethod
    def passed(cls, check_id: str, summary: str = "", **figures: Figure) -> CheckResult:
        return cls(check_id, Status.PASSED, summary, (), dict(figures))

    @classmethod
    def skipped(cls, check_id: str, reason: str) -> CheckResult:
        return cls(check_id, Status.SKIPPED, reason)

    @classmethod
    def failed(
        cls, check_id: str, summary: str, findings: list[Finding] | tuple[Finding, ...],
        **figures: Figure,
    ) -> CheckResult:
        return cls(check_id, Status.FAILED, summary, tuple(findings), dict(figures))

    @classmethod
    def from_findings(
        cls, check_id: str, findings: list[Finding], ok: str, bad: str, *,
        verified: int | None = None, nothing: str = "", **figures: Figure
    ) -> CheckResult:
        """Passed with summary ``ok`` when there are no findings, else failed with ``bad``.
        ``verified``: how many things were checked; none is not a pass but a skip, with
        ``nothing`` as the reason (a PASS always says what it verified)."""
        if findings:
            return cls.failed(check_id, bad, findings, **figures)
        if verified == 0:
            return cls.skipped(check_id, nothing or "nothing to check")
        return cls.passed(check_id, ok, **figures)

    def to_json(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "status": self.status.value,
            "summary": self.summary,
            "findings": [f.to_json() for f in self.findings],
            "figures": dict(self.figures),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            check_id=str(data["check_id"]),
            status=Status(data["status"]),
            summary=str(data.get("summary", "")),
            findings=tuple(Finding.from_json(f) for f in data.get("findings", [])),
            figures=dict(data.get("figures", {})),
        )


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``plural(1, "requirement")`` -> "1 requirement"; 2 -> "2 requirements"."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


@dataclass(frozen=True)
class PlannedCheck:
    area: str  # "lockfile", "image", ...
    subject: str | None  # "requirements.txt"; None for area-wide checks
    check_id: str
    name: str  # the last part of the node id: "pinned"
    path: Path | None  # the file the check is about, for the item's location
    run: Callable[[], CheckResult]
    # Runs after the user's tests: it stops the session container (SR304) or judges
    # what it wrote through its stop (SR501-SR505), so the container serves them first.
    runs_last: bool = False
    # Runs after the other readiness items (before the user's tests), because it waits
    # on work started earlier that the items in between overlap with: SR104's resolver
    # (started by ``prefetch`` when the run starts), SR302's settle period.
    deferred: bool = False
    # Starts the check's slow part in the background when the run starts (SR104); the
    # plugin calls it only when the item is selected, and ``run`` joins it.
    prefetch: Callable[[], None] | None = None

    @property
    def node_path(self) -> tuple[str, ...]:
        parts = (self.area, self.subject, self.name)
        return tuple(p for p in parts if p is not None)


@dataclass(frozen=True)
class Options:
    """Per-run switches from the command line."""

    offline: bool = False
    require_docker: bool = False  # no engine: the docker items fail instead of skipping
    require_docker_why: str = "--shipready-require-docker"  # what made it required
    readiness_only: bool = False  # --shipready-only: the project's tests are not imported
    # Files this run writes (the report, its SBOM, --junitxml), with the option that
    # names each: SR206 says when the image build would copy them.
    outputs: tuple[tuple[Path, str], ...] = ()


def docker_requirement(flag: bool, configured: bool | None,
                       environ: Mapping[str, str]) -> tuple[bool, str]:
    """Whether a missing engine fails the run, and what says so: the command-line flag,
    ``[tool.shipready] require_docker``, or (unset) the CI environment variable."""
    if flag:
        return True, "--shipready-require-docker"
    if configured is not None:
        return configured, f"[tool.shipready] require_docker = {str(configured).lower()}"
    ci = environ.get("CI", "").strip().lower()
    if ci and ci not in ("0", "false", "no", "off"):
        return True, ("CI is set, and a CI gate that never built the image is not ready; "
                      "[tool.shipready] require_docker = false skips instead")
    return False, ""


@dataclass(frozen=True)
class ContainerLogs:
    """What the session container wrote (stdout and stderr lines, start through stop) and
    the environment it was given: what the container area hands the logs area."""

    lines: Sequence[bytes]
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # When the log was longer than [tool.shipready.logs] max_log_mb: its whole size, and
    # how ``lines`` were chosen (the first ``kept`` lines, then a sample of the rest).
    total_bytes: int = 0
    total_lines: int = 0
    kept: int = 0  # the first lines, in order; lines[kept:] are the sample
    cap_bytes: int = 0

    @property
    def capped(self) -> bool:
        return self.total_lines > self.kept and self.cap_bytes > 0

    def coverage(self) -> str:
        """What of a capped log the checks saw, for their PASS/FAIL line; "" if all."""
        if not self.capped:
            return ""
        sampled = len(self.lines) - self.kept
        kept_bytes = sum(len(x) + 1 for x in self.lines[:self.kept])
        return (f"checked the first {self.kept:,} lines ({kept_bytes / 1e6:.1f} MB) and a "
                f"sample of {sampled:,} of the {self.total_lines - self.kept:,} lines after "
                f"them, of {self.total_bytes / 1e6:.1f} MB in all ([tool.shipready.logs] "
                f"max_log_mb = {self.cap_bytes / 1e6:g})")


class NoContainerLogs(Exception):  # noqa: N818 - reads as "raise NoContainerLogs(why)"
    """Raised by a log source when no container ran; the message is the reason."""


class ContainerLogsLost(Exception):  # noqa: N818 - reads as "raise ContainerLogsLost(line)"
    """Raised by a log source when the engine was lost before the log could be read;
    the message is the run's one line about the lost engine (each log item fails with
    it, as every docker item does)."""


LogSource = Callable[[], ContainerLogs]


class ResultCache(Protocol):
    """Values kept between runs (pytest's cache: ``--cache-clear`` empties it); keys are
    "/"-separated, values JSON."""

    def get(self, key: str, default: Any) -> Any: ...
    def set(self, key: str, value: Any) -> None: ...


class RunContext:
    """What the checks of one run share beyond their own area: cleanups to run at the end.

    Areas that start something (an image build, a container) register how to undo it
    here; the plugin runs every cleanup at session end, also after failures and Ctrl-C.
    Areas may also keep shared, lazily created objects in ``shared`` (e.g. the built
    image) so that fixtures and checks use the same one.
    """

    def __init__(self) -> None:
        self.cleanups: list[Callable[[], None]] = []
        self.shared: dict[str, object] = {}  # an area's own lazily created objects
        # What crosses areas, typed: the session container's log (set by the container
        # area), a line for the terminal at any verbosity, and build steps under -v.
        self.container_logs: LogSource | None = None
        self.announce: Callable[[str], None] | None = None
        self.progress: Callable[[str], None] | None = None
        # [tool.shipready] timeout: seconds the readiness items may take together, and
        # what they have taken so far (counted by the plugin around each item).
        self.budget: float | None = None
        self.spent = 0.0
        # Phases that can take a while: start/end lines through ``announce``, heartbeat
        # lines while they last, their durations for the report.
        self.phases = Phases(lambda line: self.announce(line) if self.announce else None)
        self.cache: ResultCache | None = None  # None: nothing is kept between runs
        # What the image ships (set by the container area; plain JSON, read after each
        # item): the report's "image" section and its SBOM (sbom.py); None until known.
        self.image_inventory: Callable[[], dict[str, Any] | None] | None = None

    def remaining(self) -> float | None:
        """Seconds left of the run's readiness budget (None: no budget)."""
        return None if self.budget is None else max(0.0, self.budget - self.spent)

    def add_cleanup(self, fn: Callable[[], None]) -> None:
        self.cleanups.append(fn)

    def close(self) -> list[BaseException]:
        """Run cleanups, newest first; return the errors instead of raising the first."""
        errors: list[BaseException] = []
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception as exc:
                errors.append(exc)
        return errors


class AreaPlanner(Protocol):
    def __call__(
        self, settings: Settings, options: Options, context: RunContext
    ) -> list[PlannedCheck]: ...
