"""The deploy area: the project's deployment files against the image (SR600-SR607).

Planning finds and reads the Kubernetes manifests (cheap: a few YAML files), picks the
containers that run this image and plans one set of items per container:
``shipready::deploy::<file>::<Kind>/<name>::<check>``. The checks that need the running
image get the session container from the container area through
``RunContext.session_container``; they run after the smoke items, and SR603 after SR304
has measured the shutdown.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..checks import (
    Answer,
    CheckResult,
    Finding,
    Options,
    PlannedCheck,
    RunContext,
    SessionContainer,
    plural,
)
from ..config import Settings
from . import find, judge, kube, refs, skaffold

AREA = "deploy"


def plan(settings: Settings, options: Options, context: RunContext) -> list[PlannedCheck]:
    cfg = settings.config.deploy
    project = settings.project
    if not cfg.enabled:
        return [PlannedCheck(AREA, None, "SR600", "manifests", None, lambda: CheckResult.skipped(
            "SR600", "the deployment checks are off ([tool.shipready.deploy] enabled = "
            "false)"))]
    found = find.find(project, cfg.manifests, settings.config.allow_outside_project)
    manifests = find.read_all(project, found)
    picked = find.pick(manifests, cfg.image, _project_name(project))

    def session() -> SessionContainer | str:
        if context.session_container is None:
            return ("no smoke container in this run (the image's Dockerfile and a Docker "
                    "engine are needed)")
        container = context.session_container()
        why = container.unavailable()
        return why or container

    context.manifests = _listed(project, found, picked)
    checks = [PlannedCheck(AREA, None, "SR600", "manifests", None,
                           lambda: _manifests(found, manifests, picked, project,
                                              bool(cfg.manifests)))]
    titles = [w.title for w, _ in picked.containers]
    for workload, container in picked.containers:
        subject = f"{workload.path}::{workload.title}"
        if titles.count(workload.title) > 1 or len(workload.containers) > 1:
            subject += f"/{container.name}"
        checks.extend(_container_checks(settings, manifests, workload, container, subject,
                                        project / workload.path, session, context))
    checks.append(PlannedCheck(AREA, None, "SR607", "immutable-image", None,
                               lambda: judge.immutable(
                                   _references(project, found, manifests),
                                   _skaffold(project, settings.config.allow_outside_project))))
    return checks


def _listed(project: Path, found: find.Found, picked: find.Picked) -> list[dict[str, Any]]:
    """The deployment files read, for the report and the SBOM."""
    containers: dict[str, list[str]] = {}
    for workload, container in picked.containers:
        containers.setdefault(workload.path, []).append(
            f"{workload.title} container {container.name}")
    listed: list[dict[str, Any]] = []
    for kind, paths in (("kubernetes", found.kubernetes), ("compose", found.compose),
                        ("terraform", found.terraform)):
        for path in paths:
            display = find.display_name(path, project)
            entry: dict[str, Any] = {"path": display, "kind": kind}
            if display in containers:
                entry["containers"] = containers[display]
            listed.append(entry)
    return listed


def _project_name(project: Path) -> str:
    return project.resolve().name


def _manifests(found: find.Found, manifests: kube.Manifests, picked: find.Picked,
               project: Path, configured: bool = False) -> CheckResult:
    read = ", ".join(manifests.files) or "none"
    findings = [Finding(f"not valid YAML: {what}", path, line,
                        "Fix the YAML (`kubectl apply --dry-run=client -f FILE` says the "
                        "same).")
                for path, line, what in manifests.problems]
    if findings:
        return CheckResult.failed("SR600", f"{plural(len(findings), 'manifest')} cannot be "
                                  "read", findings)
    extra = ""
    if manifests.templates:
        extra = (f"; {plural(len(manifests.templates), 'Helm template')} not read (render "
                 "the chart with `helm template` into a folder named in [tool.shipready."
                 "deploy] manifests to check it)")
    if not manifests.workloads:
        where = ("[tool.shipready.deploy] manifests" if configured else "the project")
        passed_over = (f"; passed over: {'; '.join(found.skipped)}" if found.skipped
                       else "")
        return CheckResult.skipped(
            "SR600", f"no Kubernetes workload (Deployment, StatefulSet, Job, Pod...) in "
            f"{where}: nothing deploys this image that can be checked (name the files in "
            f"[tool.shipready.deploy] manifests){passed_over}{extra}")
    if not picked.containers:
        return CheckResult.skipped("SR600", picked.why_none + extra)
    shown = [f"{w.path}: {w.title} container {c.name} ({c.image})"
             for w, c in picked.containers[:5]]
    more = len(picked.containers) - len(shown)
    which = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    return CheckResult.passed(
        "SR600", f"{plural(len(picked.containers), 'container')} of "
        f"{plural(len(manifests.files), 'manifest')} ({read}) run this image, "
        f"{picked.how}: {which}{extra}", containers=len(picked.containers))


def _skaffold(project: Path, beyond_project: bool) -> tuple[str, frozenset[str]]:
    """The skaffold.yaml deploying the project and the images it builds (none without)."""
    config = skaffold.find_config(project, beyond_project)
    if config is None:
        return "", frozenset()
    try:
        text = config.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", frozenset()
    return find.display_name(config, project), skaffold.artifact_images(text)


def _references(project: Path, found: find.Found,
                manifests: kube.Manifests) -> list[judge.Reference]:
    found_refs = [judge.Reference(c.image, w.path, c.line or w.line,
                                  f"{w.title} container {c.name}")
                  for w in manifests.workloads for c in (*w.containers, *w.init_containers)
                  if c.image]
    overridden = {name for name, *_ in manifests.image_overrides}
    found_refs = [r for r in found_refs
                  if not any(refs.same_repository(refs.parse(r.text).repository, name)
                             for name in overridden)]
    found_refs += [judge.Reference(new, path, line, f"kustomize images {name}")
                   for name, new, path, line in manifests.image_overrides]
    for path in found.compose:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        display = find.display_name(path, project)
        found_refs += [judge.Reference(image, display, line, f"compose service {name}")
                       for name, image, line in find.compose_images(text)]
    for path in found.terraform:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        display = find.display_name(path, project)
        found_refs += [judge.Reference(image, display, line, "Terraform")
                       for image, line in refs.terraform_images(text)]
    return found_refs


def _container_checks(settings: Settings, manifests: kube.Manifests,
                      workload: kube.Workload, container: kube.Container, subject: str,
                      path: Path, session: Callable[[], SessionContainer | str],
                      context: RunContext) -> list[PlannedCheck]:
    cfg = settings.config
    by_where = {find.where(w, c): c for w in manifests.workloads for c in w.containers}

    def needs_session(check_id: str, body: Callable[[SessionContainer], CheckResult]
                      ) -> Callable[[], CheckResult]:
        def run() -> CheckResult:
            running = session()
            if isinstance(running, str):
                return CheckResult.skipped(check_id, running)
            return body(running)
        return run

    def ports(running: SessionContainer) -> CheckResult:
        listening = running.listening()
        if isinstance(listening, str):
            return judge.ports(workload, container, manifests.services, None, listening)
        return judge.ports(workload, container, manifests.services, listening)

    def probes(running: SessionContainer) -> CheckResult:
        outcomes = []
        heard = running.listening()
        for probe in container.probes:
            port = container.port_number(probe.port)
            timeout = max(probe.timeout, 1.0)
            if port is not None and not isinstance(heard, str) and port not in heard \
                    and probe.handler in ("httpGet", "tcpSocket"):
                # The port is the fault (SR601 says so), not the probe: one FAIL.
                answer = Answer(None, f"nothing listens on port {port} (see ::ports)")
            elif probe.handler == "httpGet" and port is not None:
                if probe.scheme != "HTTP":
                    answer = Answer(None, f"{probe.scheme} probes are not run")
                else:
                    answer = running.http(port, probe.path, probe.headers, timeout)
            elif probe.handler == "tcpSocket" and port is not None:
                answer = running.tcp(port, timeout)
            elif probe.handler == "exec" and probe.command:
                answer = running.exec(probe.command, timeout)
            elif port is None and probe.handler in ("httpGet", "tcpSocket"):
                answer = Answer(False, f"port {probe.port!r} is not a containerPort name "
                                f"of {container.name}")
            else:
                answer = Answer(None, f"{probe.handler or 'a probe without a handler'} "
                                "is not run here")
            outcomes.append(judge.ProbeOutcome(probe, answer.ok, answer.detail))
        return judge.probes(workload, container, outcomes)

    def grace() -> CheckResult:
        if not container.probes and not container.ports and workload.kind in ("Job",
                                                                              "CronJob"):
            return CheckResult.skipped("SR603", f"{workload.title} is a {workload.kind}: it "
                                       "ends on its own")
        if context.session_container is None:  # after SR304: no readiness to ask for
            return CheckResult.skipped("SR603", "no smoke container in this run")
        seconds, clean, why = context.session_container().stopped()
        return judge.grace_period(workload, container, seconds, clean,
                                  cfg.deploy.grace_margin, why)

    def environment(running: SessionContainer) -> CheckResult:
        needed = {name: "[tool.shipready.parity] required_env"
                  for name in cfg.parity.required_env}
        needed.update({name: "the smoke test sets it ([tool.shipready.smoke] env)"
                       for name in cfg.smoke.env if name not in needed})
        image = running.image()
        return judge.environment(workload, container, needed,
                                 image.env if image is not None else {},
                                 manifests.config_keys)

    def command(running: SessionContainer) -> CheckResult:
        if container.command is None and container.args is None:
            return CheckResult.skipped(
                "SR605", f"{workload.title} runs the image's own command (no command or "
                "args): the smoke items judge it")
        image = running.image()
        if image is None:
            return CheckResult.skipped("SR605", "the image's command is not known")
        argv = judge.effective_command(container, image.entrypoint, image.cmd)
        shown = " ".join(argv)
        if tuple(argv) == tuple(running.ran()):
            return CheckResult.passed("SR605", f"`{shown}` is what the smoke container ran")
        env = {e.name: e.value for e in container.env if e.value is not None}
        one_shot = workload.kind in ("Job", "CronJob")
        answer = running.variant(argv, env, one_shot)
        if answer.ok is None:
            return CheckResult.skipped("SR605", answer.detail)
        if answer.ok:
            return CheckResult.passed("SR605", f"`{shown}` (the manifest's command): "
                                      f"{answer.detail}")
        return CheckResult.failed(
            "SR605", f"the manifest's command does not start: `{shown}`",
            [Finding(f"{workload.title} container {container.name} runs `{shown}`, which "
                     f"in a container of the image {answer.detail}", workload.path,
                     container.line or workload.line,
                     "Fix the command/args in the manifest (the module or script it "
                     "names must exist in the image), or remove them to run the image's "
                     "own command.")])

    def security(running: SessionContainer) -> CheckResult:
        image = running.image()
        user = image.user if image is not None else ""
        findings = judge.non_root(workload, container, user)
        status, summary, source = running.hardened()
        applied = judge.restricted(container)
        # SR310 ran under this container's settings, or under settings it shares (no
        # restriction of its own, and none from the container it ran for).
        mine = source == find.where(workload, container) or (
            not applied and not judge.restricted(by_where[source])
            if source in by_where else not applied and not source)
        said = ", ".join([*applied, *(["runAsNonRoot"] if container.security.run_as_non_root
                                      else [])])
        if applied and mine and status == "failed":
            findings.append(Finding(
                f"under the manifest's settings ({', '.join(applied)}) the image does not "
                f"start: {summary}", workload.path,
                container.security.line or container.line,
                "See shipready::smoke::hardened-ready: give the app writable emptyDir "
                "volumes where it writes, or loosen the setting it needs."))
        if findings:
            return CheckResult.failed("SR606", f"the kubelet or the image refuses "
                                      f"{workload.title}'s securityContext", findings)
        verified: list[str] = []
        if container.security.run_as_non_root:
            verified.append(f"runAsNonRoot holds for USER {user or 'root'}" +
                            (f" with runAsUser {container.security.run_as_user}"
                             if container.security.run_as_user is not None else ""))
        if applied and mine and status == "passed":
            verified.append(f"the image starts under the manifest's {', '.join(applied)} "
                            "(SR310 ran with them)")
        elif applied:
            why = (f"SR310 {status}: {summary}" if mine else
                   f"the hardened run used {source or '[tool.shipready.hardened]'}'s settings")
            verified.append(f"not run under {', '.join(applied)} ({why})")
        missing = judge.missing_hardening(container)
        if status == "passed" and missing and mine:
            verified.append("the image also passed the hardened run, so the manifest could "
                            "add " + ", ".join(missing))
        if not said and verified:
            verified.insert(0, "the manifest sets no restriction that could refuse the "
                            "image")
        caveat = judge.low_port_caveat(container)
        if caveat and verified:  # said as a condition: "with capabilities dropped ..."
            verified.append(caveat)
        if not said and not verified:
            return CheckResult.skipped("SR606", f"{workload.title} sets no securityContext "
                                       "restriction, and the image was not run hardened")
        if not verified or all(v.startswith("not run under") for v in verified):
            return CheckResult.skipped("SR606", "; ".join(verified) or "nothing judged")
        return CheckResult.passed("SR606", "; ".join(verified))

    def item(check_id: str, name: str, run: Callable[[], CheckResult],
             runs_last: bool = False) -> PlannedCheck:
        return PlannedCheck(AREA, subject, check_id, name, path, run, runs_last=runs_last)

    return [
        item("SR601", "ports", needs_session("SR601", ports)),
        item("SR602", "probes", needs_session("SR602", probes)),
        item("SR604", "environment", needs_session("SR604", environment)),
        item("SR605", "command", needs_session("SR605", command)),
        item("SR606", "security-context", needs_session("SR606", security)),
        item("SR603", "grace-period", grace, runs_last=True),
    ]
