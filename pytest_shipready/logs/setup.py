"""SR510: does the app's logging setup render structlog *and* stdlib records structured?

The setup function (``[tool.shipready.logs] setup = "app.logconfig:configure"``, or one
found by convention) runs in a fresh Python subprocess started in the project directory,
so neither the app's import nor its global logging configuration leaks into the test
session. After calling it, the subprocess logs a few probe records: a structlog warning
and exception, and a warning and exception from a plain ``logging.getLogger`` logger (as a
library would). Its stdout and stderr are then checked with :mod:`.logcheck`.

No pytest, no docker, no structlog import here (the subprocess imports the app's).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..checks import CheckResult, Finding, ImageRunner, NoContainerLogs, Status, plural
from ..config import LogsConfig
from .lines import CHECKS as LOG_CHECKS
from .lines import Analysis, analyse, split_lines

MODULE_NAMES = ("logconfig", "logging_config", "log_config", "logsetup", "logging_setup")
FUNCTION_NAMES = ("configure", "configure_logging", "setup_logging")
STRUCTLOG_EVENT = "shipready-probe-structlog"
STDLIB_MESSAGE = "shipready-probe-stdlib record"
RESULT_MARK = b"@@shipready-setup-result@@"

# Runs as ``python -c PROBE module function result.json`` in the project directory.
PROBE = r'''
import importlib, json, logging, sys, traceback
module_name, function_name, result_path = sys.argv[1:4]

def report(**data):
    if result_path == "-":  # in the container: after the output, behind a marker
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:
                pass
        import os
        os.write(1, ("\n" + "@@shipready-setup-result@@" + json.dumps(data) + "\n").encode())
        return
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(data, f)

try:
    setup = getattr(importlib.import_module(module_name), function_name)
except BaseException as exc:
    report(stage="import", error=f"{type(exc).__name__}: {exc}")
    sys.exit(3)
try:
    setup()
except BaseException as exc:
    report(stage="call", error=f"{type(exc).__name__}: {exc}",
           where=traceback.format_exc(limit=-1).strip().splitlines()[-3:])
    sys.exit(3)
# structlog is probed only when the app's setup imported it: the plugin itself depends on
# structlog, so that it is importable says nothing about the app.
structlog = sys.modules.get("structlog")
configured = bool(structlog is not None and structlog.is_configured())
if structlog is not None:
    log = structlog.get_logger("shipready.probe")
    log.warning("shipready-probe-structlog", probe="structlog")
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("shipready-probe-structlog-exception")
library = logging.getLogger("shipready.probe.library")
library.warning("shipready-probe-stdlib %s", "record")
try:
    1 / 0
except ZeroDivisionError:
    library.exception("shipready-probe-stdlib-exception")
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
report(stage="done", structlog=structlog is not None, configured=configured)
'''


@dataclass(frozen=True)
class Setup:
    target: str  # "app.logconfig:configure"
    how: str  # "configured" or "found app/logconfig.py"


def _defines(path: Path, names: tuple[str, ...]) -> str | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return next((n for n in names if n in defined), None)


def discover(project: Path) -> Setup | None:
    """The conventional logging setup: ``<package>/logconfig.py:configure`` and kin."""
    roots = [project, project / "src"]
    for root in roots:
        if not root.is_dir():
            continue
        packages = sorted(p for p in root.iterdir()
                          if p.is_dir() and (p / "__init__.py").is_file())
        for base, prefix in [(root, ""), *((p, p.name + ".") for p in packages)]:
            for module in MODULE_NAMES:
                path = base / f"{module}.py"
                function = _defines(path, FUNCTION_NAMES) if path.is_file() else None
                if function:
                    shown = path.relative_to(project).as_posix()
                    return Setup(f"{prefix}{module}:{function}", f"found {shown}")
    return None


def where_looked() -> str:
    return (f"looked for {'/'.join(f + '()' for f in FUNCTION_NAMES)} in "
            f"{', '.join(m + '.py' for m in MODULE_NAMES)}, at the top of the project, "
            "src/ and their packages")


def resolve(project: Path, cfg: LogsConfig) -> Setup | None:
    if cfg.setup:
        return Setup(cfg.setup, "configured")
    return discover(project)


@dataclass(frozen=True)
class SetupRun:
    stdout: bytes
    stderr: bytes
    result: dict[str, object]
    returncode: int | None  # None: timed out


def run_setup(project: Path, target: str, timeout: float) -> SetupRun:
    module, _, function = target.partition(":")
    env = dict(os.environ)
    paths = [str(project)] + ([str(project / "src")] if (project / "src").is_dir() else [])
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONWARNINGS="ignore",
               PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    with tempfile.TemporaryDirectory(prefix="shipready-logsetup-") as tmp:
        result_path = Path(tmp) / "result.json"
        try:
            proc = subprocess.run(
                [sys.executable, "-c", PROBE, module.strip(), function.strip(),
                 str(result_path)],
                cwd=project, env=env, capture_output=True, timeout=timeout, check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            return SetupRun(_as_bytes(exc.stdout), _as_bytes(exc.stderr), {}, None)
        try:
            result = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            result = {}
    return SetupRun(proc.stdout, proc.stderr, result if isinstance(result, dict) else {},
                    proc.returncode)


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else data


def _tail(data: bytes, lines: int = 5) -> str:
    text = data.decode("utf-8", "replace").strip().splitlines()[-lines:]
    return "\n".join(text) or "(nothing)"


def run_in_image(in_image: ImageRunner, target: str, timeout: float
                 ) -> tuple[SetupRun, tuple[str, ...]] | str:
    """The probe run in the session container, with the container's environment; or why
    it could not run there (no container, no Python, the setup not in the image)."""
    module, _, function = target.partition(":")
    try:
        ran = in_image(["-B", "-W", "ignore", "-c", PROBE, module.strip(), function.strip(),
                        "-"], timeout)
    except NoContainerLogs as exc:
        return str(exc)
    output, mark, tail = ran.output.rpartition(RESULT_MARK)
    if not mark:
        output = ran.output
    try:
        result = json.loads(tail.decode("utf-8", "replace")) if mark else {}
    except ValueError:
        result = {}
    if not isinstance(result, dict):
        result = {}
    if ran.code is not None and not result and ran.code in (126, 127):
        return f"the image's Python did not start: {_tail(ran.output, 2)}"
    if result.get("stage") == "import":
        return f"{module} cannot be imported in the image ({result.get('error')})"
    return SetupRun(output.removesuffix(b"\n"), b"", result, ran.code), ran.environment


def check_setup(project: Path, cfg: LogsConfig, in_image: ImageRunner | None = None
                ) -> CheckResult:
    """SR510 on ``project``: run its logging setup in a subprocess and check the output;
    with ``in_image``, also in the session container, whose verdict is the one that
    counts (the image runs the app with the container's environment)."""
    setup = resolve(project, cfg)
    if setup is None:
        return CheckResult.skipped(
            "SR510", f"no logging setup found ({where_looked()}); name it in "
            '[tool.shipready.logs] setup = "module:function"')
    host = judge(run_setup(project, setup.target, cfg.setup_timeout), setup, cfg,
                 str(project), "output")
    if in_image is None:
        return host
    ran = run_in_image(in_image, setup.target, cfg.setup_timeout)
    if isinstance(ran, str):
        return dataclasses.replace(host, summary=f"{host.summary}; run on the host only: "
                                   f"{ran}")
    inside_run, names = ran
    where = " in the session container" + (
        f" (with its environment: {', '.join(names[:6])}{', ...' if len(names) > 6 else ''})"
        if names else ", with its environment")
    inside = judge(inside_run, setup, cfg, "the session container", "output in the container",
                   where)
    if host.status == inside.status:
        return inside
    shown = host.summary.removeprefix(f"{setup.target}: ").split("; ")[0]
    return dataclasses.replace(inside, summary=(
        f"{inside.summary}; on the host, without that environment, it "
        f"{_VERB[host.status]}: {shown}"))


_VERB = {Status.PASSED: "passes", Status.FAILED: "fails", Status.SKIPPED: "is skipped"}


def judge(run: SetupRun, setup: Setup, cfg: LogsConfig, path: str, output: str,
          where: str = "") -> CheckResult:
    """SR510's verdict on one run of the probe (``path``: where it ran, for findings;
    ``where``: the same, for the summary)."""
    hint_target = f"setup = {setup.target!r} ({setup.how})"
    stage = run.result.get("stage")
    if run.returncode is None:
        return CheckResult.failed("SR510", f"{setup.target}{where} did not finish within "
                                  f"{cfg.setup_timeout:g} s", [Finding(
                                      f"output so far:\n{_tail(run.stdout + run.stderr)}",
                                      path, None,
                                      "The setup function must configure logging and "
                                      "return, not start the service.")])
    if stage in ("import", "call") or stage != "done":
        what = {"import": "cannot be imported", "call": "raised"}.get(
            str(stage), f"crashed (exit status {run.returncode})")
        error = str(run.result.get("error") or _tail(run.stderr or run.stdout))
        return CheckResult.failed("SR510", f"the logging setup {setup.target} {what}{where}", [
            Finding(error, path, None,
                    f"{hint_target}: it must be importable from the project directory "
                    "and callable without arguments; fix it or set "
                    "[tool.shipready.logs] setup.")])
    lines = split_lines(run.stdout) + split_lines(run.stderr)
    analysis = analyse(lines, cfg, {}, source=f"{setup.target} {output}")
    for line in analysis.lines:  # the probe's own loggers: where they came from is known
        line.origin, line.server = None, False
    return evaluate(analysis, setup, with_structlog=bool(run.result.get("structlog")),
                    structlog_configured=bool(run.result.get("configured", True)),
                    where=where)


def evaluate(analysis: Analysis, setup: Setup, with_structlog: bool,
             structlog_configured: bool = True, where: str = "") -> CheckResult:
    """SR510's verdict on the probe output: the probes appear, structured, and pass.
    ``with_structlog``: the setup imported structlog, so its event was probed too."""
    findings: list[Finding] = []
    source = analysis.source
    cfg = analysis.config
    probes = [("the stdlib logging record", STDLIB_MESSAGE)]
    if with_structlog:
        probes.insert(0, ("the structlog event", STRUCTLOG_EVENT))
    problems: list[str] = []
    for what, marker in probes:
        lines = [ln for ln in analysis.lines if ln.text is not None and marker in ln.text]
        if not lines:
            problems.append(f"{what} is missing")
            findings.append(Finding(
                f"{what} ({marker!r}, level warning) never appeared on stdout or stderr",
                source, None,
                "The setup must leave a handler that writes WARNING records (also from "
                "other libraries' loggers) to stdout or stderr."))
        elif all(ln.fields is None for ln in lines):
            problems.append(f"{what} is not structured")
            ln = lines[0]
            # Another format than the configured one is not "plain text": say which.
            shape = "JSON" if ln.shown.lstrip().startswith("{") else "plain text"
            if cfg.format == "json" or shape != "JSON":
                came = f"came out as {shape}"
            else:
                came = f"came out as JSON, not {cfg.format}"
            if "stdlib" in what:
                how = stdlib_hint(cfg.format)
            elif not structlog_configured:
                how = ("The setup imports structlog but never calls structlog.configure(), "
                       "so structlog's loggers use its development ConsoleRenderer; "
                       "configure it (see docs/logs.md).")
            else:
                how = ""
            findings.append(Finding(f"{what} {came}: {ln.shown}", source, ln.number, how))
    failed_checks: list[str] = []
    for check_id, check in LOG_CHECKS.items():
        result = check(analysis)
        if result.status != Status.FAILED:
            continue
        failed_checks.append(f"{check_id} {result.summary}")
        hint = True
        for finding in result.findings:
            if any(f.line == finding.line and f.line is not None for f in findings):
                continue
            findings.append(Finding(f"[{check_id}] {finding.message}", finding.path,
                                    finding.line, finding.hint if hint else ""))
            hint = False  # once per check is enough
    total = len(analysis.content)
    if findings:
        summary = "; ".join(problems + failed_checks) or "output not structured"
        return CheckResult.failed("SR510", f"{setup.target}{where}: {summary}", findings,
                                  lines=total)
    kinds = "structlog and stdlib records" if with_structlog else "stdlib records"
    not_probed = "" if with_structlog else (
        "; structlog not probed: the setup does not import it")
    return CheckResult.passed(
        "SR510", f"{setup.target}: {kinds} render structured ({plural(total, 'line')})"
        f"{where}{not_probed}", lines=total)


_RENDERERS = {"json": "JSONRenderer()", "logfmt": "LogfmtRenderer()",
              "keyvalue": "KeyValueRenderer()"}


def stdlib_hint(fmt: str) -> str:
    """How to make stdlib records come out in the configured format."""
    return ("Give the root logger a handler whose formatter is "
            "structlog.stdlib.ProcessorFormatter (foreign_pre_chain=[add_log_level, "
            "TimeStamper(fmt='iso', utc=True), ...], processors=["
            "ProcessorFormatter.remove_processors_meta, dict_tracebacks, "
            f"{_RENDERERS.get(fmt, 'JSONRenderer()')}]) instead of logging.basicConfig's "
            "plain format; see docs/logs.md.")
