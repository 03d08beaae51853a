"""Results of readiness checks: plain frozen data that round-trips through JSON.

Nothing here imports pytest or docker. Check logic returns these; the pytest glue turns
them into passed, failed or skipped items, and the report writer serialises them (they
are also what pytest-xdist workers would share through a file).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    the environment it ran with (the image's ENV, the smoke env): what the container area
    hands the logs area."""

    lines: Sequence[bytes]
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # When the log was longer than [tool.shipready.logs] max_log_mb: its whole size, and
    # how ``lines`` were chosen (the first ``kept`` lines, then a sample of the rest).
    total_bytes: int = 0
    total_lines: int = 0
    kept: int = 0  # the first lines, in order; lines[kept:] are the sample
    cap_bytes: int = 0
    # Lines after the first ones too long to hold whole (a first line longer than the cap
    # too): how many, and the first ``prefix_bytes`` of a sample of them, judged as such.
    prefixes: Sequence[bytes] = ()
    long_lines: int = 0
    prefix_bytes: int = 0

    @property
    def capped(self) -> bool:
        return self.total_lines > self.kept and self.cap_bytes > 0

    def coverage(self) -> str:
        """What of a capped log the checks saw, for their PASS/FAIL line; "" if all."""
        if not self.capped:
            return ""
        sampled = len(self.lines) - self.kept
        kept_bytes = sum(len(x) + 1 for x in self.lines[:self.kept])
        text = (f"checked the first {self.kept:,} lines ({kept_bytes / 1e6:.1f} MB) and a "
                f"sample of {sampled:,} of the {self.total_lines - self.kept:,} lines after "
                f"them, of {self.total_bytes / 1e6:.1f} MB in all ([tool.shipready.logs] "
                f"max_log_mb = {self.cap_bytes / 1e6:g})")
        return text + self.partly_read()

    def partly_read(self) -> str:
        """"; 3 lines longer than 16 KB ..." when lines were judged by their start only."""
        if not self.long_lines:
            return ""
        size = f"{self.prefix_bytes // 1024} KB"
        one = self.long_lines == 1
        judged = "judged by its" if one else f"{len(self.prefixes):,} judged by their"
        return (f"; {self.long_lines:,} {'line' if one else 'lines'} longer than {size}: "
                f"{judged} first {size} only (JSON or text, secret shapes; not "
                f"{'its' if one else 'their'} keys, levels or exceptions)")


class NoContainerLogs(Exception):  # noqa: N818 - reads as "raise NoContainerLogs(why)"
    """Raised by a log source when no container ran; the message is the reason."""


LogSource = Callable[[], ContainerLogs]


@dataclass(frozen=True)
class ImageRun:
    """What a Python program wrote when run in the session container, with the
    container's environment (SR510 runs the app's logging setup there)."""

    code: int | None  # None: it did not finish within the timeout
    output: bytes  # stdout and stderr together
    where: str  # "in the session container (/opt/venv/bin/python)"
    # The variables the container sets that the host has not (or not so): names only.
    environment: tuple[str, ...] = ()


# Runs ``python <args>`` in the session container within ``timeout`` seconds; raises
# NoContainerLogs (the message: why) when there is no container to run it in.
ImageRunner = Callable[[Sequence[str], float], ImageRun]


@dataclass(frozen=True)
class Answer:
    """What one request, connection or command in a container got: ``ok`` None when it
    could not be tried (``detail`` says why)."""

    ok: bool | None
    detail: str


@dataclass(frozen=True)
class ImageCommand:
    """What a container of the image runs unless told otherwise, and as whom."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    user: str
    env: Mapping[str, str] = field(default_factory=dict, repr=False)


class SessionContainer(Protocol):
    """The session container as the container area offers it to another family (the
    deploy area judges a manifest against it). Every method answers in bounded time."""

    def unavailable(self) -> str:
        """"" when the container runs and is ready; else why not, in one line."""
    def image(self) -> ImageCommand | None: ...
    def ran(self) -> tuple[str, ...]:
        """The command the session container runs (the image's, or the configured one)."""
    def listening(self) -> Mapping[int, frozenset[str]] | str:
        """TCP ports the app listens on -> local addresses; or why it cannot be told."""
    def http(self, port: int, path: str, headers: Sequence[tuple[str, str]],
             timeout: float) -> Answer: ...
    def tcp(self, port: int, timeout: float) -> Answer: ...
    def exec(self, argv: Sequence[str], timeout: float) -> Answer: ...
    def stopped(self) -> tuple[float | None, bool, str]:
        """After SR304: the seconds the stop took, whether it was clean, else why not."""
    def hardened(self) -> tuple[str, str, str]:
        """SR310's status ("passed", "failed", "skipped"), its summary, and whose
        securityContext it ran under ("file: Kind/name container c"; "" for the
        [tool.shipready.hardened] defaults)."""
    def variant(self, command: Sequence[str], env: Mapping[str, str],
                one_shot: bool) -> Answer:
        """Start another container of the image running ``command`` (with ``env`` on top
        of the smoke's): ok when it becomes ready (or, ``one_shot``, exits 0)."""


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
        # Secret values found at planning and while the run goes (the environments of a
        # Compose file and of backing services, the image's own ENV): masked in what the
        # plugin shows and writes, as the configured ones are (``add_secrets``).
        self.secrets: set[str] = set()
        # Runs Python in the session container (set by the container area): SR510.
        self.run_in_image: ImageRunner | None = None
        # A collected test takes the shipready_container fixture (set by the plugin):
        # the session container then publishes its ports for that test's own clients.
        self.publish_session_ports = False
        # The deployment files the deploy area read (path, kind, the containers of this
        # image in them): the report's and the SBOM's "manifests".
        self.manifests: list[dict[str, Any]] = []
        # The session container, for the deploy area (set by the container area).
        self.session_container: Callable[[], SessionContainer] | None = None

    def remaining(self) -> float | None:
        """Seconds left of the run's readiness budget (None: no budget)."""
        return None if self.budget is None else max(0.0, self.budget - self.spent)

    def add_cleanup(self, fn: Callable[[], None]) -> None:
        self.cleanups.append(fn)

    def add_secrets(self, values: Iterable[str]) -> None:
        self.secrets.update(values)

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
