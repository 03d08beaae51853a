"""The catalogue of readiness checks: stable IDs, names and what each one is for.

An ID never changes meaning once released; it is what users put in
``[tool.shipready.disable]`` and what failures, reports and docs pages name.
Ranges: SR1xx lockfiles, SR2xx image and Dockerfile, SR3xx smoke, SR4xx parity,
SR5xx structured logs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckSpec:
    id: str
    area: str
    name: str
    title: str
    why: str
    fix: str

    @property
    def docs(self) -> str:
        return f"docs/checks/{self.id}.md"


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "SR100", "lockfile", "found", "The project has a lockfile",
        "Without a lockfile every build resolves dependencies anew, so what ships is not "
        "what was tested.",
        "Create one, e.g. `pip-compile --generate-hashes --strip-extras requirements.in`, "
        "or name it in [tool.shipready.lockfile] paths.",
    ),
    CheckSpec(
        "SR101", "lockfile", "pinned", "Every requirement is pinned exactly",
        "A range or a bare name lets the next install pick another version.",
        "Pin it as `name==version` by re-running pip-compile; a URL requirement needs "
        "--hash as well.",
    ),
    CheckSpec(
        "SR102", "lockfile", "hashed", "Every requirement carries --hash",
        "Hashes make the install fail rather than take a different file; pip refuses a "
        "file that mixes hashed and unhashed requirements.",
        "Re-run pip-compile with --generate-hashes.",
    ),
    CheckSpec(
        "SR103", "lockfile", "covers-inputs", "The lock satisfies every input requirement",
        "A requirement added to requirements.in or pyproject.toml but not recompiled "
        "never reaches the image.",
        "Re-run pip-compile with the command in the lockfile's header.",
    ),
    CheckSpec(
        "SR104", "lockfile", "fresh", "Re-resolving gives the same pins and hashes",
        "A lock that a fresh resolution would change is stale or not deterministic.",
        "Re-run pip-compile with the command in the lockfile's header and commit the "
        "result.",
    ),
    CheckSpec(
        "SR105", "lockfile", "portable", "The lock works on machines other than its maker's",
        "Local indexes, find-links to local paths and editable or path requirements only "
        "exist on the machine that compiled the lock.",
        "Re-run pip-compile with --no-emit-index-url and --no-emit-find-links (or "
        "PIP_CONFIG_FILE=/dev/null), and depend on packages by name.",
    ),
    # --- SR11x: Poetry, uv and pylock.toml lockfiles ---------------------------------
    # pinned, hashed, covers-inputs and portable reuse SR101, SR102, SR103 and SR105 for
    # these locks (same meaning); freshness is tool-specific, hence its own IDs.
    CheckSpec(
        "SR110", "lockfile", "fresh", "poetry.lock's content-hash matches pyproject.toml",
        "Poetry records a hash of the dependency sections of pyproject.toml; when it "
        "differs, a dependency was edited without relocking and the image installs the "
        "old set (or `poetry install` refuses the lock).",
        "Run `poetry lock` (Poetry 2: it keeps the locked versions where it can) and "
        "commit poetry.lock.",
    ),
    CheckSpec(
        "SR111", "lockfile", "fresh", "uv.lock is up to date with pyproject.toml",
        "A requirement edited in pyproject.toml but not relocked never reaches the image; "
        "`uv sync --locked` in the Dockerfile would refuse the build.",
        "Run `uv lock` and commit uv.lock.",
    ),
    # --- SR2xx: Dockerfile hygiene and image build -----------------------------------
    # --- SR3xx: smoke (the running container) ----------------------------------------
    # --- SR4xx: parity (image vs lock vs host) ---------------------------------------
    # --- SR5xx: structured logs ------------------------------------------------------
)

BY_ID: dict[str, CheckSpec] = {c.id: c for c in CHECKS}


def spec(check_id: str) -> CheckSpec:
    return BY_ID[check_id]
