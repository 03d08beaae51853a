"""The BuildKit builder: a docker CLI that has BuildKit (the buildx plugin, or the
BuildKit built into the 18.09 to 22.x clients with ``DOCKER_BUILDKIT=1``), run as a
subprocess against the run's engine (``DOCKER_HOST``, which the engine adapter resolved
from the docker context).

No docker-py here: what needs the engine's API (a ping while the build is silent) is
passed in as a function. Build secrets reach the CLI without touching the disk: by
name for buildx (``--secret id=ID,env=NAME``), or as a memory-only file for the older
clients, which read only files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .output import BuildOutput


@dataclass(frozen=True)
class Cli:
    path: str
    description: str  # "/usr/bin/docker 20.10.24 (built-in BuildKit)"
    buildx: bool


def _candidates(path_env: str) -> list[str]:
    """Every ``docker`` on PATH (each real file once). A PATH without one has none:
    that is how a CI job (or a test) chooses the classic builder."""
    seen: list[str] = []
    for folder in path_env.split(os.pathsep):
        if not folder:
            continue
        path = os.path.join(folder, "docker")
        real = os.path.realpath(path)
        if os.path.isfile(path) and os.access(path, os.X_OK) \
                and real not in [os.path.realpath(s) for s in seen]:
            seen.append(path)
    return seen


_VERSION = re.compile(r"version (\d+)\.(\d+)\.(\S+?)(?:,|\s|$)", re.IGNORECASE)


@functools.lru_cache(maxsize=4)
def find_cli(path_env: str) -> tuple[Cli | None, str]:
    """The first docker CLI on ``path_env`` (a PATH) that builds with BuildKit, or None
    and what was tried. Asks only the clients (``docker buildx version``, ``docker
    --version``), never the engine."""
    tried: list[str] = []
    env = {**os.environ, "PATH": path_env}
    for cli in _candidates(path_env):
        try:
            buildx = subprocess.run([cli, "buildx", "version"], capture_output=True,
                                    text=True, timeout=20, env=env,
                                    stdin=subprocess.DEVNULL)
            if buildx.returncode == 0:
                return Cli(cli, f"{cli} (buildx)", True), ""
            version = subprocess.run([cli, "--version"], capture_output=True, text=True,
                                     timeout=20, env=env, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{cli}: {exc}")
            continue
        m = _VERSION.search(version.stdout)
        raw = f"{m.group(1)}.{m.group(2)}.{m.group(3)}" if m else "?"
        if m and 18 <= int(m.group(1)) < 23:
            return Cli(cli, f"{cli} {raw} (built-in BuildKit)", False), ""
        tried.append(f"{cli} {raw}: no buildx plugin")
    if not tried:
        return None, "no docker CLI on PATH"
    return None, "; ".join(tried)


@dataclass(frozen=True)
class Secret:
    """A build secret: its id, and where its value is (an environment variable, or a
    file). The value itself is never held here."""

    id: str
    env: str = ""
    file: str = ""


@dataclass
class Request:
    context: Path
    dockerfile: Path
    tag: str
    target: str = ""
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    secrets: tuple[Secret, ...] = ()


_HEADER = re.compile(r"^#\d+ \[")


def _cli_env(cli: Cli) -> dict[str, str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "1", "BUILDKIT_PROGRESS": "plain"}
    if env.get("DOCKER_HOST"):  # resolved once for the run: the context is in it
        env.pop("DOCKER_CONTEXT", None)
    return env


def _lines(stream: Iterator[str], box: queue.Queue[str | None]) -> None:
    try:
        for raw in stream:
            box.put(raw.rstrip("\n"))
    except (OSError, ValueError):
        pass
    finally:
        box.put(None)


def build(cli: Cli, request: Request, on_line: Callable[[str], None] | None = None, *,
          timeout: float = 900.0, why_timeout: str = "build_timeout",
          idle: float = 120.0, alive: Callable[[], str | None] | None = None
          ) -> BuildOutput:
    """``docker build`` with BuildKit, bounded by ``timeout`` s; when the progress stream
    is silent for ``idle`` s (engine_timeout) ``alive()`` is asked (a ping: None when the
    engine answers) and, when the engine does not answer, the build ends as stalled. The
    CLI is killed on every way out (BuildKit then cancels the build)."""
    argv = [cli.path, "build", "--progress=plain", "-f", str(request.dockerfile),
            "-t", request.tag]
    if request.target:
        argv += ["--target", request.target]
    for key, value in request.build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in request.labels.items():
        argv += ["--label", f"{key}={value}"]
    env = _cli_env(cli)
    fds: list[int] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pytest-shipready-build-") as tmp:
        iid = Path(tmp) / "iid"
        argv += ["--iidfile", str(iid)]
        try:
            for secret in request.secrets:
                argv += ["--secret", _secret_arg(cli, secret, fds)]
        except (OSError, AttributeError) as exc:  # no memfd_create (not Linux)
            for fd in fds:
                os.close(fd)
            return BuildOutput(False, error=f"cannot pass a build secret to {cli.path} "
                               f"({exc}): install the buildx plugin, which reads it from "
                               "the environment", builder=cli.description)
        argv.append(str(request.context))
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace", env=env, pass_fds=fds,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return BuildOutput(False, error=f"cannot run {cli.path}: {exc}",
                               builder=cli.description)
        finally:
            for fd in fds:
                os.close(fd)
        out = _follow(proc, on_line, started, timeout, why_timeout, idle, alive,
                      cli.description)
        if out.ok:
            with contextlib.suppress(OSError):
                out.image_id = iid.read_text(encoding="ascii").strip()
    return out


def _secret_arg(cli: Cli, secret: Secret, fds: list[int]) -> str:
    if secret.file:
        return f"id={secret.id},src={secret.file}"
    if cli.buildx:  # buildx reads the variable itself
        return f"id={secret.id},env={secret.env}"
    # The built-in BuildKit of the 20.10 clients reads only files: a memory-only one,
    # open in the CLI as /proc/self/fd/N (re-read for each RUN that mounts it).
    fd = os.memfd_create(f"secret-{secret.id}", 0)
    fds.append(fd)
    os.write(fd, os.environ.get(secret.env, "").encode())
    return f"id={secret.id},src=/proc/self/fd/{fd}"


def _follow(proc: subprocess.Popen[str], on_line: Callable[[str], None] | None,
            started: float, timeout: float, why_timeout: str, idle: float,
            alive: Callable[[], str | None] | None, builder: str) -> BuildOutput:
    assert proc.stdout is not None
    box: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, box), daemon=True,
                     name="buildkit progress").start()
    lines: list[str] = []
    shown: set[str] = set()
    deadline = started + timeout
    stalled = ""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = box.get(timeout=min(idle, left))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    break
                why = alive() if alive is not None else None
                if why is not None:
                    stalled = why
                    break
                continue
            if line is None:
                proc.wait()
                break
            if not line.strip():
                continue
            lines.append(line)
            if on_line is not None and _HEADER.match(line) and line not in shown:
                shown.add(line)
                on_line(line)
    except BaseException:  # Ctrl-C: the CLI goes too (BuildKit cancels the build)
        _kill(proc)
        raise
    seconds = time.monotonic() - started
    if proc.poll() is None:
        _kill(proc)
        if stalled:
            return BuildOutput(False, seconds=seconds, log=lines, stalled=True,
                               error=stalled, builder=builder)
        return BuildOutput(False, seconds=seconds, log=lines,
                           error=f"the build took over {timeout:.0f} s ({why_timeout}) "
                           "and was cancelled", builder=builder)
    if proc.returncode != 0:
        error = next((ln for ln in reversed(lines) if "ERROR" in ln or "error" in ln),
                     f"exit code {proc.returncode}")
        return BuildOutput(False, seconds=seconds, log=lines, error=error, builder=builder)
    return BuildOutput(True, "", seconds, lines, builder=builder)


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, 9)
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
