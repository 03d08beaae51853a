"""The adapter to the Docker engine: the only module importing docker and testcontainers.

It is imported lazily, by the image, smoke and parity areas, under --shipready only.
Everything it returns is plain data or the small :class:`Container` wrapper, and every
engine error becomes :class:`EngineError` with a message meant for the user.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
from docker.models.containers import (  # type: ignore[import-untyped]
    Container as DockerContainer,
)
from testcontainers.core.image import DockerImage


class EngineError(Exception):
    """Something the engine refused; the message is for the user."""


class EngineUnavailableError(EngineError):
    """No Docker engine answers."""


def connect() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # docker raises DockerException, requests errors, OSError
        from .enginehost import unreachable

        raise EngineUnavailableError(
            unreachable(os.environ.get("DOCKER_HOST"), f"{type(exc).__name__}: {exc}")
        ) from None
    return client


# --- cleanup ---------------------------------------------------------------------------


def sweep(client: docker.DockerClient, label: str, value: str) -> list[str]:
    """Remove every container, then every image, labelled ``label=value``."""
    removed: list[str] = []
    flt = {"label": f"{label}={value}"}
    for c in client.containers.list(all=True, filters=flt):
        try:
            c.remove(force=True, v=True)
            removed.append(f"container {c.short_id}")
        except docker.errors.NotFound:
            pass
    for img in client.images.list(filters=flt):
        try:
            client.images.remove(img.id, force=True)
            removed.append(f"image {img.short_id}")
        except docker.errors.NotFound:
            pass
    return removed


def labelled(client: docker.DockerClient, label: str) -> list[tuple[dict[str, str], float]]:
    """The labels and creation time (epoch seconds) of every container and image that
    carries ``label``: what the session module judges stale."""
    found: list[tuple[dict[str, str], float]] = []
    for obj in [*client.containers.list(all=True, filters={"label": label}),
                *client.images.list(filters={"label": label})]:
        labels = (obj.labels if hasattr(obj, "labels") else {}) or {}
        found.append((dict(labels), _created(str(obj.attrs.get("Created", "")))))
    return found


def _created(stamp: str) -> float:
    """Docker's RFC 3339 time (nanoseconds, "Z") as epoch seconds; 0 if unreadable."""
    from datetime import datetime

    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", stamp)
    if not m:
        return 0.0
    zone = m.group(3) or "Z"
    text = m.group(1) + (m.group(2) or "")[:7] + ("+00:00" if zone == "Z" else zone)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def prune_kept(client: docker.DockerClient, labels: list[str], keep_id: str) -> None:
    """Remove older kept images matching all ``labels`` ("k=v"), except ``keep_id``."""
    for img in client.images.list(filters={"label": labels}):
        if img.id != keep_id:
            with contextlib.suppress(docker.errors.APIError):  # in use or already gone
                client.images.remove(img.id, force=False)


# --- build -----------------------------------------------------------------------------


@dataclass
class BuildOutput:
    ok: bool
    image_id: str = ""
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)
    error: str = ""
    builder: str = "docker-py"


def _log_lines(chunks: Iterable[Any]) -> Iterator[str]:
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        text = chunk.get("stream") or chunk.get("error") or chunk.get("status") or ""
        for line in str(text).splitlines():
            if line.strip():
                yield line.rstrip()


def _tee_steps(api: Any, on_line: Callable[[str], None]) -> None:
    """Make ``api.build`` report each "Step N/M" line as the daemon sends it, while
    docker-py (under DockerImage) still reads the whole stream as usual."""
    original = api.build

    def build(*args: Any, **kwargs: Any) -> Any:
        stream = original(*args, **kwargs)
        if isinstance(stream, str | bytes) or not hasattr(stream, "__iter__"):
            return stream

        def tee() -> Iterator[Any]:
            buffer = b""
            for raw in stream:
                yield raw
                buffer += raw if isinstance(raw, bytes) else str(raw).encode()
                *complete, buffer = buffer.split(b"\n")
                for piece in complete:
                    with contextlib.suppress(ValueError, AttributeError):
                        text = json.loads(piece).get("stream", "")
                        for line in str(text).splitlines():
                            if line.startswith("Step "):
                                on_line(line)
        return tee()

    api.build = build


def build_docker_py(client: docker.DockerClient, context: Path, dockerfile: Path, tag: str,
                    target: str, build_args: dict[str, str], labels: dict[str, str],
                    on_line: Callable[[str], None] | None = None) -> BuildOutput:
    """Build through testcontainers' DockerImage (docker-py's classic builder)."""
    started = time.monotonic()
    try:
        rel = dockerfile.resolve().relative_to(context.resolve()).as_posix()
    except ValueError:
        rel = str(dockerfile.resolve())
    kwargs: dict[str, Any] = {"labels": labels, "forcerm": True, "buildargs": build_args}
    if target:
        kwargs["target"] = target
    client_for_cleanup = client  # DockerImage connects by itself, from the same environment
    try:
        image = DockerImage(path=str(context), tag=tag, clean_up=False, dockerfile_path=rel,
                            **kwargs)
        if on_line is not None:
            _tee_steps(image.get_docker_client().client.api, on_line)
        image.build()
    except docker.errors.BuildError as exc:
        log = list(_log_lines(exc.build_log))
        _remove_dangling_step(client_for_cleanup, log)
        return BuildOutput(False, seconds=time.monotonic() - started, log=log,
                           error=str(exc.msg))
    except docker.errors.APIError as exc:
        return BuildOutput(False, seconds=time.monotonic() - started,
                           error=str(exc.explanation or exc))
    except (docker.errors.DockerException, OSError) as exc:
        return BuildOutput(False, seconds=time.monotonic() - started, error=str(exc))
    wrapped = image.get_wrapped_image()
    return BuildOutput(True, str(wrapped.id), time.monotonic() - started,
                       list(_log_lines(image.get_logs())))


def _remove_dangling_step(client: docker.DockerClient, log: list[str]) -> None:
    """A failed classic build leaves the last successful step as an untagged, unlabelled
    image (forcerm only removes the failed container): remove it, and with it the
    untagged parents nothing else uses (the engine keeps shared ones)."""
    ids = [m.group(1) for m in (re.match(r"^\s*---> ([0-9a-f]{12})\s*$", ln) for ln in log)
           if m]
    if not ids:
        return
    with contextlib.suppress(docker.errors.DockerException):
        image = client.images.get(ids[-1])
        if not image.tags:  # one with children (a cached step of another) is refused
            client.images.remove(image.id, force=False, noprune=False)


def _candidates() -> list[str]:
    seen: list[str] = []
    for folder in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/bin"]:
        path = os.path.join(folder, "docker")
        real = os.path.realpath(path)
        if os.access(path, os.X_OK) and real not in [os.path.realpath(s) for s in seen]:
            seen.append(path)
    return seen


def find_buildkit_cli() -> tuple[str | None, str]:
    """A docker CLI that builds with BuildKit, or None and why there is none."""
    tried: list[str] = []
    for cli in _candidates():
        try:
            buildx = subprocess.run([cli, "buildx", "version"], capture_output=True,
                                    text=True, timeout=20)
            if buildx.returncode == 0:
                return cli, f"{cli} (buildx)"
            version = subprocess.run([cli, "version", "--format", "{{.Client.Version}}"],
                                     capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{cli}: {exc}")
            continue
        raw = version.stdout.strip()
        major = raw.split(".", 1)[0]
        if major.isdigit() and 18 <= int(major) < 23:
            return cli, f"{cli} {raw} (built-in BuildKit)"
        tried.append(f"{cli} {raw or '?'}: no buildx plugin")
    if not tried:
        return None, "no docker CLI on PATH"
    return None, "; ".join(tried)


def build_cli(cli: str, context: Path, dockerfile: Path, tag: str, target: str,
              build_args: dict[str, str], labels: dict[str, str], timeout: float,
              on_line: Callable[[str], None] | None = None) -> BuildOutput:
    argv = [cli, "build", "--progress=plain", "-f", str(dockerfile), "-t", tag]
    if target:
        argv += ["--target", target]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    argv.append(str(context))
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    started = time.monotonic()
    lines: list[str] = []
    shown: set[str] = set()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
    except OSError as exc:
        return BuildOutput(False, error=f"cannot run {cli}: {exc}", builder=cli)
    assert proc.stdout is not None
    for raw in proc.stdout:  # a hung build is bounded by the wait below, once it ends
        line = raw.rstrip()
        if line.strip():
            lines.append(line)
            if on_line is not None and re.match(r"^#\d+ \[", line) and line not in shown:
                shown.add(line)
                on_line(line)
        if time.monotonic() - started > timeout:
            proc.kill()
            proc.wait()
            return BuildOutput(False, seconds=timeout, log=lines,
                               error=f"the build took over {timeout:.0f} s", builder=cli)
    proc.wait()
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        error = next((ln for ln in reversed(lines) if "ERROR" in ln or "error" in ln),
                     f"exit code {proc.returncode}")
        return BuildOutput(False, seconds=seconds, log=lines, error=error, builder=cli)
    return BuildOutput(True, "", seconds, lines, builder=cli)


@dataclass(frozen=True)
class ImageInfo:
    id: str
    size: int
    exposed: tuple[int, ...]
    healthcheck: bool
    user: str
    stop_signal: str
    env: dict[str, str]
    layers: tuple[tuple[int, str], ...]  # (size, created_by), biggest first
    command: tuple[str, ...] = ()  # ENTRYPOINT + CMD: what a container of it runs
    labels: dict[str, str] = field(default_factory=dict)  # LABEL, docker build --label
    ports: tuple[str, ...] = ()  # every EXPOSEd port as "8000/tcp"
    workdir: str = ""  # WORKDIR
    repo_digests: tuple[str, ...] = ()  # "name@sha256:...", when pushed or pulled


def inspect_image(client: docker.DockerClient, ref: str) -> ImageInfo:
    try:
        img = client.images.get(ref)
        history = img.history()
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot inspect image {ref}: {exc}") from None
    cfg = img.attrs.get("Config") or {}
    exposed = tuple(sorted(int(p.split("/")[0]) for p in (cfg.get("ExposedPorts") or {})
                           if p.endswith("/tcp")))
    test = (cfg.get("Healthcheck") or {}).get("Test") or []
    env = dict(e.split("=", 1) for e in (cfg.get("Env") or []) if "=" in e)
    layers = sorted(((int(h.get("Size", 0)), str(h.get("CreatedBy", ""))) for h in history),
                    reverse=True)
    command = tuple(str(w) for w in [*(cfg.get("Entrypoint") or []), *(cfg.get("Cmd") or [])])
    return ImageInfo(str(img.id), int(img.attrs.get("Size", 0)), exposed,
                     bool(test) and test[0] != "NONE", str(cfg.get("User") or ""),
                     str(cfg.get("StopSignal") or "SIGTERM"), env, tuple(layers[:5]),
                     command, {str(k): str(v) for k, v in (cfg.get("Labels") or {}).items()},
                     tuple(sorted(str(p) for p in (cfg.get("ExposedPorts") or {}))),
                     str(cfg.get("WorkingDir") or ""),
                     tuple(str(d) for d in (img.attrs.get("RepoDigests") or [])))


def remove_image(client: docker.DockerClient, image_id: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.images.remove(image_id, force=True)


# --- containers ------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    status: str  # created, running, exited, ...
    health: str | None  # starting, healthy, unhealthy; None without HEALTHCHECK
    exit_code: int
    oom_killed: bool = False
    probe_output: str = ""  # the last HEALTHCHECK probe's exit code and output


class Container:
    """A container of this run: labelled, published on 127.0.0.1 only, never named."""

    def __init__(self, wrapped: DockerContainer) -> None:
        self._c = wrapped
        self.id: str = str(wrapped.id)
        self.short_id: str = str(wrapped.short_id)

    def state(self) -> State:
        try:
            self._c.reload()
        except docker.errors.NotFound:
            return State("removed", None, -1)
        st = self._c.attrs.get("State") or {}
        health = (st.get("Health") or {}).get("Status")
        probes = (st.get("Health") or {}).get("Log") or []
        last = probes[-1] if probes and isinstance(probes[-1], dict) else {}
        probe = (f"exit {last.get('ExitCode')}: {str(last.get('Output') or '').strip()}"
                 if last else "")
        return State(str(st.get("Status", "")), health, int(st.get("ExitCode", 0)),
                     bool(st.get("OOMKilled", False)), probe)

    def host_port(self, port: int) -> int | None:
        ports = (self._c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in ports.get(f"{port}/tcp") or []:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
        return None

    def logs(self) -> bytes:
        try:
            return bytes(self._c.logs(stdout=True, stderr=True))
        except docker.errors.DockerException:
            return b""

    def exec(self, argv: list[str], env: dict[str, str] | None = None,
             user: str = "") -> tuple[int, bytes]:
        try:
            result = self._c.exec_run(argv, environment=env, user=user, demux=False)
        except docker.errors.APIError as exc:
            return 126, str(exc.explanation or exc).encode()
        return int(result.exit_code if result.exit_code is not None else -1), \
            bytes(result.output or b"")

    def exec_timed(self, argv: list[str], timeout: float) -> tuple[int | None, bytes]:
        """Like :meth:`exec`, but give up after ``timeout`` s: then the exit code is None
        and the output is what the command wrote so far (the process itself ends with the
        container). The output is streamed by a daemon thread, so a hung command cannot
        hang the run."""
        api = self._c.client.api
        chunks: list[bytes] = []
        box: dict[str, int] = {}
        done = threading.Event()

        def pump() -> None:
            try:
                exec_id = api.exec_create(self.id, argv)["Id"]
                for chunk in api.exec_start(exec_id, stream=True):
                    chunks.append(bytes(chunk))
                code = api.exec_inspect(exec_id).get("ExitCode")
                box["code"] = int(code) if code is not None else -1
            except docker.errors.APIError as exc:
                chunks.append(str(exc.explanation or exc).encode())
                box["code"] = 126
            except Exception as exc:  # the connection broke (requests, OSError)
                chunks.append(f"{type(exc).__name__}: {exc}".encode())
                box["code"] = -1
            finally:
                done.set()

        threading.Thread(target=pump, name=f"exec {argv[:1]}", daemon=True).start()
        if not done.wait(timeout):
            return None, b"".join(chunks)
        return box.get("code", -1), b"".join(chunks)

    def put_archive(self, path: str, data: bytes) -> None:
        try:
            self._c.put_archive(path, data)
        except docker.errors.DockerException as exc:
            raise EngineError(f"cannot copy into container {self.short_id}: {exc}") from None

    def stop(self, grace: float) -> tuple[int, float]:
        """Send the image's STOPSIGNAL, SIGKILL after ``grace`` s (docker stop); return the
        exit code and the seconds it took."""
        started = time.monotonic()
        try:
            self._c.stop(timeout=max(1, round(grace)))
            code = int(self._c.wait(timeout=grace + 30).get("StatusCode", -1))
        except docker.errors.DockerException as exc:
            raise EngineError(f"cannot stop container {self.short_id}: {exc}") from None
        return code, time.monotonic() - started

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._c.remove(force=True, v=True)


def run_container(client: docker.DockerClient, image: str, *, command: list[str] | None,
                  env: dict[str, str], ports: Iterable[int], labels: dict[str, str]
                  ) -> Container:
    try:
        wrapped = client.containers.run(
            image, command=command or None, environment=env, labels=labels, detach=True,
            ports={f"{p}/tcp": ("127.0.0.1", None) for p in ports},
        )
    except docker.errors.DockerException as exc:
        explanation = getattr(exc, "explanation", None) or exc
        raise EngineError(f"cannot start a container of {image}: {explanation}") from None
    container = Container(wrapped)
    container.state()
    return container

