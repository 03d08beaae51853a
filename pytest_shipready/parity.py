"""Parity between the image, the lock and the host, from plain data.

Pure: no docker, no pytest. The parity area gathers what the image holds (one exec of
:data:`PROBE` in the container) and asks here whether it matches the lock.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from . import piplock
from .findings import CheckResult, Finding, plural

# Run in the image's interpreter: its version, installed distributions, environment and
# marker environment (PEP 508), as one JSON line. Standard library only.
PROBE = r"""
import json, os, platform, sys
import importlib.metadata as md
seen = {}
for d in md.distributions():
    name = d.metadata["Name"]
    if name and name.lower() not in seen:
        seen[name.lower()] = [name, d.version]
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
                  "markers": markers}))
""".strip()


@dataclass(frozen=True)
class ImageFacts:
    python: str  # "3.11.2"
    executable: str
    dists: dict[str, tuple[str, str]]  # canonical name -> (name as installed, version)
    env: dict[str, str]
    markers: dict[str, str]


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
                          {str(k): str(v) for k, v in data.get("markers", {}).items()})
    raise ValueError(f"no JSON in the interpreter's output: {output[-500:]!r}")


def _minor(version: str) -> str:
    m = re.match(r"(\d+)\.(\d+)", version)
    return f"{m.group(1)}.{m.group(2)}" if m else version


def check_python(image: str, lock: str | None, lock_display: str, host: str | None
                 ) -> CheckResult:
    """``image``: "3.11.2"; ``lock``: "3.11" from the header; ``host``: when required."""
    found = _minor(image)
    findings: list[Finding] = []
    if lock is None and host is None:
        return CheckResult.skipped(
            "SR401", f"image Python {image}; the lock names no Python (no pip-compile "
            "header) and host_python is off")
    if lock is not None and found != lock:
        findings.append(Finding(
            f"the image runs Python {image}, the lock was compiled with Python {lock}",
            lock_display, 1,
            f"Use a python:{lock} base image, or re-run pip-compile with Python {found}."))
    if host is not None and found != host:
        findings.append(Finding(
            f"the image runs Python {image}, the host (these tests) Python {host}", None,
            None, "Test with the Python the image ships, or change the base image."))
    against = " and ".join(x for x in (f"lock {lock}" if lock else "",
                                        f"host {host}" if host else "") if x)
    return CheckResult.from_findings(
        "SR401", findings, f"Python {image} matches {against}",
        f"Python {image} does not match {against}", python=image)


def check_packages(facts: ImageFacts, lock: piplock.PipLock, allow_extra: tuple[str, ...]
                   ) -> CheckResult:
    env = dict(facts.markers) or piplock.marker_environment(lock.header.python)
    wanted: dict[str, tuple[str, int]] = {}
    for entry in lock.data.entries:
        if entry.name is None or not piplock.applies(entry, env):
            continue
        wanted[str(canonicalize_name(entry.name))] = (entry.pinned_version or entry.specifier,
                                                 entry.line)
    allowed = {str(canonicalize_name(a)) for a in allow_extra}
    findings: list[Finding] = []
    for name, (version, line) in sorted(wanted.items()):
        have = facts.dists.get(name)
        if have is None:
            findings.append(Finding(f"{name}=={version} is locked but not installed in the "
                                    "image", lock.display, line,
                                    "Install the lock in the image: pip install --no-deps "
                                    f"--require-hashes -r {lock.display}"))
        elif version and have[1] != version:
            findings.append(Finding(f"{name}: the image has {have[1]}, the lock pins "
                                    f"{version}", lock.display, line,
                                    "Install from the lock only; do not upgrade in the "
                                    "Dockerfile."))
    for name, (shown, version) in sorted(facts.dists.items()):
        if name not in wanted and name not in allowed:
            findings.append(Finding(
                f"{shown}=={version} is installed in the image but not in {lock.display}",
                None, None,
                f"Add {shown} to the lock's inputs and re-run pip-compile, remove the extra "
                "`pip install` from the Dockerfile, or add it to [tool.shipready.parity] "
                "allow_extra."))
    count = plural(len(wanted), "locked package")
    return CheckResult.from_findings(
        "SR402", findings, f"{count} installed at the locked versions",
        f"{plural(len(findings), 'difference')} between the image and {lock.display}",
        locked=len(wanted), installed=len(facts.dists))


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
