"""The image area (SR210 build, SR211 size) and the docker session shared with smoke,
parity and the fixtures: one engine connection, one build, one session container.

The engine adapter (docker, testcontainers) is imported only when the first docker item
or fixture runs. Under pytest-xdist the image is built once for all workers: the first
worker to take the lock builds and writes the outcome as JSON next to it; the others read
it (the pytest-xdist docs' FileLock recipe, with fcntl so it needs no extra package).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...checks import CheckResult, Finding, PlannedCheck, RunContext, Status
from ...config import Settings
from ...dockerfile import context as dockerfile_mod
from ...dockerfile.ignore import ContextTooSlowError
from ..session import (
    LABEL_CHECKOUT,
    LABEL_CONTENT,
    LABEL_KEEP,
    LABEL_PROJECT,
    LABEL_ROLE,
    SessionId,
    owner_record,
)
from . import stages
from .output import BuildOutput

if TYPE_CHECKING:
    from ...dockerfile.parser import Dockerfile
    from ...progress import Phase
    from ..engine import ImageInfo
    from ..enginewatch import EngineWatch
    from .buildkit import Cli, Secret


SHARED_KEY = "docker"


_LOG_TAIL = 25


@dataclass
class BuiltImage:
    result: CheckResult  # SR210
    # The image's id, what containers are run from (never a name, which the engine
    # could pull from a registry); None when it did not build.
    ref: str | None = None
    built_here: bool = False  # this process built it (not another xdist worker)
    info: ImageInfo | None = None
    tag: str = ""  # its tag, for people: pytest-shipready/<dir>:<checkout>-<content>


def workdir(session: SessionId) -> Path:
    """The directory the processes of one run share (xdist build lock, its result)."""
    return Path(tempfile.gettempdir()) / f"pytest-shipready-{session.id}"


ORPHAN_AGE = 3600.0  # seconds: a directory this old without an owner file is garbage


INTERMEDIATES = "intermediates"  # ids of a classic build's finished steps, one a line


@dataclass(frozen=True)
class ImageNames:
    project: str  # pytest-shipready/<dir>: the repository, and the project label
    checkout: str  # a key of the checkout's absolute path (io.pytest-shipready.checkout)
    tag: str  # the kept tag: <project>:<checkout>-<content>
    building: str  # the tag of this run's build until it is done


def _reap_workdirs(me: SessionId,
                   remove_images: Callable[[list[str]], object] | None = None) -> None:
    """Remove the shared directories of earlier runs whose pytest process is gone, and
    old ones with no owner file (a run killed before writing it); first, the images of
    the finished steps of a build such a run did not finish (they carry no label, so
    only this record finds them)."""
    import shutil
    import time

    from ..session import STALE_AGE, owner_gone

    for path in Path(tempfile.gettempdir()).glob("pytest-shipready-*"):
        with contextlib.suppress(OSError, ValueError):
            owner_file = path / "owner"
            age = time.time() - path.stat().st_mtime
            if owner_file.is_file():
                # A pid means nothing in another PID namespace (a CI job in a container
                # sharing /tmp): unprovable owners are left alone until they are old.
                gone = owner_gone(owner_file.read_text(encoding="utf-8"), me)
                stale = gone if gone is not None else age > STALE_AGE
            else:
                stale = age > ORPHAN_AGE
            if not stale:
                continue
            record = path / INTERMEDIATES
            if remove_images is not None and record.is_file():
                ids = record.read_text(encoding="utf-8").split()
                remove_images(ids)  # an engine error keeps the record for the next run
            shutil.rmtree(path, ignore_errors=True)


def builds_dir() -> Path:
    """Where each run records the tag of its build until the build is done (one file a
    run: its owner record, then the tags). Apart from the run directories, which
    earlier versions of the plugin remove without reading this record."""
    return Path(tempfile.gettempdir()) / "pytest-shipready.builds"


def _reap_builds(me: SessionId, untag: Callable[[str], str]) -> None:
    """Remove the build tags of earlier runs that are gone and did not finish with
    them: what a stalled engine finished after the run gave up (then the image too,
    when nothing else holds it). ``untag`` says "removed", "absent" or "refused". A tag
    not there yet may still come (the engine is finishing the build): the record is
    kept until the tag was removed, or until the record is older than
    :data:`~..session.STALE_AGE`."""
    import time

    from ..session import STALE_AGE, owner_gone

    for path in builds_dir().glob("*"):
        with contextlib.suppress(OSError, ValueError):
            if path.name == me.id:
                continue
            owner, *tags = path.read_text(encoding="utf-8").splitlines()
            age = time.time() - path.stat().st_mtime
            gone = owner_gone(owner, me)
            if gone is None:
                gone = age > STALE_AGE
            if not gone:
                continue
            states = [untag(tag) for tag in tags if tag.strip()]
            if "refused" not in states and ("removed" in states or age > STALE_AGE):
                path.unlink()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class DockerRun:
    """What the docker areas of one process share; created at planning, used lazily."""

    def __init__(self, settings: Settings, context: RunContext, session: SessionId) -> None:
        self.settings = settings
        self.context = context
        self.session = session
        self.cfg = settings.config.image
        project = settings.project
        self.dockerfile = (project / self.cfg.dockerfile).resolve()
        self.build_context = (project / self.cfg.context).resolve()
        self.display = _display(self.dockerfile, project)
        self._client: Any = None
        self._unavailable: str | None = None
        self._image: BuiltImage | None = None
        self._parsed: Dockerfile | None = None
        self.smoke: Any = None  # areas.smoke.SmokeRun, created by that area
        self.require_engine = False  # no engine fails (Options.require_docker)
        self.require_why = ""
        self.readiness_only = False  # --shipready-only: the tests are not run on the host
        self._watch: EngineWatch | None = None
        self._watched_now = ""

    # --- engine ---------------------------------------------------------------------

    def client(self) -> Any:
        """The engine, or None (then :attr:`unavailable` says why)."""
        if self._client is None and self._unavailable is None:
            from .. import engine

            try:
                self._client = engine.connect(self.settings.config.engine_timeout)
            except engine.EngineUnavailableError as exc:
                self._unavailable = str(exc)
                self.context.shared["docker.unavailable"] = self._unavailable
                return None
            with contextlib.suppress(Exception):
                self._reap(engine)
            client = self._client
            with contextlib.suppress(Exception):
                _reap_workdirs(self.session,
                               lambda ids: engine.remove_intermediates(client, ids))
            with contextlib.suppress(Exception):
                _reap_builds(self.session, lambda tag: engine.untag_state(client, tag))
        return self._client

    # --- a lost engine: one clear line per item, and what could not be removed -------

    @property
    def lost(self) -> str:
        """Why the engine is gone mid-run ("" while it answers)."""
        return str(self.context.shared.get("docker.lost", ""))

    def created(self, what: str) -> None:
        """Record something this run created ("container 1a2b3c"), for the message when
        it cannot be removed."""
        created = self.context.shared.setdefault("docker.created", [])
        assert isinstance(created, list)
        created.append(what)

    def guarded(self, check: PlannedCheck) -> PlannedCheck:
        """``check`` whose engine failures (a stalled, stopped or vanished engine) end
        in one line for the item; once the engine is lost, the other docker items fail
        at once with the same line instead of waiting on it again."""
        original = check.run

        node = "::".join(("shipready", *check.node_path))

        def run() -> CheckResult:
            from ..enginewatch import EngineLostInterrupt

            if self.lost:
                return CheckResult.failed(check.check_id, self.lost, [])
            try:
                # The build bounds itself (and says the engine stalled, not its step).
                with self.watching(node, check.check_id != "SR210"):
                    return original()
            except EngineLostInterrupt:
                return CheckResult.failed(check.check_id, self.lost, [])
            except Exception as exc:
                from .. import engine

                if not engine.is_engine_failure(exc):
                    raise
                return self._engine_failed(check, exc)

        return dataclasses.replace(check, run=run)

    @contextlib.contextmanager
    def watching(self, during: str, enabled: bool = True) -> Iterator[None]:
        """The block, with the engine pinged every engine_timeout while it runs: when a
        ping gets no answer, the run's one line about the lost engine is set and the
        block is interrupted (:class:`EngineLostInterrupt`), whatever call it waits in.
        Only once the engine was reached (the first docker item connects)."""
        if not enabled or self._client is None:
            yield
            return
        from .. import engine
        from ..enginehost import lost
        from ..enginewatch import EngineWatch

        if self._watch is None:
            client = self._client
            timeout = self.settings.config.engine_timeout

            def on_lost(why: str) -> None:
                if not self.lost:
                    self.context.shared["docker.lost"] = lost(
                        os.environ.get("DOCKER_HOST"), why, self._watched_now)

            self._watch = EngineWatch(timeout, lambda: engine.ping(client, min(timeout, 10)),
                                      on_lost)
            self.context.add_cleanup(self._watch.uninstall)
        self._watched_now = during
        with self._watch.watching():
            yield

    def _engine_failed(self, check: PlannedCheck, exc: BaseException) -> CheckResult:
        from .. import engine
        from ..enginehost import lost, slow_call

        timeout = self.settings.config.engine_timeout
        what = engine.describe_failure(exc, timeout)
        node = "::".join(("shipready", *check.node_path))
        host = os.environ.get("DOCKER_HOST")
        if self._client is not None and engine.ping(self._client, min(timeout, 10)) is None:
            # The engine answers: one call was slow, not the engine gone.
            return CheckResult.failed(check.check_id, slow_call(host, what, node), [])
        message = lost(host, what, node)
        self.context.shared["docker.lost"] = message
        return CheckResult.failed(check.check_id, message, [])

    def remove_container(self, container: Any) -> None:
        """A cleanup: remove a container of this run. When the engine does not answer,
        the session's final sweep says what is left (once)."""
        if self.lost:
            return
        from .. import engine

        try:
            container.remove()
        except Exception as exc:
            if not engine.is_engine_failure(exc):
                raise
            from ..enginehost import lost

            self.context.shared["docker.lost"] = lost(
                os.environ.get("DOCKER_HOST"),
                engine.describe_failure(exc, self.settings.config.engine_timeout),
                "the cleanup")

    def _reap(self, engine: Any) -> None:
        """Remove what earlier runs provably left behind; one line per run reaped."""
        import time

        from ..session import LABEL_SESSION, stale_sessions

        stale = stale_sessions(engine.labelled(self._client, LABEL_SESSION), self.session,
                               time.time())
        for sid, why in sorted(stale.items()):
            removed = engine.sweep(self._client, LABEL_SESSION, sid)
            if removed and self.context.announce is not None:
                self.context.announce(f"pytest-shipready: removed {len(removed)} "
                                      f"container(s)/image(s) of an earlier run ({why})")

    @property
    def unavailable(self) -> str:
        return self._unavailable or ""

    def labels(self) -> dict[str, str]:
        """Labels of everything this run creates: its session, and the project."""
        return {**self.session.labels(),
                LABEL_PROJECT: dockerfile_mod.repository_name(self.settings.project)}

    def parsed(self) -> Dockerfile:
        """The Dockerfile with the build args, parsed once for the items that read it (an
        unreadable one has problems that say why)."""
        if self._parsed is None:
            from ...dockerfile import hygiene

            self._parsed = hygiene.load(self.dockerfile, self.display, self.cfg.build_args)
        return self._parsed

    # --- the image ------------------------------------------------------------------

    @property
    def built(self) -> BuiltImage | None:
        """The image if it was already asked for (no build is started)."""
        return self._image

    def image(self) -> BuiltImage:
        if self._image is None:
            from ...secrets import secret_values

            # The image's own ENV is never shown either: as the Dockerfile declares it
            # (the build's steps show it), then as the built image has it.
            if self.dockerfile.is_file():
                from ...dockerfile.parser import env_pairs

                df = self.parsed()
                self.context.add_secrets(secret_values(dict(
                    pair for ins in df.instructions if ins.keyword == "ENV"
                    for pair in env_pairs(ins, df.escape))))
            self._image = self._get_image()
            if self._image.info is not None:
                self.context.add_secrets(secret_values(self._image.info.env))
        return self._image

    def _get_image(self) -> BuiltImage:
        disabled = self.settings.config.disable.get("SR210")
        if disabled is not None:  # no build at all: what needs the image skips with this
            return BuiltImage(CheckResult.skipped(
                "SR210", f"the image build is disabled ([tool.shipready.disable] SR210: "
                f"{disabled})"))
        if not self.dockerfile.is_file():
            return BuiltImage(CheckResult.failed(
                "SR210", "no Dockerfile",
                [Finding(f"{self.cfg.dockerfile} does not exist", self.display, None,
                         "Add a Dockerfile or set [tool.shipready.image] dockerfile.")]))
        if not self.build_context.is_dir():
            return BuiltImage(CheckResult.failed(
                "SR210", "the build context is not a directory",
                [Finding(f"context {self.cfg.context!r} is "
                         f"{'a file' if self.build_context.exists() else 'missing'}: "
                         f"{self.build_context}", self.display, None,
                         "Set [tool.shipready.image] context to the directory `docker "
                         "build` is given (usually the project, \".\").")]))
        client = self.client()
        if client is None:
            return BuiltImage(self.engine_gate("SR210"))
        shared = workdir(self.session)
        shared.mkdir(parents=True, exist_ok=True)
        (shared / "owner").write_text(owner_record(self.session), encoding="utf-8")
        with _locked(shared / "build.lock"):
            record = shared / "build.json"
            if record.is_file():
                data = json.loads(record.read_text(encoding="utf-8"))
                built = BuiltImage(CheckResult.from_json(data["result"]), data["ref"], False,
                                   tag=str(data.get("tag", "")))
            else:
                built = self._build_phase(client)
                record.write_text(json.dumps({"result": built.result.to_json(),
                                              "ref": built.ref, "tag": built.tag}),
                                  encoding="utf-8")
        if built.ref is not None and built.info is None:
            from .. import engine

            try:
                built.info = engine.inspect_image(client, built.ref)
            except engine.EngineError as exc:
                built = BuiltImage(CheckResult.failed("SR210", "the built image is gone",
                                                      [Finding(str(exc))]))
        return built

    def _builder(self, client: Any) -> tuple[Cli | None, str]:
        """The BuildKit CLI to build with, or None and why the classic builder runs."""
        from .. import engine
        from . import buildkit

        if self.cfg.buildkit == "never":
            return None, '[tool.shipready.image] buildkit = "never"'
        cli, tried = buildkit.find_cli(os.environ.get("PATH", ""))
        if cli is None:
            return None, f"no docker CLI with BuildKit here ({tried})"
        why_not = engine.buildkit_support(client)
        if why_not is not None:
            return None, why_not
        return cli, ""

    def _build(self, client: Any) -> BuiltImage:
        from .. import engine

        cfg = self.cfg
        text = self.dockerfile.read_text(encoding="utf-8", errors="replace")
        # The build may take build_timeout, and no more than what is left of the run's
        # budget ([tool.shipready] timeout); reading the context counts too.
        timeout, why_timeout = cfg.build_timeout, "[tool.shipready.image] build_timeout"
        left = self.context.remaining()
        if left is not None and left < timeout:
            timeout = max(1.0, left)
            why_timeout = (f"what was left of the run's budget, [tool.shipready] timeout = "
                           f"{self.settings.config.timeout:g}")
        started = time.monotonic()
        cli, why_classic = self._builder(client)
        needs = dockerfile_mod.needs_buildkit(text) or (
            "[tool.shipready.image] secrets" if cfg.secrets else None)
        if cli is None and (needs or cfg.buildkit == "always"):
            why = needs or 'buildkit = "always"'
            return BuiltImage(CheckResult.failed(
                "SR210", "needs BuildKit, which cannot run here",
                [Finding(f"the build needs BuildKit ({why}): {why_classic}", self.display,
                         None, "Install the buildx plugin (docker-buildx-plugin) or use a "
                         "docker CLI with built-in BuildKit (18.09 to 22.x), against an "
                         "engine that runs BuildKit (Docker, not Podman).")]))
        try:
            walked = dockerfile_mod.walk(self.build_context, self.dockerfile,
                                         classic=cli is None, full=cli is None,
                                         deadline=started + timeout)
            digest = dockerfile_mod.content_hash(self.build_context, self.dockerfile,
                                                 cfg.target, cfg.build_args, walked)
        except ContextTooSlowError as exc:
            return BuiltImage(self._context_too_slow(exc, time.monotonic() - started,
                                                     timeout, why_timeout), None, True)
        names = self.names(digest)
        labels = {LABEL_CONTENT: digest, LABEL_PROJECT: names.project,
                  LABEL_CHECKOUT: names.checkout}
        if cfg.keep:
            labels[LABEL_KEEP] = "true"
        else:
            labels.update(self.labels())
        # Built under a tag of this run's own, recorded first: whatever the engine
        # finishes after this run gave up on it (a stall, a kill) is found and removed.
        self._record_build(names.building)
        remaining = max(1.0, timeout - (time.monotonic() - started))
        for attempt in (1, 2):
            out = self._run_builder(client, cli, walked, text, names.building, labels,
                                    remaining, why_timeout)
            if not out.ok:
                break
            held = self._hold(client, out.image_id)
            if held or attempt == 2:
                break
            # Another run pruned it between the build and the hold: build it again
            # (from the engine's cache).
        if out.stalled:
            return BuiltImage(self._stalled(out), None, True)
        if not out.ok:
            self._unrecord_build()
            shown = text if cli is not None else (
                stages.classic_dockerfile(text, cfg.target, cfg.build_args) or text)
            return BuiltImage(self._build_failure(out, shown), None, True)
        engine.tag_image(client, out.image_id, names.tag)
        if engine.untag(client, names.building):
            self._unrecord_build()
        # Again now: an earlier run's abandoned build the engine finished since this run
        # started (its tag may be on this very image, when the cache made it the same).
        with contextlib.suppress(Exception):
            _reap_builds(self.session, lambda tag: engine.untag_state(client, tag))
        if out.step_images:  # the classic builder's unshipped stages: nothing left behind
            with contextlib.suppress(Exception):
                engine.remove_intermediates(client, out.step_images, wait=5)
        self._clear(INTERMEDIATES)
        self.created(f"image {names.tag}")
        info = engine.inspect_image(client, out.image_id)
        if cfg.keep:
            with contextlib.suppress(Exception):
                engine.prune_kept(client, [f"{LABEL_PROJECT}={names.project}",
                                           f"{LABEL_KEEP}=true"], info.id,
                                  own=(LABEL_CHECKOUT, names.checkout))
        size_mb = info.size / 1e6
        builder = (f"BuildKit via {cli.description}" if cli is not None
                   else f"classic builder: {why_classic}; BuildKit builds as `docker "
                   "build` does: install the buildx plugin, or put a docker CLI with "
                   "built-in BuildKit (18.09 to 22.x) on PATH")
        summary = f"{names.tag} built in {out.seconds:.1f} s ({builder}), {size_mb:.0f} MB"
        warning = secret_build_arg_warning(cfg.build_args)
        if warning:
            summary += f"; warning: {warning}"
            warnings.warn(SecretBuildArgWarning(warning), stacklevel=1)
        result = CheckResult.passed(
            "SR210", summary, build_seconds=round(out.seconds, 2), size_mb=round(size_mb, 1),
            tag=names.tag, builder="buildkit" if cli is not None else "classic")
        return BuiltImage(result, info.id, True, info, tag=names.tag)

    def names(self, digest: str) -> ImageNames:
        """The kept image's names: the project's repository (by directory name), and a
        tag keyed on the checkout (its absolute path) and the content, so that two
        checkouts of one project never share, nor prune, each other's image."""
        import hashlib

        project = dockerfile_mod.repository_name(self.settings.project)
        checkout = hashlib.sha256(str(self.settings.project.resolve()).encode()
                                  ).hexdigest()[:8]
        return ImageNames(project, checkout, f"{project}:{checkout}-{digest[:12]}",
                          f"{project}:build-{self.session.id}")

    def _run_builder(self, client: Any, cli: Cli | None, walked: Any, text: str, tag: str,
                     labels: dict[str, str], timeout: float, why_timeout: str
                     ) -> BuildOutput:
        from .. import engine
        from . import buildkit

        cfg = self.cfg
        engine_timeout = self.settings.config.engine_timeout
        if cli is not None:
            request = buildkit.Request(self.build_context, self.dockerfile, tag, cfg.target,
                                       dict(cfg.build_args), labels,
                                       build_secrets(cfg, self.settings.project))
            return buildkit.build(cli, request, self._progress(), timeout=timeout,
                                  why_timeout=why_timeout, idle=engine_timeout,
                                  alive=lambda: engine.ping(client,
                                                            min(engine_timeout, 10)))
        from .contexttar import context_tar, dockerfile_name

        # The classic builder builds every stage before the target: it is given only
        # the stages the target needs (BuildKit builds no other).
        trimmed = stages.classic_dockerfile(text, cfg.target, cfg.build_args)
        name = dockerfile_name(self.dockerfile, self.build_context)
        extra: dict[str, bytes] = {}
        files = walked.files
        if trimmed is not None or name is None:
            # Sent beside the context and left out of it, as the docker CLI does with a
            # Dockerfile from outside the context.
            name = f".shipready-{self.session.id}.Dockerfile"
            extra[name] = (trimmed if trimmed is not None else text).encode()
            ignore_path = self.build_context / ".dockerignore"
            ignore_text = ignore_path.read_bytes() if ignore_path.is_file() else b""
            extra[".dockerignore"] = ignore_text.rstrip(b"\n") + f"\n{name}\n".encode()
            files = tuple(f for f in files if f != ".dockerignore")
        # As the docker CLI does: the Dockerfile and .dockerignore are sent even when
        # .dockerignore leaves them out (the engine then keeps them out of COPY).
        for always in (name, ".dockerignore"):
            if always not in extra and always not in files \
                    and (self.build_context / always).is_file():
                files = (*files, always)
        record = self._record_path(INTERMEDIATES)

        def intermediate(image_id: str) -> None:  # for the next run, if this one dies
            with open(record, "a", encoding="utf-8") as fh:
                fh.write(image_id + "\n")

        started = time.monotonic()
        try:
            tar = context_tar(self.build_context, files, extra, deadline=started + timeout)
        except ContextTooSlowError as exc:
            return BuildOutput(False, seconds=time.monotonic() - started,
                               error=f"the build context could not be packed within "
                               f"{timeout:.0f} s ({why_timeout}): {exc}")
        with tar:
            return engine.build_docker_py(
                client, tar, name, tag, cfg.target, cfg.build_args, labels,
                self._progress(), timeout=max(1.0, timeout - (time.monotonic() - started)),
                why_timeout=why_timeout, engine_timeout=engine_timeout,
                on_intermediate=intermediate)

    def _hold(self, client: Any, image_id: str) -> bool:
        """Keep ``image_id`` from being removed until this run ends (another run's
        pruning of the project's kept images included): a container of it, created and
        never started, labelled with this run. False when the image is already gone."""
        from .. import engine

        try:
            holder = engine.hold_image(client, image_id, {**self.labels(),
                                                          LABEL_ROLE: "holder"})
        except engine.EngineError:
            return engine.image_exists(client, image_id)
        self.created(f"container {holder[:12]}")
        return engine.image_exists(client, image_id)

    # --- records in the run's shared directory, for the next run if this one dies ----

    def _record_path(self, name: str) -> Path:
        shared = workdir(self.session)
        shared.mkdir(parents=True, exist_ok=True)
        return shared / name

    def _record_build(self, tag: str) -> None:
        path = builds_dir() / self.session.id
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{owner_record(self.session)}\n{tag}\n", encoding="utf-8")

    def _unrecord_build(self) -> None:
        with contextlib.suppress(OSError):
            (builds_dir() / self.session.id).unlink()

    def _clear(self, name: str) -> None:
        with contextlib.suppress(OSError):
            self._record_path(name).unlink()

    def _stalled(self, out: BuildOutput) -> CheckResult:
        """The engine stopped answering during the build: say so (not the step), once for
        every docker item, and leave the build's own tag recorded for removal."""
        from ..enginehost import lost

        timeout = self.settings.config.engine_timeout
        what = (f"the engine stalled: the build's progress stopped for {timeout:.0f} s "
                f"([tool.shipready] engine_timeout) and a ping got {out.error}; the build "
                "was abandoned (not a failure of its steps)")
        message = lost(os.environ.get("DOCKER_HOST"), what, "shipready::image::build")
        self.context.shared["docker.lost"] = message
        self.created(f"image {self.names('0' * 12).building}")
        return CheckResult.failed("SR210", message, [], build_seconds=round(out.seconds, 2))

    def _context_too_slow(self, exc: Exception, seconds: float, timeout: float,
                          why_timeout: str) -> CheckResult:
        return CheckResult.failed(
            "SR210", f"the build context could not be read within {timeout:.0f} s",
            [Finding(f"reading the build context ({self.cfg.context}) with its ignore file "
                     f"took over {timeout:.0f} s ({why_timeout}): {exc}", self.display,
                     None, "Simplify .dockerignore (fewer `**` and `*` per pattern) or "
                     "leave large directories out of the context with a plain pattern "
                     "(`data/`).")],
            build_seconds=round(seconds, 2))

    def _build_phase(self, client: Any) -> BuiltImage:
        """The build as a phase: start and end lines, the current step in the heartbeat
        lines, its duration in the report."""
        with self.context.phases.phase("build", f"building the image ({self.display})"
                                       ) as phase:
            self._phase: Phase | None = phase
            try:
                built = self._build(client)
            finally:
                self._phase = None
            phase.end = ("image built" if built.ref is not None
                         else "image build failed")
        return built

    def _progress(self) -> Callable[[str], None] | None:
        """Where build steps go as they happen: the phase's status (the heartbeat lines
        show the current step) and, under -v, the terminal; secrets masked first
        (``ENV API_KEY=...``, build-arg values: secrets.mask_build_line)."""
        from ...secrets import mask_build_line

        verbose = self.context.progress
        phase = getattr(self, "_phase", None)
        if phase is None and verbose is None:
            return None

        def step(line: str) -> None:
            line = mask_build_line(line)
            if phase is not None:
                phase.status(line)
            if verbose is not None:
                verbose(line)
        return step

    def _build_failure(self, out: Any, text: str) -> CheckResult:
        step, line = dockerfile_mod.failing_step(out.log, text)
        error = dockerfile_mod.failing_error(out.log) or out.error
        tail = dockerfile_mod.step_output(out.log, error, _LOG_TAIL)
        message = f"{error.strip()}" if error else "the build failed"
        if step:
            message = f"step `{step}` failed: {message}"
        if tail:
            message += "\noutput of the step:\n" + "\n".join(tail)
        return CheckResult.failed(
            "SR210", f"the build failed ({out.seconds:.1f} s)",
            [Finding(message, self.display, line,
                     "Fix the failing step; `docker build` reproduces it.")],
            build_seconds=round(out.seconds, 2))

    # --- gates for the areas that need the image --------------------------------------

    def engine_gate(self, check_id: str) -> CheckResult:
        """A docker item's result when no engine answers: SR210 tells the whole story,
        once; the others point at it. Skipped, or failed under --shipready-require-docker."""
        if self.require_engine:
            if check_id == "SR210":
                return CheckResult.failed(
                    check_id, f"no Docker engine ({self.require_why})",
                    [Finding(self.unavailable)])
            return CheckResult.failed(check_id, f"no Docker engine ({self.require_why})",
                                      [Finding("see shipready::image::build")])
        if check_id == "SR210":
            return CheckResult.skipped(
                check_id, f"{self.unavailable}. The image, smoke and parity checks are "
                "skipped; --shipready-require-docker (or [tool.shipready] require_docker = "
                "true) makes this a failure")
        return CheckResult.skipped(check_id, "no Docker engine (see shipready::image::build)")

    def need_image(self, check_id: str) -> tuple[BuiltImage, CheckResult | None]:
        """The image, or the skip result of ``check_id`` when there is none."""
        built = self.image()
        if built.ref is None:
            if self._unavailable is not None:
                return built, self.engine_gate(check_id)
            if built.result.status == Status.SKIPPED:
                return built, CheckResult.skipped(check_id, built.result.summary)
            return built, CheckResult.skipped(
                check_id, "the image did not build (see shipready::image::build)")
        return built, None


def build_secrets(cfg: Any, project: Path) -> tuple[Secret, ...]:
    """``[tool.shipready.image] secrets`` as the BuildKit builder takes them: an
    environment variable by name, a file by its absolute path (relative ones from the
    project directory)."""
    from .buildkit import Secret

    out: list[Secret] = []
    for secret_id, source in sorted(cfg.secrets.items()):
        kind, _, value = source.partition(":")
        if kind == "env":
            out.append(Secret(secret_id, env=value))
        else:
            out.append(Secret(secret_id, file=str(project / Path(value).expanduser())))
    return tuple(out)


class SecretBuildArgWarning(UserWarning):
    """A build argument looks secret: Docker keeps its value in the image history."""


def secret_build_arg_warning(build_args: dict[str, str]) -> str:
    """What to tell about build arguments that look secret ("" if none): Docker records
    build-arg values in the image history (`docker history`), for anyone who can pull
    the image. The value is never named, only the argument."""
    from ...secrets import secret_build_args

    found = secret_build_args(build_args)
    if not found:
        return ""
    names = ", ".join(f"{name} (by {why})" for name, why in found)
    return (f"build arg {names} looks secret, and Docker keeps build-arg values in the "
            "image history (`docker history`), readable by anyone who can pull the image; "
            "pass it as a BuildKit secret instead: `RUN --mount=type=secret,id=NAME ...` "
            "with `docker build --secret id=NAME,env=NAME`. pytest-shipready masks its "
            "value in what it shows")


def _display(path: Path, project: Path) -> str:
    try:
        return path.relative_to(project.resolve()).as_posix()
    except ValueError:
        return str(path)


def docker_run(settings: Settings, context: RunContext) -> DockerRun:
    """This process's DockerRun, created once per run."""
    existing = context.shared.get(SHARED_KEY)
    if isinstance(existing, DockerRun):
        return existing
    from ..session import current

    session = context.shared.get("docker.session")
    if not isinstance(session, SessionId):  # planned without the plugin's begin()
        session = current(is_worker=False)
        context.shared["docker.session"] = session
    run = DockerRun(settings, context, session)
    context.shared[SHARED_KEY] = run
    return run


def uses_docker(settings: Settings) -> bool:
    """Docker checks are planned when the Dockerfile exists or is configured."""
    configured = settings.config.image.dockerfile != "Dockerfile"
    return configured or (settings.project / settings.config.image.dockerfile).is_file()


def check_size(run: DockerRun) -> CheckResult:
    budget = run.cfg.size_budget_mb
    if budget <= 0:
        return CheckResult.skipped("SR211", "no size budget ([tool.shipready.image] "
                                   "size_budget_mb)")
    built, skip = run.need_image("SR211")
    if skip is not None or built.info is None:
        return skip or CheckResult.skipped("SR211", "no image")
    size_mb = built.info.size / 1e6
    if size_mb <= budget:
        return CheckResult.passed("SR211", f"{size_mb:.0f} MB of {budget:.0f} MB",
                                  size_mb=round(size_mb, 1))
    layers = "\n".join(f"{s / 1e6:8.1f} MB  {cmd[:120]}" for s, cmd in built.info.layers)
    return CheckResult.failed(
        "SR211", f"{size_mb:.0f} MB, over the budget of {budget:.0f} MB",
        [Finding(f"the image is {size_mb:.0f} MB; largest layers:\n{layers}", run.display,
                 None, "Slim the largest layers, or raise size_budget_mb.")],
        size_mb=round(size_mb, 1))
