"""The parity area: SR401 python, SR402 packages, SR403 environment.

One exec of :data:`parity.PROBE` in the session container gathers what the image holds;
the comparison itself is :mod:`pytest_shipready.parity`.
"""

from __future__ import annotations

import dataclasses
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...checks import CheckResult, Finding, PlannedCheck
from ...dockerfile import hygiene
from ...locks import discover, inputs, model, pipcompile
from ...locks import selection as lockselect
from ..run.smokerun import smoke_run
from . import parity, testparity

if TYPE_CHECKING:
    from ..build.image import DockerRun


@dataclass(frozen=True)
class ImageLock:
    """The lock the image must match, and (Poetry/uv/pylock) the part of it installed."""

    lock: pipcompile.PipLock | model.ToolLock
    selection: lockselect.Selection


def _installs(run: DockerRun, known: list[hygiene.KnownLock]) -> list[hygiene.LockInstall]:
    """The image's installs from known locks, read off its Dockerfile."""
    if not run.dockerfile.is_file():
        return []
    df = run.parsed()  # with the build args: they decide the shell conditions
    if hygiene.problems(df, run.cfg.target):
        return []  # SR201 / the build report it
    return hygiene.lock_installs(df, known, run.cfg.target)


def _not_run(run: DockerRun) -> str:
    """The installs a shell condition keeps from running in this build, told (see
    hygiene.not_run_note); empty when there is none."""
    if not run.dockerfile.is_file():
        return ""
    df = run.parsed()
    if hygiene.problems(df, run.cfg.target):
        return ""
    from ...dockerfile.installs import install_steps

    return hygiene.not_run_note(install_steps(df, df.needed(df.target(
        run.cfg.target or None) or df.stages[-1])))


def _selection(run: DockerRun, lock: model.ToolLock,
               installs: list[hygiene.LockInstall]) -> lockselect.Selection:
    cfg = run.settings.config.parity
    install = next((i for i in installs if i.lock.path == lock.display), None)
    step = install.selecting if install else None
    if install is not None and step is not None and step.tool in ("poetry", "uv") \
            and step.verb:
        text = step.described if len(step.described) <= 90 else step.described[:87] + "..."
        members = [model.read_pyproject(lock, m)[0] or {} for m in lock.member_pyprojects()]
        # uv in a member's directory syncs that member (without --package)
        member = lockselect.member_at(lock, step.workdir, install.lock_dir) \
            if step.tool == "uv" else None
        inside = f" in {step.workdir}" if member else ""
        inferred = lockselect.from_command(step.tool, step.verb, step.options,
                                           model.read_pyproject(lock)[0] or {},
                                           f"per {run.display}:{step.line} `{text}`{inside}",
                                           members, member)
    else:
        inferred = lockselect.runtime_only(
            f"no poetry/uv install of {lock.display} found in {run.display}")
    return lockselect.configured(cfg.groups, cfg.extras, inferred,
                                 "per [tool.shipready.parity] groups/extras")


def _lock(run: DockerRun) -> list[ImageLock] | str:
    """The locks the image must match (one, or several it installs together: compared
    with their union), or why there is none to compare with."""

    project = run.settings.project
    cfg = run.settings.config.parity
    known = hygiene.known_locks(run.settings)
    installs = _installs(run, known)
    if cfg.lockfiles:
        paths = [project / p for p in cfg.lockfiles]
    elif not known:
        return "no lockfile to compare with (see shipready::lockfile)"
    elif len(known) == 1:
        paths = [project / known[0].path]
    else:
        used = list(dict.fromkeys(i.lock.path for i in installs))
        if not used:
            names = ", ".join(k.path for k in known)
            return (f"several lockfiles ({names}) and {run.display} installs from none "
                    "of them: name the image's in [tool.shipready.parity] lockfile")
        paths = [project / p for p in used]
    found: list[ImageLock] = []
    for path in paths:
        lock = discover.load_any(path, project, run.settings.scope)
        if lock.error is not None:
            return f"{lock.display} cannot be parsed (see shipready::lockfile)"
        if isinstance(lock, pipcompile.PipLock):
            found.append(ImageLock(lock, lockselect.runtime_only("")))
        else:
            found.append(ImageLock(lock, _selection(run, lock, installs)))
    return found


def _project_names(project: Path) -> frozenset[str]:
    """The project's own distribution name(s), from its pyproject.toml ([project] name,
    [tool.poetry] name): what `pip install .` / `poetry install` put in the image."""
    import tomllib

    from packaging.utils import canonicalize_name

    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return frozenset()
    names = [data.get("project", {}).get("name"),
             data.get("tool", {}).get("poetry", {}).get("name")]
    return frozenset(str(canonicalize_name(n)) for n in names if isinstance(n, str) and n)


def _marker_env(facts: parity.ImageFacts, lock: pipcompile.PipLock | model.ToolLock
                ) -> dict[str, str]:
    """The image's PEP 508 marker environment (from the probe), so that platform and
    Python markers are judged as in the image, not on this host."""
    if facts.markers:
        return dict(facts.markers)
    header = lock.header.python if isinstance(lock, pipcompile.PipLock) else None
    return pipcompile.marker_environment(header or parity.minor(facts.python))


class ParityRun:
    def __init__(self, run: DockerRun) -> None:
        self.run = run
        self._facts: parity.ImageFacts | CheckResult | None = None
        self._lock: list[ImageLock] | str | None = None

    def lock(self) -> list[ImageLock] | str:
        """The lock to compare with (read once per run), or why there is none."""
        if self._lock is None:
            self._lock = _lock(self.run)
        return self._lock

    def facts(self) -> parity.ImageFacts | CheckResult:
        """What the image holds (one exec of the probe), gathered once per run."""
        if self._facts is None:
            self._facts = self._probe()
        return self._facts

    @property
    def probed(self) -> parity.ImageFacts | CheckResult | None:
        """What the probe gathered, if it ran (it is not started here)."""
        return self._facts

    def _probe(self) -> parity.ImageFacts | CheckResult:
        check_id = "SR401"
        running, gate = smoke_run(self.run).session(check_id)
        if running is None:
            assert gate is not None
            if gate.check_id == "SR301":  # a failure of ready: skip here, it is reported
                return CheckResult.skipped(
                    check_id, "the container did not become ready (see "
                    "shipready::smoke::ready)")
            return gate
        command = tuple(self.run.settings.config.smoke.command) or running.info.command
        tried: list[str] = []
        code, listing = running.exec(["sh", "-c", parity.PROCESSES])
        live = parity.running_interpreters(listing) if code == 0 else []
        for python in parity.interpreters(command, {**running.info.env, **running.env},
                                          self.run.settings.config.parity.python, live):
            status, output = running.exec_answered([python, "-c", parity.PROBE],
                                                   lambda c, out: c != 0 or _probed(out))
            if status == 0:
                try:
                    return parity.parse_probe(output)
                except ValueError as exc:
                    tried.append(f"{python}: {exc}")
                    continue
            tried.append(f"{python}: exit code {status}: {output.strip()[-300:]}")
        return CheckResult.failed(
            check_id, "cannot run the image's Python",
            [Finding("; ".join(tried), None, None,
                     "Set [tool.shipready.parity] python to the image's interpreter.")])

    def _facts_for(self, check_id: str) -> parity.ImageFacts | CheckResult:
        got = self.facts()
        if isinstance(got, CheckResult):
            if got.status.value == "failed":
                return CheckResult(check_id, got.status, got.summary, got.findings)
            return CheckResult.skipped(check_id, got.summary)
        return got

    def python(self) -> CheckResult:
        facts = self._facts_for("SR401")
        if isinstance(facts, CheckResult):
            return facts
        found = self.lock()
        host = f"{sys.version_info[0]}.{sys.version_info[1]}" \
            if self.run.settings.config.parity.host_python else None
        if isinstance(found, str):
            return parity.check_python_locks(facts.python, [], host, found)
        locks: list[parity.LockPython] = []
        for item in found:
            lock = item.lock
            if isinstance(lock, pipcompile.PipLock):
                locks.append(parity.LockPython(lock.display, lock.header.python))
            else:
                locks.append(parity.LockPython(lock.display, None,
                                               inputs.requires_python(lock)))
        return parity.check_python_locks(facts.python, locks, host)

    def packages(self) -> CheckResult:
        facts = self._facts_for("SR402")
        if isinstance(facts, CheckResult):
            return facts
        found = self.lock()
        if isinstance(found, str):
            return CheckResult.skipped("SR402", found)
        each: list[parity.Expected] = []
        for item in found:
            env = _marker_env(facts, item.lock)
            if isinstance(item.lock, pipcompile.PipLock):
                each.append(parity.expected_from_piplock(item.lock, env))
                continue
            try:
                each.append(parity.expected_from_toollock(item.lock, env, item.selection))
            except model.LockError as exc:
                return CheckResult.skipped("SR402", f"cannot tell what the image should "
                                           f"hold: {exc.message}")
        expected = parity.union(each, _project_names(self.run.settings.project))
        result = parity.check_packages(facts, expected,
                                       self.run.settings.config.parity.allow_extra)
        note = _not_run(self.run)
        return dataclasses.replace(result, summary=result.summary + note) if note \
            else result

    def environment(self) -> CheckResult:
        required = self.run.settings.config.parity.required_env
        if not required:
            return parity.check_environment((), {})
        facts = self._facts_for("SR403")
        if isinstance(facts, CheckResult):
            return facts
        return parity.check_environment(required, facts.env)


    def tests(self) -> CheckResult:
        project = self.run.settings.project
        cfg = self.run.settings.config.parity
        paths = [project / p for p in cfg.tests if (project / p).exists()]
        if not paths:
            return CheckResult.skipped("SR404", "no " + " or ".join(
                t if t.endswith(".py") else f"{t.rstrip('/')}/ directory" for t in cfg.tests)
                + " ([tool.shipready.parity] tests = [...] names where the tests marked "
                "shipready_parity are)")
        # Before any run: with no file naming the marker, no test is marked (and a
        # collection error in those files is not "the marked tests cannot be collected").
        named_in = tuple(testparity.marked_files(paths, project))
        if not named_in:
            return testparity.none_marked(", ".join(
                p.relative_to(project).as_posix() + ("/" if p.is_dir() else "")
                for p in paths))
        running, gate = smoke_run(self.run).session("SR404")
        if running is None:
            assert gate is not None
            return CheckResult.skipped("SR404", gate.summary) if gate.check_id == "SR301" \
                else gate
        host: testparity.TestRun | None = None
        host_skipped = ""
        if self.run.readiness_only:
            host_skipped = "--shipready-only"
        else:
            found = _host_outcomes(project, paths, cfg.tests_timeout)
            if isinstance(found, CheckResult):
                return found
            host = found
            if not host.broken and not host.outcomes:
                return testparity.verdict(host, testparity.TestRun({}), named_in=named_in)
        from .. import engine

        prefix = "shipready-parity"
        try:
            running.container.put_archive("/tmp", testparity.bundle(paths, project, prefix))
        except engine.EngineError as exc:
            return CheckResult.failed("SR404", "cannot copy the tests into the container",
                                      [Finding(str(exc))])
        inside = [f"/tmp/{prefix}/{p.relative_to(project).as_posix()}" for p in paths]
        code = testparity.runner(f"/tmp/{prefix}", f"/tmp/{prefix}-junit.xml", inside)
        facts = self.facts()  # the interpreter parity found is the one the app runs
        python = cfg.python or (facts.executable if isinstance(facts, parity.ImageFacts)
                                and facts.executable else "python3")
        with self.run.context.phases.phase("tests-in-image", "running the tests marked "
                                           "shipready_parity in the container") as phase:
            status, output = running.exec([python, "-c", code])
            phase.end = "tests in the container: done"
        _, mark, xml = output.partition(testparity.JUNIT_MARK)
        if not mark:
            return CheckResult.failed(
                "SR404", "pytest did not run in the container",
                [Finding(f"exit code {status}: {output.strip()[-1500:]}", None, None,
                         "The image's Python must be able to run pytest "
                         "(it is brought in, pure Python).")])
        try:
            container = testparity.parse_run(xml.strip())
        except ET.ParseError:  # no JUnit XML: pytest stopped before collecting (conftest)
            errors = [ln.strip() for ln in output.splitlines() if "Error" in ln]
            errors.sort(key=lambda ln: "No module named" in ln)  # the cause, when named
            container = testparity.TestRun(
                {}, errors[-1][:300] if errors else f"pytest exited {status}: "
                f"{output.strip()[-300:]}")
        return testparity.verdict(host, container, host_skipped, named_in)


def _host_outcomes(project: Path, paths: list[Path], timeout: float
                   ) -> testparity.TestRun | CheckResult:
    import os
    import subprocess
    import tempfile

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID")}
    env[testparity.NESTED_ENV] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "host.xml"
        argv = [sys.executable, "-m", "pytest", "-m", testparity.MARKER, "-p",
                "no:cacheprovider", "-q", f"--junitxml={xml}", f"--rootdir={project}",
                *[str(p) for p in paths]]
        try:
            proc = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return CheckResult.failed("SR404", f"the host run took over {timeout:.0f} s",
                                      [Finding(" ".join(argv))])
        if proc.returncode == 5:
            return testparity.TestRun({})
        if not xml.is_file():
            # A conftest.py that cannot be imported (exit 4): no test ran, none is counted.
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
            return testparity.TestRun({}, "; ".join(lines[-3:])[-500:] or
                                      f"pytest exited {proc.returncode}")
        return testparity.parse_run(xml.read_text(encoding="utf-8"))


def plan(run: DockerRun, path: Path | None, p: ParityRun | None = None,
         before_tests: list[PlannedCheck] | None = None) -> list[PlannedCheck]:
    """The parity items; ``before_tests``: items that share this run's facts (the
    integrity checks), placed before SR404 copies the tests into the container."""
    p = p or ParityRun(run)
    return [
        PlannedCheck("parity", None, "SR401", "python", path, p.python),
        PlannedCheck("parity", None, "SR402", "packages", path, p.packages),
        PlannedCheck("parity", None, "SR403", "environment", path, p.environment),
        *(before_tests or []),
        PlannedCheck("parity", None, "SR404", "tests", path, p.tests),
    ]


def _probed(output: str) -> bool:
    """The probe's answer is there (its JSON line)."""
    try:
        parity.parse_probe(output)
    except ValueError:
        return False
    return True
