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
    # --- SR2xx: Dockerfile hygiene and image build -----------------------------------
    CheckSpec(
        "SR210", "image", "build", "The image builds",
        "The image that will be deployed must be built, from this commit, before it can be "
        "exercised; a build that only works on one machine is not ready.",
        "Fix the failing step shown (run `docker build .` to reproduce it).",
    ),
    CheckSpec(
        "SR211", "image", "size", "The image fits its size budget",
        "Large images are slow to pull and scale, and often carry build tools and caches "
        "that should not ship.",
        "Use a slim base, a multi-stage build and `pip install --no-cache-dir`; or raise "
        "[tool.shipready.image] size_budget_mb.",
    ),
    # --- SR3xx: smoke (the running container) ----------------------------------------
    CheckSpec(
        "SR301", "smoke", "ready", "The container starts and becomes ready in time",
        "An image that does not start, or never answers, fails in production the same way.",
        "Read the container's log shown; fix the start command or the HEALTHCHECK, or raise "
        "[tool.shipready.smoke] ready_timeout.",
    ),
    CheckSpec(
        "SR302", "smoke", "stays-up", "The container stays up after becoming ready",
        "A service that crashes seconds after start passes a one-shot probe but not traffic.",
        "Read the container's log shown and fix the crash.",
    ),
    CheckSpec(
        "SR303", "smoke", "non-root-runtime", "The container runs as a non-root user",
        "A process running as root turns any code execution bug into root in the container.",
        "Add `RUN useradd --system --uid 10001 app` and `USER app` to the final stage.",
    ),
    CheckSpec(
        "SR304", "smoke", "graceful-shutdown", "SIGTERM stops the container cleanly in time",
        "Orchestrators stop containers with SIGTERM and kill them after a grace period; a "
        "service that ignores it loses in-flight requests on every deploy.",
        "Handle SIGTERM in PID 1 (exec-form CMD, signal handler), or use an init (tini, "
        "docker run --init).",
    ),
    CheckSpec(
        "SR305", "smoke", "commands", "The configured commands succeed in the container",
        "Commands a deploy relies on (migrations, --version, a CLI) must work in the image.",
        "Fix the command or the image, or change [[tool.shipready.smoke.commands]].",
    ),
    # --- SR4xx: parity (image vs lock vs host) ---------------------------------------
    CheckSpec(
        "SR401", "parity", "python", "The image's Python is the lock's Python",
        "A lock compiled for another Python may pick other versions or markers than the "
        "interpreter that runs them.",
        "Use the base image of the lock's Python, or re-run pip-compile with the image's.",
    ),
    CheckSpec(
        "SR402", "parity", "packages", "The image holds exactly the lock's packages",
        "A package installed outside the lock, or another version, means what runs is not "
        "what was tested.",
        "Install only from the lock (`pip install --no-deps --require-hashes -r <lock>`); "
        "add new dependencies to the inputs and re-run pip-compile.",
    ),
    CheckSpec(
        "SR403", "parity", "environment", "Required environment variables are set",
        "A service that needs a variable no one sets fails only once deployed.",
        "Set it with ENV in the Dockerfile or in [tool.shipready.smoke] env (and in the "
        "deployment).",
    ),
    CheckSpec(
        "SR404", "parity", "tests", "Tests marked shipready_parity pass in both places",
        "A test that passes on the host but fails in the image shows that the image "
        "differs from the environment the suite ran in.",
        "Read both outcomes shown; fix the image (packages, files, env) or the test's "
        "assumption about its environment.",
    ),
    # --- SR5xx: structured logs ------------------------------------------------------
)

BY_ID: dict[str, CheckSpec] = {c.id: c for c in CHECKS}


def spec(check_id: str) -> CheckSpec:
    return BY_ID[check_id]
