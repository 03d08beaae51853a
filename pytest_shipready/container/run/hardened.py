"""SR310/SR311: the image also runs under the restrictions orchestrators apply.

A second container of the image, started beside the session container: a read-only root
filesystem with tmpfs paths, ``--cap-drop ALL``, ``no-new-privileges`` and an arbitrary
uid with gid 0 (as OpenShift runs images). It must become ready and stop gracefully as
the session container does; a failure names what broke, read off its log.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ...checks import CheckResult, Finding, Status
from . import smoke as verdicts

if TYPE_CHECKING:
    from ...deploy.find import Runtime
    from ..build.image import DockerRun
    from .smokerun import RunningContainer

# What the log says broke, and what it means under the restrictions.
_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    # An entrypoint that gives the app's files to its user at every start (taiga-back's
    # `chown -R taiga:taiga /taiga-back`): a tmpfs cannot help, the ownership must be
    # set at build time.
    (re.compile(r"chown: changing ownership of '([^'\n]*)'"),
     "its start command changes the owner of {0} (`chown`), which needs root and a "
     "writable root filesystem: give the files their owner at build time (`COPY "
     "--chown=...`, or `RUN chown` in the Dockerfile) and drop the chown from the start"),
    (re.compile(r"Read-only file system:? ?'([^'\n]*)'|cannot create ([^:\n]+): Read-only "
                r"file system|`([^`\n]+)`: Read-only file system|Read-only file system"),
     "it writes to {0} on the read-only root filesystem"),
    # A uid without an /etc/passwd entry gets HOME=/: tools then look for their cache,
    # virtualenvs or config under /.cache, /.local, /.config (uv, Poetry, pip).
    (re.compile(r"(?<![\w.~/-])(/\.(?:cache|local|config)(?:/[\w.+-]+)*)"),
     "its HOME is / (as for a uid without an /etc/passwd entry), so it looks for {0}, "
     "not in the build user's home"),
    (re.compile(r"(?i)(bind|listen).{0,80}(permission denied|not permitted)|"
                r"Operation not permitted"),
     "an operation needs a capability that was dropped (a port below 1024, chown, ...)"),
    (re.compile(r"Permission denied:? ?'([^'\n]*)'"),
     "uid {uid} (gid 0) cannot access {0}"),
    (re.compile(r"(?i)getpwuid\(\): uid not found|uid (\d+) (is )?not found|"
                r"no such user|I have no name"),
     "the app looks its user up in /etc/passwd, where uid {uid} has no entry"),
)


def causes(log: str, uid: int) -> list[str]:
    """What broke, from the hardened container's log (one line per distinct cause)."""
    found: list[str] = []
    for pattern, what in _CAUSES:
        for m in pattern.finditer(log):
            groups = [g for g in m.groups() if g] if m.groups() else []
            text = what.format(groups[0].strip() if groups else "a path",
                               uid=uid or "the image's")
            if text not in found:
                found.append(text)
            break
    return found


class _Unread:
    """The manifest has not been read yet."""


_UNREAD = _Unread()


@dataclass(frozen=True)
class Hardening:
    """The restrictions of the hardened run, and where they come from."""

    uid: int | None  # None: the image's USER
    gid: int
    read_only: bool
    no_new_privileges: bool
    cap_add: tuple[str, ...]
    source: str  # the manifest's container, or "" for [tool.shipready.hardened]
    # Whether that container spells out any of them (else the defaults ran, beside it).
    manifest_sets: bool = False


class HardenedRun:
    """The hardened container: started in a thread when the session container starts
    (so its readiness wait overlaps the smoke and parity items), judged by SR310/SR311."""

    def __init__(self, run: DockerRun) -> None:
        self.run = run
        self.cfg = run.settings.config.hardened
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: RunningContainer | None = None
        self._result: CheckResult | None = None
        self._stopping: threading.Thread | None = None
        self._stopped: CheckResult | None = None  # SR311's verdict, from the stop thread
        # Set when SR310 or SR311 is selected and not disabled (their ``prefetch``): only
        # then does SR301 start the container early. Under xdist the items start it.
        self._wanted = False
        self._manifest: Runtime | _Unread | None = _UNREAD

    def manifest(self) -> Runtime | None:
        """The securityContext a deployment manifest gives this image's container (read
        once; None without one, or with [tool.shipready.deploy] enabled = false)."""
        if self._manifest is _UNREAD:
            deploy = self.run.settings.config.deploy
            found = None
            if deploy.enabled:
                from ...deploy.find import manifest_runtime

                found = manifest_runtime(self.run.settings.project, deploy.manifests,
                                         deploy.image,
                                         self.run.settings.config.allow_outside_project)
            self._manifest = found
        assert not isinstance(self._manifest, _Unread)
        return self._manifest

    def settings(self) -> Hardening:
        """The restrictions to run under: the manifest's own where it sets them (its
        runAsUser, a readOnlyRootFilesystem or allowPrivilegeEscalation it spells out,
        capabilities it adds back), [tool.shipready.hardened]'s elsewhere."""
        uid: int | None = self.cfg.uid or None
        gid = 0
        read_only, no_new_privileges = True, True
        add: tuple[str, ...] = ()
        runtime = self.manifest()
        if runtime is not None:
            sec = runtime.security
            if sec.run_as_user is not None:
                uid, gid = sec.run_as_user, sec.run_as_group or 0
            if sec.read_only_root is False:
                read_only = False
            if sec.allow_privilege_escalation is True:
                no_new_privileges = False
            add = tuple(c for c in sec.add if c != "ALL")
        sets = runtime is not None and (
            runtime.security.run_as_user is not None
            or runtime.security.read_only_root is not None
            or runtime.security.allow_privilege_escalation is not None
            or bool(runtime.security.add or runtime.security.drop))
        return Hardening(uid, gid, read_only, no_new_privileges, add,
                         runtime.where if runtime is not None else "", sets)

    def restrictions(self) -> object:
        from ..engine import Restrictions

        h = self.settings()
        user = f"{h.uid}:{h.gid}" if h.uid is not None else ""
        return Restrictions(read_only=h.read_only, tmpfs=tuple(self.cfg.tmpfs), user=user,
                            no_new_privileges=h.no_new_privileges, cap_add=h.cap_add)

    def want(self) -> None:
        """SR310 or SR311 will run: SR301 may start the container beside its own."""
        self._wanted = True

    def begin(self, *, early: bool = False) -> None:
        """Start it in the background (idempotent); the items wait for it. ``early``
        (from SR301) only when one of them will run, so nobody starts an unjudged one."""
        with self._lock:
            # Once the session container failed, SR310 skips: no container to judge.
            if self._thread is None and self.cfg.enabled and (self._wanted or not early) \
                    and not self._session_failed():
                self._thread = threading.Thread(target=self._start, daemon=True,
                                                name="shipready-hardened")
                self._thread.start()
                # Before the run's cleanups remove containers: a container it is still
                # starting is registered (and removed) once it has.
                self.run.context.add_cleanup(self._thread.join)

    def _start(self) -> None:
        from .. import engine
        from .services import ServicesNotReadyError
        from .smokerun import start

        built = self.run.image()
        if built.ref is None or built.info is None:
            return
        try:
            restrictions = self.restrictions()
            assert isinstance(restrictions, engine.Restrictions)
            if not restrictions.user and restrictions.tmpfs:
                # The image's USER writes the tmpfs paths: they are given to its uid.
                restrictions = replace(restrictions, tmpfs_owner=self._image_uid(
                    built.ref, built.info.user))
            self._running = start(self.run, built.ref, built.info, restrictions)
        except ServicesNotReadyError:
            return  # the session container's gate says why (SR310 skips)
        except engine.EngineError as exc:
            self._result = CheckResult.failed(
                "SR310", "the hardened container did not start", [Finding(str(exc))])
        except Exception as exc:  # a lost engine: SR310 says so in one line (no traceback)
            if not engine.is_engine_failure(exc):
                raise
            self._result = CheckResult.failed(
                "SR310", self.run.lost or engine.describe_failure(
                    exc, self.run.settings.config.engine_timeout), [])

    def _image_uid(self, ref: str, user: str) -> str:
        """The numeric "uid[:gid]" of the image's USER (a name is looked up in the
        image's /etc/passwd); "" when it cannot be told."""
        from .. import engine

        name, _, group = user.partition(":")
        if not name or (name.isdigit() and (not group or group.isdigit())):
            return user
        client = self.run.client()
        passwd = engine.image_file(client, ref, "/etc/passwd", self.run.labels()) \
            if client is not None else None
        found = passwd_ids(passwd.decode("utf-8", "replace") if passwd else "", name)
        if not found or (group and not group.isdigit()):
            return found.partition(":")[0]  # the uid alone: the group's file is not read
        return f"{found.partition(':')[0]}:{group}" if group else found

    def _wait(self) -> None:
        self.begin()
        if self._thread is not None:
            self._thread.join()

    def _gate(self, check_id: str) -> CheckResult | None:
        """Why ``check_id`` cannot run: the hardened smoke is off, or there is no image."""
        if not self.cfg.enabled:
            return CheckResult.skipped(check_id, "the hardened smoke is off ([tool.shipready."
                                       "hardened] enabled = false); enabled = true runs it")
        return self.run.need_image(check_id)[1]

    def _session_failed(self) -> bool:
        from .smokerun import smoke_run

        return smoke_run(self.run).failure is not None

    def _what(self) -> str:
        h = self.settings()
        parts = []
        if h.read_only:
            parts.append("read-only root filesystem" + (
                f" (tmpfs {', '.join(self.cfg.tmpfs)})" if self.cfg.tmpfs else ""))
        parts.append("no capabilities" if not h.cap_add
                     else f"no capabilities but {', '.join(h.cap_add)}")
        if h.no_new_privileges:
            parts.append("no-new-privileges")
        if h.uid is not None:
            parts.append(f"uid {h.uid}:{h.gid}")
        if h.source and h.manifest_sets:
            parts.append(f"as {h.source} sets them")
        elif h.source:
            parts.append(f"[tool.shipready.hardened]'s defaults ({h.source} sets none "
                         "of these)")
        return ", ".join(parts)

    def ready(self) -> CheckResult:
        gate = self._gate("SR310")
        if gate is not None:
            return gate
        self._wait()  # also when skipping: its container must be registered for cleanup
        if self._session_failed():
            from .smokerun import smoke_run

            failure = smoke_run(self.run).failure
            if failure is not None and failure.status == Status.SKIPPED:
                return CheckResult.skipped("SR310", "the container did not run (see "
                                           "shipready::smoke::ready)")
            return CheckResult.skipped("SR310", "the container does not become ready even "
                                       "without restrictions (see shipready::smoke::ready)")
        if self._result is not None:
            return self._result
        running = self._running
        if running is None or running.ready is None:
            return CheckResult.skipped("SR310", "the hardened container did not run")
        ready = running.ready
        if ready.status == Status.PASSED:
            return CheckResult.passed("SR310", f"{ready.summary} under {self._what()}",
                                      **dict(ready.figures))
        if ready.status == Status.SKIPPED:
            return CheckResult.skipped("SR310", ready.summary)
        log = running.log_tail().decode("utf-8", "replace")  # bounded, as SR304's
        found = causes(log, self.settings().uid or 0)
        message = "; ".join(found) if found else ready.summary
        return CheckResult.failed(
            "SR310", f"not ready under {self._what()}: {message}",
            [Finding(f"{ready.summary}; " + verdicts.tail(log.encode()), None, None,
                     "Write only to /tmp (or list the paths in [tool.shipready.hardened] "
                     "tmpfs), bind a port above 1024, and make the app readable by gid 0 "
                     "(`chgrp -R 0 /app && chmod -R g=u /app`). If this image never runs "
                     "under such restrictions: [tool.shipready.hardened] enabled = false.")])

    def stop_begin(self) -> None:
        """Stop the hardened container in the background (from SR304, so that both
        containers' grace periods run at once); SR311 judges how it went."""
        with self._lock:
            running = self._running
            if self._stopping is not None or running is None or running.stopped or \
                    self._not_stoppable(running) is not None:
                return
            self._stopping = threading.Thread(target=self._stop, args=(running,),
                                              daemon=True, name="shipready-hardened-stop")
            self._stopping.start()
            self.run.context.add_cleanup(self._stopping.join)

    @staticmethod
    def _not_stoppable(running: RunningContainer) -> str | None:
        """Why its stop cannot be judged, or None. As SR304 does for the session
        container, a container that had nothing to wait for (SR310 skipped) and still
        runs is stopped and judged."""
        ready = running.ready
        if ready is None or ready.status == Status.FAILED:
            return "did not become ready"
        if ready.status == Status.SKIPPED:
            state = running.container.state()
            if state.status in ("exited", "dead", "removed"):
                return f"is not running: it exited ({verdicts.exit_meaning(state.exit_code)})"
        return None

    def _stop(self, running: RunningContainer) -> None:
        from .. import engine

        try:
            result = running.stop_and_judge(self.run.settings.config.smoke)
        except engine.EngineError as exc:
            self._stopped = CheckResult.failed("SR311", "cannot stop the hardened container",
                                               [Finding(str(exc))])
            return
        self._stopped = CheckResult("SR311", result.status, result.summary + (
            "" if result.status != Status.PASSED else f" under {self._what()}"),
            result.findings, result.figures)

    def stop(self) -> CheckResult:
        gate = self._gate("SR311")
        if gate is not None:
            return gate
        self._wait()
        running = self._running
        if self._stopping is None:  # not yet stopped beside SR304's container
            why = "did not run" if running is None else self._not_stoppable(running)
            if why is not None:
                return CheckResult.skipped("SR311", f"the hardened container {why} (see "
                                           "shipready::smoke::hardened-ready)")
            self.stop_begin()
        if self._stopping is not None:
            self._stopping.join()
        result = self._stopped
        if result is None:
            return CheckResult.skipped("SR311", "the hardened container was not stopped")
        unrestricted = self._session_stop()
        if result.status == Status.FAILED and unrestricted is not None \
                and unrestricted.status == Status.FAILED:
            # The same fault as SR304's, not the restrictions': one FAIL, not two.
            return CheckResult.skipped(
                "SR311", "the container does not stop gracefully even without restrictions "
                f"(see shipready::smoke::graceful-shutdown); here: {result.summary}")
        return result

    def _session_stop(self) -> CheckResult | None:
        from .smokerun import smoke_run

        return smoke_run(self.run).stopped_with


def passwd_ids(passwd: str, name: str) -> str:
    """"uid:gid" of ``name`` in an /etc/passwd text ("" when it is not there)."""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == name and fields[2].isdigit() \
                and fields[3].isdigit():
            return f"{fields[2]}:{fields[3]}"
    return ""
