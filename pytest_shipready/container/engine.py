"""The adapter to the Docker engine: the only module importing docker and testcontainers.

It is imported lazily, by the image, smoke and parity areas, under --shipready only.
Everything it returns is plain data or the small :class:`Container` wrapper, and every
engine error becomes :class:`EngineError` with a message meant for the user.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import re
import socket
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

from .build.output import BuildOutput


class EngineError(Exception):
    """Something the engine refused; the message is for the user."""


class EngineUnavailableError(EngineError):
    """No Docker engine answers."""


class EngineStalledError(TimeoutError):
    """The engine sent nothing for the whole timeout on an open connection."""


def connect(timeout: float = 120.0) -> docker.DockerClient:
    """A client whose every call gives up after ``timeout`` s without an answer. The
    engine is resolved once, the active ``docker context`` included, and exported as
    DOCKER_HOST so that docker-py, testcontainers and a BuildKit CLI reach the same one."""

    from .enginehost import CONTEXT_ENV, context_host, context_tls

    found = context_host(os.environ, Path.home())
    if found is not None:
        os.environ["DOCKER_HOST"], os.environ[CONTEXT_ENV] = found
        tls = context_tls(os.environ, Path.home(), found[1])
        if tls is not None and not os.environ.get("DOCKER_CERT_PATH"):
            os.environ["DOCKER_CERT_PATH"] = tls[0]
            if tls[1]:
                os.environ["DOCKER_TLS_VERIFY"] = "1"
    try:
        client = _from_env(timeout)
        client.ping()
    except Exception as exc:  # docker raises DockerException, requests errors, OSError
        from .enginehost import unreachable

        detail = f"{type(exc).__name__}: {exc}"
        cause: BaseException | None = exc
        while cause is not None:  # docker-py wraps a requests timeout
            if is_engine_failure(cause) and "timed out" in str(cause).lower():
                detail = describe_failure(TimeoutError(), timeout)
            cause = cause.__cause__ or cause.__context__
        _release_frames(exc)
        raise EngineUnavailableError(
            unreachable(os.environ.get("DOCKER_HOST"), detail)) from None
    return client


def _release_frames(exc: BaseException) -> None:
    """Free what the failed connection's frames hold now: docker-py's unix transport
    leaves the socket of a refused connect unclosed, and its ResourceWarning, raised
    whenever the garbage collector gets to it, would be an error in some later test of a
    project whose ini has ``filterwarnings = "error"``."""
    import traceback
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        seen: BaseException | None = exc
        while seen is not None:
            if seen.__traceback__ is not None:
                traceback.clear_frames(seen.__traceback__)
            seen = seen.__cause__ or seen.__context__


def _from_env(timeout: float) -> docker.DockerClient:
    """docker-py's client of DOCKER_HOST. For ``ssh://``: paramiko first (one ssh
    connection for every call: plain calls take milliseconds), else the ``ssh`` command
    (the user's whole ssh config and agent, as testcontainers uses it; but a new ssh
    process for every call, ~0.5 s each); the error of both when neither connects."""
    seconds = max(1, round(timeout))
    if not os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
        return docker.from_env(timeout=seconds)
    try:
        # docker-py keeps a connection pool per URL, and over paramiko each pooled
        # connection is an ssh channel: with its defaults (25 pools) a run opens more
        # than the 10 sessions sshd allows per connection (MaxSessions), and calls fail
        # with "ChannelException(2, 'Connect failed')" (docker/compose#6463). Two pools
        # of two connections stay well under it.
        client = docker.DockerClient(timeout=seconds, num_pools=2, max_pool_size=2,
                                     **docker.utils.kwargs_from_env())
        client.ping()
        return client
    except Exception as exc:  # paramiko: unknown host key, no key it can find, ...
        first = f"{type(exc).__name__}: {exc}"
        if "install paramiko" in first.lower():  # the ssh command needs it as well
            raise
    try:
        client = docker.from_env(timeout=seconds, use_ssh_client=True)
        client.ping()
        return client
    except Exception as exc:
        raise docker.errors.DockerException(
            f"through paramiko: {first}; through the ssh command: "
            f"{type(exc).__name__}: {exc}") from None


def is_engine_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the engine did not answer (a timeout, a connection refused
    or broken), as opposed to an answer that refused something (an APIError)."""
    import requests.exceptions
    import urllib3.exceptions

    if isinstance(exc, docker.errors.APIError):
        return False
    return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout
                      | urllib3.exceptions.HTTPError | ConnectionError | TimeoutError
                      | socket.timeout)


def describe_failure(exc: BaseException, timeout: float) -> str:
    """The cause of an engine failure in a few words."""
    import requests.exceptions

    if isinstance(exc, requests.exceptions.Timeout | TimeoutError | socket.timeout):
        return f"no answer within {timeout:.0f} s ([tool.shipready] engine_timeout)"
    from .enginehost import cause

    return cause(f"{type(exc).__name__}: {exc}")


def ping(client: docker.DockerClient, timeout: float) -> str | None:
    """None when the engine answers a ping within ``timeout`` s, else what went wrong."""
    api = client.api
    try:
        response = api.get(api._url("/_ping"), timeout=max(1, round(timeout)))
        response.raise_for_status()
    except Exception as exc:
        return describe_failure(exc, timeout)
    return None


def _bounded(chunks: Iterable[Any], idle: float, what: str,
             alive: Callable[[], str | None] | None = None) -> Iterator[Any]:
    """``chunks`` read by a daemon thread: raise :class:`EngineStalledError` when none
    comes for ``idle`` s (docker-py streams with no socket timeout). With ``alive`` (a
    ping: None when the engine answers), a silence is first checked with it, and the
    wait goes on while the engine answers (a slow export, not a stall). The queue is
    small, so at most a few chunks wait in memory."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=16)

    def pump() -> None:
        try:
            for chunk in chunks:
                box.put(("chunk", chunk))
            box.put(("end", None))
        except BaseException as exc:  # handed to the reader
            box.put(("error", exc))

    threading.Thread(target=pump, name=f"stream {what}", daemon=True).start()
    while True:
        try:
            kind, item = box.get(timeout=idle)
        except queue.Empty:
            why = alive() if alive is not None else "no answer"
            if why is None:
                continue
            raise EngineStalledError(f"{what}: nothing received for {idle:.0f} s") from None
        if kind == "end":
            return
        if kind == "error":
            raise item
        yield item


# --- cleanup ---------------------------------------------------------------------------


def sweep(client: docker.DockerClient, label: str, value: str) -> list[str]:
    """Remove every container, then every network and volume, then every image,
    labelled ``label=value``."""
    removed: list[str] = []
    flt = {"label": f"{label}={value}"}
    for c in client.containers.list(all=True, filters=flt):
        try:
            c.remove(force=True, v=True)
            removed.append(f"container {c.short_id}")
        except docker.errors.NotFound:
            pass
    for net in client.networks.list(filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            net.remove()
            removed.append(f"network {net.name}")
    for volume in client.volumes.list(filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)
            removed.append(f"volume {volume.short_id}")
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
                *client.networks.list(filters={"label": label}),
                *client.images.list(filters={"label": label})]:
        labels = getattr(obj, "labels", None) or obj.attrs.get("Labels") or {}  # networks
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


# A kept image without the checkout label (made before it existed) may be in use by a
# run of an older version, which does not hold its image: pruned only past this age.
UNKEYED_AGE = 2 * 3600.0


def prune_kept(client: docker.DockerClient, labels: list[str], keep_id: str,
               own: tuple[str, str] | None = None) -> None:
    """Remove older kept images matching all ``labels`` ("k=v"), except ``keep_id``.
    With ``own`` (label, value): only images whose ``label`` is that value or absent
    (kept before the label existed), so another checkout's images stay. An image a live
    run holds (a container of it exists) is refused by the engine and stays."""
    for img in client.images.list(filters={"label": labels}):
        if img.id == keep_id:
            continue
        if own is not None:
            mine = (img.labels or {}).get(own[0])
            if mine is None:  # kept by an older version: pruned once surely not in use
                if time.time() - _created(str(img.attrs.get("Created", ""))) < UNKEYED_AGE:
                    continue
            elif mine != own[1]:
                continue
        with contextlib.suppress(docker.errors.APIError):  # in use or already gone
            client.images.remove(img.id, force=False)


# --- build -----------------------------------------------------------------------------


def buildkit_support(client: docker.DockerClient) -> str | None:
    """None when the engine runs BuildKit builds, else why not (Podman's Docker API and
    engines older than 18.09 build only the classic way)."""
    try:
        version = client.version()
    except docker.errors.DockerException as exc:
        return f"the engine's version is unknown ({exc})"
    names = " ".join(str(c.get("Name", "")) for c in version.get("Components") or [])
    if "podman" in names.lower() or "podman" in str(version.get("Platform", "")).lower():
        return "the engine is Podman, whose Docker API has no BuildKit"
    api = str(version.get("ApiVersion", "0.0"))
    try:
        major, minor = (int(x) for x in api.split(".")[:2])
    except ValueError:
        return f"the engine's API version {api!r} is unknown"
    if (major, minor) < (1, 39):
        return f"the engine (API {api}) predates BuildKit (Docker 18.09, API 1.39)"
    return None


def hold_image(client: docker.DockerClient, image_id: str, labels: dict[str, str]) -> str:
    """Create (never start) a container of ``image_id`` with ``labels``: while it exists
    the engine refuses to remove the image (another run's pruning included). Removed
    with the run's other containers. Returns its id."""
    try:
        created = client.api.create_container(image_id, command=["true"], labels=labels,
                                              network_disabled=True)
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot hold image {image_id[:19]}: "
                          f"{getattr(exc, 'explanation', None) or exc}") from None
    return str(created["Id"])


def image_exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def tag_image(client: docker.DockerClient, image_id: str, tag: str) -> None:
    repository, _, name = tag.rpartition(":")
    try:
        client.api.tag(image_id, repository, name)
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot tag {image_id[:19]} as {tag}: {exc}") from None


def untag(client: docker.DockerClient, tag: str) -> bool:
    """Remove the tag ``tag``, and the image with it when that was its last tag and no
    container uses it. False when the engine refused (in use); True when gone."""
    return untag_state(client, tag) != "refused"


def untag_state(client: docker.DockerClient, tag: str) -> str:
    """:func:`untag`, saying which: "removed", "absent" (no such tag) or "refused"."""
    try:
        client.api.remove_image(tag, force=False, noprune=False)
    except docker.errors.ImageNotFound:
        return "absent"
    except docker.errors.APIError:
        return "refused"
    return "removed"


def _chunk_lines(chunk: dict[str, Any]) -> Iterator[str]:
    text = chunk.get("stream") or chunk.get("error") or chunk.get("status") or ""
    for line in str(text).splitlines():
        if line.strip():
            yield line.rstrip()


class _BuildWatch:
    """The classic build's stream as it comes: its lines, the "Step N/M" ones shown (under
    -v), the images its steps made (:class:`StepImages`), its result, and the HTTP
    response (closed to cancel the build)."""

    def __init__(self, on_line: Callable[[str], None] | None,
                 on_intermediate: Callable[[str], None] | None) -> None:
        from .build.stages import StepImages

        self.on_line = on_line
        self.on_intermediate = on_intermediate
        self.steps = StepImages()
        self.lines: list[str] = []
        self.responses: list[Any] = []
        self.last_chunk = time.monotonic()
        self.image_id = ""
        self.error = ""

    def install(self, api: Any) -> None:
        original_post = api._post

        def post(*args: Any, **kwargs: Any) -> Any:
            response = original_post(*args, **kwargs)
            if kwargs.get("stream"):
                self.responses.append(response)
            return response

        api._post = post

    def read(self, stream: Iterable[Any]) -> None:
        for chunk in stream:
            self.last_chunk = time.monotonic()
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error") or chunk.get("errorDetail"):
                self.error = str(chunk.get("error")
                                 or (chunk.get("errorDetail") or {}).get("message", ""))
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                self.image_id = str(aux["ID"])
            for line in _chunk_lines(chunk):
                self._line(line)

    def _line(self, line: str) -> None:
        self.lines.append(line)
        made = self.steps.feed(line)
        if made is not None and self.on_intermediate is not None:
            with contextlib.suppress(Exception):
                self.on_intermediate(made)
        if line.startswith("Step ") and self.on_line is not None:
            self.on_line(line)

    def cancel(self) -> None:
        """Close the build's connection: the engine cancels the build, and forcerm
        removes the step container it was running."""
        for response in self.responses:
            with contextlib.suppress(Exception):
                sock = response.raw.connection.sock
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(Exception):
                response.close()


def build_docker_py(client: docker.DockerClient, context_tar: Any, dockerfile: str,
                    tag: str, target: str, build_args: dict[str, str],
                    labels: dict[str, str],
                    on_line: Callable[[str], None] | None = None, *,
                    timeout: float = 900.0, why_timeout: str = "build_timeout",
                    engine_timeout: float = 120.0,
                    on_intermediate: Callable[[str], None] | None = None) -> BuildOutput:
    """Build with the engine's classic builder (docker-py), from ``context_tar`` (a tar
    of the context, made by the caller with the project's own .dockerignore matcher)
    whose ``dockerfile`` names the Dockerfile inside it. Bounded by ``timeout`` s; a
    stream silent for ``engine_timeout`` s with the engine not answering a ping ends the
    build as stalled. A build that does not finish (timeout, stall, Ctrl-C, an error)
    is cancelled and the images of its finished steps are removed (they carry no
    label); a finished one reports the images its stages made that it does not ship
    (``step_images``), which the caller removes."""
    started = time.monotonic()
    watch = _BuildWatch(on_line, on_intermediate)
    box: dict[str, Any] = {}
    done = threading.Event()
    # A connection of its own (the stream is cancelled by closing it), to the engine the
    # run resolved (connect() exported it as DOCKER_HOST).
    api = docker.APIClient(version=client.api.api_version,
                           timeout=max(1, round(engine_timeout)),
                           **docker.utils.kwargs_from_env())
    watch.install(api)
    kwargs: dict[str, Any] = {}
    if target:
        kwargs["target"] = target

    def work() -> None:
        try:
            stream = api.build(fileobj=context_tar, custom_context=True, dockerfile=dockerfile,
                               tag=tag, labels=labels, forcerm=True, rm=True,
                               buildargs=build_args, decode=True, **kwargs)
            watch.read(stream)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    def leave_nothing(wait: float) -> None:
        watch.cancel()
        done.wait(wait)
        with contextlib.suppress(Exception):
            remove_intermediates(client, watch.steps.made, watch.steps.containers, wait=10)

    threading.Thread(target=work, name="docker-py build", daemon=True).start()
    deadline = started + timeout
    stalled = ""
    try:
        while not done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            done.wait(min(left, 1.0))
            if not done.is_set() and time.monotonic() - watch.last_chunk > engine_timeout:
                stalled = ping(client, min(engine_timeout, 10)) or ""
                if stalled:
                    break
                watch.last_chunk = time.monotonic()  # a silent step: wait on
    except BaseException:  # Ctrl-C, SIGTERM: cancel, and leave no unlabelled image
        leave_nothing(5)
        raise
    finally:
        with contextlib.suppress(Exception):
            api.close()
    seconds = time.monotonic() - started
    if not done.is_set():
        if stalled:  # nothing can be removed now: the record of its steps is for the next run
            watch.cancel()
            return BuildOutput(False, seconds=seconds, log=list(watch.lines), stalled=True,
                               error=stalled)
        leave_nothing(10)
        return BuildOutput(False, seconds=seconds, log=list(watch.lines),
                           error=f"the build took over {timeout:.0f} s ({why_timeout}) "
                           "and was cancelled")
    error = box.get("error")
    if error is not None or watch.error or not watch.image_id:
        with contextlib.suppress(Exception):
            remove_intermediates(client, watch.steps.made, wait=5)
    if isinstance(error, docker.errors.APIError):
        return BuildOutput(False, seconds=seconds, log=list(watch.lines),
                           error=str(error.explanation or error))
    if error is not None and is_engine_failure(error):
        raise error
    if isinstance(error, docker.errors.DockerException | OSError):
        return BuildOutput(False, seconds=seconds, log=list(watch.lines), error=str(error))
    if error is not None:
        raise error
    if watch.error or not watch.image_id:
        return BuildOutput(False, seconds=seconds, log=list(watch.lines),
                           error=watch.error or "the engine reported no image")
    return BuildOutput(True, watch.image_id, seconds, list(watch.lines),
                       step_images=watch.steps.leftovers(watch.image_id))


@dataclass(frozen=True)
class ImageInfo:
    id: str
    size: int
    exposed: tuple[int, ...]
    healthcheck: bool
    user: str
    stop_signal: str
    # Not in a repr (`pytest -l` shows the fixtures'): ENV values, and layer commands
    # that hold build-arg values (`|1 TOKEN=...`).
    env: dict[str, str] = field(repr=False)
    layers: tuple[tuple[int, str], ...] = field(repr=False)  # (size, created_by), biggest first
    command: tuple[str, ...] = ()  # ENTRYPOINT + CMD: what a container of it runs
    labels: dict[str, str] = field(default_factory=dict)  # LABEL, docker build --label
    ports: tuple[str, ...] = ()  # every EXPOSEd port as "8000/tcp"
    workdir: str = ""  # WORKDIR
    repo_digests: tuple[str, ...] = ()  # "name@sha256:...", when pushed or pulled
    # What its layers hold, whatever its labels: the layers' digests and the commands
    # that made them. Two builds that differ only in this plugin's labels (a file the
    # Dockerfile never copies changed the context hash) have the same layers key.
    layers_key: str = ""
    entrypoint: tuple[str, ...] = ()  # ENTRYPOINT alone (``command`` starts with it)


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
    # The classic builder records `--label`s as a LABEL step: not the layers' content.
    made_by = [str(h.get("CreatedBy", "")) for h in history
               if "io.pytest-shipready." not in str(h.get("CreatedBy", ""))]
    diff_ids = (img.attrs.get("RootFS") or {}).get("Layers") or []
    layers_key = "layers-" + hashlib.sha256(json.dumps([diff_ids, made_by]).encode()
                                            ).hexdigest()
    return ImageInfo(str(img.id), int(img.attrs.get("Size", 0)), exposed,
                     bool(test) and test[0] != "NONE", str(cfg.get("User") or ""),
                     str(cfg.get("StopSignal") or "SIGTERM"), env, tuple(layers[:5]),
                     command, {str(k): str(v) for k, v in (cfg.get("Labels") or {}).items()},
                     tuple(sorted(str(p) for p in (cfg.get("ExposedPorts") or {}))),
                     str(cfg.get("WorkingDir") or ""),
                     tuple(str(d) for d in (img.attrs.get("RepoDigests") or [])), layers_key,
                     tuple(str(w) for w in cfg.get("Entrypoint") or []))


def save_image(client: docker.DockerClient, ref: str) -> Iterator[bytes]:
    """The image as ``docker save`` streams it (a tar of layer tars), chunk by chunk. The
    stream has no socket timeout (docker-py turns it off): a silence of the client's
    timeout (engine_timeout) with the engine not answering a ping raises
    :class:`EngineStalledError`."""
    api = client.api
    idle = float(api.timeout or 120)

    def chunks() -> Iterator[bytes]:
        # No socket timeout for the answer either: the engine may take a while to start
        # the export of a large image; the silence is judged by a ping instead.
        response = api._get(api._url("/images/{0}/get", ref), stream=True, timeout=None)
        yield from api._stream_raw_result(response, 1024 * 1024, False)

    try:
        yield from _bounded(chunks(), idle, f"the layers of {ref[:19]}",
                            alive=lambda: ping(client, min(idle, 10)))
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot read the layers of {ref}: {exc}") from None


def layer_count(client: docker.DockerClient, ref: str) -> int | None:
    """How many layers an image has (None when it is not in the engine)."""
    try:
        attrs = client.images.get(ref).attrs
    except docker.errors.DockerException:
        return None
    return len((attrs.get("RootFS") or {}).get("Layers") or [])


def remove_image(client: docker.DockerClient, image_id: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.images.remove(image_id, force=True)


def remove_intermediates(client: docker.DockerClient, ids: Iterable[str],
                         containers: Iterable[str] = (), wait: float = 0.0) -> list[str]:
    """Remove the untagged images of an unfinished classic build (its finished steps),
    newest first, after the step ``containers`` it was running; an image another one
    builds on, or one that got a tag, is kept (it is someone's cache). An image still
    used by a step container the engine is removing is retried for ``wait`` s. Returns
    the ids removed."""
    for container_id in containers:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.api.remove_container(container_id, force=True)
    deadline = time.monotonic() + wait
    removed: list[str] = []
    for image_id in reversed(list(dict.fromkeys(ids))):
        while True:
            try:
                image = client.images.get(image_id)
                if not image.tags:
                    client.images.remove(image.id, force=False, noprune=False)
                    removed.append(image_id)
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError as exc:  # in use: a child image or a container
                text = str(exc.explanation or exc)
                if "child" in text or "container" not in text \
                        or time.monotonic() >= deadline:
                    break
                time.sleep(0.3)
    return removed


# --- containers ------------------------------------------------------------------------


def _close(sock: Any) -> None:
    """Close an exec's hijacked connection (a socket, a SocketIO, an ssh channel) and
    the HTTP response it came from."""
    response = getattr(sock, "_response", None)
    with contextlib.suppress(Exception):
        sock.close()
    if response is not None:
        with contextlib.suppress(Exception):
            response.close()


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

    def address(self) -> str:
        """Its own IP address on its first network, as its peers reach it ("" with no
        network of its own: ``none``, ``host`` or another container's namespace)."""
        settings = self._c.attrs.get("NetworkSettings") or {}
        for network in (settings.get("Networks") or {}).values():
            if isinstance(network, dict) and network.get("IPAddress"):
                return str(network["IPAddress"])
        return str(settings.get("IPAddress") or "")

    def host_port(self, port: int) -> int | None:
        ports = (self._c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in ports.get(f"{port}/tcp") or []:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
        return None

    def environment(self) -> dict[str, str]:
        """The environment it was created with, as the engine reports it: the image's
        ENV with the run's variables over it."""
        config = self._c.attrs.get("Config") or {}
        return dict(str(e).split("=", 1) for e in (config.get("Env") or []) if "=" in str(e))

    def logs(self, tail: int | None = None) -> bytes:
        """Its output (the last ``tail`` lines, or all of it: mind the size)."""
        try:
            return bytes(self._c.logs(stdout=True, stderr=True,
                                      tail="all" if tail is None else tail))
        except docker.errors.DockerException:
            return b""

    def log_chunks(self, idle_timeout: float) -> Iterator[bytes]:
        """Its output so far, streamed in chunks (never held whole); a stalled engine
        raises :class:`EngineStalledError` after ``idle_timeout`` s without a chunk."""
        try:
            stream = self._c.logs(stdout=True, stderr=True, stream=True, follow=False)
        except docker.errors.NotFound:
            return
        for chunk in _bounded(stream, idle_timeout, f"the log of {self.short_id}"):
            yield bytes(chunk)

    def exec(self, argv: list[str], env: dict[str, str] | None = None,
             user: str = "") -> tuple[int, bytes]:
        chunks: list[bytes] = []  # stdout and stderr in the order they came
        try:
            code = self._exec(argv, env, user, sink=lambda _, data: chunks.append(data))[0]
        except docker.errors.APIError as exc:
            return 126, str(exc.explanation or exc).encode()
        return code, b"".join(chunks)

    def _exec(self, argv: list[str], env: dict[str, str] | None = None, user: str = "",
              sink: Callable[[int, bytes], None] | None = None, limit: int = 1 << 62
              ) -> tuple[int, bytes, bytes]:
        """Run ``argv`` in the container: (exit code, stdout, stderr), or each chunk
        handed to ``sink(stream, data)`` (1 stdout, 2 stderr) as it comes. The exec's
        connection is closed as soon as it ends: over ``ssh://`` each one is an ssh
        channel, and sshd allows 10 per connection (MaxSessions). At most ``limit``
        bytes of each stream are kept."""
        from docker.utils.socket import frames_iter  # type: ignore[import-untyped]

        api = self._c.client.api
        exec_id = api.exec_create(self.id, argv, environment=env, user=user)["Id"]
        sock = api.exec_start(exec_id, socket=True)
        # As docker-py does for an exec's stream: a command may be silent for longer
        # than a call's timeout (the callers that must give up do so from outside).
        api._disable_socket_timeout(sock)
        kept: dict[int, list[bytes]] = {1: [], 2: []}
        sizes = {1: 0, 2: 0}
        try:
            for stream, data in frames_iter(sock, False):
                if sink is not None:
                    sink(stream, bytes(data))
                elif stream in kept and sizes[stream] < limit:
                    kept[stream].append(bytes(data))
                    sizes[stream] += len(data)
        finally:
            _close(sock)
        code = api.exec_inspect(exec_id).get("ExitCode")
        return (int(code) if code is not None else -1, b"".join(kept[1]),
                b"".join(kept[2]))

    def exec_timed(self, argv: list[str], timeout: float) -> tuple[int | None, bytes]:
        """Like :meth:`exec`, but give up after ``timeout`` s: then the exit code is None
        and the output is what the command wrote so far (the process itself ends with the
        container). The output is streamed by a daemon thread, so a hung command cannot
        hang the run."""
        code, out, _ = self._exec_bounded(argv, timeout, merged=True)
        return code, out

    def exec_apart(self, argv: list[str], timeout: float, limit: int = 64 << 20
                   ) -> tuple[int | None, bytes, bytes]:
        """Like :meth:`exec_timed`, with stdout and stderr apart (a probe's answer is
        its stdout alone): (exit code or None when ``timeout`` ran out, stdout, stderr).
        At most ``limit`` bytes of each are kept. An exec the engine refuses (no such
        executable, the container is not running) gives code 126 or 127 and the
        engine's words on stderr."""
        return self._exec_bounded(argv, timeout, limit=limit)

    def _exec_bounded(self, argv: list[str], timeout: float, merged: bool = False,
                      limit: int = 1 << 62) -> tuple[int | None, bytes, bytes]:
        out: list[bytes] = []
        err: list[bytes] = []
        size = [0]
        box: dict[str, int] = {}
        done = threading.Event()

        def sink(stream: int, data: bytes) -> None:
            if size[0] < limit:
                (out if merged or stream == 1 else err).append(data)
                size[0] += len(data) if merged or stream == 1 else 0

        def pump() -> None:
            try:
                box["code"] = self._exec(argv, sink=sink)[0]
            except docker.errors.APIError as exc:
                err.append(str(exc.explanation or exc).encode())
                box["code"] = 126
            except Exception as exc:  # the connection broke (requests, OSError)
                err.append(f"{type(exc).__name__}: {exc}".encode())
                box["code"] = -1
            finally:
                done.set()

        threading.Thread(target=pump, name=f"exec {argv[:1]}", daemon=True).start()
        if not done.wait(timeout):
            code: int | None = None
        else:
            code = box.get("code", -1)
        if merged:
            return code, b"".join([*out, *err]), b""
        return code, b"".join(out), b"".join(err)

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
        """Remove it (forced); an engine that does not answer raises (requests errors)."""
        with contextlib.suppress(docker.errors.NotFound):
            self._c.remove(force=True, v=True)


class ExecSession:
    """A process exec'd in a container with its stdin attached, kept for many
    exchanges: :meth:`send` writes to its stdin; a daemon thread hands its output to
    ``on_output(stream, data)`` (1 stdout, 2 stderr) and calls ``on_end()`` when it ends
    (the process exited, the container stopped, the connection broke). One exec for
    many requests: a probe's round trip then costs no exec at all."""

    def __init__(self, container: Container, argv: list[str],
                 on_output: Callable[[int, bytes], None], on_end: Callable[[], None]
                 ) -> None:
        from docker.utils.socket import frames_iter

        api = container._c.client.api
        try:
            exec_id = api.exec_create(container.id, argv, stdin=True)["Id"]
            self._sock = api.exec_start(exec_id, socket=True)
        except docker.errors.APIError as exc:
            raise EngineError(str(exc.explanation or exc)) from None
        api._disable_socket_timeout(self._sock)  # idle between requests for minutes

        def pump() -> None:
            try:
                for stream, data in frames_iter(self._sock, False):
                    on_output(int(stream), bytes(data))
            except Exception:  # the connection broke: the session is over
                pass
            finally:
                on_end()

        threading.Thread(target=pump, name=f"session {argv[:1]}", daemon=True).start()

    def send(self, data: bytes) -> None:
        """Write to its stdin (the raw socket under docker-py's wrapper: a unix or TCP
        socket, TLS, or an ssh channel); OSError when the session is gone."""
        raw = getattr(self._sock, "_sock", self._sock)
        try:
            raw.sendall(data)
        except OSError:
            raise
        except Exception as exc:  # paramiko's SSHException, a closed channel
            raise OSError(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        _close(self._sock)


@dataclass(frozen=True)
class Restrictions:
    """What orchestrators apply to a container: a read-only root filesystem (tmpfs on
    the paths given), no capabilities, no privilege gain, an arbitrary user."""

    read_only: bool = True
    tmpfs: tuple[str, ...] = ("/tmp",)
    cap_drop_all: bool = True
    no_new_privileges: bool = True
    user: str = ""  # "1000680000:0"; empty: the image's USER
    cap_add: tuple[str, ...] = ()  # capabilities given back (a manifest's ``add``)
    tmpfs_owner: str = ""  # "uid[:gid]" owning the tmpfs paths; empty: ``user``


def tmpfs_options(owner: str) -> list[str]:
    """The options of a tmpfs path that the container's user can write, as a pod's
    emptyDir (0777), in the order to try them: over a directory the image has, the
    engine gives the tmpfs that directory's mode, whatever ``mode=`` says, and root as
    its owner. Docker takes ``uid=``/``gid=`` to make it the user's (Podman 4 refuses
    them); Podman takes ``U`` (chown to the container's user; Docker refuses it)."""
    found = re.fullmatch(r"(\d+)(?::(\d+))?", owner.strip())
    if found is None:
        return ["mode=1777", "U"]
    return [f"mode=1777,uid={found.group(1)}" + (f",gid={found.group(2)}"
                                                 if found.group(2) else ""), "U", "mode=1777"]


def image_file(client: docker.DockerClient, image: str, path: str, labels: dict[str, str],
               limit: int = 1 << 20) -> bytes | None:
    """The first ``limit`` bytes of the file ``path`` of ``image``, read from a container
    created (never started) and removed at once; None when the image has no such file
    or the engine refuses."""
    import io
    import tarfile

    try:
        created = client.containers.create(image, entrypoint=["/nonexistent"], labels=labels)
    except docker.errors.DockerException:
        return None
    try:
        stream, _ = created.get_archive(path)
        data = b"".join(stream)
    except docker.errors.DockerException:
        return None
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            created.remove(force=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            handle = tar.extractfile(member) if member is not None else None
            return handle.read(limit) if handle is not None else None
    except tarfile.TarError:
        return None


def run_container(client: docker.DockerClient, image: str, *, command: list[str] | None,
                  env: dict[str, str], ports: Iterable[int], labels: dict[str, str],
                  restrictions: Restrictions | None = None,
                  network: str | None = None,
                  publish_on: str | None = "127.0.0.1",
                  entrypoint: list[str] | None = None) -> Container:
    """Start a container of ``image``; ``network``: on that network of the run (where the
    backing services are reached by name); its ``ports`` are published on the engine
    host's ``publish_on`` address (see :func:`published_address`), or not at all with
    None."""
    extra: dict[str, Any] = {}
    tmpfs: list[str | None] = [None]
    if restrictions is not None:
        if restrictions.tmpfs:
            tmpfs = [*tmpfs_options(restrictions.tmpfs_owner or restrictions.user)]
        extra = {"read_only": restrictions.read_only,
                 "cap_drop": ["ALL"] if restrictions.cap_drop_all else None,
                 "cap_add": list(restrictions.cap_add) or None,
                 "security_opt": (["no-new-privileges"] if restrictions.no_new_privileges
                                  else None)}
        if restrictions.user:
            extra["user"] = restrictions.user
    if network is not None:
        extra["network"] = network
    if entrypoint is not None:  # replaces the image's ENTRYPOINT (a manifest's command)
        extra["entrypoint"] = entrypoint
    for tried, options in enumerate(tmpfs, 1):
        if options is not None:
            assert restrictions is not None
            extra["tmpfs"] = {path: options for path in restrictions.tmpfs}
        try:
            wrapped = client.containers.run(
                image, command=command or None, environment=env, labels=labels,
                detach=True, ports=({f"{p}/tcp": (publish_on, None) for p in ports}
                                    if publish_on is not None else {}), **extra,
            )
            break
        except docker.errors.DockerException as exc:
            explanation = getattr(exc, "explanation", None) or exc
            if tried < len(tmpfs) and "option" in str(explanation).lower():
                continue  # this engine's tmpfs takes other options: the next ones
            raise EngineError(f"cannot start a container of {image}: {explanation}") from None
    container = Container(wrapped)
    container.state()
    return container



# --- the HEALTHCHECK, probed directly --------------------------------------------------------


@dataclass(frozen=True)
class Healthcheck:
    """A container's effective HEALTHCHECK: the argv its probe runs (what the engine
    execs), and its timing in seconds."""

    argv: tuple[str, ...]
    timeout: float = 30.0
    interval: float = 30.0
    start_period: float = 0.0
    retries: int = 3


def healthcheck_of(container: Container) -> Healthcheck | None:
    """The HEALTHCHECK the engine runs in ``container`` (the image's, or the run's), or
    None without one. ``CMD-SHELL`` runs as ``/bin/sh -c``, as the engine does on Linux."""
    config = (container._c.attrs.get("Config") or {}).get("Healthcheck") or {}
    test = [str(t) for t in (config.get("Test") or [])]
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL" and len(test) > 1:
        argv: tuple[str, ...] = ("/bin/sh", "-c", test[1])
    elif test[0] == "CMD" and len(test) > 1:
        argv = tuple(test[1:])
    else:
        return None

    def seconds(key: str, default: float) -> float:
        value = config.get(key) or 0
        return int(value) / 1e9 if value else default

    return Healthcheck(argv, seconds("Timeout", 30.0), seconds("Interval", 30.0),
                       seconds("StartPeriod", 0.0), int(config.get("Retries") or 3))


# --- backing services: a network of the run, and containers on it ---------------------


def create_network(client: docker.DockerClient, name: str, labels: dict[str, str],
                   engine_timeout: float) -> str:
    """A bridge network of this run (testcontainers' Network), labelled like its
    containers; returns its name."""
    from testcontainers.core.network import Network

    network = Network(docker_client_kw={"timeout": max(1, round(engine_timeout))},
                      docker_network_kw={"labels": dict(labels), "driver": "bridge"})
    network.name = name
    try:
        network.create()
    except docker.errors.DockerException as exc:
        explanation = getattr(exc, "explanation", None) or exc
        raise EngineError(f"cannot create the network {name}: {explanation}") from None
    return name


def remove_network(client: docker.DockerClient, name: str, wait: float = 10.0) -> None:
    """Remove a network of this run once its containers are gone (retried for ``wait``
    s while the engine still detaches them)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            client.networks.get(name).remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.3)


def start_service(client: docker.DockerClient, image: str, *, env: dict[str, str],
                  command: list[str], entrypoint: list[str], network: str,
                  aliases: Iterable[str], labels: dict[str, str],
                  copies: Iterable[tuple[Path, str]] = (),
                  engine_timeout: float = 120.0) -> Container:
    """Start a backing service, described with testcontainers' generic DockerContainer:
    on ``network`` under ``aliases``, nothing published, ``copies`` (project files:
    init scripts, config) copied in before it starts, as bind mounts would show them. It
    is not waited for here (nor is testcontainers' reaper, Ryuk, started: the plugin
    removes its own containers): the caller watches its readiness, its exit and its log,
    within its own time."""
    from testcontainers.core.container import DockerContainer as TcContainer

    service = TcContainer(image, docker_client_kw={"timeout": max(1, round(engine_timeout))})
    service.with_envs(**env)
    if command:
        service.with_command(list(command))
    service.with_network_aliases(*aliases)
    docker_client = service.get_docker_client().client
    pulled = ""
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        try:
            docker_client.images.pull(image)
        except docker.errors.DockerException as exc:
            pulled = str(getattr(exc, "explanation", None) or exc)
    except docker.errors.DockerException:
        pass
    if pulled:
        raise EngineError(f"the image {image} is not in the engine, and pulling it failed: "
                          f"{pulled}")
    wrapped = None
    try:
        wrapped = docker_client.containers.create(
            service.image, command=service._command, environment=service.env,
            entrypoint=list(entrypoint) or None, labels=labels, detach=True,
            network=network, networking_config={network: client.api.create_endpoint_config(
                aliases=list(aliases))})
        for source, target in copies:
            wrapped.put_archive("/", _bind_tar(source, target))
        wrapped.start()
    except (docker.errors.DockerException, OSError) as exc:
        if wrapped is not None:
            with contextlib.suppress(docker.errors.DockerException):
                wrapped.remove(force=True, v=True)
        explanation = getattr(exc, "explanation", None) or exc
        raise EngineError(f"cannot start a container of {image}: {explanation}") from None
    container = Container(wrapped)
    container.state()
    return container


def _bind_tar(source: Path, target: str) -> bytes:
    """A tar that puts ``source`` at ``target`` as a bind mount shows it: a file at that
    path, a directory's entries in that directory; permission bits kept."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(str(source), arcname=target.lstrip("/") or ".")
    return buffer.getvalue()


# --- probes from inside the engine --------------------------------------------------------


def published_address() -> tuple[str, str]:
    """Where a user's own test reaches a published port and the engine-side address to
    publish it on: see :func:`.enginehost.published_host` (the override is read as
    testcontainers reads it, TC_HOST or TESTCONTAINERS_HOST_OVERRIDE)."""
    from testcontainers.core.config import testcontainers_config

    from .enginehost import published_host

    override = str(getattr(testcontainers_config, "tc_host_override", "") or "")
    return published_host(os.environ.get("DOCKER_HOST"), override)


def python_images(client: docker.DockerClient) -> list[str]:
    """The engine's own images with Python (tagged ``python:*``), newest first: what a
    probe container can run when the image under test has no Python."""
    found: list[tuple[str, str]] = []
    try:
        images = client.images.list()
    except docker.errors.DockerException:
        return []
    for img in images:
        for tag in img.tags or []:
            name = tag.rsplit(":", 1)[0].rsplit("/", 1)[-1]
            if name == "python":
                found.append((str(img.attrs.get("Created", "")), str(tag)))
    return [tag for _, tag in sorted(found, reverse=True)]


def start_probe_container(client: docker.DockerClient, image: str, beside: Container,
                          labels: dict[str, str]) -> Container:
    """A container of ``image`` in ``beside``'s network namespace, idle until removed:
    probes exec'd in it reach ``beside``'s ports as its neighbours do."""
    try:
        wrapped = client.containers.run(
            image, entrypoint=["python3", "-c", "import signal; signal.pause()"],
            command=[], network_mode=f"container:{beside.id}", labels=labels, detach=True)
    except docker.errors.DockerException as exc:
        explanation = getattr(exc, "explanation", None) or exc
        raise EngineError(f"cannot start a probe container of {image}: {explanation}"
                          ) from None
    probe = Container(wrapped)
    probe.state()
    return probe
