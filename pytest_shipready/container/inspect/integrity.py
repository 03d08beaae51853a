"""In-image integrity: SR405 pip-check, SR406 imports, SR407 single-install.

SR405 and SR407 judge what the parity probe already gathered (each distribution's
Requires-Dist, and every copy of every distribution with its directory): no extra exec.
SR406 runs one exec of :data:`IMPORTS` with the interpreter parity chose, in the session
container (its working directory, user and environment), and imports the project's
top-level modules and console entry points there.

The verdicts are pure functions of plain data; :class:`IntegrityRun` and :func:`plan` wire
them to the parity run's facts and the session container.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ...checks import CheckResult, Finding, PlannedCheck, plural
from ...dockerfile import command as start
from ...dockerfile import uwsgi
from ...dockerfile.installs import BOOTSTRAP, PYTHON_NAME
from ...locks import model, pipcompile
from .parity import ImageFacts

if TYPE_CHECKING:
    from pathlib import Path

    from ..build.image import DockerRun
    from ..run.smokerun import RunningContainer, SmokeRun
    from .parityrun import ParityRun

_IGNORE_HINT = "or add it to [tool.shipready.integrity] ignore"


# --- SR405 pip-check --------------------------------------------------------------------


def check_requirements(facts: ImageFacts, ignore: Collection[str] = ()) -> CheckResult:
    """What ``pip check`` reports, from the probe's metadata: every requirement of an
    installed distribution whose marker holds in the image (no extra requested) is
    installed, at a version its specifier allows (pre-releases included, as pip does)."""
    skip = {str(canonicalize_name(n)) for n in ignore}
    env = {**facts.markers, "extra": ""}
    findings: list[Finding] = []
    applied = 0
    python = facts.executable or "the image's Python"
    for name, requires in sorted(facts.requires.items()):
        if name in skip or name not in facts.dists:
            continue
        shown, version = facts.dists[name]
        for text in requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue  # pip check skips what it cannot parse, too
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            dep = str(canonicalize_name(req.name))
            if dep in skip:
                continue
            applied += 1
            have = facts.dists.get(dep)
            wanted = f"{req.name}{req.specifier}"
            if have is None:
                findings.append(Finding(
                    f"{shown} {version} requires {wanted}, which is not installed", None,
                    None, f"Add {req.name} to the lock (relock: the resolver adds what "
                    f"{shown} needs) and install the whole lock; {_IGNORE_HINT}."))
            elif req.specifier and not _allows(req, have[1]):
                findings.append(Finding(
                    f"{shown} {version} requires {wanted}, but the image has {have[0]} "
                    f"{have[1]}", None, None,
                    f"Relock so that {have[0]} and {shown} agree, and install only from "
                    f"the lock (no later upgrade of one package); {_IGNORE_HINT}."))
    judged = len([n for n in facts.dists if n not in skip])
    return CheckResult.from_findings(
        "SR405", findings,
        f"no broken requirement among {plural(judged, 'distribution')} "
        f"({plural(applied, 'requirement applies', 'requirements apply')} in the image, "
        "as `pip check`)",
        f"{plural(len(findings), 'broken requirement')} in {python}",
        verified=judged, nothing="no distribution installed for the image's Python",
        distributions=judged, requirements=applied)


def _allows(req: Requirement, version: str) -> bool:
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True  # pip cannot compare it either


# --- SR407 single-install -----------------------------------------------------------------


def check_single_install(facts: ImageFacts, ignore: Collection[str] = ()) -> CheckResult:
    """Every distribution is installed once for the interpreter: not in two site
    directories (system and user, a --target dir on PYTHONPATH, a venv and its base),
    nor twice in one (two .dist-info of one name)."""
    if not facts.installs:
        return CheckResult.skipped("SR407", "the probe listed no installed distribution")
    skip = {str(canonicalize_name(n)) for n in ignore}
    copies: dict[str, list[tuple[str, str, str]]] = {}
    for name, version, path in facts.installs:
        found = copies.setdefault(str(canonicalize_name(name)), [])
        if path and any(path == p for _, _, p in found):
            continue  # one directory reached twice through sys.path
        found.append((name, version, path))
    findings: list[Finding] = []
    upgraded: list[str] = []
    for name, found in sorted(copies.items()):
        if len(found) < 2 or name in skip:
            continue
        places = [f"{v} in {_site(p) or '?'}" + (" (imported)" if i == 0 else "")
                  for i, (_, v, p) in enumerate(found)]
        if name in BOOTSTRAP and _newest_first([v for _, v, _ in found]):
            # `pip install -U pip` on a distribution's Python (Debian's python3-pip in
            # /usr/lib/python3/dist-packages) installs the new one ahead of it on sys.path
            # and cannot remove the old one: the upgrade is what runs.
            upgraded.append(f"{found[0][0]} {found[0][1]} shadows "
                            + ", ".join(f"{v} in {_site(p) or '?'}" for _, v, p in found[1:]))
            continue
        findings.append(Finding(
            f"{found[0][0]} is installed {len(found)} times: {'; '.join(places)}", None,
            None, "Install it in one place only (one virtualenv or one site-packages): "
            f"remove the other copy, or stop putting its directory on sys.path; "
            f"{_IGNORE_HINT}."))
    sites = sorted({_site(p) for found in copies.values() for _, _, p in found if p})
    shadowed = (f"; packaging tools upgraded over the base image's copy: "
                f"{'; '.join(upgraded)}") if upgraded else ""
    return CheckResult.from_findings(
        "SR407", findings,
        f"{plural(len(copies) - len(upgraded), 'distribution')} installed once each, in "
        f"{', '.join(sites) if sites else 'one place'}{shadowed}",
        f"{plural(len(findings), 'distribution')} installed more than once",
        distributions=len(copies), locations=len(sites))


def _newest_first(versions: list[str]) -> bool:
    """The first (imported) version is at least every other one."""
    try:
        first = Version(versions[0])
        return all(first >= Version(v) for v in versions[1:])
    except InvalidVersion:
        return False


def _site(path: str) -> str:
    """The directory that holds a .dist-info/.egg-info directory."""
    return str(PurePosixPath(path).parent) if path else ""


# --- SR406 imports -------------------------------------------------------------------------

MARK = "@@shipready-imports@@ "

# Run in the image's interpreter with one JSON argument: {"dists": [canonical names of
# the project's distributions], "targets": [[target, origin], ...]}. Finds the project's
# top-level modules and console/gui entry points, imports each target, and writes one
# line per event after MARK (what the app prints goes to stderr). Standard library only.
IMPORTS = r"""
import importlib, importlib.metadata as md, json, os, re, sys, traceback
spec = json.loads(sys.argv[1])
out = sys.stdout
sys.stdout = sys.stderr
MARK = "@@shipready-imports@@ "
def emit(obj):
    out.write(MARK + json.dumps(obj) + "\n")
    out.flush()
def norm(n):
    return re.sub(r"[-_.]+", "-", n).lower()
def editable(d, name):
    found = []
    for f in d.files or []:
        text = ""
        finder = f.name.startswith("__editable__") and f.name.endswith("finder.py")
        if f.name.endswith(".pth") or finder:
            try:
                text = f.read_text()
            except (OSError, UnicodeDecodeError):
                continue
        m = re.search(r"MAPPING\s*(?::[^=]*)?=\s*(\{[^}]*\})", text)
        if m:
            import ast
            found += list(ast.literal_eval(m.group(1)))
        elif f.name.endswith(".pth"):
            guess = name.replace("-", "_").replace(".", "_").lower()
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith(("#", "import")) and os.path.isdir(line):
                    package = os.path.join(line, guess, "__init__.py")
                    if os.path.isfile(package) or os.path.isfile(os.path.join(line, guess + ".py")):
                        found.append(guess)
    return found
def tops(d, name):
    text = d.read_text("top_level.txt")
    if text:
        return [t.strip() for t in text.split() if t.strip() and not t.startswith("__")]
    found = []
    for f in d.files or []:
        parts = f.parts
        if not parts or parts[0] in ("..", "__pycache__"):
            continue
        if parts[0].endswith((".dist-info", ".egg-info", ".data")):
            continue
        if len(parts) == 1:
            if parts[0].endswith(".py") and not parts[0].startswith("__editable__"):
                found.append(parts[0][:-3])
            elif parts[0].endswith((".so", ".pyd")):
                found.append(parts[0].split(".")[0])
        elif parts[-1].endswith(".py") and parts[0].isidentifier():
            found.append(parts[0])
    found = [t for t in dict.fromkeys(found) if t.isidentifier()]
    return found or editable(d, name)
given = [tuple(t) for t in spec["targets"]]  # (target, origin[, "run"])
targets = []
seen = set()
for d in md.distributions():
    name = d.metadata["Name"]
    if not name or norm(name) not in spec["dists"] or norm(name) in seen:
        continue
    seen.add(norm(name))
    try:
        for top in tops(d, name):
            targets.append((top, "top-level module of %s %s" % (name, d.version)))
        for ep in d.entry_points:
            if ep.group in ("console_scripts", "gui_scripts"):
                kind = ep.group[:-1].replace("_", " ")
                targets.append((ep.value, "%s %s of %s" % (kind, ep.name, name)))
    except Exception as exc:
        error = "%s: %s" % (type(exc).__name__, exc)
        emit({"target": name, "origin": "metadata of %s" % name, "ok": False, "error": error,
              "where": ""})
emit({"found": sorted(seen), "cwd": os.getcwd()})
targets += given  # after the distributions': a module both name is told by its package
def find(name):
    import importlib.util
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
def script(path):
    # `python path`: compiled, and the modules its top level imports found; never run
    import ast
    full = os.path.join(os.getcwd(), path)
    if not os.path.isfile(full):
        return "not found in %s" % os.getcwd()
    with open(full, "rb") as fh:
        tree = compile(fh.read(), full, "exec", ast.PyCF_ONLY_AST)
    compile(tree, full, "exec")
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.append(node.module)
    sys.path.insert(0, os.path.dirname(full))
    try:
        for name in names:
            if find(name) is None:
                raise ModuleNotFoundError("No module named %r (imported by %s)" % (name, path))
    finally:
        sys.path.pop(0)
    return ""
done = set()
for entry in targets:
    target, origin = entry[0], entry[1]
    kind = entry[2] if len(entry) > 2 else ""
    runs = kind == "run"
    m = re.match(r"\s*([\w.]+)\s*(?::\s*([\w.]+))?", target)
    key = m.group(0).strip() if m else target
    if (key, kind) in done:
        continue
    done.add((key, kind))
    emit({"start": key})
    try:
        if kind == "script":
            why = script(target)
            emit({"target": target, "origin": origin, "ok": True, "skipped": why})
            continue
        if not m:
            raise ValueError("not a module or module:object reference")
        if kind == "celery" and not m.group(2):
            # Celery's -A: a module, else an attribute of its parent (proj.celery_app)
            try:
                importlib.import_module(m.group(1))
            except ModuleNotFoundError as exc:
                parent, _, attr = m.group(1).rpartition(".")
                if exc.name != m.group(1) or not parent:
                    raise
                getattr(importlib.import_module(parent), attr)
            emit({"target": key, "origin": origin, "ok": True})
            continue
        if runs:
            # `python -m key`: found and compiled (parents imported), never run
            import importlib.util
            found = importlib.util.find_spec(key)
            if found is not None and found.submodule_search_locations is not None:
                found = importlib.util.find_spec(key + ".__main__")
                if found is None:
                    raise ImportError("%s is a package without __main__" % key)
            if found is None or found.loader is None:
                raise ModuleNotFoundError("No module named %r" % key)
            if hasattr(found.loader, "get_code"):
                found.loader.get_code(found.name)
            emit({"target": key, "origin": origin, "ok": True})
            continue
        obj = importlib.import_module(m.group(1))
        for part in (m.group(2) or "").split(".") if m.group(2) else []:
            obj = getattr(obj, part)
        emit({"target": key, "origin": origin, "ok": True})
    except BaseException as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        inner = [f for f in frames if "importlib" not in f.filename and f.filename != "<string>"]
        where = "%s:%s" % (inner[-1].filename, inner[-1].lineno) if inner else ""
        error = ("%s: %s" % (type(exc).__name__, exc))[:500]
        emit({"target": key, "origin": origin, "ok": False, "error": error, "where": where})
""".strip()

# Lock sources that are the project's own source trees (not a wheel or archive on disk).
_SOURCE_TREES = frozenset({"directory", "editable", "virtual"})


def own_distributions(project: Collection[str],
                      locks: Sequence[pipcompile.PipLock | model.ToolLock]) -> list[str]:
    """The project's own distributions, as canonical names: those its pyproject.toml
    names, and its locks' source-tree packages (a uv workspace's members, the project
    itself, Poetry path dependencies, pip-compile editables), which SR402 also counts as
    the project's. Only those installed in the image are imported."""
    names = {str(canonicalize_name(n)) for n in project}
    for lock in locks:
        if isinstance(lock, pipcompile.PipLock):
            names.update(str(canonicalize_name(e.name)) for e in lock.data.entries
                         if e.name and e.editable)
            continue
        root = lock.root()
        names.update(p.name for p in lock.packages
                     if p is root or p.editable or p.kind in _SOURCE_TREES)
    return sorted(names)


# Programs that take the app as a `module:object` argument.
_SERVERS = frozenset({"gunicorn", "uvicorn", "hypercorn", "daphne", "granian", "waitress-serve"})
_APP_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(.*\))?$")
# Server options whose value is not the app (gunicorn -c python:conf, -k worker ...).
_SERVER_VALUES = frozenset({"-c", "--config", "-k", "--worker-class", "-b", "--bind",
                            "--paste", "--log-config", "--env-file", "--interface"})


# Python's options that take a value (`python -W ignore app.py`).
_PYTHON_VALUES = frozenset({"-W", "-X", "-c", "--check-hash-based-pycs"})


# `fastapi run`/`fastapi dev` options that take a separate value
_FASTAPI_VALUES = frozenset({"--host", "--port", "--root-path", "--workers", "--app",
                             "--entrypoint", "-e"})


@dataclass
class _Scanned:
    imports: list[str]  # modules (or module:object) the command imports
    programs: list[str]  # modules it runs with `python -m`
    scripts: list[str]  # Python files it runs (`python server.py`, uWSGI's wsgi-file)
    workers: list[str]  # Celery apps (`celery -A pkg.tasks worker`)


def _scan(words: Sequence[str], read: Callable[[str], str | None] = lambda name: None
          ) -> _Scanned:
    """What one simple command imports and runs."""
    found = _Scanned([], [], [], [])
    if uwsgi.is_uwsgi(words):
        modules, files = uwsgi.app_targets(uwsgi.options(words, read))
        found.imports += modules
        found.scripts += files
        return found
    python = server = celery = False
    fastapi = ""  # "cli" after `fastapi`, "sub" after its `run`/`dev`: then the app's file
    skip = False
    for i, word in enumerate(words):
        name = word.rpartition("/")[2]
        if skip:
            skip = False
        elif fastapi == "cli" and word in ("run", "dev"):
            fastapi = "sub"
        elif fastapi == "sub" and word in _FASTAPI_VALUES:
            skip = True
        elif fastapi == "sub" and not word.startswith("-"):
            # `fastapi run merino/main.py`: the file it serves (a package dir: its
            # __init__.py, found by fastapi itself; not followed here)
            if word.endswith(".py"):
                found.scripts.append(word)
            fastapi = ""
        elif name == "fastapi" and not python:
            fastapi = "cli"
        elif PYTHON_NAME.match(name):
            python, server = True, False
        elif name in _SERVERS:
            server = True
        elif name == "celery" and not python:
            celery = True
        elif python and word == "-m" and i + 1 < len(words):
            module = words[i + 1]
            found.imports.append(module.partition(".")[0])
            if module not in _SERVERS and module != "pip":
                found.programs.append(module)
            server = module in _SERVERS
            celery = module == "celery"
            fastapi = "cli" if module == "fastapi" else ""
            python = False
        elif python and word in _PYTHON_VALUES:
            skip = word != "-c"
            python = word != "-c"  # `python -c CODE`: no file, no module
        elif python and not word.startswith("-"):
            if word.endswith(".py"):
                found.scripts.append(word)
            python = False
        elif server and word in _SERVER_VALUES:
            skip = True
        elif server and _APP_REF.match(word):
            found.imports.append(word.partition("(")[0])
            server = False
        elif celery and word in ("-A", "--app") and i + 1 < len(words):
            found.workers.append(words[i + 1])
            celery = False
        elif celery and word.startswith(("--app=", "-A")) and len(word) > 2 \
                and word not in ("-A",):
            found.workers.append(word.partition("=")[2] if word.startswith("--app=")
                                 else word[2:])
            celery = False
    return found


def _steps(command: Sequence[str], read: Callable[[str], str | None]
           ) -> list[start.Step]:
    return start.start_steps(command, read)


def command_targets(command: Sequence[str],
                    read: Callable[[str], str | None] = lambda name: None) -> list[str]:
    """What the image's command imports: the top-level package of ``python -m pkg.mod``
    and the app of ``gunicorn app.wsgi:application`` (uvicorn, hypercorn, daphne,
    granian, waitress) or of uWSGI (``--module``, its ini's ``module =``), through
    ``sh -c "..."`` and the start scripts ``read`` finds (an ENTRYPOINT script,
    ``exec "$@"``)."""
    found = [t for step in _steps(command, read) for t in _scan(step.words, read).imports]
    return list(dict.fromkeys(found))


def command_programs(command: Sequence[str],
                     read: Callable[[str], str | None] = lambda name: None) -> list[str]:
    """The modules the command runs with ``python -m`` (``app.server``, ``app``): found
    and compiled by SR406, never run (their ``__main__`` is the service)."""
    found = [m for step in _steps(command, read) for m in _scan(step.words, read).programs]
    return list(dict.fromkeys(found))


def command_scripts(command: Sequence[str],
                    read: Callable[[str], str | None] = lambda name: None) -> list[str]:
    """The Python files the command runs (``python server.py``, uWSGI's ``wsgi-file``):
    SR406 compiles each and finds the modules it imports, never runs it."""
    found = [f for step in _steps(command, read) for f in _scan(step.words, read).scripts]
    return list(dict.fromkeys(found))


def command_workers(command: Sequence[str],
                    read: Callable[[str], str | None] = lambda name: None) -> list[str]:
    """The Celery apps the command starts (``celery -A pkg.tasks worker``): imported as
    Celery finds them (a module, else an attribute of its parent)."""
    found = [w for step in _steps(command, read) for w in _scan(step.words, read).workers]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Imported:
    target: str
    origin: str
    ok: bool
    error: str = ""
    where: str = ""
    skipped: str = ""  # why it was not checked (a script not found where it would run)


@dataclass(frozen=True)
class ImportRun:
    results: tuple[Imported, ...]
    found: tuple[str, ...]  # the project's distributions found in the image
    hung: str = ""  # the target being imported when the time ran out


def parse_imports(output: str) -> ImportRun:
    results: list[Imported] = []
    found: tuple[str, ...] = ()
    started = ""
    for line in output.splitlines():
        _, mark, data = line.partition(MARK)
        if not mark:
            continue
        try:
            event = json.loads(data)
        except ValueError:
            continue
        if "found" in event:
            found = tuple(str(n) for n in event["found"])
        elif "start" in event:
            started = str(event["start"])
        elif "target" in event:
            results.append(Imported(str(event["target"]), str(event.get("origin", "")),
                                    bool(event.get("ok")), str(event.get("error", "")),
                                    str(event.get("where", "")),
                                    str(event.get("skipped") or "")))
            started = ""
    return ImportRun(tuple(results), found, started)


def check_imports(run: ImportRun, python: str, timeout: float | None = None,
                  code: int | None = 0, output: str = "") -> CheckResult:
    """SR406 on what :data:`IMPORTS` reported. ``timeout``: set when the exec ran out
    of time (then ``run.hung`` is what was being imported); ``code``: its exit code."""
    findings = [
        Finding(f"{r.target} ({r.origin}): {r.error}" + (f" at {r.where}" if r.where else ""),
                None, None,
                "Add the missing dependency to the lock, or the missing files to the image "
                "(COPY, .dockerignore); or name what to import in [tool.shipready.integrity] "
                "modules.")
        for r in run.results if not r.ok]
    if timeout is not None:
        what = f"importing {run.hung}" if run.hung else "the imports"
        findings.append(Finding(
            f"{what} did not finish within {timeout:.0f} s", None, None,
            "A module that starts work at import time (a server, a connection) blocks "
            "every importer: move it behind `if __name__ == \"__main__\"` or a function; or "
            "raise [tool.shipready.integrity] imports_timeout."))
    elif not run.results and code != 0:
        findings.append(Finding(f"{python} could not run the imports: exit code {code}: "
                                f"{output.strip()[-500:]}", None, None,
                                "Set [tool.shipready.parity] python to the image's "
                                "interpreter."))
    ok = [r for r in run.results if r.ok and not r.skipped]
    shown = ", ".join(f"{r.target} ({r.origin})" for r in ok[:6]) + \
        (f" and {len(ok) - 6} more" if len(ok) > 6 else "")
    unchecked = "".join(f"; not checked: {r.target} ({r.skipped})" for r in run.results
                        if r.ok and r.skipped)
    if not ok and not findings and unchecked:
        return CheckResult.skipped("SR406", f"nothing imported{unchecked}; set "
                                   "[tool.shipready.integrity] modules")
    return CheckResult.from_findings(
        "SR406", findings,
        f"{plural(len(ok), 'import')} succeeded in {python}: {shown}{unchecked}",
        f"{plural(len(findings), 'import')} failed in {python}", verified=len(ok),
        imported=len(ok))


# --- the items -----------------------------------------------------------------------------


class IntegrityRun:
    def __init__(self, run: DockerRun, parity: ParityRun, smoke: SmokeRun) -> None:
        self.run = run
        self.parity = parity
        self.smoke = smoke

    def pip_check(self) -> CheckResult:
        facts = self.parity._facts_for("SR405")
        if isinstance(facts, CheckResult):
            return facts
        return check_requirements(facts, self.run.settings.config.integrity.ignore)

    def single_install(self) -> CheckResult:
        facts = self.parity._facts_for("SR407")
        if isinstance(facts, CheckResult):
            return facts
        return check_single_install(facts, self.run.settings.config.integrity.ignore)

    def _command_targets(self, command: Sequence[str], running: RunningContainer
                         ) -> list[list[str]]:
        """What the image's command and the Procfile's processes import and run with
        `python -m`, through shells and the start scripts in the image."""
        read = _in_image(running)
        commands: list[tuple[Sequence[str], str]] = [(command, "the image's command")]
        try:
            procfile = (self.run.settings.project / "Procfile").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            procfile = ""
        commands += [(("/bin/sh", "-c", text), f"the Procfile's {name} process")
                     for name, text in start.procfile(procfile).items()]
        targets: list[list[str]] = []
        for argv, origin in commands:
            targets += [[t, origin] for t in command_targets(argv, read)]
            targets += [[m, f"`python -m {m}` in {origin}: found and compiled, not run",
                         "run"] for m in command_programs(argv, read)]
            targets += [[f, f"run by {origin}: compiled and its imports found, not run",
                         "script"] for f in command_scripts(argv, read)]
            targets += [[w, f"the Celery app of {origin}", "celery"]
                        for w in command_workers(argv, read)]
        return targets

    def imports(self) -> CheckResult:
        from .parityrun import _project_names

        cfg = self.run.settings.config.integrity
        facts = self.parity._facts_for("SR406")
        if isinstance(facts, CheckResult):
            return facts
        running, gate = self.smoke.session("SR406")
        if running is None:
            assert gate is not None
            return gate
        if cfg.modules:
            dists: list[str] = []
            targets = [[m, "[tool.shipready.integrity] modules"] for m in cfg.modules]
        else:
            found = self.parity.lock()
            dists = own_distributions(_project_names(self.run.settings.project),
                                      [item.lock for item in found]
                                      if not isinstance(found, str) else [])
            command = tuple(self.run.settings.config.smoke.command) or running.info.command
            targets = self._command_targets(command, running)
        if not dists and not targets:
            return CheckResult.skipped(
                "SR406", "nothing to import: the project names no distribution (pyproject."
                "toml, or a path or editable source of its lock) and the image's command "
                "names no module or script (`python -m app`, `gunicorn app.wsgi:app`, "
                "`python server.py`, a uWSGI ini's module, `celery -A app.tasks`); set "
                "[tool.shipready.integrity] modules")
        python = facts.executable or self.run.settings.config.parity.python or "python3"
        spec = json.dumps({"dists": dists, "targets": targets})
        # The script's first line (MARK) says it ran; without it, ask once more.
        code, output = running.exec_answered([python, "-c", IMPORTS, spec],
                                             lambda c, out: c != 0 or MARK in out,
                                             timeout=cfg.imports_timeout)
        result = parse_imports(output)
        if code is not None and code == 0 and not result.results:
            names = ", ".join(dists)
            return CheckResult.skipped(
                "SR406", f"nothing to import: the project's distribution ({names}) is not "
                "installed for " + python + ", and the image's command names no module; "
                "set [tool.shipready.integrity] modules")
        return check_imports(result, python,
                             cfg.imports_timeout if code is None else None, code, output)


def _in_image(running: RunningContainer) -> Callable[[str], str | None]:
    """Read a start script as the image has it (in the session container: a bare name is
    looked up on its PATH, a relative path in its working directory); None when it is
    not there."""
    def read(path: str) -> str | None:
        code, out = running.exec(["sh", "-c", _READ_SCRIPT, "sh", path])
        return out if code == 0 else None
    return read


_READ_SCRIPT = 'p=$(command -v -- "$1" 2>/dev/null) || p="$1"; exec head -c 200000 -- "$p"'


def plan(run: DockerRun, parity: ParityRun, smoke: SmokeRun, path: Path | None
         ) -> list[PlannedCheck]:
    """The integrity items: ``parity``'s facts and interpreter, ``smoke``'s container."""
    i = IntegrityRun(run, parity, smoke)
    return [
        PlannedCheck("parity", None, "SR405", "pip-check", path, i.pip_check),
        PlannedCheck("parity", None, "SR406", "imports", path, i.imports),
        PlannedCheck("parity", None, "SR407", "single-install", path, i.single_install),
    ]
