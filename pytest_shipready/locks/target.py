"""The platform a lock is installed on: the image's, not this host's.

Lock checks run before the image is built, so the platform comes from what is known
statically: the Dockerfile's base image (``FROM python:3.11-slim`` gives Python 3.11,
``FROM --platform=linux/arm64`` the machine), else ``[tool.shipready.lockfile] platform``
(default linux/x86_64) and the Python the lock records or this interpreter's. The
result is a PEP 508 marker environment, and a description that the checks print
("linux/x86_64, Python 3.11 (FROM python:3.11-slim)"), so that a macOS developer and a
Linux CI judge the same markers. Pure: reads files, no pytest, no docker.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..dockerfile import parser

# Docker's platform architectures as Python's platform.machine() reports them on Linux.
MACHINES = {
    "amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "arm64/v8": "aarch64",
    "aarch64": "aarch64", "arm/v7": "armv7l", "arm/v6": "armv6l", "386": "i686",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}
# python:3.11-slim, python:3.11.7-bookworm, ghcr.io/astral-sh/uv:python3.12-bookworm-slim
_PYTHON_TAG = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?![\d.])")
_EMBEDDED = re.compile(r"(?:^|[-_])(?:python|py)(\d+)\.(\d+)(?:\.(\d+))?(?![\d.])")


@dataclass(frozen=True)
class Target:
    """A marker environment and where its parts came from."""

    platform: str  # "linux/x86_64"
    python: str  # "3.11"
    full_version: str  # "3.11.0"
    python_from: str  # "FROM python:3.11-slim", "the lock's header", "this interpreter"
    platform_from: str = ""  # "" (configured) or "FROM --platform=linux/arm64"
    notes: tuple[str, ...] = field(default=())

    @property
    def machine(self) -> str:
        return self.platform.partition("/")[2]

    def describe(self) -> str:
        """"linux/x86_64, Python 3.11 (FROM python:3.11-slim)"."""
        where = [self.python_from]
        if self.platform_from:
            where.append(self.platform_from)
        return f"{self.platform}, Python {self.python} ({'; '.join(where)})"

    def environment(self) -> dict[str, str]:
        """The PEP 508 marker environment of CPython on this platform."""
        system, _, _ = self.platform.partition("/")
        return {
            "implementation_name": "cpython",
            "implementation_version": self.full_version,
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": system.capitalize(),
            "platform_version": "",
            "python_full_version": self.full_version,
            "python_version": self.python,
            "sys_platform": system,
        }


def image_python_version(image: str) -> tuple[str, str, str | None] | None:
    """(major, minor, micro or None) of the Python a base image reference names: the tag
    of ``python``, or ``python3.11``/``py3.11`` in another image's tag or name; None if
    it names none (``debian:bookworm-slim``, ``python:latest``, ``$BASE``)."""
    ref = parser.parse_image(image)
    repository = ref.repository.rsplit("/", 1)[-1]
    tag = ref.tag or ""
    m = _PYTHON_TAG.match(tag) if repository == "python" else None
    if m is None:
        m = _EMBEDDED.search(tag) or _EMBEDDED.search(repository)
    if m is None:
        return None
    return m.group(1), m.group(2), m.group(3)


def python_of_image(image: str) -> tuple[str, str] | None:
    """(``"3.11"``, ``"3.11.0"``) for a Python base image reference; None if it names no
    Python version (``debian:bookworm-slim``, ``python:latest``, ``$BASE``)."""
    found = image_python_version(image)
    if found is None:
        return None
    minor = f"{found[0]}.{found[1]}"
    return minor, f"{minor}.{found[2] or 0}"


def machine_of(platform: str | None) -> str | None:
    """``linux/arm64`` -> ``linux/aarch64``; None for another OS, a variable or nothing."""
    if not platform or "$" in platform:
        return None
    system, _, arch = platform.lower().partition("/")
    machine = MACHINES.get(arch)
    if system != "linux" or machine is None:
        return None
    return f"linux/{machine}"


def from_dockerfile(path: Path, target: str, build_args: Mapping[str, str]
                    ) -> tuple[str | None, str | None, str]:
    """(base image, FROM --platform, why-not) of the stage that ships; the image is None
    when there is no Dockerfile or it names no base image (the reason says which)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None, None, f"no Dockerfile at {path.name}"
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, f"cannot read {path.name}: {exc}"
    dockerfile = parser.parse(text, path.name, dict(build_args))
    stage = dockerfile.target(target or None)
    if stage is None:
        return None, None, f"{path.name} has no stage {target!r}" if target else \
            f"{path.name} has no FROM"
    root = dockerfile.root(stage)
    if root.unresolved or root.base.lower() == "scratch":
        return None, root.platform, f"{path.name} FROM {root.base_raw} names no Python image"
    return root.base, root.platform, ""


def resolve(platform: str, *, dockerfile: Path | None = None, stage: str = "",
            build_args: Mapping[str, str] | None = None, lock_python: str | None = None,
            lock_python_from: str = "the lock's header") -> Target:
    """The target: the Dockerfile's FROM where it names a Python image, else
    ``lock_python`` (e.g. pip-compile's header), else this interpreter's version;
    the machine from ``FROM --platform`` where literal, else ``platform``."""
    image, from_platform, why = (None, None, "no Dockerfile") if dockerfile is None else \
        from_dockerfile(dockerfile, stage, build_args or {})
    platform_from = ""
    chosen = machine_of(from_platform)
    if chosen is not None:
        platform, platform_from = chosen, f"FROM --platform={from_platform}"
    found = python_of_image(image) if image else None
    if found is not None:
        minor, full = found
        return Target(platform, minor, full, f"FROM {image}", platform_from)
    name = dockerfile.name if dockerfile is not None else "Dockerfile"
    notes = (why or f"{name} FROM {image} names no Python version",)
    if lock_python:
        return Target(platform, lock_python, _full(lock_python),
                      f"{lock_python_from}; {notes[0]}", platform_from, notes)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Target(platform, here, _full(here), f"this interpreter; {notes[0]}",
                  platform_from, notes)


def _full(minor: str) -> str:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if minor == here:
        return ".".join(str(v) for v in sys.version_info[:3])
    return f"{minor}.0"
