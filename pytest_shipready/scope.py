"""Which files a check may read: one rule for every path, configured or found.

A check reads only files inside the project directory (symlinks resolved), unless
``[tool.shipready] allow_outside_project = true``; the pseudo-filesystems ``/proc``,
``/sys`` and ``/dev`` are refused in any case (``/proc/self/environ`` is the process
environment, ``/dev/zero`` never ends). A refused file is never opened, so no message can
quote it: a refusal names the path and the rule, nothing read from it.

The configured paths ([tool.shipready.image] dockerfile ..., see
:func:`pytest_shipready.config.outside_paths`) are checked when the configuration is
loaded; the files a check finds on its way (a lock's inputs, their ``-r``/``-c``
includes, workspace members, a symlinked lock) are checked with the same
:class:`ProjectScope` before they are read. Pure: no pytest, no docker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Pseudo-filesystems: never a project file, whatever allow_outside_project says.
PSEUDO = ("/proc", "/sys", "/dev")
ALLOW_KEY = "[tool.shipready] allow_outside_project"


@dataclass(frozen=True)
class Refusal:
    """Why a path may not be read: ``kind`` is "loop", "pseudo" or "outside"."""

    kind: str
    target: str  # the path, symlinks resolved (as given for a loop)
    root: str  # the project directory
    pseudo: str = ""  # "/proc" for kind "pseudo"

    def describe(self, symlink: bool = False) -> str:
        """What follows the path's name in a message: "is outside the project directory
        /x (a symlink to /y)". ``symlink``: the name given does not itself leave it."""
        if self.kind == "loop":
            return "cannot be resolved (a symlink loop?)"
        if self.kind == "pseudo":
            return f"is in {self.pseudo} ({self.target}), which holds no project file"
        via = f" (a symlink to {self.target})" if symlink else ""
        return f"is outside the project directory {self.root}{via}"

    @property
    def fix(self) -> str:
        if self.kind == "outside":
            return ("checks read only files inside it. Move it into the project, or set "
                    f"{ALLOW_KEY} = true")
        if self.kind == "pseudo":
            return "name a file of the project"
        return "fix the symlink"


def leaves(name: str) -> bool:
    """Whether a path as written leaves its directory by itself (absolute, or ``..``):
    else a symlink on the way does."""
    return Path(name).is_absolute() or ".." in Path(name).parts


def refused_message(label: str, name: str, refusal: Refusal) -> str:
    """"[tool.shipready.image] dockerfile = '../x' is outside the project directory /p;
    checks read only files inside it. Move it ..." for a path written ``name``."""
    return f"{label} {refusal.describe(not leaves(name))}; {refusal.fix}"


@dataclass(frozen=True)
class ProjectScope:
    """The project directory and whether files outside it may be read."""

    root: Path
    allow_outside: bool = False

    def refusal(self, path: Path | str) -> Refusal | None:
        """Why ``path`` (relative paths are relative to the project) may not be read, or
        None. Resolves symlinks; touches no file content."""
        root = Path(os.path.abspath(self.root))
        try:
            root = root.resolve()
            target = (root / path).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            return Refusal("loop", str(path), str(root))
        posix = target.as_posix()
        pseudo = next((p for p in PSEUDO if posix == p or posix.startswith(p + "/")), None)
        if pseudo is not None:
            return Refusal("pseudo", posix, str(root), pseudo)
        if self.allow_outside or target == root or target.is_relative_to(root):
            return None
        return Refusal("outside", posix, str(root))
