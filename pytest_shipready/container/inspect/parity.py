"""Parity between the image, the lock and the host, from plain data.

Pure: no docker, no pytest. The parity area gathers what the image holds (one exec of
:data:`PROBE` in the container) and asks here whether it matches the lock.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ...checks import CheckResult, Finding, plural
from ...dockerfile.installs import BOOTSTRAP, PYTHON_NAME
from ...locks import model, pipcompile
from ...locks.selection import Selection, expected_distributions

# Run in the image's interpreter: its version, installed distributions, environment and
# marker environment (PEP 508), as one JSON line. Standard library only.
PROBE = r"""
import json, os, platform, sys
import importlib.metadata as md
seen = {}
installs = []
requires = {}
for d in md.distributions():
    name = d.metadata["Name"]
    if not name:
        continue
    where = getattr(d, "_path", None)
    installs.append([name, d.version, os.path.realpath(str(where)) if where else ""])
    if name.lower() not in seen:
        seen[name.lower()] = [name, d.version]
        try:
            requires[name.lower()] = list(d.requires or [])
        except Exception:
            requires[name.lower()] = []
impl = sys.implementation
iv = "%d.%d.%d" % impl.version[:3]
if impl.version.releaselevel != "final":
    iv += impl.version.releaselevel[0] + str(impl.version.serial)
markers = {
    "implementation_name": impl.name, "implementation_version": iv,
    "os_name": os.name, "platform_machine": platform.machine(),
    "platform_release": platform.release(), "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
print(json.dumps({"python": platform.python_version(), "executable": sys.executable,
                  "dists": list(seen.values()), "env": dict(os.environ),
                  "markers": markers, "installs": installs, "requires": requires}))
""".strip()


@dataclass(frozen=True)
class ImageFacts:
    python: str  # "3.11.2"
    executable: str
    dists: dict[str, tuple[str, str]]  # canonical name -> (name as installed, version)
    env: dict[str, str]
    markers: dict[str, str]
    # Every distribution found, duplicates included: (name, version, its metadata
    # directory), in sys.path order (SR407); and each one's Requires-Dist (SR405), by
    # canonical name, for the copy that is imported.
    installs: tuple[tuple[str, str, str], ...] = ()
    requires: dict[str, tuple[str, ...]] = field(default_factory=dict)


def parse_probe(output: str) -> ImageFacts:
    """The probe's JSON line (the last line that parses; warnings may precede it)."""
    for line in reversed(output.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        dists = {str(canonicalize_name(n)): (str(n), str(v)) for n, v in data.get("dists", [])}
        return ImageFacts(str(data["python"]), str(data.get("executable", "")), dists,
                          {str(k): str(v) for k, v in data.get("env", {}).items()},
                          {str(k): str(v) for k, v in data.get("markers", {}).items()},
                          tuple((str(n), str(v), str(p))
                                for n, v, p in data.get("installs", [])),
                          {str(canonicalize_name(n)): tuple(str(r) for r in reqs)
                           for n, reqs in data.get("requires", {}).items()})
    raise ValueError(f"no JSON in the interpreter's output: {output[-500:]!r}")


_SYSTEM_BINS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")


# Lists the running processes: "pid|argv joined by spaces|VIRTUAL_ENV=..." (POSIX sh).
PROCESSES = ("for p in /proc/[0-9]*; do "
             "a=$(tr '\\0' ' ' < \"$p/cmdline\" 2>/dev/null) || continue; "
             "v=$(tr '\\0' '\\n' < \"$p/environ\" 2>/dev/null | grep '^VIRTUAL_ENV=' | head -n 1); "
             "echo \"${p#/proc/}|$a|$v\"; done")


def running_interpreters(listing: str) -> list[str]:
    """The Python interpreters the container's processes run, lowest pid first, from
    :data:`PROCESSES`' output: an absolute ``argv[0]`` (a shebang puts the venv's python
    there), or a bare ``python`` under ``$VIRTUAL_ENV`` (what ``poetry run`` execs)."""
    found: list[tuple[int, str]] = []
    for line in listing.splitlines():
        pid, sep, rest = line.partition("|")
        argv, _, venv = rest.rpartition("|")
        if not sep or not pid.isdigit() or not argv.strip():
            continue
        first = argv.split()[0]
        name = first.rpartition("/")[2]
        if not PYTHON_NAME.match(name):
            continue
        if first.startswith("/"):
            found.append((int(pid), first))
        elif venv.startswith("VIRTUAL_ENV=/"):
            found.append((int(pid), f"{venv.partition('=')[2].rstrip('/')}/bin/{name}"))
    return list(dict.fromkeys(path for _, path in sorted(found)))


def interpreters(command: tuple[str, ...], env: dict[str, str], configured: str = "",
                 running: list[str] | None = None) -> list[str]:
    """The interpreters to ask, in order: the configured one; else the one the image's
    command runs (``/opt/venv/bin/python -m app``, or the venv of ``/opt/venv/bin/gunicorn``),
    ``$VIRTUAL_ENV``'s, ``$UV_PROJECT_ENVIRONMENT``'s (where ``uv sync`` installed), then
    ``python3`` and ``python`` on the image's PATH."""
    if configured:
        return [configured]
    found: list[str] = list(running or [])  # what the app's processes really run
    for word in command:
        if not word.startswith("/"):
            continue
        directory, _, name = word.rpartition("/")
        if PYTHON_NAME.match(name):
            found.append(word)
            break
        if directory.endswith("/bin") and directory not in _SYSTEM_BINS:
            found.append(f"{directory}/python")
            break
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"):  # where uv sync installs
        venv = env.get(name, "").rstrip("/")
        if venv.startswith("/"):
            found.append(f"{venv}/bin/python")
    found += ["python3", "python"]
    return list(dict.fromkeys(found))


def minor(version: str) -> str:
    """"3.11.2" -> "3.11"."""
    m = re.match(r"(\d+)\.(\d+)", version)
    return f"{m.group(1)}.{m.group(2)}" if m else version


@dataclass(frozen=True)
class LockPython:
    """What one lock says about Python: a pip-compile header's "3.11", or a Poetry/uv/
    pylock lock's range (as written, as specifier sets)."""

    display: str
    compiled: str | None = None
    requires: tuple[str, tuple[SpecifierSet, ...]] | None = None


def check_python(image: str, lock: str | None, lock_display: str, host: str | None,
                 requires: tuple[str, tuple[SpecifierSet, ...]] | None = None,
                 why: str = "") -> CheckResult:
    """``image``: "3.11.2"; ``lock``: "3.11" from a pip-compile header; ``requires``: a
    Poetry/uv/pylock lock's Python range (as written, as specifier sets); ``host``: the
    host's "3.11" when it is required too; ``why``: why there is no lock to compare with."""
    locks = [LockPython(lock_display, lock, requires)] if lock_display or lock else []
    return check_python_locks(image, locks, host, why)


def check_python_locks(image: str, locks: list[LockPython], host: str | None,
                       why: str = "") -> CheckResult:
    """SR401 against every lock the image installs (and the host when required)."""
    found = minor(image)
    findings: list[Finding] = []
    if not any(lk.compiled or lk.requires for lk in locks) and host is None:
        if why:
            reason = why
        elif locks:
            names = ", ".join(lk.display for lk in locks)
            reason = f"{names} names no Python (no pip-compile header)"
        else:
            reason = "no lock to compare with"
        return CheckResult.skipped(
            "SR401", f"image Python {image}; {reason}, and host_python is off")
    against: list[str] = []
    for lk in locks:
        if lk.compiled is not None:
            against.append(f"{lk.display} {lk.compiled}" if len(locks) > 1
                           else f"lock {lk.compiled}")
            if found != lk.compiled:
                findings.append(Finding(
                    f"the image runs Python {image}, {lk.display} was compiled with "
                    f"Python {lk.compiled}" if len(locks) > 1 else
                    f"the image runs Python {image}, the lock was compiled with Python "
                    f"{lk.compiled}", lk.display, 1,
                    f"Use a python:{lk.compiled} base image, or re-run pip-compile with "
                    f"Python {found}."))
        if lk.requires is not None:
            against.append(f"{lk.display} requires-python {lk.requires[0]!r}")
            if not _satisfies(image, lk.requires[1]):
                findings.append(Finding(
                    f"the image runs Python {image}, outside {lk.display}'s Python range "
                    f"{lk.requires[0]!r}", lk.display, None,
                    "Use a base image whose Python is in that range, or widen the "
                    "project's Python requirement and relock."))
    if host is not None:
        against.append(f"host {host}")
        if found != host:
            findings.append(Finding(
                f"the image runs Python {image}, the host (these tests) Python {host}",
                None, None, "Test with the Python the image ships, or change the base "
                "image."))
    text = " and ".join(against)
    return CheckResult.from_findings(
        "SR401", findings, f"Python {image} matches {text}",
        f"Python {image} does not match {text}", python=image)


def _satisfies(version: str, specs: tuple[SpecifierSet, ...]) -> bool:
    try:
        v = Version(version)
    except InvalidVersion:
        return True
    return any(spec.contains(v, prereleases=True) for spec in specs)


@dataclass(frozen=True)
class Expected:
    """What the image must hold according to its lock: {canonical name: (version, line)}.

    ``unselected``: names the lock has, but not for this image (another group, an extra
    not installed, a marker false in the image), so that an installed one is explained.
    ``selection``: for Poetry/uv/pylock, which part of the lock the image installs.
    """

    display: str
    tool: str  # "pip-compile", "poetry", "uv" or "pylock"
    packages: dict[str, tuple[str, int | None]]
    unselected: frozenset[str] = frozenset()
    selection: str = ""
    # The project's own distribution and the lock's path/editable sources: installed
    # from the source tree, never strangers (uv's root, Poetry's root package).
    project: frozenset[str] = frozenset()
    # "a.txt pins x==1, b.txt pins x==2", for several locks installed together.
    conflicts: tuple[tuple[str, str], ...] = ()  # (name, message)
    # Several locks installed together: each one's (display, tool); empty for one lock.
    parts: tuple[tuple[str, str], ...] = ()


# Tools that install the lock; in the image they are not the app's dependencies.
INSTALLERS = frozenset({"pip", "uv", "poetry", "pipx", "pip-tools", "pdm", "hatch"})
# Always allowed in the image, whatever allow_extra says: the packaging tools the base
# image ships and a bootstrap `pip install -U pip setuptools wheel` upgrades (SR205 allows
# that install too). Their version is compared when the lock pins them.
ALWAYS_ALLOWED = frozenset(BOOTSTRAP)
# (how to install the lock, how to add a package to it), by tool.
_HINTS = {
    "pip-compile": ("pip install --no-deps --require-hashes -r {display}",
                    "add {name} to the lock's inputs and re-run pip-compile"),
    "poetry": ("poetry install --only main --no-root, or poetry export -o "
               "requirements.txt then pip install --no-deps --require-hashes -r "
               "requirements.txt", "add it with `poetry add {name}` (which relocks)"),
    "uv": ("uv sync --frozen --no-dev", "add it with `uv add {name}` (which relocks)"),
    "pylock": ("uv pip install -r {display}", "add {name} to the project and re-export {display}"),
}


def expected_from_piplock(lock: pipcompile.PipLock, env: dict[str, str]) -> Expected:
    """A pip-compile lock: every entry whose marker holds in ``env``."""
    wanted: dict[str, tuple[str, int | None]] = {}
    other: set[str] = set()
    for entry in lock.data.entries:
        if entry.name is None:
            continue
        name = str(canonicalize_name(entry.name))
        if pipcompile.applies(entry, env):
            wanted[name] = (entry.pinned_version or entry.specifier, entry.line)
        else:
            other.add(name)
    local = {str(canonicalize_name(e.name)) for e in lock.data.entries
             if e.name and (e.editable or not e.pinned_version)}
    return Expected(lock.display, "pip-compile", wanted, frozenset(other - set(wanted)),
                    project=frozenset(local - set(wanted)))


def expected_from_toollock(lock: model.ToolLock, env: dict[str, str],
                           selection: Selection) -> Expected:
    """A Poetry, uv or pylock.toml lock: what installing ``selection`` puts into ``env``.
    Raises :class:`model.LockError` when the lock cannot tell."""
    picked = expected_distributions(lock, env, groups=selection.groups,
                                    extras=selection.extras, packages=selection.packages,
                                    all_packages=selection.all_packages,
                                    runtime=selection.runtime)
    by_name = lock.by_name()
    wanted: dict[str, tuple[str, int | None]] = {}
    for name, version in picked.items():
        line = next((p.line for p in by_name.get(name, []) if p.version == version), None)
        wanted[name] = (version, line)
    root = lock.root()
    local = {p.name for p in lock.packages if p is root or p.local or p.editable}
    other = {p.name for p in lock.packages if p is not root} - set(wanted) - local
    return Expected(lock.display, lock.format, wanted, frozenset(other),
                    f"{selection.describe()}, {selection.how}",
                    frozenset(local - set(wanted)))


def union(expected: list[Expected], project: frozenset[str] = frozenset()) -> Expected:
    """What an image that installs several locks must hold: their union. ``project``:
    the project's own distribution names (from pyproject.toml), added to each lock's."""
    first = expected[0]
    packages: dict[str, tuple[str, int | None]] = {}
    owner: dict[str, str] = {}
    conflicts: list[tuple[str, str]] = []
    for e in expected:
        for name, (version, line) in e.packages.items():
            if name in packages and packages[name][0] != version:
                conflicts.append((name, f"{owner[name]} pins {name}=={packages[name][0]}, "
                                  f"{e.display} pins {name}=={version}: the image can hold "
                                  "only one of them"))
                continue
            packages.setdefault(name, (version, line))
            owner.setdefault(name, e.display)
    unselected = frozenset().union(*(e.unselected for e in expected)) - set(packages)
    local = frozenset().union(project, *(e.project for e in expected)) - set(packages)
    selection = "; ".join(f"{e.display}: {e.selection}" if len(expected) > 1 else
                          e.selection for e in expected if e.selection)
    return Expected(" + ".join(e.display for e in expected), first.tool, packages,
                    unselected, selection, local, tuple(conflicts),
                    tuple((e.display, e.tool) for e in expected) if len(expected) > 1
                    else ())


def install_command(expected: Expected) -> str:
    """How to install what ``expected`` comes from, as commands one can run: several
    pip-compile locks in one pip call (``-r a.txt -r b.txt``), other tools one each."""
    parts = expected.parts or ((expected.display, expected.tool),)
    if len(parts) == 1:
        return _HINTS.get(expected.tool, _HINTS["pip-compile"])[0].format(
            display=expected.display)
    if all(tool == "pip-compile" for _, tool in parts):
        files = " ".join(f"-r {display}" for display, _ in parts)
        return f"pip install --no-deps --require-hashes {files}"
    return "; ".join(f"{display}: " + _HINTS.get(tool, _HINTS["pip-compile"])[0].format(
        display=display) for display, tool in parts)


def check_packages(facts: ImageFacts, expected: Expected, allow_extra: tuple[str, ...]
                   ) -> CheckResult:
    display = expected.display
    _, add = _HINTS.get(expected.tool, _HINTS["pip-compile"])
    python = facts.executable or "the image's Python"
    other_python = (f" If it is installed for another interpreter (a virtualenv), put that "
                    f"first on PATH or set [tool.shipready.parity] python; this looked at "
                    f"{python}.")
    allowed = {str(canonicalize_name(a)) for a in allow_extra} | ALWAYS_ALLOWED
    findings: list[Finding] = [
        Finding(message, None, None, "Install one lock, or make the locks agree "
                "(compile them together, e.g. one with `-c` of the other).")
        for _, message in expected.conflicts]
    conflicting = {name for name, _ in expected.conflicts}
    for name, (version, line) in sorted(expected.packages.items()):
        if name in conflicting:
            continue
        have = facts.dists.get(name)
        if have is None:
            findings.append(Finding(f"{name}=={version} is locked but not installed in the "
                                    "image", display, line,
                                    "Install the lock in the image: "
                                    + install_command(expected) + "." + other_python))
        elif version and have[1] != version:
            findings.append(Finding(f"{name}: the image has {have[1]}, the lock pins "
                                    f"{version}", display, line,
                                    "Install from the lock only; do not upgrade in the "
                                    "Dockerfile."))
    own: list[str] = []
    for name, (shown, version) in sorted(facts.dists.items()):
        if name in expected.project:
            own.append(f"{shown} {version}")
            continue
        if name in expected.packages or name in allowed or name in conflicting:
            continue
        if name in expected.unselected:
            findings.append(Finding(
                f"{shown}=={version} is installed in the image; {display} locks it, but "
                f"not for what the image should install ({expected.selection or 'its markers'})",
                None, None,
                "Install only what the image needs (e.g. `poetry install --only main`, "
                "`uv sync --frozen --no-dev`), or name the groups/extras it installs in "
                "[tool.shipready.parity] groups / extras."))
            continue
        if name in INSTALLERS:
            hint = (f"{shown} is an installer: install it in a build stage only, or add it "
                    "to [tool.shipready.parity] allow_extra.")
        else:
            hint = (f"{add.format(name=shown, display=display).capitalize()}, remove the "
                    "extra install from the Dockerfile, or add it to "
                    "[tool.shipready.parity] allow_extra.")
        findings.append(Finding(
            f"{shown}=={version} is installed in the image but not in {display}",
            None, None, hint))
    count = plural(len(expected.packages), "locked package")
    chosen = f" ({expected.selection})" if expected.selection else ""
    mine = f"; the project itself: {', '.join(own)}" if own else ""
    return CheckResult.from_findings(
        "SR402", findings, f"{count} installed at the locked versions{chosen}{mine}",
        f"{plural(len(findings), 'difference')} between the image's {python} and {display}",
        locked=len(expected.packages), installed=len(facts.dists),
        verified=len(expected.packages) + len(findings),
        nothing=f"{display} selects no package for this image{chosen}: nothing to compare")


def check_environment(required: tuple[str, ...], env: dict[str, str]) -> CheckResult:
    if not required:
        return CheckResult.skipped(
            "SR403", "no required environment variables ([tool.shipready.parity] "
            "required_env)")
    missing = [name for name in required if not env.get(name)]
    findings = [Finding(f"{name} is not set in the container", None, None,
                        f"Set {name} with ENV in the Dockerfile or in [tool.shipready.smoke] "
                        "env (and in the deployment).") for name in missing]
    return CheckResult.from_findings(
        "SR403", findings, f"{plural(len(required), 'required variable')} set",
        f"{plural(len(missing), 'required variable')} not set: {', '.join(missing)}")
