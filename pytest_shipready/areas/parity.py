"""The parity area: SR401 python, SR402 packages, SR403 environment.

One exec of :data:`parity.PROBE` in the session container gathers what the image holds;
the comparison itself is :mod:`pytest_shipready.parity`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import parity, piplock
from ..findings import CheckResult, Finding
from ..plan import PlannedCheck
from .smoke import smoke_run

if TYPE_CHECKING:
    from .image import DockerRun


def _lock(run: DockerRun) -> piplock.PipLock | str:
    """The lock the image must match, or why there is none to compare with."""
    project = run.settings.project
    cfg = run.settings.config.parity
    if cfg.lockfile:
        paths = [project / cfg.lockfile]
    elif run.settings.config.lockfile.paths:
        paths = [project / p for p in run.settings.config.lockfile.paths]
    else:
        paths = piplock.discover(project)
    if not paths:
        return "no lockfile to compare with (see shipready::lockfile)"
    if len(paths) > 1:
        names = ", ".join(piplock.display_path(p, project) for p in paths)
        return f"several lockfiles ({names}): name the image's in [tool.shipready.parity] " \
            "lockfile"
    lock = piplock.load(paths[0], project)
    if lock.error is not None:
        return f"{lock.display} cannot be parsed (see shipready::lockfile)"
    return lock


class ParityRun:
    def __init__(self, run: DockerRun) -> None:
        self.run = run
        self._facts: parity.ImageFacts | CheckResult | None = None

    def facts(self) -> parity.ImageFacts | CheckResult:
        """What the image holds (one exec of the probe), gathered once per run."""
        if self._facts is None:
            self._facts = self._probe()
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
        configured = self.run.settings.config.parity.python
        tried: list[str] = []
        for python in ([configured] if configured else ["python3", "python"]):
            code, output = running.exec([python, "-c", parity.PROBE])
            if code == 0:
                try:
                    return parity.parse_probe(output)
                except ValueError as exc:
                    tried.append(f"{python}: {exc}")
                    continue
            tried.append(f"{python}: exit code {code}: {output.strip()[-300:]}")
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
        lock = _lock(self.run)
        host = f"{sys.version_info[0]}.{sys.version_info[1]}" \
            if self.run.settings.config.parity.host_python else None
        if isinstance(lock, str):
            return parity.check_python(facts.python, None, "", host)
        return parity.check_python(facts.python, lock.header.python, lock.display, host)

    def packages(self) -> CheckResult:
        facts = self._facts_for("SR402")
        if isinstance(facts, CheckResult):
            return facts
        lock = _lock(self.run)
        if isinstance(lock, str):
            return CheckResult.skipped("SR402", lock)
        return parity.check_packages(facts, lock, self.run.settings.config.parity.allow_extra)

    def environment(self) -> CheckResult:
        required = self.run.settings.config.parity.required_env
        if not required:
            return parity.check_environment((), {})
        facts = self._facts_for("SR403")
        if isinstance(facts, CheckResult):
            return facts
        return parity.check_environment(required, facts.env)


    def tests(self) -> CheckResult:
        from .. import testparity

        project = self.run.settings.project
        cfg = self.run.settings.config.parity
        paths = [project / p for p in cfg.tests if (project / p).exists()]
        if not paths:
            return CheckResult.skipped("SR404", f"no {', '.join(cfg.tests)} in the project "
                                       "([tool.shipready.parity] tests)")
        running, gate = smoke_run(self.run).session("SR404")
        if running is None:
            assert gate is not None
            return CheckResult.skipped("SR404", gate.summary) if gate.check_id == "SR301" \
                else gate
        host = _host_outcomes(project, paths, cfg.tests_timeout)
        if isinstance(host, CheckResult):
            return host
        if not host:
            return testparity.compare({}, {})
        from .. import engine

        prefix = "shipready-parity"
        try:
            running.container.put_archive("/tmp", testparity.bundle(paths, project, prefix))
        except engine.EngineError as exc:
            return CheckResult.failed("SR404", "cannot copy the tests into the container",
                                      [Finding(str(exc))])
        inside = [f"/tmp/{prefix}/{p.relative_to(project).as_posix()}" for p in paths]
        code = testparity.runner(f"/tmp/{prefix}", f"/tmp/{prefix}-junit.xml", inside)
        python = cfg.python or "python3"
        status, output = running.exec([python, "-c", code])
        _, mark, xml = output.partition(testparity.JUNIT_MARK)
        if not mark:
            return CheckResult.failed(
                "SR404", "pytest did not run in the container",
                [Finding(f"exit code {status}: {output.strip()[-1500:]}", None, None,
                         "The image's Python must be able to run pytest "
                         "(it is brought in, pure Python).")])
        container = testparity.parse_junit(xml.strip())
        return testparity.compare(host, container)


def _host_outcomes(project: Path, paths: list[Path], timeout: float
                   ) -> dict[str, tuple[str, str]] | CheckResult:
    import os
    import subprocess
    import tempfile

    from .. import testparity

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
        if proc.returncode == 5 or not xml.is_file():
            if proc.returncode in (0, 1, 5):
                return {}
            return CheckResult.failed("SR404", "the host run of the tests failed to start",
                                      [Finding(proc.stdout[-1500:] + proc.stderr[-500:])])
        return testparity.parse_junit(xml.read_text(encoding="utf-8"))


def plan(run: DockerRun, path: Path | None) -> list[PlannedCheck]:
    p = ParityRun(run)
    return [
        PlannedCheck("parity", None, "SR401", "python", path, p.python),
        PlannedCheck("parity", None, "SR402", "packages", path, p.packages),
        PlannedCheck("parity", None, "SR403", "environment", path, p.environment),
        PlannedCheck("parity", None, "SR404", "tests", path, p.tests),
    ]
