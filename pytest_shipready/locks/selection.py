"""Which part of a lock an install selects: groups, extras and the image's markers.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from .model import LockError, ToolLock
from .poetry import _poetry_pick
from .pylock import _pylock_pick
from .uv import _uv_pick

if TYPE_CHECKING:
    from .pipcompile import PipLock


def expected_distributions(
    lock: ToolLock | PipLock, env: Mapping[str, str], *,
    groups: Collection[str] | None = None, extras: Collection[str] = (),
    packages: Collection[str] = (), all_packages: bool = False, runtime: bool = True,
) -> dict[str, str]:
    """The distributions an install from ``lock`` puts into the environment ``env``.

    ``lock`` is any lock: :func:`load_any` (or :func:`load`, ``piplock.load``) gives it.
    For a pip-compile lock, every ``name==version`` line whose marker holds in ``env``
    (``groups`` and ``extras`` do not apply: the file is the selection).

    ``env`` is a PEP 508 marker environment (``packaging.markers.default_environment()``
    of the target interpreter, e.g. taken inside the image). ``groups``: dependency
    groups installed besides the runtime dependencies (Poetry: besides "main"; uv:
    ``[dependency-groups]``); None or empty means runtime dependencies only, as
    ``poetry install --only main`` / ``uv sync --no-dev`` do. ``extras``: the project's
    extras installed. ``packages`` / ``all_packages`` (uv workspaces): the members
    installed, as ``uv sync --package`` / ``--all-packages`` choose them; by default the
    root project, or every member when the workspace root is not a project; groups and
    extras apply to those members. ``runtime=False``: the groups alone, without the
    project and its runtime dependencies (or extras), as ``uv sync --only-group`` /
    ``--only-dev`` and ``poetry install --only <not main>`` install them. Returns
    {canonical name: version}; the project itself and
    editable installs are left out (they are not pinned distributions), as are local
    sources without a recorded version. Raises :class:`LockError` when the lock cannot
    tell (a lock that failed to parse, or a Poetry lock older than lock-version 2.1,
    which records no groups and markers per package).
    """
    if lock.error is not None:
        raise LockError(f"{lock.display} cannot be parsed: {lock.error.message}")
    if not isinstance(lock, ToolLock):
        return _piplock_pick(lock, env)
    chosen = {*(("main",) if runtime else ()), *(groups or ())}
    if not runtime:
        extras = ()  # extras are the project's: not installed without it
    if lock.format == "poetry":
        picked = _poetry_pick(lock, env, chosen, extras)
    elif lock.format == "uv":
        picked = _uv_pick(lock, env, set(groups or ()), extras, packages, all_packages,
                          runtime)
    else:
        picked = _pylock_pick(lock, env, set(groups or ()), extras)
    root = lock.root()
    return {p.name: p.version for p in picked
            if p.version is not None and not p.editable and p is not root
            and p.kind != "virtual"}


def _piplock_pick(lock: PipLock, env: Mapping[str, str]) -> dict[str, str]:
    from .pipcompile import applies

    out: dict[str, str] = {}
    for e in lock.data.entries:
        version = e.pinned_version
        if e.name and version and not e.editable and applies(e, dict(env)):
            out[e.name] = version
    return out


def option_values(args: Sequence[str], *names: str) -> list[str]:
    """Every value given to the options ``names``, in order: ``--opt v``, ``--opt=v``
    and, for a two-letter ``-X``, ``-Xv``."""
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        key, eq, inline = word.partition("=")
        if key in names:
            if eq:
                out.append(inline)
            elif i + 1 < len(args):
                i += 1
                out.append(args[i])
        else:
            short = next((n for n in names if len(n) == 2 and word.startswith(n)
                          and len(word) > 2), None)
            if short is not None:
                out.append(word[2:])
        i += 1
    return out


@dataclass(frozen=True)
class Selection:
    """Dependency groups installed besides the runtime dependencies, and extras."""

    groups: frozenset[str] = frozenset()
    extras: frozenset[str] = frozenset()
    how: str = "runtime dependencies"  # for messages: where the selection comes from
    packages: frozenset[str] = frozenset()  # uv workspace members: `--package`
    all_packages: bool = False  # uv: `--all-packages`
    # False: the groups alone, not the project and its runtime dependencies (uv's
    # `--only-group` / `--only-dev`, Poetry's `--only` without main)
    runtime: bool = True

    def describe(self) -> str:
        parts = ["runtime dependencies"]
        if self.packages:
            parts[0] += f" of {', '.join(sorted(self.packages))}"
        elif self.all_packages:
            parts[0] += " of every workspace member"
        if not self.runtime:
            only = (f"group{'s' if len(self.groups) > 1 else ''} "
                    f"{', '.join(sorted(self.groups))}" if self.groups else "no group")
            of = (f" of {', '.join(sorted(self.packages))}" if self.packages else
                  " of every workspace member" if self.all_packages else "")
            return f"only {only}{of}, not the project or its runtime dependencies"
        if self.groups:
            parts.append(f"group{'s' if len(self.groups) > 1 else ''} "
                         f"{', '.join(sorted(self.groups))}")
        if self.extras:
            parts.append(f"extra{'s' if len(self.extras) > 1 else ''} "
                         f"{', '.join(sorted(self.extras))}")
        return " + ".join(parts)


def runtime_only(why: str) -> Selection:
    return Selection(how=why)


def configured(groups: Sequence[str] | None, extras: Sequence[str] | None,
               inferred: Selection, where: str) -> Selection:
    """``[tool.shipready.parity] groups / extras`` where set, else the inferred ones.
    Configured groups are installed besides the runtime dependencies."""
    if groups is None and extras is None:
        return inferred
    return Selection(
        frozenset(_group(g) for g in groups) if groups is not None else inferred.groups,
        frozenset(_extra(e) for e in extras) if extras is not None else inferred.extras,
        where, inferred.packages, inferred.all_packages,
        runtime=True if groups is not None else inferred.runtime)


def _group(name: str) -> str:
    return str(canonicalize_name(name)) if name != "main" else name


def _extra(name: str) -> str:
    return str(canonicalize_name(name))


def _table(data: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    for key in keys:
        value = data.get(key) if isinstance(data, Mapping) else None
        if not isinstance(value, Mapping):
            return {}
        data = value
    return data


def project_groups(pyproject: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(every dependency group, the optional ones): PEP 735 ``[dependency-groups]`` and
    Poetry's ``[tool.poetry.group.<name>]`` (``optional = true``)."""
    groups = {_group(str(g)) for g in _table(pyproject, "dependency-groups")}
    optional: set[str] = set()
    for name, table in _table(pyproject, "tool", "poetry", "group").items():
        groups.add(_group(str(name)))
        if isinstance(table, Mapping) and table.get("optional") is True:
            optional.add(_group(str(name)))
    if _table(pyproject, "tool", "poetry").get("dev-dependencies"):
        groups.add("dev")  # Poetry < 1.2 layout, read as the dev group
    return groups, optional


def project_extras(pyproject: Mapping[str, Any]) -> set[str]:
    names = set(_table(pyproject, "project", "optional-dependencies"))
    names |= set(_table(pyproject, "tool", "poetry", "extras"))
    return {_extra(str(n)) for n in names}


def _values(args: Sequence[str], *names: str) -> list[str]:
    """Every value of the options ``names``, split on commas and spaces as Poetry allows
    (``--with dev,test``, ``-E "a b"``)."""
    return [v for value in option_values(args, *names)
            for v in value.replace(",", " ").split()]


def member_at(lock: ToolLock, workdir: str, lock_dir: str = "") -> str | None:
    """The uv workspace member ``uv sync`` / ``uv export`` picks when run in the image's
    directory ``workdir`` without ``--package``: uv takes the project whose
    pyproject.toml is in that directory or the nearest one above it, so a member's
    directory (or one below it) selects that member. ``lock_dir`` is where the lock (the
    workspace root) is in the image; when not known, ``workdir`` must end with a member's
    path. None: the workspace root (or not known)."""
    if not workdir:
        return None
    paths = {}
    for member in lock.members():
        source = posixpath.normpath(member.source or ".")
        if source not in (".", "") and not source.startswith(("..", "/")):
            paths[source] = member.name
    if lock_dir:
        rel = posixpath.relpath(posixpath.normpath(workdir), posixpath.normpath(lock_dir))
        hits = [p for p in paths if rel == p or rel.startswith(p + "/")]
    else:
        hits = [p for p in paths if posixpath.normpath(workdir).endswith("/" + p)]
    return paths[max(hits, key=len)] if hits else None


def from_command(tool: str, verb: str, args: Sequence[str], pyproject: Mapping[str, Any],
                 where: str, members: Sequence[Mapping[str, Any]] = (),
                 member: str | None = None) -> Selection:
    """The selection of ``poetry install|sync|export`` or ``uv sync|export`` with ``args``
    (the words after the verb). ``where`` names the command for messages. ``members``:
    the pyproject.toml data of a uv workspace's other members, whose groups and extras
    ``--all-groups`` / ``--all-extras`` include too. ``member``: the workspace member the
    command's working directory selects (:func:`member_at`), used without ``--package``
    and ``--all-packages``."""
    groups, optional = project_groups(pyproject)
    all_extras = project_extras(pyproject)
    for data in members:
        groups |= project_groups(data)[0]
        all_extras |= project_extras(data)
    flags = set(args)
    packages: frozenset[str] = frozenset()
    all_packages = False
    runtime = True
    if tool == "poetry":
        if verb == "export":
            chosen: set[str] = set()
        else:
            chosen = groups - optional
        chosen |= {_group(g) for g in _values(args, "--with")}
        chosen -= {_group(g) for g in _values(args, "--without")}
        if "main" in {_group(g) for g in _values(args, "--without")}:
            runtime = False
        if "--no-dev" in flags:
            chosen.discard("dev")
        only = _values(args, "--only")
        if only:
            chosen = {_group(g) for g in only}
            runtime = "main" in chosen
        if "--all-groups" in flags:
            chosen = set(groups)
            runtime = True
        if "--only-root" in flags:
            chosen = set()
            runtime = False
        extras = {_extra(e) for e in _values(args, "-E", "--extras")}
        if "--all-extras" in flags:
            extras = all_extras
    else:
        uv = _table(pyproject, "tool", "uv")
        default = uv.get("default-groups", ["dev"])
        defaults = set(groups) if default == "all" else \
            {_group(str(g)) for g in default} if isinstance(default, list) else {"dev"}
        if "--no-default-groups" in flags:
            defaults = set()
        chosen = defaults | {_group(g) for g in _values(args, "--group")}
        if "--dev" in flags:
            chosen.add("dev")
        if "--no-dev" in flags:
            chosen.discard("dev")
        if "--all-groups" in flags:
            chosen = set(groups)
        # --only-group / --only-dev: those groups alone, without the project and its
        # dependencies (uv refuses them with --group, --dev, --all-groups, --extra or
        # --all-extras; --no-dev from UV_NO_DEV does not count against --only-dev)
        only_groups = {_group(g) for g in _values(args, "--only-group")}
        if "--only-dev" in flags:
            only_groups.add("dev")
        if only_groups:
            chosen = only_groups
            runtime = False
        chosen -= {_group(g) for g in _values(args, "--no-group")}  # wins over the rest
        extras = {_extra(e) for e in _values(args, "--extra")}
        if "--all-extras" in flags:
            extras = all_extras
        extras -= {_extra(e) for e in _values(args, "--no-extra")}
        if not runtime:
            extras = set()
        packages = frozenset(str(canonicalize_name(p)) for p in _values(args, "--package"))
        all_packages = "--all-packages" in flags
        if member and not packages and not all_packages:
            packages = frozenset({str(canonicalize_name(member))})
    chosen.discard("main")  # the runtime dependencies: `runtime`
    return Selection(frozenset(chosen & groups if groups else chosen), frozenset(extras),
                     where, packages, all_packages, runtime)
