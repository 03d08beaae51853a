"""The catalogue of readiness checks: stable IDs, names and what each one is for.

An ID never changes meaning once released; it is what users put in
``[tool.shipready.disable]`` and what failures, reports and docs pages name.
Ranges: SR1xx lockfiles, SR2xx image and Dockerfile, SR3xx smoke, SR4xx parity,
SR5xx structured logs, SR6xx deployment manifests.
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
        """The check's page in the repository: docs/checks/<ID>.md."""
        return f"docs/checks/{self.id}.md"

    @property
    def url(self) -> str:
        """Where users read that page (the project's documentation URL)."""
        return f"{DOCS_URL}/checks/{self.id}.md"


# The [project.urls] Documentation of pyproject.toml (a test keeps them equal).
DOCS_URL = "https://github.com/pytest-shipready/pytest-shipready/blob/main/docs"

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
    CheckSpec(
        "SR106", "lockfile", "hashes-match-index",
        "Every pinned hash is one the index publishes for that file",
        "A hash edited by hand or mangled in a merge is only noticed when an install "
        "fails, or never, if it is the hash of a file someone else built; none of the "
        "other lock checks compares hashes with the index.",
        "Restore the lock from version control or regenerate it (pip-compile "
        "--generate-hashes, `poetry lock`, `uv lock`); never edit hashes by hand.",
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
    # SR201-SR206: static Dockerfile hygiene (area "dockerfile"; no build needed)
    CheckSpec(
        "SR201", "dockerfile", "base-pinned", "Every base image is pinned",
        "An image without a tag is :latest, and :latest moves: the next build silently "
        "starts from a different base than the one that was tested.",
        "Name a version tag (python:3.11-slim), or pin the digest "
        "(python:3.11-slim@sha256:...) for fully reproducible builds.",
    ),
    CheckSpec(
        "SR202", "dockerfile", "non-root-user", "The final stage runs as a non-root USER",
        "A process running as root in the container is root on the host's kernel: an "
        "escape or a writable mount does far more damage.",
        "Create a user and switch to it at the end of the final stage: "
        "`RUN useradd --system --uid 10001 app` then `USER app` (or `USER 10001`).",
    ),
    CheckSpec(
        "SR203", "dockerfile", "healthcheck", "The image declares a HEALTHCHECK",
        "Without one, Docker and orchestrators cannot tell a running container from a "
        "working one, and readiness cannot be awaited.",
        "Add `HEALTHCHECK CMD [...]` to the final stage, or set "
        "[tool.shipready.dockerfile] healthcheck_optional = true when readiness is probed "
        "another way.",
    ),
    CheckSpec(
        "SR204", "dockerfile", "no-secrets", "No secret-looking names in ARG or ENV",
        "ARG and ENV values stay in the image (its config and history) for anyone who can "
        "pull it.",
        "Pass build secrets with BuildKit (`RUN --mount=type=secret,id=NAME`) and runtime "
        "secrets through the environment at run time.",
    ),
    CheckSpec(
        "SR205", "dockerfile", "lock-used", "The dependency install uses the lockfile",
        "A lock that the image does not install from protects nothing: the image gets "
        "whatever the index serves that day.",
        "Install with `pip install --require-hashes -r <lockfile>` and add new "
        "dependencies to the lock instead of a separate `pip install`.",
    ),
    CheckSpec(
        "SR206", "dockerfile", "dockerignore", ".dockerignore leaves out .git and virtualenvs",
        "Without it the whole directory is sent to the builder and `COPY . .` copies the "
        "git history, local virtualenvs and caches into the image.",
        "Add a .dockerignore next to the build context with at least `.git`, `.venv` and "
        "`venv`.",
    ),
    CheckSpec(
        "SR207", "dockerfile", "start-command", "The image says what it runs",
        "Without a CMD or ENTRYPOINT of its own the container runs the base image's: for "
        "the python images an interactive interpreter that exits at once, so the service "
        "never starts and the orchestrator restarts it in a loop.",
        "Add the service's start command to the stage that ships (CMD [...]), or declare "
        "the platform's in [tool.shipready.smoke] command.",
    ),
    CheckSpec(
        "SR208", "dockerfile", "production-server",
        "The image does not run a development server",
        "Development servers (flask run, manage.py runserver, fastapi dev) and auto-reload "
        "(--reload, watchers) are single-threaded or restart on file changes, leak debug "
        "information, and `uv run` re-syncs packages at every start: none is fit to serve "
        "traffic.",
        "Start a production server: gunicorn, uvicorn without --reload, waitress; run the "
        "virtualenv's program directly (or `uv run --no-sync`).",
    ),
    CheckSpec(
        "SR209", "dockerfile", "no-migrate-on-start",
        "The start command does not run schema migrations",
        "A start command that migrates (manage.py migrate, alembic upgrade, flask db "
        "upgrade) runs in every replica at every start: replicas race each other at each "
        "deploy, and the new code may serve before or after the schema changes.",
        "Run migrations once per release in a release phase (a Kubernetes Job, Heroku's "
        "`release:` process, [tool.shipready.smoke] release) and start only the server.",
    ),
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
    CheckSpec(
        "SR230", "image", "declared-facts",
        "The image has the labels, ports, working directory and files declared",
        "Registries, scanners and deploy tooling read labels (the OCI source and revision), "
        "ports and the working directory off the image; a start script without its mode "
        "or owner fails only once deployed.",
        "Add the LABEL, EXPOSE or WORKDIR to the Dockerfile, or COPY --chmod/--chown the "
        "file; or change [tool.shipready.image] labels, ports, workdir or files.",
    ),
    # --- SR3xx: smoke (the running container) ----------------------------------------
    CheckSpec(
        "SR220", "image", "contents-secrets", "No secrets in any layer of the image",
        "Every layer ships, also the files a later layer deletes: a private key, an .env, a "
        "credentials file or a .git directory copied in once can be read by anyone who "
        "pulls the image.",
        "Keep them out of the build context (.dockerignore) and out of the image: "
        "`RUN --mount=type=secret` for build-time secrets, the orchestrator's at run time.",
    ),
    CheckSpec(
        "SR221", "image", "contents-waste", "The layers carry nothing for nothing",
        "Package caches and files deleted by a later layer make every pull and every node's "
        "disk pay for them; compilers left in the final stage of a multi-stage build defeat "
        "its purpose and widen what an attacker can use.",
        "pip --no-cache-dir, UV_NO_CACHE or a cache mount; delete in the RUN that creates; "
        "compile in the build stage. [tool.shipready.image] wasted_budget_mb sets the "
        "budget.",
    ),
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
        "SR310", "smoke", "hardened-ready",
        "The service starts under a hardened runtime",
        "Kubernetes, OpenShift and most platforms run images with a read-only root "
        "filesystem, no Linux capabilities, no privilege gain and often an arbitrary uid: "
        "an image that writes to its own tree, binds a port below 1024 or needs its build "
        "user starts on a laptop and crashes in production.",
        "Write only to /tmp or a declared volume, listen on a port above 1024, make the "
        "app readable by group 0 (`chgrp -R 0 /app && chmod -R g=u /app`); tune "
        "[tool.shipready.hardened] tmpfs and uid.",
    ),
    CheckSpec(
        "SR311", "smoke", "hardened-shutdown",
        "Under the hardened runtime it also stops gracefully",
        "The same SIGTERM an orchestrator sends, under the same restrictions: a handler "
        "that needs to write (a pid file, a flush to disk) can fail only there.",
        "Make shutdown need nothing but memory and the tmpfs paths.",
    ),
    CheckSpec(
        "SR320", "smoke", "services",
        "The backing services start and become ready",
        "Most services do not become ready without their database, cache or broker: the "
        "smoke, parity and log checks only mean something with them running, and a service "
        "that does not start from its declared image and settings fails the deploy too.",
        "Read the service's log shown; fix its image, environment or command in "
        "[tool.shipready.services.<name>] or the Compose file, or raise its ready_timeout.",
    ),
    CheckSpec(
        "SR321", "smoke", "release",
        "The release phase (migrations) succeeds on fresh services",
        "A deploy runs its release command (database migrations, collectstatic) before the "
        "new containers take traffic; one that fails on a fresh database fails the first "
        "deploy of every new environment.",
        "Read the output shown and fix the command or the migrations; the command is "
        "[tool.shipready.smoke] release.",
    ),
    CheckSpec(
        "SR520", "smoke", "metrics", "The metrics endpoint answers in Prometheus format",
        "Dashboards and alerts read it: a path that 404s or serves something else is "
        "discovered when the first incident has no graph.",
        "Expose prometheus_client's WSGI/ASGI app at the configured path "
        "([tool.shipready.observability] metrics_path).",
    ),
    CheckSpec(
        "SR521", "smoke", "error-event",
        "A failure is logged as one structured error event",
        "An error that is logged as plain text, at info level or not at all is found by "
        "users before the on-call engineer: alerts and log queries look for structured "
        "error events with the exception attached.",
        "Log unhandled exceptions with logger.exception(...) through the structured "
        "renderer (exception as a field), at error level.",
    ),
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
    CheckSpec(
        "SR405", "parity", "pip-check", "No installed distribution has a broken requirement",
        "A requirement missing or at a version outside its range (what `pip check` reports) "
        "fails at import time or, worse, on the first request that uses it.",
        "Install from a lock resolved as a whole (pip-compile, poetry, uv); do not install "
        "or upgrade single packages after it with --no-deps.",
    ),
    CheckSpec(
        "SR406", "parity", "imports",
        "The project's top-level modules and console entry points import in the image",
        "Code that imports on the host may miss a dependency, a file or a compiled library "
        "in the image; the first worker to start finds out.",
        "Add the missing dependency to the lock or the missing files to the image (check "
        ".dockerignore and COPY); or name what to import in [tool.shipready.integrity] "
        "modules.",
    ),
    CheckSpec(
        "SR407", "parity", "single-install", "No distribution is installed twice",
        "Two copies of a package (in the system site-packages and a user or virtualenv "
        "directory) mean which one is imported depends on sys.path order, not on the lock.",
        "Install into one place only: one virtualenv, or one `pip install`; remove the "
        "stray copy (pip uninstall) in the Dockerfile.",
    ),
    # --- SR5xx: structured logs ------------------------------------------------------
    CheckSpec(
        "SR501", "logs", "structured", "Every log line is machine-readable",
        "Log search, alerting and metrics need one parseable record per line; prose, "
        "print() output and raw tracebacks are lost or split into noise.",
        "Render every line with structlog's JSONRenderer (or LogfmtRenderer) and route "
        "stdlib logging through structlog.stdlib.ProcessorFormatter.",
    ),
    CheckSpec(
        "SR502", "logs", "required-keys", "Every log line has an event, a level and a time",
        "Without a message, a level and a timestamp a record cannot be searched, "
        "filtered by severity or put in order.",
        "Add add_log_level and TimeStamper(fmt='iso', utc=True) to the processors (and "
        "to ProcessorFormatter's foreign_pre_chain), or name your keys in "
        "[tool.shipready.logs].",
    ),
    CheckSpec(
        "SR503", "logs", "levels-and-timestamps",
        "Levels are level names; timestamps are ISO 8601 with a timezone",
        "Alerting filters by level name, and a time without a zone is ambiguous across "
        "hosts and daylight saving.",
        "Use add_log_level and TimeStamper(fmt='iso', utc=True); set timestamps = "
        '"epoch" if you log epoch numbers.',
    ),
    CheckSpec(
        "SR504", "logs", "exceptions-structured", "Exceptions are fields, not raw tracebacks",
        "A multi-line traceback becomes one unrelated record per line in every log "
        "pipeline, without level, time or request context.",
        "Add structlog.processors.dict_tracebacks (or format_exc_info) before the "
        "renderer and log errors with log.exception(...).",
    ),
    CheckSpec(
        "SR505", "logs", "no-secrets", "No secrets in the logs",
        "Logs are copied to many systems and people; a secret in them is a leaked secret.",
        "Drop credentials from events or mask them with a processor; rotate any secret "
        "that reached real logs.",
    ),
    CheckSpec(
        "SR510", "logs", "setup",
        "The app's logging setup renders structlog and stdlib records structured",
        "Libraries log through the standard library; if those records bypass the "
        "structured renderer, production logs mix JSON with plain text.",
        "In the setup function, give the root logger a handler with "
        "structlog.stdlib.ProcessorFormatter (foreign_pre_chain = your shared "
        "processors) and end structlog's chain with ProcessorFormatter.wrap_for_formatter.",
    ),
    # --- SR6xx: deployment manifests against the image ------------------------------
    CheckSpec(
        "SR600", "deploy", "manifests",
        "The deployment files name the containers of this image",
        "Manifests are code too: what deploys the image can disagree with it, and only "
        "files that are found and read can be checked.",
        "Keep the manifests in the repository (Kubernetes YAML, rendered Helm output), or "
        "name them in [tool.shipready.deploy] manifests and the image's repository in "
        "[tool.shipready.deploy] image.",
    ),
    CheckSpec(
        "SR601", "deploy", "ports", "Declared ports are ports the app listens on",
        "A containerPort, Service targetPort or probe port the app does not serve sends "
        "traffic and health checks nowhere; an app bound to 127.0.0.1 is unreachable from "
        "outside its pod.",
        "Point the manifest at the port the app listens on, or bind the server to "
        "0.0.0.0 on the declared port.",
    ),
    CheckSpec(
        "SR602", "deploy", "probes", "The manifest's probes succeed against the image",
        "A readiness probe on a path that answers 404 keeps every pod out of its Service; "
        "a failing liveness probe restarts the pods in a loop.",
        "Point each probe at a route (or command) that succeeds when the app is healthy.",
    ),
    CheckSpec(
        "SR603", "deploy", "grace-period",
        "terminationGracePeriodSeconds covers the app's shutdown",
        "When the grace period ends first, the kubelet kills the app mid-shutdown and "
        "in-flight requests and jobs fail at every deploy.",
        "Raise terminationGracePeriodSeconds above the preStop hook plus the measured "
        "shutdown, or make the shutdown faster.",
    ),
    CheckSpec(
        "SR604", "deploy", "environment", "The manifest sets the variables the app needs",
        "A variable the smoke test had to set but the manifest does not is a pod that "
        "crashes, or runs with a development default, once deployed.",
        "Set it in the container's env (a value, a secretKeyRef) or an envFrom source.",
    ),
    CheckSpec(
        "SR605", "deploy", "command",
        "A command the manifest runs instead of the image's starts",
        "command/args in a manifest replace the image's ENTRYPOINT/CMD, so the smoke "
        "test of the image's own command says nothing about what the cluster runs.",
        "Fix the manifest's command/args (a module path, a missing script), or the image.",
    ),
    CheckSpec(
        "SR606", "deploy", "security-context",
        "The manifest's securityContext lets the image start",
        "runAsNonRoot with a root or non-numeric USER makes the kubelet refuse the pod; a "
        "read-only root filesystem breaks an app that writes to its home.",
        "Use a numeric non-root USER (or runAsUser), and give the app writable emptyDir "
        "volumes where it writes.",
    ),
    CheckSpec(
        "SR607", "deploy", "immutable-image",
        "Deployments reference images by digest or an immutable tag",
        ":latest and untagged references move when someone pushes: replicas, restarts "
        "and rollbacks can run different code than was tested.",
        "Reference the image by digest (name@sha256:...) or by a version or commit tag.",
    ),
)

BY_ID: dict[str, CheckSpec] = {c.id: c for c in CHECKS}


def spec(check_id: str) -> CheckSpec:
    return BY_ID[check_id]
