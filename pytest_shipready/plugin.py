"""pytest-shipready's pytest glue: options, markers, generated items, reporting.

This module is the pytest11 entry point, so it is imported by every pytest run of
every project that installs the plugin. It therefore imports only the standard library
and pytest at module level; the checks (and docker, testcontainers, pip-tools,
structlog behind them) are imported only under ``--shipready``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr
    from _pytest.terminal import TerminalReporter

    from .checks import CheckResult, PlannedCheck
    from .config import Settings
    from .logs.capture import LogCapture

SKIP_REASON = "deployment readiness check: run pytest with --shipready to include it"
_STATE = pytest.StashKey["ShipreadyState"]()
_DROPPED_ADDOPTS = pytest.StashKey[list[str]]()
_MAX_FINDINGS = 20
HEARTBEAT_TTY = 4.0  # seconds between progress lines of a long phase, on a terminal
HEARTBEAT_LOG = 30.0  # elsewhere (a CI log)
_WRITE_LOCK = threading.Lock()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shipready", "deployment readiness (pytest-shipready)")
    group.addoption(
        "--shipready", action="store_true", default=False,
        help="Add deployment readiness checks (lockfiles, ...) to the run as test items.",
    )
    group.addoption(
        "--shipready-only", action="store_true", default=False,
        help="Run only the readiness checks: no test module or conftest.py of the project "
        "is imported and the ini file's addopts are not applied, so a readiness job needs "
        "none of the app's dependencies. Implies --shipready.",
    )
    group.addoption(
        "--shipready-project", metavar="DIR", default=None,
        help="Directory of the project to check (default: pytest's rootdir).",
    )
    group.addoption(
        "--shipready-report", metavar="PATH", default=None,
        help="Write the readiness results to PATH: Markdown if it ends in .md, else JSON; "
        "and a CycloneDX SBOM of the image beside it (PATH without its suffix + .cdx.json).",
    )
    group.addoption(
        "--shipready-compare", metavar="REPORT", default=None,
        help="Print what the image ships differently from an earlier run's JSON report (or "
        "its .cdx.json SBOM): packages added, removed, upgraded, and the size change.",
    )
    group.addoption(
        "--shipready-init", action="store_true", default=False,
        help="Print a starter [tool.shipready] section inferred from the project, and exit.",
    )
    group.addoption(
        "--shipready-offline", action="store_true", default=False,
        help="Skip the checks that need the package index (lockfile re-resolution).",
    )
    group.addoption(
        "--shipready-require-docker", action="store_true", default=False,
        help="Fail the image, smoke and parity checks when no Docker engine answers "
        "(default: skip them).",
    )


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("shipready") or config.getoption("shipready_only"))


def _project_dir(config: pytest.Config) -> Path:
    raw = config.getoption("shipready_project")
    project: Path
    if raw:
        project = config.invocation_params.dir / str(raw)
    elif config.getoption("shipready_only", False):
        project = _enclosing_project(config.invocation_params.dir, config.rootpath)
    else:
        project = config.rootpath
    if not project.is_dir():
        raise pytest.UsageError(f"--shipready-project: {project} is not a directory")
    return project.resolve()


def _enclosing_project(start: Path, rootpath: Path) -> Path:
    """--shipready-only from any directory of the project: the nearest directory, from
    ``start`` up, with a pyproject.toml or a Dockerfile; else pytest's rootdir."""
    for directory in (start, *start.parents):
        if (directory / "pyproject.toml").is_file() or (directory / "Dockerfile").is_file():
            return directory
        if (directory / ".git").exists():
            break
    return rootpath


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> None:
    """--shipready-only and --shipready-init: import no conftest.py and drop the ini
    file's addopts, which configure the project's test run (coverage, plugins) and not
    this one."""
    known = early_config.known_args_namespace
    if not (getattr(known, "shipready_only", False) or getattr(known, "shipready_init", False)):
        return
    addopts = list(early_config.getini("addopts"))
    for start in range(len(args) - len(addopts) + 1) if addopts else ():
        if args[start:start + len(addopts)] == addopts:
            del args[start:start + len(addopts)]
            early_config.stash[_DROPPED_ADDOPTS] = addopts
            break
    early_config.known_args_namespace.noconftest = True
    args.append("--noconftest")


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> bool | None:
    """--shipready-only: the readiness items are the whole collection; no test module
    is collected (nor imported)."""
    if not session.config.getoption("shipready_only") \
            or session.config.stash.get(_STATE, None) is None:
        return None
    items: list[pytest.Item] = []
    session.config.hook.pytest_collection_modifyitems(session=session, config=session.config,
                                                      items=items)
    session.items = items
    session.testscollected = len(items)
    session.config.hook.pytest_collection_finish(session=session)
    return True


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not config.getoption("shipready_only"):
        return []
    lines = ["shipready: readiness checks only (--shipready-only): no test module or "
             "conftest.py of the project is imported"]
    dropped = config.stash.get(_DROPPED_ADDOPTS, None)
    if dropped:
        lines.append(f"shipready: the ini file's addopts are not applied: {' '.join(dropped)}")
    return lines


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.getoption("shipready_init"):
        return None
    from .config import ConfigError, load
    from .starter import chosen_dockerfile, starter

    project = _project_dir(config)
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:  # progress lines as they happen, not when pytest exits
        capture.suspend_global_capture(in_=True)
    explored = None
    try:
        settings = load(project)
    except ConfigError:  # the starter is what helps fix it; no run of the image then
        settings = None
    if settings is not None and chosen_dockerfile(project) is not None:
        from .container.explore import explore

        def say(line: str) -> None:  # progress on stderr: stdout is the starter's TOML
            print(line, file=sys.stderr, flush=True)

        explored = explore(settings, say)
    print(starter(project, explored), end="")
    return 0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shipready: a deployment readiness test; it runs only with --shipready.",
    )
    config.addinivalue_line(
        "markers",
        "shipready_parity: also run this test inside the image's container (SR404).",
    )
    if not _enabled(config) or os.environ.get("PYTEST_SHIPREADY_NESTED"):
        return
    from .config import ConfigError, load

    try:
        settings = load(_project_dir(config))
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-shipready: {exc}") from None
    state = ShipreadyState(config, settings)
    state.not_checked = _no_image(config, settings)
    compare = config.getoption("shipready_compare", None)
    if compare and not hasattr(config, "workerinput"):
        from .sbom import previous

        try:
            state.previous_image = previous(config.invocation_params.dir / str(compare))
        except ValueError as exc:
            raise pytest.UsageError(f"--shipready-compare: {exc}") from None
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "shipready-state")


def _no_image(config: pytest.Config, settings: Settings) -> str:
    """Why no image will be judged (no Dockerfile selected), naming the Dockerfiles found
    elsewhere in the project; "" when one is. When the image is required (CI, see
    checks.docker_requirement), Dockerfiles found but none selected is a usage error."""
    from .container.build.image import uses_docker

    if uses_docker(settings):
        return ""
    from .checks import docker_requirement
    from .dockerfile.locate import find_dockerfiles

    selected = settings.config.image.dockerfile
    found = find_dockerfiles(settings.project, selected)
    if not found.all:
        return "no Dockerfile"
    required, why = docker_requirement(bool(config.getoption("shipready_require_docker")),
                                       settings.config.require_docker, os.environ)
    if required and found.images:
        source = settings.source.name if settings.source else "pyproject.toml"
        raise pytest.UsageError(
            f"pytest-shipready: no Dockerfile at {selected}, but the project has "
            f"{found.told()}; the image must be judged here ({why}). Set "
            f"[tool.shipready.image] dockerfile = \"{found.images[0]}\" in {source} to "
            "build and check the one that ships.")
    return f"no Dockerfile selected; found {found.told()}"


class ShipreadyState:
    """What one run of --shipready knows; registered as a plugin for that run's hooks."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        from .checks import RunContext

        self.config = config
        self.settings = settings
        self.context = RunContext()
        self.context.budget = settings.config.timeout  # [tool.shipready] timeout
        self.results: list[dict[str, Any]] = []
        self.planned = 0  # readiness items collected in this process (0 under xdist)
        self.deselected = 0  # readiness items deselected (-k, -m, --lf)
        # Tests marked @pytest.mark.shipready (the user's own readiness tests): nodeid ->
        # "passed" / "failed" / "skipped"; a failure makes the run not ready.
        self.marked: dict[str, str] = {}
        self.stopped_early = ""  # why pytest stopped before the end (-x, --maxfail)
        # What the image ships (the report's "image" section), as the items report it;
        # the earlier run's (--shipready-compare); what was written about it.
        self.image: dict[str, Any] | None = None
        self.image_sent = ""  # in this process: the last one attached to a report
        self.previous_image: dict[str, Any] | None = None
        self.sbom_note = ""
        self.not_checked = ""  # why no image is judged (see _no_image)
        from .secrets import build_secret_values, configured_secrets, mark_standalone, project_words

        # values never shown: secrets given to the container ([tool.shipready.smoke] env)
        # and to the build ([tool.shipready.image] build_args and secrets), and those of
        # this process's own environment (a tool that echoes a file or its environment);
        # one that is also a word of the project's names is masked where it stands alone
        self.project_words = project_words(settings.project)
        found = set(configured_secrets(settings.config.smoke.env,
                                       settings.config.image.build_args, os.environ))
        if settings.config.image.secrets:
            found |= set(build_secret_values(settings.config.image.secrets,
                                             settings.project, os.environ))
        self.configured_secrets = mark_standalone(found, self.project_words)  # longest first
        # image/smoke/parity: this run's docker session id, SIGTERM handler, final sweep
        from .container.build.image import uses_docker
        from .container.session import begin

        begin(self.context, uses_docker(settings), is_worker=hasattr(config, "workerinput"),
              engine_timeout=settings.config.engine_timeout)
        if config.get_verbosity() >= 1:  # build steps as they happen
            self.context.progress = self._write_progress
        # Phase lines (re-resolving, building, waiting for ready) at any verbosity but
        # -qq; on a terminal, a heartbeat line at least every 4 s while one lasts.
        if config.get_verbosity() >= -1:
            self.context.announce = self._write_line
        self.phase_totals: dict[str, float] = {}  # phases outside the readiness items
        # pytest's cache (.pytest_cache; absent under -p no:cacheprovider): SR104's PASS
        self.context.cache = getattr(config, "cache", None)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every value never shown: the configured ones, and those the run found (the
        environments of a Compose file and of backing services, the image's own ENV),
        longest first."""
        if not self.context.secrets:
            return self.configured_secrets
        from .secrets import mark_standalone

        found = {str(v) for v in self.configured_secrets} | self.context.secrets
        return mark_standalone(found, self.project_words)

    def _write_progress(self, line: str) -> None:
        self._write_line(f"  build: {line}")

    def _write_line(self, line: str) -> None:
        """One line on the terminal, also from inside an item (output capture is
        suspended for it) and from a progress thread (one line at a time); secret values
        masked."""
        from .secrets import redact_text

        line = redact_text(line, self.secrets)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        with _WRITE_LOCK:
            if capture is None:
                reporter.write_line(line)
                return
            with capture.global_and_fixture_disabled():
                reporter.write_line(line)

    def add_phases(self, phases: dict[str, float]) -> None:
        for name, seconds in phases.items():
            self.phase_totals[name] = round(self.phase_totals.get(name, 0.0) + seconds, 3)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Start the checks' background work (SR104's resolver) of the selected items, so
        that it overlaps with the build and the container start. Not in an xdist worker:
        which worker runs the item is not known yet (there it runs when its item does)."""
        # The terminal reporter exists by now (not yet when this state was created).
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        tty = bool(getattr(reporter, "isatty", False))
        self.context.phases.heartbeat = HEARTBEAT_TTY if tty else HEARTBEAT_LOG
        if hasattr(self.config, "workerinput") or session.config.option.collectonly:
            return
        for item in session.items:
            if isinstance(item, ShipreadyItem) and item.check.prefetch is not None \
                    and item.disabled is None:
                item.check.prefetch()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        image = getattr(report, "shipready_image", None)
        if image is not None:
            self.image = json.loads(image)
        data = getattr(report, "shipready", None)
        if data is not None:
            result = json.loads(data)
            result.update(nodeid=report.nodeid, duration=round(report.duration, 3))
            # One result per item: an error in its teardown replaces its verdict.
            self.results = [r for r in self.results if r["nodeid"] != report.nodeid]
            self.results.append(result)
            return
        if report.nodeid.startswith("shipready::") or "shipready" not in report.keywords:
            return
        # A user's readiness test: the worst outcome of its phases counts.
        if report.failed:
            self.marked[report.nodeid] = "failed"
        elif report.when == "call" or report.skipped:
            self.marked.setdefault(report.nodeid, "skipped" if report.skipped else "passed")

    @pytest.hookimpl(trylast=True)
    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += sum(1 for item in items if isinstance(item, ShipreadyItem))

    def _record_stop(self, session: pytest.Session, exitstatus: int) -> None:
        """Record why the run stopped before its end (-x, --maxfail, an INTERNALERROR,
        --collect-only), if it did."""
        stop = session.shouldstop or session.shouldfail
        if stop:
            self.stopped_early = str(stop)
        elif exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            self.stopped_early = "pytest stopped with an INTERNALERROR"
        elif session.config.option.collectonly:
            self.stopped_early = "--collect-only"

    def not_run(self) -> int:
        """Readiness items collected but not run (deselected by -k/-m, or not reached)."""
        return max(0, self.planned - len(self.results))

    def document(self, interrupted: bool) -> dict[str, Any]:
        """The report: one verdict for the terminal, the files and the step summary."""
        from . import report

        not_run = self.not_run()
        self.add_phases(self.context.phases.drain())
        return report.build(self.settings, self.sorted_results(), interrupted=interrupted,
                            not_run=not_run, deselected=min(self.deselected, not_run),
                            stopped_early=self.stopped_early, marked=self.marked,
                            phases=self.phase_totals, image=self.image,
                            not_checked=self.not_checked, manifests=self.context.manifests)

    def sorted_results(self) -> list[dict[str, Any]]:
        """By check ID (so by area), then node id: stable whatever order items ran in."""
        return sorted(self.results, key=lambda r: (r["check_id"], r["nodeid"]))

    def pytest_terminal_summary(self, terminalreporter: TerminalReporter,
                                exitstatus: int) -> None:
        _terminal_summary(self, terminalreporter, exitstatus == pytest.ExitCode.INTERRUPTED)
        _shipped_summary(self, terminalreporter)

    def _sbom_write(self, report_path: Path) -> list[tuple[str, Callable[[], None]]]:
        """Writing the SBOM beside the report, when the image's packages are known."""
        from .sbom import sbom_path

        path = sbom_path(report_path)
        if self.image is None or self.image.get("packages") is None:
            why = ("the image was not built" if self.image is None else
                   "the parity probe did not run (shipready::parity)")
            self.sbom_note = f"no SBOM written: {why}"
            return []

        def write() -> None:
            import datetime
            import uuid

            from . import __version__
            from .sbom import cyclonedx

            assert self.image is not None
            bom = cyclonedx(self.image, manifests=self.context.manifests,
                            serial=f"urn:uuid:{uuid.uuid4()}",
                            timestamp=datetime.datetime.now(datetime.UTC).isoformat(
                                timespec="seconds"), tool_version=__version__)
            path.write_text(json.dumps(bom, indent=2) + "\n", encoding="utf-8")
            self.sbom_note = (f"SBOM of {len(self.image['packages'])} packages written to "
                              f"{path}")
        return [(f"the SBOM to {path}", write)]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._record_stop(session, exitstatus)
        errors = self.context.close()
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        for exc in errors:
            if reporter is not None:
                reporter.write_line(f"pytest-shipready: cleanup failed: {exc}", red=True)
        if hasattr(self.config, "workerinput"):
            return  # the controller writes reports
        from . import report

        document = self.document(exitstatus == pytest.ExitCode.INTERRUPTED)
        if exitstatus == pytest.ExitCode.INTERNAL_ERROR and reporter is not None:
            # pytest shows no terminal summary after an INTERNALERROR: the verdict here.
            for line, red in report.verdict_lines(document):
                reporter.write_line(f"pytest-shipready: {line}", red=red, bold=True)
        target = self.config.getoption("shipready_report", None)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        writes: list[tuple[str, Callable[[], None]]] = []
        if target:
            path = self.config.invocation_params.dir / target
            writes.append((f"the report to {path}", lambda: report.write(path, document)))
            writes += self._sbom_write(path)
        if summary and (self.results or self.planned):
            writes.append((f"the step summary to {summary} ($GITHUB_STEP_SUMMARY)",
                           lambda: report.append_step_summary(Path(summary), document)))
        for what, write in writes:
            try:
                write()
            except OSError as exc:  # the results stand; say what could not be written
                if reporter is not None:
                    reporter.write_line(f"pytest-shipready: cannot write {what}: "
                                        f"{exc.strerror or exc}", red=True)


def _shipped_summary(state: ShipreadyState, tr: TerminalReporter) -> None:
    """The SBOM line, and with --shipready-compare what changed since the earlier run."""
    if state.sbom_note:
        tr.line(state.sbom_note)
    if state.previous_image is None or hasattr(state.config, "workerinput"):
        return
    from .sbom import compare, describe

    source = state.config.getoption("shipready_compare")
    tr.section(f"shipped since {source}")
    if state.image is None:
        tr.line("nothing to compare: this run built no image", yellow=True)
        return
    for line in describe(compare(state.previous_image, state.image)):
        tr.line(line)


# --- items ----------------------------------------------------------------------------


class ShipreadyGroup(pytest.Collector):
    """An inner node of the ``shipready::area::subject`` tree; items are made directly."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class CheckFailedError(Exception):
    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.summary)
        self.result = result


class ShipreadyItem(pytest.Item):
    def __init__(self, *, check: PlannedCheck, disabled: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.disabled = disabled
        self.result: CheckResult | None = None
        self.phases: dict[str, float] = {}  # seconds by phase (build, ready, ...)
        self.add_marker("shipready")
        self.extra_keyword_matches.add(check.check_id)
        self.user_properties.append(("shipready_check", check.check_id))

    def runtest(self) -> None:
        from .checks import CheckResult, Status

        state = self.config.stash[_STATE]
        context = state.context
        if self.disabled is not None:
            self.result = CheckResult.skipped(self.check.check_id, self.disabled)
        elif context.remaining() == 0:  # [tool.shipready] timeout is spent
            self.result = _over_budget(self.check.check_id, state.settings.config.timeout)
        else:
            import time

            from .secrets import redact_result

            phases = context.phases
            state.add_phases(phases.drain())  # phases of what ran before (a fixture)
            started = time.monotonic()
            try:
                self.result = redact_result(self.check.run(), state.secrets)
            finally:
                context.spent += time.monotonic() - started
                self.phases = phases.drain()
        if self.result.status == Status.SKIPPED:
            pytest.skip(self.result.summary)
        if self.result.status == Status.FAILED:
            raise CheckFailedError(self.result)

    def repr_failure(
        self, excinfo: ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, CheckFailedError):
            return format_failure(excinfo.value.result)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        from .catalog import spec

        check_id = self.check.check_id
        return self.path, None, f"{self.nodeid} [{check_id}] {spec(check_id).title}"


def _over_budget(check_id: str, budget: float) -> CheckResult:
    from .checks import CheckResult, Finding

    return CheckResult.failed(
        check_id, f"not run: the readiness checks used up their {budget:g} s budget "
        "([tool.shipready] timeout)",
        [Finding("the checks before this one took the whole budget", None, None,
                 "Find the slow check in the durations of the report, or raise "
                 "[tool.shipready] timeout.")])


def format_failure(result: CheckResult) -> str:
    from .catalog import spec

    s = spec(result.check_id)
    lines = [f"{result.check_id} {s.name}: {result.summary}"]
    hints = {f.hint for f in result.findings}
    shared_hint = hints.pop() if len(hints) == 1 else None
    for f in result.findings[:_MAX_FINDINGS]:
        where = f.where()
        body = f.message.replace("\n", "\n      ")
        lines.append(f"  {where}: {body}" if where else f"  {body}")
        if f.hint and shared_hint is None:
            lines.append(f"      fix: {f.hint}")
    if len(result.findings) > _MAX_FINDINGS:
        lines.append(f"  ... and {len(result.findings) - _MAX_FINDINGS} more")
    if shared_hint:
        lines.append(f"  fix: {shared_hint}")
    lines.append(
        f"  see {s.url}; to switch it off: [tool.shipready.disable] "
        f'{result.check_id} = "<reason>"'
    )
    return "\n".join(lines)


def _outputs(config: pytest.Config) -> tuple[tuple[Path, str], ...]:
    """The files this run writes, each with the option that asked for it."""
    from .sbom import sbom_path

    here = config.invocation_params.dir
    found: list[tuple[Path, str]] = []
    report = config.getoption("shipready_report", None)
    if report:
        path = (here / report).resolve()
        found += [(path, "--shipready-report"), (sbom_path(path), "--shipready-report's SBOM")]
    xml = getattr(config.option, "xmlpath", None)
    if xml:
        found.append(((here / xml).resolve(), "--junitxml"))
    return tuple(found)


def _build_items(session: pytest.Session, state: ShipreadyState) -> list[pytest.Item]:
    from .checks import Options, docker_requirement
    from .plan import plan

    required, why = docker_requirement(
        bool(session.config.getoption("shipready_require_docker")),
        state.settings.config.require_docker, os.environ)
    options = Options(offline=bool(session.config.getoption("shipready_offline")),
                      require_docker=required, require_docker_why=why,
                      readiness_only=bool(session.config.getoption("shipready_only")),
                      outputs=_outputs(session.config))
    disabled = state.settings.config.disable
    source = state.settings.source.name if state.settings.source else "pyproject.toml"
    root = ShipreadyGroup.from_parent(session, name="shipready", nodeid="shipready")
    groups: dict[tuple[str, ...], pytest.Collector] = {(): root}
    items: list[pytest.Item] = []
    for check in plan(state.settings, options, state.context):
        *parents, leaf = check.node_path
        parent: pytest.Collector = root
        for depth in range(1, len(parents) + 1):
            key = tuple(parents[:depth])
            if key not in groups:
                groups[key] = ShipreadyGroup.from_parent(parent, name=key[-1])
            parent = groups[key]
        reason = disabled.get(check.check_id)
        items.append(ShipreadyItem.from_parent(
            parent, name=leaf, path=check.path or state.settings.project, check=check,
            disabled=(f"{check.check_id} disabled in {source}: {reason}"
                      if reason is not None else None),
        ))
    return items


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # tryfirst: our items must exist before -k/-m deselection and --lf filtering.
    state = config.stash.get(_STATE, None)
    if state is None:
        skip = pytest.mark.skip(reason=SKIP_REASON)
        for item in items:
            if item.get_closest_marker("shipready") is not None:
                item.add_marker(skip)
        return
    ours = _build_items(session, state)
    # Only a user's own test may need the session container's ports published.
    state.context.publish_session_ports = any(
        "shipready_container" in getattr(item, "fixturenames", ()) for item in items)
    state.planned = len(ours)  # -k/-m may deselect some: the verdict says so
    # Report them as collected, so "collected N items" and --collect-only count them.
    session.ihook.pytest_collectreport(
        report=pytest.CollectReport("shipready", "passed", None, list(ours))
    )
    # The session container serves the readiness items and the user's tests alike:
    # the items that stop it (graceful-shutdown) and judge its whole log (logs) run last.
    # Deferred items (SR104, SR302) wait on work started earlier: after the other
    # readiness items, so that those overlap with it.
    last = [i for i in ours if isinstance(i, ShipreadyItem) and i.check.runs_last]
    deferred = [i for i in ours if isinstance(i, ShipreadyItem) and i.check.deferred
                and i not in last]
    first = [i for i in ours if i not in last and i not in deferred]
    items[:] = [*first, *deferred, *items, *last]


# --- reporting ------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Any:
    report = yield
    _redact_report(item, report)
    if isinstance(item, ShipreadyItem) and report.skipped and isinstance(report.longrepr,
                                                                        tuple):
        # -rs shows a skip's location: the item, not the line of plugin.py that skipped it.
        report.longrepr = (item.nodeid, None, report.longrepr[2])
    if not isinstance(item, ShipreadyItem):
        return report
    result: dict[str, Any] | None = None
    if call.when == "call" and item.result is not None:
        result = item.result.to_json()
    elif report.failed and call.excinfo is not None:
        # Not a check's verdict but an error (a timeout, a lost engine, a bug; in teardown
        # too, a warning the project's filterwarnings makes an error): it is part of the
        # verdict too, so that a crashed gate is never READY.
        result = _error_result(item, call.excinfo, call.when)
    if result is not None:
        # A plain JSON string survives pytest-xdist's report serialisation.
        if item.phases:
            result["phases"] = dict(item.phases)
        report.shipready = json.dumps({**result, "name": item.check.name,
                                       "area": item.check.area,
                                       "subject": item.check.subject})
        _attach_image(item, report)
    return report


def _redact_report(item: pytest.Item, report: pytest.TestReport) -> None:
    """Mask this run's secret values in any test's report (your own tests' too): the
    failure text, with ``-l`` its locals, and captured output, before the terminal and
    JUnit XML see them. A report without a secret keeps its structure."""
    state = item.config.stash.get(_STATE, None)
    if state is None:
        return
    from .secrets import redact_text

    secrets = state.secrets
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        report.longrepr = (longrepr[0], longrepr[1], redact_text(str(longrepr[2]), secrets))
    elif longrepr is not None and not isinstance(longrepr, tuple):
        text = str(longrepr)
        masked = redact_text(text, secrets)
        if masked != text:
            report.longrepr = masked
    report.sections = [(title, redact_text(content, secrets))
                       for title, content in report.sections]


def _attach_image(item: ShipreadyItem, report: pytest.TestReport) -> None:
    """What the image ships, on the first report after it became known or changed (so it
    reaches the controller under pytest-xdist too)."""
    state = item.config.stash[_STATE]
    source = state.context.image_inventory
    if source is None:
        return
    try:
        image = source()
    except Exception:  # the report must not fail an item; the SBOM says what is missing
        return
    if image is None:
        return
    text = json.dumps(image, sort_keys=True)
    if text != state.image_sent:
        state.image_sent = text
        report.shipready_image = text  # type: ignore[attr-defined]


def _error_result(item: ShipreadyItem, excinfo: pytest.ExceptionInfo[BaseException],
                  when: str = "call") -> dict[str, Any]:
    from .secrets import redact_text

    secrets = item.config.stash[_STATE].secrets
    text = str(excinfo.value).strip().splitlines()
    message = f"{excinfo.typename}: {text[0]}" if text else excinfo.typename
    message = redact_text(message, secrets)
    where = " in teardown" if when == "teardown" else ""
    return {"check_id": item.check.check_id, "status": "error",
            "summary": f"error{where}: {message[:300]}",
            "findings": [{"message": redact_text("\n".join(text[:20]), secrets) or message,
                          "path": None, "line": None,
                          "hint": "The check did not finish: fix the cause and run again; "
                                  "a gate that errors is not ready."}],
            "figures": {}}


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    data = getattr(report, "shipready", None)
    if data is None or report.when != "call":
        return None
    summary = json.loads(data).get("summary", "")
    if report.passed:
        return "passed", ".", (f"PASSED ({summary})" if summary else "PASSED", {"green": True})
    if report.failed:
        return "failed", "F", ("FAILED", {"red": True})
    return None


def _terminal_summary(state: ShipreadyState, terminalreporter: TerminalReporter,
                      interrupted: bool = False) -> None:
    results = state.sorted_results()
    if not results and not state.marked:
        return
    tr = terminalreporter
    tr.section("ship readiness")
    labels = [" › ".join(p for p in (r.get("subject"), r["name"]) if p) for r in results]
    width = max(len(label) for label in labels)
    area = None
    for r, label in zip(results, labels, strict=True):
        if r["area"] != area:
            area = r["area"]
            tr.line(area, bold=True)
        status = r["status"].upper()
        markup = {"PASSED": {"green": True}, "FAILED": {"red": True},
                  "ERROR": {"red": True}}.get(status, {"yellow": True})
        tr.write(f"  {r['check_id']}  {label:<{width}}  ")
        tr.write(f"{status:<7}", **markup)
        tr.line(f"  {r['summary']}")
    from . import report

    # The verdict, counts and notes are the report's, so terminal and files agree.
    document = state.document(interrupted)
    for line, red in report.verdict_lines(document):
        tr.line(line, red=red, green=not red, bold=True)
    for note in report.caveat(document):
        tr.line(f"Note: {note}.", yellow=True)


# --- fixtures for users' own readiness tests (image, smoke) ----------------------------


def _docker_fixture(request: pytest.FixtureRequest, what: str) -> Any:
    state = request.config.stash.get(_STATE, None)
    if state is None:
        pytest.skip("needs pytest --shipready (the image is built only then)")

    from .container import fixtures

    getter = {"image": fixtures.fixture_image, "container": fixtures.fixture_session_container,
              "fresh": fixtures.fixture_fresh_container}[what]
    try:
        return getter(state.settings, state.context)
    except fixtures.FixtureUnavailableError as exc:
        unavailable = exc
    # Outside the except block: the reason once, without "During handling of ...".
    from .secrets import redact_text

    message = redact_text(str(unavailable), state.secrets)
    if unavailable.skip:
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def shipready_image(request: pytest.FixtureRequest) -> Any:
    """The project's image, built once per run (``.ref`` to run it, ``.info``)."""
    return _docker_fixture(request, "image")


@pytest.fixture(scope="session")
def shipready_container(request: pytest.FixtureRequest) -> Any:
    """The session container of the image, ready: ``.exec``, ``.http``, ``.logs``."""
    return _docker_fixture(request, "container")


@pytest.fixture
def shipready_fresh_container(request: pytest.FixtureRequest) -> Any:
    """A new container of the image for this test alone, removed after it."""
    running = _docker_fixture(request, "fresh")
    yield running
    running.container.remove()


# --- fixtures: the lockfile ---------------------------------------------------------


def _fixture_settings(request: pytest.FixtureRequest) -> Settings:
    """This run's settings, or the project's when the run has no --shipready (the lockfile
    and log fixtures work without it); a bad configuration fails the test."""
    from .config import ConfigError, load

    state = request.config.stash.get(_STATE, None)
    if state is not None:
        return state.settings
    try:
        return load(_project_dir(request.config))
    except ConfigError as exc:
        problem = f"pytest-shipready: {exc}"
    pytest.fail(problem, pytrace=False)  # outside except: no "During handling of ..."


@pytest.fixture(scope="session")
def shipready_lockfile(request: pytest.FixtureRequest) -> Any:
    """The project's lockfile, parsed (pip-compile, Poetry, uv or pylock.toml):
    ``.packages()`` -> {name: version} an install from it gives; ``.lock`` the parsed file.
    Needs no Docker, and works without --shipready too."""
    from .locks.discover import NoLockError, find

    settings = _fixture_settings(request)
    try:
        return find(settings)
    except NoLockError as exc:
        unavailable = exc
    if unavailable.skip:
        pytest.skip(str(unavailable))
    pytest.fail(f"shipready_lockfile: {unavailable}", pytrace=False)


# --- fixtures: logs -------------------------------------------------------------------


@pytest.fixture
def shipready_log_capture(request: pytest.FixtureRequest) -> Iterator[LogCapture]:
    """Log events captured through the app's real structlog/logging chain.

    Unlike structlog.testing.capture_logs, the configured processors stay in place: only
    the final renderer (and each stdlib handler's format) is wrapped, so ``.lines`` are
    what the app really writes and ``.events`` the dicts its renderer received. Configure
    the app's logging first (or call ``.attach()`` after re-configuring);
    ``.assert_structured()`` checks the lines with the SR501-SR505 validators.
    """
    from .logs.capture import capture

    # The project's [tool.shipready.logs] (format, key names, ...) for the checks.
    with capture(_fixture_settings(request).config.logs) as cap:
        yield cap
