"""Tests in both places: the outcomes of ``shipready_parity`` tests on the host and in
the container, from their JUnit XML, and what they bring into the container.

Pure apart from reading the host's installed files: no docker, no pytest import.
"""

from __future__ import annotations

import importlib.metadata as md
import io
import re
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from ...checks import CheckResult, Finding, plural

MARKER = "shipready_parity"
JUNIT_MARK = "@@shipready-junit@@"
NESTED_ENV = "PYTEST_SHIPREADY_NESTED"  # set in the host run: --shipready is ignored there
Outcomes = dict[str, tuple[str, str]]  # "tests.test_x::test_y" -> (outcome, message)


@dataclass(frozen=True)
class TestRun:
    """The marked tests' outcomes in one place, or why they could not be collected there
    (a collection error is never counted as a test)."""

    outcomes: Outcomes
    broken: str = ""  # "tests/conftest.py: ModuleNotFoundError: No module named 'x'"


def parse_run(text: str) -> TestRun:
    """A JUnit XML document as a :class:`TestRun`: collection errors apart from tests."""
    outcomes: Outcomes = {}
    broken: list[str] = []
    root = ET.fromstring(text)
    for case in root.iter("testcase"):
        error = case.find("error")
        if error is not None and (error.get("message") or "").startswith("collection failure"):
            lines = [ln for ln in (error.text or "").strip().splitlines() if ln.strip()]
            broken.append(f"{case.get('name') or case.get('classname')}: "
                          f"{lines[-1].strip() if lines else 'collection failure'}")
            continue
        outcomes.update(parse_junit(ET.tostring(case, encoding="unicode")))
    return TestRun(outcomes, "; ".join(broken))


def parse_junit(text: str) -> Outcomes:
    """Test id -> (passed | failed | error | skipped, first line of the message)."""
    out: Outcomes = {}
    root = ET.fromstring(text)
    cases = [root] if root.tag == "testcase" else list(root.iter("testcase"))
    for case in cases:
        key = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = _message(tag, node.get("message") or "", node.text or "")
                break
        out[key] = (outcome, message)
    return out


def _message(tag: str, attribute: str, text: str) -> str:
    """A failure's explanation: pytest's ``E`` lines from the report text (the message
    attribute is cut short by pytest), else the text's last lines; a skip's reason."""
    if tag == "skipped" or not text.strip():
        return attribute.strip()
    lines = text.strip().splitlines()
    explained = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    where = next((ln for ln in reversed(lines) if re.match(r"^\S+:\d+: ", ln)), "")
    shown = explained[:12] or lines[-12:]
    return "\n".join([*shown, where] if where else shown)


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


_SCAN_LIMIT = 5000  # Python files read looking for the marker's name


def marked_files(paths: list[Path], project: Path) -> list[str]:
    """The Python files under ``paths`` (and the conftest.py files above them, up to
    the project) that name the marker, relative to the project: where tests marked
    ``shipready_parity`` can be. Empty: no test is marked, whatever can be collected."""
    found: list[str] = []
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
        here = path.parent if path.is_file() else path
        files.append(here / "conftest.py")
        while here != project and project in here.parents:
            here = here.parent
            files.append(here / "conftest.py")
        files.append(project / "conftest.py")
    seen: set[Path] = set()
    for file in files[:_SCAN_LIMIT]:
        if file in seen or not file.is_file() or "__pycache__" in file.parts:
            continue
        seen.add(file)
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if MARKER in text:
            found.append(file.relative_to(project).as_posix() if project in file.parents
                         else str(file))
    return found


def none_marked(where: str) -> CheckResult:
    """SR404 when no file of the tests names the marker: nothing to run in both places."""
    return CheckResult.skipped(
        "SR404", f"no test is marked {MARKER}: no file in {where} names the marker (mark "
        f"the tests to run on the host and in the image with @pytest.mark.{MARKER})")


def _none_collected(named_in: tuple[str, ...]) -> str:
    if not named_in:
        return f"no tests marked {MARKER}"
    return (f"no test marked {MARKER} was collected, although {', '.join(named_in[:3])} "
            "names the marker (are those files collected: python_files, testpaths?)")


def verdict(host: TestRun | None, container: TestRun, host_skipped: str = "",
            named_in: tuple[str, ...] = ()) -> CheckResult:
    """SR404 from the runs in both places; ``host`` None: not run there (``host_skipped``
    says why), so the container's outcomes alone decide, and the verdict says so.
    ``named_in``: the files that name the marker (:func:`marked_files`)."""
    if host is not None and not host.broken:
        if not host.outcomes:
            return CheckResult.skipped("SR404", _none_collected(named_in))
        if container.broken:
            return CheckResult.failed(
                "SR404", f"{plural(len(host.outcomes), 'marked test')} ran on the host but "
                "cannot be collected in the container",
                [Finding(f"in the container: {container.broken}", None, None,
                         "The image lacks what the tests import (a package, a file): add it "
                         "to the image, or point [tool.shipready.parity] tests at tests that "
                         "need only what the image has.")])
        return compare(host.outcomes, container.outcomes)
    why = host_skipped or f"they cannot be collected on the host: {host.broken if host else ''}"
    if container.broken:
        return CheckResult.skipped(
            "SR404", f"the marked tests cannot be collected in the container "
            f"({container.broken}) and were not run on the host ({why}); point "
            "[tool.shipready.parity] tests at tests whose imports the image has")
    if not container.outcomes:
        return CheckResult.skipped("SR404", _none_collected(named_in))
    bad = {k: v for k, v in container.outcomes.items() if v[0] in ("failed", "error")}
    findings = [Finding(f"{key}: {outcome} in the container"
                        + (f"\n{_indent(message[:800])}" if message else ""), None, None,
                        "Make the image match what the test assumes, or fix the test.")
                for key, (outcome, message) in sorted(bad.items())]
    return CheckResult.from_findings(
        "SR404", findings,
        f"{plural(len(container.outcomes), 'marked test')} passed in the container "
        f"(not run on the host: {why})",
        f"{plural(len(findings), 'marked test')} failed in the container "
        f"(not run on the host: {why})", tests=len(container.outcomes))


def compare(host: Outcomes, container: Outcomes) -> CheckResult:
    if not host:
        return CheckResult.skipped("SR404", f"no tests marked {MARKER}")
    findings: list[Finding] = []
    for key, (outcome, message) in sorted(host.items()):
        there = container.get(key)
        if there is None:
            findings.append(Finding(f"{key}: {outcome} on the host, not run in the "
                                    "container"))
        elif there[0] != outcome:
            detail = "".join(f"\n{where}: {_indent(text[:800])}" for where, text in
                             (("on the host", message), ("in the container", there[1]))
                             if text)
            findings.append(Finding(
                f"{key}: {outcome} on the host, {there[0]} in the container{detail}",
                None, None,
                "Make the image match what the tests assume (packages, files, env), "
                "or fix the test's assumption about its environment."))
    return CheckResult.from_findings(
        "SR404", findings, f"{plural(len(host), 'test')} with the same outcome in both places",
        f"{plural(len(findings), 'test')} {'differs' if len(findings) == 1 else 'differ'} "
        "between the host and the container",
        tests=len(host))


def pytest_closure() -> list[str]:
    """The distributions pytest needs here (pytest included), for this interpreter."""
    seen: list[str] = []
    todo = ["pytest"]
    while todo:
        name = todo.pop()
        if name.lower() in (s.lower() for s in seen):
            continue
        seen.append(name)
        for raw in md.requires(name) or []:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                md.distribution(req.name)
            except md.PackageNotFoundError:
                continue
            todo.append(req.name)
    return seen


def _top_level(dist: md.Distribution) -> set[str]:
    names: set[str] = set()
    for f in dist.files or []:
        first = f.parts[0]
        if first.endswith((".dist-info", ".egg-info")) or first in ("..", "__pycache__"):
            continue
        if len(f.parts) == 1 and not first.endswith(".py"):
            continue
        names.add(first)
    return names


def bundle(tests: list[Path], project: Path, prefix: str) -> bytes:
    """A tar of the tests (relative to the project) under ``prefix/``, and pytest with
    its dependencies under ``prefix/lib/`` (appended to sys.path after the image's own
    packages, so they never shadow them)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(path: Path, arcname: str) -> None:
            tar.add(str(path), arcname=arcname, recursive=True,
                    filter=lambda ti: None if "__pycache__" in ti.name
                    or ti.name.endswith(".pyc") else _readable(ti))
        for test in tests:
            add(test, f"{prefix}/{test.relative_to(project).as_posix()}")
        for name in pytest_closure():
            dist = md.distribution(name)
            base = Path(str(dist.locate_file("")))
            for top in sorted(_top_level(dist)):
                if (base / top).exists():
                    add(base / top, f"{prefix}/lib/{top}")
    return buf.getvalue()


def _readable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode |= 0o755 if info.isdir() else 0o644
    return info


def runner(prefix: str, xml: str, paths: list[str]) -> str:
    """The Python code run in the container: pytest from ``prefix/lib``, last on sys.path."""
    args = ["-m", MARKER, "-p", "no:cacheprovider", "-q", f"--junitxml={xml}",
            f"--rootdir={prefix}", "-W", "ignore::pytest.PytestUnknownMarkWarning", *paths]
    return (f"import sys; sys.path.append({prefix + '/lib'!r}); import pytest; "
            f"code = pytest.main({args!r}); print({JUNIT_MARK!r}); import os; "
            f"os.path.exists({xml!r}) and print(open({xml!r}).read()); "
            "sys.exit(0 if code in (0, 1) else code)")
