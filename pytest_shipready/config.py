"""``[tool.shipready]`` in pyproject.toml: schema, defaults and strict validation.

The schema is the dataclasses below; their field types drive validation and their
``doc`` metadata is the configuration reference. An unknown key or a wrong type raises
:class:`ConfigError` naming the key and the file, which the plugin turns into a usage
error. Pure: imports neither pytest nor docker.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .catalog import BY_ID
from .scope import ProjectScope, refused_message

SECTION = "tool.shipready"
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class ConfigError(Exception):
    """Bad configuration: the message names the file and the key."""


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class LockfileConfig:
    paths: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "Lockfiles to check, relative to the project directory. Empty: found "
            "automatically (requirements*.txt and requirements/*.txt with a pip-compile "
            "or uv pip compile header, poetry.lock, uv.lock, pylock.toml and "
            "pylock.*.toml). The format "
            "is recognised by file name, else by content."
        ),
    )
    require_hashes: bool = field(
        default=True, metadata=_doc("SR102 fails when a requirement has no --hash.")
    )
    resolve: bool = field(
        default=True,
        metadata=_doc("SR104 re-resolves with pip-compile (or `uv pip compile`, for a "
                      "lock uv made) and SR111 runs `uv lock --check` (may need the "
                      "package index)."),
    )
    resolve_max_age: float = field(
        default=86400.0,
        metadata=_doc("Seconds a passing SR104 re-resolution is reused (from pytest's "
                      "cache, keyed on the lock, its inputs, the resolver's arguments "
                      "and versions); 0: re-resolve on every run. `--cache-clear` "
                      "re-resolves."),
    )
    resolve_timeout: float = field(
        default=180.0,
        metadata=_doc("Seconds pip-compile or uv (SR104, SR111) may take before the "
                      "check is skipped."),
    )
    platform: Literal["linux/x86_64", "linux/aarch64"] = field(
        default="linux/x86_64",
        metadata=_doc(
            "The platform the image runs on, for judging markers (SR103) before the "
            "image is built: with the Python of the Dockerfile's FROM (else the lock's, "
            "else this interpreter's). A literal FROM --platform wins."
        ),
    )
    pip_config: Literal["isolated", "inherit"] = field(
        default="isolated",
        metadata=_doc(
            "isolated: re-resolve without this machine's pip configuration files and "
            "PIP_* index variables, using only the index options recorded in the lock, "
            "as another machine would (for `uv lock --check`: `--no-config` and without "
            "UV_INDEX* / UV_FIND_LINKS variables). inherit: use them."
        ),
    )


# --- [tool.shipready.dockerfile] -----------------------------------------------------


@dataclass(frozen=True)
class DockerfileConfig:
    """The static checks of the Dockerfile that ``[tool.shipready.image]`` builds."""

    required: bool = field(
        default=False,
        metadata=_doc("A missing Dockerfile fails. Default: the Dockerfile checks are "
                      "skipped, as a project without one does not ship a container."),
    )
    pin: Literal["tag", "digest"] = field(
        default="tag",
        metadata=_doc("SR201: tag: every external base image has a tag other than latest; "
                      "digest: every one is pinned by @sha256 digest."),
    )
    allowed_secret_names: tuple[str, ...] = field(
        default=(),
        metadata=_doc("SR204: ARG/ENV names that look like secrets but are not "
                      "(e.g. \"SORT_KEY\"). Case-insensitive."),
    )
    healthcheck_optional: bool = field(
        default=False,
        metadata=_doc("SR203 passes without a HEALTHCHECK: readiness is probed another "
                      "way (e.g. an HTTP probe configured for the smoke checks)."),
    )
    allowed_installs: tuple[str, ...] = field(
        default=(),
        metadata=_doc("SR205: packages that may be installed outside the lock, by name "
                      "(e.g. \"gunicorn\"); the installers pip, poetry and uv always may."),
    )
    dockerignore_required: tuple[str, ...] = field(
        default=(".git", ".venv", "venv"),
        metadata=_doc("SR206: paths (relative to the context) that .dockerignore must "
                      "leave out; virtualenvs found in the context are added."),
    )


# --- [tool.shipready.image] ----------------------------------------------------------


@dataclass(frozen=True)
class DeclaredFile:
    path: str = field(default="", metadata=_doc("The absolute path in the image."))
    mode: str = field(
        default="", metadata=_doc('Its permission bits in octal, as a string: "0755".')
    )
    owner: str = field(default="", metadata=_doc("Its owner: a user name or a uid."))
    group: str = field(default="", metadata=_doc("Its group: a group name or a gid."))

    def __post_init__(self) -> None:
        where = f"[{SECTION}.image] files"
        if not self.path.startswith("/"):
            raise ConfigError(f"{where}: path = {self.path!r}: must be an absolute path in "
                              'the image, e.g. "/app/start.sh"')
        if self.mode and not re.fullmatch(r"0?[0-7]{3,4}", self.mode):
            raise ConfigError(f"{where}: {self.path} mode = {self.mode!r}: must be octal "
                              'permission bits as a string, e.g. "0755"')


@dataclass(frozen=True)
class ImageConfig:
    dockerfile: str = field(
        default="Dockerfile",
        metadata=_doc("The Dockerfile, relative to the project directory: the one the "
                      "Dockerfile checks read and the image area builds."),
    )
    context: str = field(
        default=".", metadata=_doc("The build context, relative to the project directory; "
                                   "its .dockerignore is checked (SR206).")
    )
    target: str = field(
        default="", metadata=_doc("The stage that ships and is built (docker build "
                                  "--target); empty: the last stage.")
    )
    build_args: dict[str, str] = field(
        default_factory=dict, repr=False,  # values may be secret: never in a repr
        metadata=_doc("Build arguments (--build-arg NAME=value). Docker keeps their "
                      "values in the image history: secret-looking ones are masked in "
                      "every output and warned about (use a BuildKit secret mount)."),
    )
    build_timeout: float = field(
        default=900.0,
        metadata=_doc("Seconds the build may take, with either builder (docker-py's "
                      "classic builder or a BuildKit CLI); then SR210 fails and the "
                      "build is cancelled."),
    )
    size_budget_mb: float = field(
        default=0.0,
        metadata=_doc("SR211 fails when the image is larger (MB); 0: no budget (skipped)."),
    )
    wasted_budget_mb: float = field(
        default=50.0,
        metadata=_doc("SR221 fails when the layers carry more than this (MB) for nothing: "
                      "package caches and files a later layer deletes."),
    )
    keep: bool = field(
        default=True,
        metadata=_doc(
            "Keep the last built image of the project after the run, as the cache of the "
            "next one (content-addressed tag, labelled io.pytest-shipready.keep; older "
            "kept images of the project are pruned). false: removed at session end, "
            "like every container of the run, and the next build starts cold."
        ),
    )
    buildkit: Literal["auto", "always", "never"] = field(
        default="auto",
        metadata=_doc(
            "auto: build with BuildKit, as `docker build` does, when a docker CLI with it "
            "is on PATH (the buildx plugin, or a 18.09 to 22.x client) and the engine "
            "runs it; else the classic builder (docker-py), which SR210's line names with "
            "the reason. always: fail without BuildKit. never: the classic builder only."
        ),
    )
    secrets: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            "BuildKit build secrets, by id (`RUN --mount=type=secret,id=ID`): "
            '`{pip_token = "env:PIP_TOKEN", netrc = "file:~/.netrc"}` (an environment '
            "variable, or a file: relative to the project, `~` expanded). Their values "
            "are masked in every output; they never reach the image history."
        ),
    )
    labels: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            "SR230: labels the image must carry, with their value; an empty value only "
            'requires the label to be set and non-empty: `{"org.opencontainers.image.'
            'revision" = ""}`.'
        ),
    )
    ports: tuple[int, ...] = field(
        default=(), metadata=_doc("SR230: TCP ports the image must EXPOSE.")
    )
    workdir: str = field(
        default="", metadata=_doc("SR230: the image's working directory (WORKDIR).")
    )
    files: tuple[DeclaredFile, ...] = field(
        default=(),
        metadata=_doc(
            "SR230: files that must exist in the image, optionally with their mode, owner "
            'and group: `[{path = "/app/start.sh", mode = "0755", owner = "app"}]` '
            "(checked with `stat` in the session container)."
        ),
    )

    def __post_init__(self) -> None:
        where = f"[{SECTION}.image] secrets"
        for secret_id, source in self.secrets.items():
            kind, _, value = source.partition(":")
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", secret_id):
                raise ConfigError(f"{where}: id {secret_id!r}: use letters, digits, '_', "
                                  "'.' and '-' (the id of `RUN --mount=type=secret,id=...`)")
            if kind not in ("env", "file") or not value.strip():
                raise ConfigError(f"{where}: {secret_id} = {source!r}: must be "
                                  '"env:NAME" (an environment variable) or "file:PATH"')
            if kind == "env" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                raise ConfigError(f"{where}: {secret_id} = {source!r}: {value!r} is not "
                                  "an environment variable name")


# --- [tool.shipready.smoke] ----------------------------------------------------------


@dataclass(frozen=True)
class CommandCheck:
    command: tuple[str, ...] = field(
        default=(), metadata=_doc('The command run in the container: ["python", "-V"].')
    )
    exit_code: int = field(default=0, metadata=_doc("The exit code it must return."))
    output: str = field(
        default="", metadata=_doc("A regular expression its output must match (search).")
    )
    timeout: float = field(
        default=60.0, metadata=_doc("Seconds it may run before it fails as hung.")
    )


@dataclass(frozen=True)
class SmokeConfig:
    command: tuple[str, ...] = field(
        default=(), metadata=_doc("Command override for the container; empty: the CMD.")
    )
    env: dict[str, str] = field(
        default_factory=dict, repr=False,  # values may be secret: never in a repr
        metadata=_doc("Environment variables for the container."),
    )
    ports: tuple[int, ...] = field(
        default=(),
        metadata=_doc("Container ports to probe (and to publish, for the user fixtures); "
                      "empty: the EXPOSEd ones."),
    )
    probe_path: str = field(
        default="/health",
        metadata=_doc("HTTP path probed when the image has no HEALTHCHECK and no ready_log "
                      "is set."),
    )
    ready_log: str = field(
        default="",
        metadata=_doc("A regular expression for a log line meaning ready; set, SR301 waits "
                      "for it instead of probing HTTP on the port (a gRPC or worker port), "
                      "unless the image has a HEALTHCHECK."),
    )
    ready_timeout: float = field(
        default=60.0, metadata=_doc("Seconds the container has to become ready (SR301).")
    )
    settle: float = field(
        default=2.0, metadata=_doc("Seconds it must stay up after ready (SR302).")
    )
    grace_period: float = field(
        default=10.0,
        metadata=_doc("Seconds between SIGTERM (or STOPSIGNAL) and SIGKILL (SR304)."),
    )
    stop_exit_codes: tuple[int, ...] = field(
        default=(0,), metadata=_doc("Exit codes accepted after SIGTERM (SR304).")
    )
    commands: tuple[CommandCheck, ...] = field(
        default=(),
        metadata=_doc("Command checks run in the container (SR305), as "
                      "[[tool.shipready.smoke.commands]] tables with `command` (an array), "
                      "`exit_code` (default 0), `output` (a regular expression) and `timeout` "
                      "(seconds, default 60)."),
    )
    release: tuple[str, ...] = field(
        default=(),
        metadata=_doc("SR321: the release phase, run once in a container of the image after "
                      "the backing services are ready and before the smoke containers start "
                      '(e.g. ["python", "manage.py", "migrate"]); it must exit 0. Empty: none.'),
    )
    release_timeout: float = field(
        default=300.0, metadata=_doc("SR321: seconds the release phase may take.")
    )
    release_replaces_entrypoint: bool = field(
        default=False,
        metadata=_doc("SR321: true runs `release` in place of the image's ENTRYPOINT, as a "
                      "Kubernetes Job's `command:` does (`docker run --entrypoint`); false "
                      "passes it to the ENTRYPOINT as its arguments, as `docker run IMAGE "
                      "CMD...` and a Job's `args:` do."),
    )

# --- [tool.shipready.services.<name>] and [tool.shipready.compose] ---------------------


@dataclass(frozen=True)
class ServiceConfig:
    """A backing service (database, cache, broker) started for the smoke run, on a Docker
    network of the run where the app reaches it by its name."""

    image: str = field(
        default="", metadata=_doc('The image (required), e.g. "postgres:15".')
    )
    env: dict[str, str] = field(
        default_factory=dict, repr=False,  # values may be secret: never in a repr
        metadata=_doc("Its environment variables (secret values are masked everywhere)."),
    )
    command: tuple[str, ...] = field(
        default=(), metadata=_doc("Its command; empty: the image's CMD.")
    )
    ports: tuple[int, ...] = field(
        default=(),
        metadata=_doc("Ports it listens on (on the run's network; nothing is published): "
                      "ready once one of them listens, when no healthcheck or ready_log is "
                      "given."),
    )
    healthcheck: tuple[str, ...] = field(
        default=(),
        metadata=_doc('A command run in it (docker exec) that exits 0 once it is ready, '
                      'e.g. ["pg_isready", "-h", "127.0.0.1"].'),
    )
    ready_log: str = field(
        default="",
        metadata=_doc("A regular expression for the log line that says it is ready."),
    )
    ready_timeout: float = field(
        default=60.0, metadata=_doc("Seconds it has to become ready (SR320).")
    )
    aliases: tuple[str, ...] = field(
        default=(), metadata=_doc("Other names the app reaches it by on the network.")
    )


@dataclass(frozen=True)
class ComposeConfig:
    """Backing services and the app's environment read from a Compose file, when no
    [tool.shipready.services] table is given (see docs/services.md)."""

    enabled: bool = field(
        default=True,
        metadata=_doc("Read the Compose file; false: it is ignored."),
    )
    file: str = field(
        default="",
        metadata=_doc("The Compose file, relative to the project; empty: compose.yaml, "
                      "compose.yml, docker-compose.yaml or docker-compose.yml, as "
                      "`docker compose` looks for them."),
    )
    service: str = field(
        default="",
        metadata=_doc("The Compose service that is the app; empty: the one that builds "
                      "[tool.shipready.image] dockerfile (the one publishing ports when "
                      "several do)."),
    )
    use_command: bool = field(
        default=False,
        metadata=_doc("Run the app with the Compose service's `command` instead of the "
                      "image's CMD (a command that reloads, such as `--reload` or "
                      "`runserver`, is never used)."),
    )
    ready_timeout: float = field(
        default=60.0,
        metadata=_doc("Seconds each service from the Compose file has to become ready "
                      "(SR320)."),
    )


# --- [tool.shipready.observability] --------------------------------------------------


@dataclass(frozen=True)
class ObservabilityConfig:
    metrics_path: str = field(
        default="",
        metadata=_doc("SR520: the path of the Prometheus metrics endpoint (e.g. "
                      "\"/metrics\"), requested from inside the engine in the session container's "
                      "network; empty: skipped."),
    )
    error_path: str = field(
        default="",
        metadata=_doc("SR521: a request path that makes the app fail (HTTP 5xx); what it "
                      "logs must be one structured error event with the exception as data; "
                      "empty: skipped."),
    )


# --- [tool.shipready.hardened] -------------------------------------------------------


@dataclass(frozen=True)
class HardenedConfig:
    enabled: bool = field(
        default=True,
        metadata=_doc("SR310/SR311: run a second container under the restrictions "
                      "orchestrators apply (read-only root filesystem, no capabilities, "
                      "no-new-privileges, an arbitrary uid with gid 0); false: both are "
                      "skipped and no second container is started."),
    )
    uid: int = field(
        default=1000680000,
        metadata=_doc("The arbitrary non-root uid it runs as, with gid 0 (as OpenShift "
                      "does); 0 keeps the image's USER."),
    )
    tmpfs: tuple[str, ...] = field(
        default=("/tmp",),
        metadata=_doc("Writable in-memory paths on the read-only root filesystem (as a "
                      "pod's emptyDir volumes)."),
    )


# --- [tool.shipready.parity] ---------------------------------------------------------


@dataclass(frozen=True)
class ParityConfig:
    lockfile: str | tuple[str, ...] = field(
        default="",
        metadata=_doc("The lock the image must match, or a list of locks it installs "
                      "(compared with their union); empty: the one lockfile found, else "
                      "the ones the Dockerfile installs."),
    )
    allow_extra: tuple[str, ...] = field(
        default=("pip", "setuptools", "wheel"),
        metadata=_doc("Distributions allowed in the image beyond the lock (SR402). pip, "
                      "setuptools and wheel always are (as SR205 allows installing them by "
                      "name); a version the lock pins is still compared."),
    )
    groups: tuple[str, ...] | None = field(
        default=None,
        metadata=_doc("Poetry/uv dependency groups the image installs besides the runtime "
                      "dependencies (SR402); unset: read off the Dockerfile's `poetry "
                      "install` / `uv sync` / export options, else none."),
    )
    extras: tuple[str, ...] | None = field(
        default=None,
        metadata=_doc("The project's extras the image installs (SR402); unset: read off "
                      "the Dockerfile's poetry/uv options, else none."),
    )
    python: str = field(
        default="",
        metadata=_doc("The interpreter the app runs in the image; empty: the one the "
                      "image's command names (a virtualenv's python or script), else "
                      "$VIRTUAL_ENV's, else python3, else python, on its PATH."),
    )
    host_python: bool = field(
        default=False,
        metadata=_doc("SR401 also requires the image's Python to equal the host's."),
    )
    required_env: tuple[str, ...] = field(
        default=(),
        metadata=_doc("Environment variables that must be set in the container (SR403)."),
    )
    tests: tuple[str, ...] = field(
        default=("tests",),
        metadata=_doc("Where the `shipready_parity` tests are (SR404): these files or "
                      "directories are copied into the container, with pytest."),
    )
    tests_timeout: float = field(
        default=300.0, metadata=_doc("Seconds each of the two SR404 runs may take.")
    )

    @property
    def lockfiles(self) -> tuple[str, ...]:
        """``lockfile`` as a list (empty when unset)."""
        if isinstance(self.lockfile, str):
            return (self.lockfile,) if self.lockfile else ()
        return tuple(p for p in self.lockfile if p)

# --- [tool.shipready.integrity] ------------------------------------------------------


@dataclass(frozen=True)
class IntegrityConfig:
    """What is installed for the image's interpreter holds together (SR405-SR407)."""

    ignore: tuple[str, ...] = field(
        default=(),
        metadata=_doc("Distributions SR405 (as requirer or required) and SR407 do not "
                      "judge, by name."),
    )
    modules: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            'SR406: what to import in the image, as modules ("app") or objects '
            '("app.wsgi:application"). Empty: the top-level modules and console entry '
            "points of the project's distribution installed in the image, and the module "
            "or app the image's command names (`python -m app`, `gunicorn app.wsgi:app`)."
        ),
    )
    imports_timeout: float = field(
        default=60.0, metadata=_doc("SR406: seconds the imports may take in the image.")
    )


# --- [tool.shipready.logs] -----------------------------------------------------------


@dataclass(frozen=True)
class LogsConfig:
    format: Literal["json", "logfmt", "keyvalue"] = field(
        default="json",
        metadata=_doc(
            "What every log line must be. json: one JSON object per line (structlog's "
            "JSONRenderer). logfmt: `key=value` pairs with double-quoted values "
            "(LogfmtRenderer). keyvalue: `key=value` pairs with Python-repr values "
            "(KeyValueRenderer)."
        ),
    )
    preset: Literal["", "mozlog", "ecs", "gcp"] = field(
        default="",
        metadata=_doc(
            "A known log schema that sets the key names, level scheme and timestamps "
            "below; keys you set yourself override it. mozlog: `Type`, `Severity` (syslog "
            "0-7), `Timestamp` (epoch ns). ecs: `message`, `log.level`, `@timestamp`. gcp "
            "(Google Cloud structured logging): `message`, `severity` (DEFAULT...EMERGENCY), "
            "`timestamp`/`time` (RFC 3339 or {seconds, nanos}). See docs/logs.md."
        ),
    )
    event_keys: tuple[str, ...] = field(
        default=("event", "message", "msg"),
        metadata=_doc("SR502: every line has one of these keys for the message."),
    )
    level_keys: tuple[str, ...] = field(
        default=("level", "severity", "levelname", "Severity", "log.level"),
        metadata=_doc("SR502: every line has one of these keys for the level (a dotted "
                      "key such as `log.level` also matches a nested `{\"log\": "
                      "{\"level\": ...}}`)."),
    )
    timestamp_keys: tuple[str, ...] = field(
        default=("timestamp", "time", "ts", "@timestamp", "Timestamp"),
        metadata=_doc("SR502: every line has one of these keys for the time (dotted keys "
                      "as for level_keys)."),
    )
    levels: tuple[str, ...] = field(
        default=("trace", "debug", "info", "notice", "warning", "warn", "error",
                 "exception", "critical", "fatal", "alert", "emergency"),
        metadata=_doc("SR503: the level names allowed (compared case-insensitively)."),
    )
    numeric_levels: Literal["none", "syslog"] = field(
        default="none",
        metadata=_doc(
            "SR503: none: a level must be a name from `levels`. syslog: an integer "
            "severity 0 (emergency) to 7 (debug) is valid too, as in MozLog's `Severity`."
        ),
    )
    timestamps: Literal["iso", "epoch", "any"] = field(
        default="iso",
        metadata=_doc(
            "SR503: iso: ISO 8601 with a timezone (`2024-05-01T12:00:00.123Z`). epoch: "
            "a number of seconds (or milli-, micro-, nanoseconds) since 1970, or a "
            "`{\"seconds\": ..., \"nanos\": ...}` object. any: either."
        ),
    )
    dict_tracebacks: bool = field(
        default=False,
        metadata=_doc(
            "SR504: also fail a line whose exception field is a traceback string rather "
            "than structured data (structlog.processors.dict_tracebacks)."
        ),
    )
    threshold: float = field(
        default=1.0,
        metadata=_doc(
            "SR501-SR504: the fraction of lines (0 to 1) that must pass; 1: every line. "
            "SR505 (secrets) always fails on any line."
        ),
    )
    secret_env: tuple[str, ...] = field(
        default=("*PASSWORD*", "*PASSWD*", "*SECRET*", "*TOKEN*", "*API_KEY*", "*APIKEY*",
                 "*PRIVATE_KEY*", "*ACCESS_KEY*", "*CREDENTIAL*", "*_KEY"),
        metadata=_doc(
            "SR505: names (shell patterns, case-insensitive) of environment variables "
            "whose values must never appear in the container's logs."
        ),
    )
    secret_shapes: bool = field(
        default=True,
        metadata=_doc(
            "SR505: also flag common secret shapes: bearer tokens, AWS access key ids, "
            "`password=...`, credentials in URLs, private key blocks."
        ),
    )
    show_lines: int = field(
        default=5, metadata=_doc("How many offending lines a failure shows (redacted).")
    )
    requests: tuple[str, ...] = field(
        default=("/shipready-not-found",),
        metadata=_doc(
            "Paths requested from the smoke container once it is ready, before it is "
            "stopped, so that warning and error paths (e.g. a 404) log too; the response "
            "status does not matter."
        ),
    )
    setup: str = field(
        default="",
        metadata=_doc(
            'SR510: the app\'s logging setup, `"module:function"` (e.g. '
            '`"app.logconfig:configure"`), importable from the project directory and '
            "called without arguments. Empty: found automatically (a `configure`, "
            "`configure_logging` or `setup_logging` function in `<package>/logconfig.py`, "
            "`logging_config.py`, `log_config.py`, `logsetup.py` or `logging_setup.py`)."
        ),
    )
    setup_timeout: float = field(
        default=60.0, metadata=_doc("SR510: seconds the setup subprocess may take.")
    )
    max_log_mb: float = field(
        default=16.0,
        metadata=_doc(
            "SR501-SR505: megabytes of the container's log kept and checked line by line "
            "(the first lines, up to this size). Beyond it the log is streamed: counted, "
            "and a sample of its lines checked; each summary says how much was checked."
        ),
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(
                f"[{SECTION}.logs] threshold = {self.threshold!r}: must be between 0 and 1"
            )
        if self.show_lines < 0:
            raise ConfigError(f"[{SECTION}.logs] show_lines must not be negative")
        if self.setup and ":" not in self.setup:
            raise ConfigError(
                f"[{SECTION}.logs] setup = {self.setup!r}: must be \"module:function\""
            )

    @classmethod
    def from_preset(cls, preset: str, **keys: Any) -> LogsConfig:
        """The settings of ``preset`` ("mozlog", "ecs", "gcp"), with ``keys`` overriding
        them: what ``preset = "..."`` in ``[tool.shipready.logs]`` gives."""
        if preset and preset not in LOG_PRESETS:
            raise ConfigError(f"[{SECTION}.logs] preset = {preset!r}: must be one of "
                              f"{', '.join(map(repr, LOG_PRESETS))}")
        return cls(**{**LOG_PRESETS.get(preset, {}), **keys, "preset": preset})


# What each preset sets (keys the user gives in [tool.shipready.logs] win).
LOG_PRESETS: dict[str, dict[str, Any]] = {
    # https://wiki.mozilla.org/Firefox/Services/Logging (python-dockerflow's formatter)
    "mozlog": {"event_keys": ("Type",), "level_keys": ("Severity",),
               "timestamp_keys": ("Timestamp",), "timestamps": "epoch",
               "numeric_levels": "syslog"},
    # Elastic Common Schema (ecs-logging-python)
    "ecs": {"event_keys": ("message",), "level_keys": ("log.level",),
            "timestamp_keys": ("@timestamp",), "timestamps": "iso"},
    # Google Cloud Logging's structured logging (special JSON fields)
    "gcp": {"event_keys": ("message",), "level_keys": ("severity",),
            "timestamp_keys": ("timestamp", "time", "timestampSeconds"),
            "timestamps": "any",
            "levels": ("default", "debug", "info", "notice", "warning", "error",
                       "critical", "alert", "emergency")},
}


# --- [tool.shipready.deploy] ---------------------------------------------------------


@dataclass(frozen=True)
class DeployConfig:
    """What deploys the image (SR600-SR607): Kubernetes manifests, compose, Terraform."""

    enabled: bool = field(
        default=True,
        metadata=_doc("SR600-SR607: check the deployment files against the image; false "
                      "skips them all."),
    )
    manifests: tuple[str, ...] = field(
        default=(),
        metadata=_doc("Kubernetes YAML files or folders to read, relative to the project "
                      "(rendered Helm output included). Empty: every YAML file with "
                      "`apiVersion` and `kind`, up to five folders down, outside tool "
                      "folders (.git, .github, virtualenvs, node_modules) and test folders "
                      "(tests, test)."),
    )
    image: str = field(
        default="",
        metadata=_doc("The repository your deployments pull this image from (e.g. "
                      "\"ghcr.io/acme/shop\"), to pick the containers that run it. Empty: "
                      "the repository named like the project, else the only one that is "
                      "not a well-known service's image."),
    )
    grace_margin: float = field(
        default=2.0,
        metadata=_doc("SR603: seconds terminationGracePeriodSeconds must leave beyond the "
                      "preStop hook and the shutdown SR304 measured."),
    )


@dataclass(frozen=True)
class ShipreadyConfig:
    disable: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            'Checks to switch off, each with the reason: `SR102 = "wheels come from '
            'our own wheelhouse"`. The item is reported as skipped with that reason.'
        ),
    )
    require_docker: bool | None = field(
        default=None,
        metadata=_doc(
            "No Docker engine: true fails the image, smoke, parity and container-log "
            "checks, false skips them. Unset: required when the environment variable CI "
            "is set (a CI gate that never built the image is not ready), skipped "
            "otherwise. `--shipready-require-docker` forces true for one run."
        ),
    )
    timeout: float = field(
        default=3600.0,
        metadata=_doc(
            "Seconds the readiness items of a run may take together (the time spent in "
            "them, not in your own tests). A build is cut short to fit; once it is "
            "spent, every remaining readiness item fails with that reason."
        ),
    )
    engine_timeout: float = field(
        default=120.0,
        metadata=_doc(
            "Seconds one Docker call may wait for the engine's answer (a stalled "
            "engine: connection open, no bytes); while an item runs the engine is pinged "
            "this often, and a build's progress may be silent this long before it is. "
            "When it does not answer, the item fails with what did not answer and which "
            "DOCKER_HOST, and the other Docker items fail at once."
        ),
    )
    allow_outside_project: bool = field(
        default=False,
        metadata=_doc(
            "Allow [tool.shipready.image] dockerfile and context, lockfile paths, "
            "parity lockfiles and tests, the compose file and deploy manifests outside "
            "the project directory (symlinks "
            "resolved). Default: refused, so that no check reads (or echoes) a file "
            "outside the project. /proc, /sys and /dev are refused in any case."
        ),
    )
    lockfile: LockfileConfig = field(default_factory=LockfileConfig)
    dockerfile: DockerfileConfig = field(default_factory=DockerfileConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    smoke: SmokeConfig = field(default_factory=SmokeConfig)
    hardened: HardenedConfig = field(default_factory=HardenedConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    parity: ParityConfig = field(default_factory=ParityConfig)
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    services: dict[str, ServiceConfig] = field(
        default_factory=dict,
        metadata=_doc("Backing services by name, as [tool.shipready.services.<name>] "
                      "tables (see docs/services.md); given, the Compose file is not read."),
    )
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    deploy: DeployConfig = field(default_factory=DeployConfig)


@dataclass(frozen=True)
class Settings:
    """The configuration in force for one run: the project, its file and its table."""

    project: Path
    source: Path | None
    config: ShipreadyConfig

    @property
    def scope(self) -> ProjectScope:
        """Which files checks may read: the project's ([tool.shipready]
        allow_outside_project)."""
        return ProjectScope(self.project, self.config.allow_outside_project)


def load(project: Path) -> Settings:
    """Read and validate ``[tool.shipready]`` from ``project/pyproject.toml``."""
    path = project / "pyproject.toml"
    if not path.is_file():
        return Settings(project, None, ShipreadyConfig())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    tool = data.get("tool")
    tools: dict[str, Any] = tool if isinstance(tool, dict) else {}
    for name in tools:
        # [tool.ship-ready] or [tool.ShipReady] would be silently ignored: say so.
        if name != "shipready" and re.sub(r"[-_.\s]", "", name.lower()) == "shipready":
            raise ConfigError(f"{path}: [tool.{name}] is not read; the table is "
                              "[tool.shipready]")
    table = tools.get("shipready", {})
    config = parse(table, path)
    refused = outside_paths(project, config)
    if refused:
        raise ConfigError(f"{path}: " + "; ".join(refused))
    return Settings(project, path, config)


def _configured_paths(config: ShipreadyConfig) -> list[tuple[str, str]]:
    """(key, value) of every configured path a check reads."""
    keys = [(f"[{SECTION}.image] dockerfile", config.image.dockerfile),
            (f"[{SECTION}.image] context", config.image.context)]
    keys += [(f"[{SECTION}.lockfile] paths", p) for p in config.lockfile.paths]
    keys += [(f"[{SECTION}.parity] lockfile", p) for p in config.parity.lockfiles]
    keys += [(f"[{SECTION}.parity] tests", p) for p in config.parity.tests]
    if config.compose.file:
        keys.append((f"[{SECTION}.compose] file", config.compose.file))
    keys += [(f"[{SECTION}.deploy] manifests", p) for p in config.deploy.manifests]
    return keys


def outside_paths(project: Path, config: ShipreadyConfig) -> list[str]:
    """Why each configured path that leaves the project (symlinks resolved) is refused:
    no check may read, and so echo, a file outside it unless the user allows it. Names
    the key and value only, never anything read from the path. The rule is
    :class:`~pytest_shipready.scope.ProjectScope`'s, as for the files checks find."""
    scope = ProjectScope(project, config.allow_outside_project)
    refused: list[str] = []
    for key, value in _configured_paths(config):
        why = scope.refusal(value) if value else None
        if why is not None:
            refused.append(refused_message(f"{key} = {value!r}", value, why))
    return refused


def parse(table: object, path: Path | str = "pyproject.toml") -> ShipreadyConfig:
    """Validate a ``[tool.shipready]`` table (as tomllib gives it)."""
    config: ShipreadyConfig = _build(ShipreadyConfig, table, SECTION, path)
    for name, service in config.services.items():
        where = f"{path}: [{SECTION}.services.{name}]"
        if not _SERVICE_NAME.fullmatch(name):
            raise ConfigError(f"{where}: {name!r} is not a valid service name (the app "
                              "reaches it by this name): letters, digits, '-', '_', '.'")
        if not service.image.strip():
            raise ConfigError(f'{where}: image is required, e.g. image = "postgres:15"')
        for alias in service.aliases:
            if not _SERVICE_NAME.fullmatch(alias):
                raise ConfigError(f"{where}: aliases: {alias!r} is not a valid host name")
    for check_id, reason in config.disable.items():
        if check_id not in BY_ID:
            known = ", ".join(sorted(BY_ID))
            raise ConfigError(
                f"{path}: [{SECTION}.disable] {check_id}: no such check (known: {known})"
            )
        if not reason.strip():
            raise ConfigError(
                f"{path}: [{SECTION}.disable] {check_id}: give the reason for disabling it"
            )
    return config


# Keys that moved: where they are now (table, key).
MOVED = {
    f"{SECTION}.dockerfile.path": (f"{SECTION}.image", "dockerfile"),
    f"{SECTION}.dockerfile.context": (f"{SECTION}.image", "context"),
    f"{SECTION}.dockerfile.target": (f"{SECTION}.image", "target"),
}


def _elsewhere(key: str) -> str:
    """" (did you mean [tool.shipready.image] dockerfile?)" when ``key`` is a key of a
    section: for a section name given a plain value."""
    hints = get_type_hints(ShipreadyConfig)
    for f in dataclasses.fields(ShipreadyConfig):
        section = hints[f.name]
        if dataclasses.is_dataclass(section) and isinstance(section, type) and any(
                g.name == key for g in dataclasses.fields(section)):
            return f" (did you mean [{SECTION}.{f.name}] {key}?)"
    return ""


def _build(cls: type[Any], table: object, where: str, path: Path | str) -> Any:
    if not isinstance(table, dict):
        key = where.rpartition(".")[2]
        raise ConfigError(f"{path}: [{where}] must be a table, not {_kind(table)}"
                          f"{_elsewhere(key) if where != SECTION else ''}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    for key in table:
        moved = MOVED.get(f"{where}.{key}")
        if key not in fields and moved:
            raise ConfigError(f"{path}: [{where}] {key} is now [{moved[0]}] {moved[1]}: "
                              "one setting for the Dockerfile checks and the build")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(fields)
            raise ConfigError(
                f"{path}: [{where}] unknown key {key!r}{hint}; known keys: {known}"
            )
    values = {
        name: _value(hints[name], table[name], f"{where}.{name}", path)
        for name in fields
        if name in table
    }
    if cls is LogsConfig and values.get("preset"):  # the preset's keys, unless given
        values = {**LOG_PRESETS[values["preset"]], **values}
    try:
        return cls(**values)
    except ConfigError as exc:  # a section's own rule (__post_init__): add the file
        raise ConfigError(f"{path}: {exc}") from None


def _value(hint: Any, value: object, key: str, path: Path | str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, value, key, path)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{path}: {key} = {value!r}: must be one of {allowed}")
        return value
    if origin is tuple:
        (item,) = get_args(hint)[:1]
        if not isinstance(value, list):
            raise _type_error(key, value, "an array", path)
        return tuple(_value(item, v, f"{key}[{i}]", path) for i, v in enumerate(value))
    if origin is dict:
        _, item = get_args(hint)
        if not isinstance(value, dict):
            raise _type_error(key, value, "a table", path)
        return {str(k): _value(item, v, f"{key}.{k}", path) for k, v in value.items()}
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None:  # pragma: no cover - TOML has no null
            return None
        if len(options) > 1:  # str | tuple[str, ...]: one value or an array of them
            for option in options:
                if (isinstance(value, list) and get_origin(option) is tuple) or \
                        (isinstance(value, str) and option is str):
                    return _value(option, value, key, path)
            raise _type_error(key, value, "a string or an array of strings", path)
        return _value(options[0], value, key, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise _type_error(key, value, "true or false", path)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(key, value, "an integer", path)
        return _in_range(key, value, path)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(key, value, "a number", path)
        if not math.isfinite(value):  # TOML's nan and inf: no timeout, size or count
            raise ConfigError(f"{path}: {key} = {value!r}: must be a finite number")
        return float(_in_range(key, value, path))
    if hint is str:
        if not isinstance(value, str):
            raise _type_error(key, value, "a string", path)
        return value
    raise TypeError(f"unsupported schema type {hint!r} for {key}")  # pragma: no cover


_WEEK = 7 * 24 * 3600.0
# The range of every number, by key name: (lowest, highest, whether lowest is allowed).
# Timeouts are more than 0 (0 would fail every call, NaN or a huge value would break the
# engine client or a thread's wait) and at most a week; engine_timeout at least 1 s, the
# engine client's granularity. ([tool.shipready.logs] threshold has its own rule, 0 to 1.)
# Sizes and ages may be 0 where 0 has a meaning (no budget,
# no cache); ports, exit codes and uids are what the system allows.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "timeout": (0, _WEEK, False), "engine_timeout": (1, 3600, True),
    "resolve_timeout": (0, _WEEK, False), "build_timeout": (0, _WEEK, False),
    "ready_timeout": (0, _WEEK, False), "tests_timeout": (0, _WEEK, False),
    "imports_timeout": (0, _WEEK, False), "setup_timeout": (0, _WEEK, False),
    "release_timeout": (0, _WEEK, False), "grace_margin": (0, 3600, True),
    "resolve_max_age": (0, 10 * 365 * 86400.0, True), "settle": (0, 3600, True),
    "grace_period": (0, 3600, False), "size_budget_mb": (0, 1e7, True),
    "wasted_budget_mb": (0, 1e7, True), "max_log_mb": (0, 4096, False),
    "ports": (1, 65535, True),
    "stop_exit_codes": (0, 255, True), "exit_code": (0, 255, True),
    "uid": (0, 2**31 - 1, True), "show_lines": (0, 10_000, True),
}


def range_text(name: str) -> str:
    """The range of key ``name`` as the reference shows it ("more than 0, at most
    604800"); empty for a key without one."""
    if name not in _RANGES:
        return ""
    low, high, low_allowed = _RANGES[name]
    return (f"{'at least' if low_allowed else 'more than'} {_num(low)}, at most "
            f"{_num(high)}")


def _in_range(key: str, value: int | float, path: Path | str) -> int | float:
    """``value`` when it is in its key's range (:data:`_RANGES`), else a ConfigError."""
    name = re.sub(r"\[\d+\]$", "", key.rpartition(".")[2])
    low, high, low_allowed = _RANGES.get(name, (0, math.inf, True))
    if value < low or (value == low and not low_allowed) or value > high:
        above = f"at least {_num(low)}" if low_allowed else f"more than {_num(low)}"
        within = f"{above} and at most {_num(high)}" if high != math.inf else above
        why = "must not be negative" if value < 0 <= low else f"must be {within}"
        raise ConfigError(f"{path}: {key} = {value!r}: {why}")
    return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _type_error(key: str, value: object, wanted: str, path: Path | str) -> ConfigError:
    return ConfigError(f"{path}: {key} = {value!r}: must be {wanted}, not {_kind(value)}")


def _kind(value: object) -> str:
    return {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "an array", dict: "a table",
    }.get(type(value), type(value).__name__)
