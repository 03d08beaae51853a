"""``--shipready-init``: a starter ``[tool.shipready]`` section inferred from the project.

It prints what it found (lockfiles, the Dockerfile's final stage, user, exposed ports,
health check) as comments, and the keys a team usually sets next, with the values
inferred, commented out where the default already matches. The output is valid TOML that
the strict schema accepts. Pure: reads files, never writes them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .dockerfile import parser
from .locks import discover, pipcompile


def starter(project: Path) -> str:
    out = [
        f"# pytest-shipready starter configuration, inferred from {project}",
        "# Paste into pyproject.toml; every key is optional (defaults shown commented).",
    ]
    present = _present_tables(project)
    if present:
        out.append(f"# pyproject.toml already has {', '.join(present)}: merge the keys "
                   "below into them (TOML forbids a table twice).")
    out.append("")
    out += _lockfile_section(project)
    out += _dockerfile_section(project)
    out += [
        "[tool.shipready.disable]",
        '# SR105 = "why this check does not apply here"',
        "",
    ]
    return "\n".join(out)


def _present_tables(project: Path) -> list[str]:
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    tool = data.get("tool")
    table = tool.get("shipready") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        return []
    nested = [f"[tool.shipready.{k}]" for k, v in table.items() if isinstance(v, dict)]
    return nested or ["[tool.shipready]"]


def _lockfile_section(project: Path) -> list[str]:
    locks = pipcompile.discover(project)
    lines = ["[tool.shipready.lockfile]"]
    if not locks and not discover.discover(project):
        lines += [
            "# No lockfile found (requirements*.txt, requirements/*.txt, poetry.lock, uv.lock, "
            "pylock.toml).",
            "# Create one:  pip-compile --generate-hashes --strip-extras requirements.in",
            '# paths = ["requirements.txt"]',
        ]
    for path in locks:
        lock = pipcompile.load(path, project)
        sources = ", ".join(lock.header.sources) or "pip-compile's default inputs"
        hashed = lock.error is None and all(e.hashes for e in lock.data.entries)
        lines.append(f"# found {lock.display}: pip-compile lock of {sources}, "
                     f"{len(lock.data.entries)} requirements, "
                     f"{'hashed' if hashed else 'NOT hashed'}")
    for path in discover.discover(project):
        lines.append(f"# found {pipcompile.display_path(path, project)} (checked "
                     "automatically)")
    if locks:
        listed = ", ".join(f'"{pipcompile.display_path(p, project)}"' for p in locks)
        lines.append(f"# paths = [{listed}]   # found automatically")
    lines += ["# require_hashes = true", "# resolve_timeout = 180.0", ""]
    return lines


def _dockerfile_section(project: Path) -> list[str]:
    path = project / "Dockerfile"
    image = ["[tool.shipready.image]"]
    lines = ["[tool.shipready.dockerfile]"]
    try:
        parsed = parser.parse(path.read_text(encoding="utf-8"), "Dockerfile")
    except (OSError, UnicodeDecodeError):
        return [*image, "# No readable Dockerfile at the project root: the Dockerfile and "
                "image checks are skipped.", '# dockerfile = "docker/Dockerfile"', ""]
    stage = parsed.target()
    if stage is None:
        return [*lines, "# Dockerfile has no FROM: fix it before the checks can run.", ""]
    user = parsed.user(stage)
    ports = parsed.exposed(stage)
    health = parsed.healthcheck(stage)
    image += [
        f"# found Dockerfile: {len(parsed.stages)} stage(s), final {stage.label} "
        f"FROM {stage.base}",
        '# dockerfile = "Dockerfile"   # what the Dockerfile checks read and the build uses',
        '# context = "."',
        '# target = ""                 # the stage that ships; empty: the last one',
        "",
    ]
    lines += [
        f"# the final stage: USER {user.value if user else '(none: runs as root)'}, "
        f"EXPOSE {' '.join(f'{p}/{proto}' for p, proto in ports) or '(none)'}, "
        f"HEALTHCHECK {'present' if health and not health.none else 'missing'}",
        '# pin = "tag"            # or "digest" for base images pinned by @sha256',
    ]
    if health is None or health.none:
        lines.append("healthcheck_optional = false   # add a HEALTHCHECK, or probe readiness "
                     "another way and set true")
    lines.append("")
    return image + lines
