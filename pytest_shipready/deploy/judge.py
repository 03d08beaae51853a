"""SR600-SR607: verdicts on a deployment manifest against the image, from plain data.

The deploy area observes the session container (what it listens on, how it answers the
manifest's probes, how long it took to stop) and asks here what that means for the
manifest. Pure: no pytest, no docker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..checks import CheckResult, Finding, plural
from . import kube, refs

LOOPBACK = frozenset({"127.0.0.1", "::1"})


@dataclass(frozen=True)
class ProbeOutcome:
    """What one probe of the manifest got in the smoke container."""

    probe: kube.Probe
    ok: bool | None  # None: not run (the reason is ``detail``)
    detail: str  # "answered 200", "exit 1: ...", "connection refused"


def _where(workload: kube.Workload, container: kube.Container,
           line: int | None = None) -> tuple[str, int | None]:
    return workload.path, line or container.line or workload.line


def _subject(workload: kube.Workload, container: kube.Container) -> str:
    return f"{workload.title}, container {container.name}"


# --- SR601 ports ---------------------------------------------------------------------


def ports(workload: kube.Workload, container: kube.Container,
          services: Sequence[kube.Service],
          listening: Mapping[int, frozenset[str]] | None, why_unknown: str = "") -> CheckResult:
    """Declared container ports, Services' target ports and probe ports against the TCP
    ports the app listens on (port -> local addresses) in the smoke container."""
    declared = [(name, number) for name, number, proto in container.ports if proto == "TCP"]
    targets: list[tuple[str, int | str | None, kube.Service]] = [
        (f"Service {svc.name} port {p.port} -> targetPort {p.target}", p.target, svc)
        for svc in services if svc.selects(workload) for p in svc.ports]
    probe_ports = [(p.describe(), p.port, p) for p in container.probes
                   if p.handler in ("httpGet", "tcpSocket")]
    if not declared and not targets and not probe_ports:
        return CheckResult.skipped(
            "SR601", f"{_subject(workload, container)} declares no containerPort, probe "
            "port or Service targeting it")
    if listening is None:
        return CheckResult.skipped("SR601", f"cannot tell what the app listens on: "
                                   f"{why_unknown}")
    path, line = _where(workload, container)
    findings: list[Finding] = []
    heard = sorted(listening)
    heard_text = ", ".join(map(str, heard)) or "no TCP port"

    def judge(what: str, number: int | None, raw: object, at: int | None) -> None:
        if number is None:
            findings.append(Finding(
                f"{what}: port {raw!r} is not a containerPort name of {container.name}",
                path, at or line, "Name the port in the container's ports, or use its "
                "number."))
            return
        addresses = listening.get(number)
        if addresses is None:
            findings.append(Finding(
                f"{what}: the app does not listen on port {number} (it listens on "
                f"{heard_text})", path, at or line,
                f"Point it at the port the app listens on ({heard_text}), or make the app "
                f"listen on {number}."))
        elif addresses <= LOOPBACK:
            findings.append(Finding(
                f"{what}: the app listens on port {number} on "
                f"{', '.join(sorted(addresses))} only, which nothing outside the pod "
                "reaches (the kubelet's probes, Services)", path, at or line,
                "Bind the server to 0.0.0.0 (e.g. `--bind 0.0.0.0:PORT`, `--host "
                "0.0.0.0`)."))

    for name, number in declared:
        judge(f"containerPort {number}" + (f" ({name})" if name else ""), number, number,
              None)
    for what, raw, svc in targets:
        judge(what, container.port_number(raw), raw, svc.line)
    for what, raw, probe in probe_ports:
        judge(what, container.port_number(raw), raw, probe.line)
    checked = len(declared) + len(targets) + len(probe_ports)
    return CheckResult.from_findings(
        "SR601", findings,
        f"{plural(checked, 'declared port')} of {_subject(workload, container)} "
        f"listened on (the app listens on {heard_text})",
        f"{plural(len(findings), 'port')} of {_subject(workload, container)} the app does "
        "not serve", verified=checked)


# --- SR602 probes --------------------------------------------------------------------


def probes(workload: kube.Workload, container: kube.Container,
           outcomes: Sequence[ProbeOutcome]) -> CheckResult:
    """Each liveness, readiness and startup probe succeeds against the smoke container
    (HTTP 200-399 as the kubelet counts it, a TCP connection, an exec exiting 0)."""
    if not container.probes:
        return CheckResult.skipped(
            "SR602", f"{_subject(workload, container)} declares no liveness, readiness or "
            "startup probe")
    path, line = _where(workload, container)
    findings = [Finding(f"{o.probe.describe()} fails in the smoke container: {o.detail}",
                        path, o.probe.line or line,
                        _probe_hint(o.probe)) for o in outcomes if o.ok is False]
    ran = [o for o in outcomes if o.ok is not None]
    not_run = [f"{o.probe.describe()}: {o.detail}" for o in outcomes if o.ok is None]
    if not ran and not findings:
        return CheckResult.skipped("SR602", "no probe could be run: " + "; ".join(not_run))
    ok = "; ".join(f"{o.probe.describe()} {o.detail}" for o in ran if o.ok)
    if not_run:
        ok += "; not run: " + "; ".join(not_run)
    return CheckResult.from_findings(
        "SR602", findings, ok,
        f"{plural(len(findings), 'probe')} of {_subject(workload, container)} would fail "
        "in the cluster", verified=len(ran))


def _probe_hint(probe: kube.Probe) -> str:
    if probe.handler == "httpGet":
        return ("Point the probe at a route the app serves with 2xx when healthy (its "
                "health endpoint), on the port it listens on.")
    if probe.handler == "exec":
        return "Make the probe's command succeed in the image (it runs as the container's user)."
    return "Point the probe at the port the app listens on."


# --- SR603 grace period --------------------------------------------------------------


def grace_period(workload: kube.Workload, container: kube.Container,
                 shutdown: float | None, stopped_cleanly: bool, margin: float,
                 why_unknown: str = "") -> CheckResult:
    """terminationGracePeriodSeconds covers the preStop hook plus the shutdown measured
    by SR304, with ``margin`` seconds to spare."""
    if shutdown is None:
        return CheckResult.skipped("SR603", f"no measured shutdown: {why_unknown}")
    if not stopped_cleanly:
        return CheckResult.skipped(
            "SR603", "the app does not stop cleanly on its stop signal, whatever the grace "
            "period (see shipready::smoke::graceful-shutdown)")
    grace = workload.grace_period if workload.grace_period is not None else kube.DEFAULT_GRACE
    said = ("terminationGracePeriodSeconds" if workload.grace_period is not None
            else "the default terminationGracePeriodSeconds")
    needed = container.pre_stop_sleep + shutdown + margin
    parts = [f"shutdown {shutdown:.1f} s (measured)"]
    if container.pre_stop_sleep:
        parts.insert(0, f"preStop {container.pre_stop_sleep:g} s")
    parts.append(f"margin {margin:g} s ([tool.shipready.deploy] grace_margin)")
    if grace >= needed:
        return CheckResult.passed(
            "SR603", f"{said} {grace:g} s covers {' + '.join(parts)} = {needed:.1f} s",
            grace=grace, needed=round(needed, 2))
    return CheckResult.failed(
        "SR603", f"{said} {grace:g} s is shorter than the shutdown",
        [Finding(f"{_subject(workload, container)}: {said} is {grace:g} s, but "
                 f"{' + '.join(parts)} = {needed:.1f} s: the kubelet kills the container "
                 "mid-shutdown (in-flight requests fail)", workload.path, workload.line,
                 f"Set terminationGracePeriodSeconds: {int(needed) + 1} (or more) in the pod "
                 "spec, or shorten the preStop hook.")],
        grace=grace, needed=round(needed, 2))


# --- SR604 environment ---------------------------------------------------------------


def environment(workload: kube.Workload, container: kube.Container,
                required: Mapping[str, str], image_env: Mapping[str, str],
                config_keys: Mapping[str, frozenset[str]]) -> CheckResult:
    """Every variable the app needs (name -> why: "[tool.shipready.parity] required_env",
    "the smoke test's env") is set by the manifest or the image, or may come from an
    ``envFrom`` source the manifests do not define."""
    if not required:
        return CheckResult.skipped(
            "SR604", "no variable is known to be needed (set [tool.shipready.parity] "
            "required_env, or [tool.shipready.smoke] env)")
    own = {e.name: e for e in container.env}
    path, line = _where(workload, container)
    findings: list[Finding] = []
    set_by: list[str] = []
    assumed: list[str] = []
    for name, why in sorted(required.items()):
        if name in own:
            source = own[name].source or "a value"
            set_by.append(f"{name} ({source})")
            continue
        sources = [s for s in container.env_from if s.split(" (prefix")[0] in config_keys]
        if any(name in config_keys[s.split(" (prefix")[0]] for s in sources):
            set_by.append(f"{name} (envFrom)")
            continue
        unknown = [s for s in container.env_from if s.split(" (prefix")[0] not in config_keys]
        if name in image_env:
            set_by.append(f"{name} (the image's ENV)")
        elif unknown:
            assumed.append(f"{name} (maybe from {' or '.join(unknown)}, not in the manifests)")
        else:
            findings.append(Finding(
                f"{name} is needed ({why}) but {_subject(workload, container)} does not "
                "set it, and the image has no default", path, line,
                f"Add `- name: {name}` with a value or a secretKeyRef to the container's "
                "env (or an envFrom source that holds it)."))
    ok = f"{plural(len(set_by), 'needed variable')} set: {', '.join(set_by)}"
    if assumed:
        ok += "; not checked: " + ", ".join(assumed)
    if not set_by and assumed and not findings:
        return CheckResult.skipped("SR604", "every needed variable may come from an envFrom "
                                   "source the manifests do not define: " + ", ".join(assumed))
    return CheckResult.from_findings(
        "SR604", findings, ok,
        f"{plural(len(findings), 'needed variable')} missing from "
        f"{_subject(workload, container)}")


# --- SR605 command -------------------------------------------------------------------


def effective_command(container: kube.Container, entrypoint: Sequence[str],
                      cmd: Sequence[str]) -> tuple[str, ...]:
    """What the container runs: ``command`` replaces ENTRYPOINT (and drops CMD unless
    ``args`` are given), ``args`` replace CMD (Kubernetes' rules)."""
    if container.command is not None:
        return (*container.command, *(container.args or ()))
    if container.args is not None:
        return (*entrypoint, *container.args)
    return (*entrypoint, *cmd)


# --- SR606 security context ----------------------------------------------------------


def _numeric_user(user: str) -> int | None:
    name = user.split(":", 1)[0].strip()
    if name == "root":
        return 0
    return int(name) if name.isdigit() else None


def non_root(workload: kube.Workload, container: kube.Container,
             image_user: str) -> list[Finding]:
    """What the kubelet refuses under ``runAsNonRoot: true``: an image that runs as root,
    or whose USER is a name it cannot verify (no ``runAsUser`` to decide)."""
    sec = container.security
    if not sec.run_as_non_root:
        return []
    path, line = _where(workload, container, sec.line)
    if sec.run_as_user is not None:
        if sec.run_as_user == 0:
            return [Finding("runAsNonRoot: true with runAsUser: 0: the kubelet refuses to "
                            "start the container", path, line,
                            "Set runAsUser to a non-zero uid.")]
        return []
    uid = _numeric_user(image_user) if image_user else 0
    if uid == 0:
        return [Finding(f"runAsNonRoot: true, but the image runs as root (USER "
                        f"{image_user or 'not set'}) and the manifest sets no runAsUser: the "
                        "kubelet refuses to start the container (CreateContainerConfigError)",
                        path, line, "Add a non-root `USER 10001` to the Dockerfile, or "
                        "runAsUser: 10001 to the securityContext.")]
    if uid is None:
        return [Finding(f"runAsNonRoot: true, but the image's USER is the name "
                        f"{image_user!r}, which the kubelet cannot verify as non-root: it "
                        "refuses to start the container (\"image has non-numeric user\")",
                        path, line, f"Use a numeric USER in the Dockerfile (the uid of "
                        f"{image_user.split(':')[0]}, e.g. `USER 10001`), or set runAsUser "
                        "in the securityContext.")]
    return []


def restricted(container: kube.Container) -> list[str]:
    """The restrictions the manifest applies, as the hardened smoke must reproduce them."""
    sec = container.security
    found = []
    if sec.read_only_root:
        found.append("readOnlyRootFilesystem")
    if "ALL" in sec.drop:
        found.append("capabilities drop ALL")
    if sec.allow_privilege_escalation is False:
        found.append("allowPrivilegeEscalation: false")
    if sec.run_as_user is not None:
        found.append(f"runAsUser {sec.run_as_user}")
    return found


def missing_hardening(container: kube.Container) -> list[str]:
    """What a manifest could add once the image is known to run hardened."""
    sec = container.security
    missing = []
    if not sec.read_only_root:
        missing.append("readOnlyRootFilesystem: true")
    if "ALL" not in sec.drop:
        missing.append("capabilities: {drop: [ALL]}")
    if sec.allow_privilege_escalation is not False:
        missing.append("allowPrivilegeEscalation: false")
    if not sec.run_as_non_root:
        missing.append("runAsNonRoot: true")
    return missing


def low_port_caveat(container: kube.Container) -> str:
    """A port below 1024 bound without NET_BIND_SERVICE works in the smoke only because
    the engine lets any user bind it (Docker, containerd 2 and CRI-O set
    ``net.ipv4.ip_unprivileged_port_start=0`` in the pod's network namespace); a node whose
    runtime does not refuses the bind once capabilities are dropped. "" when no such
    port is declared, or the container keeps the capability."""
    low = sorted({number for _, number, _ in container.ports if 0 < number < 1024})
    caps = {c.upper().removeprefix("CAP_") for c in container.security.add}
    if not low or "NET_BIND_SERVICE" in caps:
        return ""
    shown = ", ".join(str(p) for p in low)
    return (f"containerPort {shown} is below 1024: bound without NET_BIND_SERVICE here only "
            "because the engine sets net.ipv4.ip_unprivileged_port_start=0 (Docker, "
            "containerd 2 and CRI-O do); with capabilities dropped on a runtime that does "
            "not, the bind is refused: add NET_BIND_SERVICE or listen on a port of 1024 or "
            "more")


# --- SR607 immutable image references --------------------------------------------------


@dataclass(frozen=True)
class Reference:
    text: str
    path: str
    line: int | None
    where: str  # "Deployment/web container web", "Terraform", "compose service api"


def immutable(references: Sequence[Reference],
              built_by: tuple[str, frozenset[str]] = ("", frozenset())) -> CheckResult:
    """SR607. ``built_by``: (a deploy tool's file, the images it builds and writes into
    the manifests at deploy: skaffold.yaml's artifacts), whose bare names are not judged."""
    tool, built = built_by
    if not references:
        return CheckResult.skipped("SR607", "no image reference found in the deployment "
                                   "files (Kubernetes YAML, compose, Terraform)")
    findings: list[Finding] = []
    pinned = tagged = placeholders = filled = 0
    for ref in references:
        parsed = refs.parse(ref.text)
        why = parsed.mutability()
        if not parsed.tag and not parsed.digest and any(
                refs.same_repository(parsed.repository, name) for name in built):
            filled += 1
        elif why:
            findings.append(Finding(
                f"{ref.where}: image {ref.text!r} {why}: each node pulls whatever the "
                "registry holds then, so replicas and rollbacks can run different code",
                ref.path, ref.line, f"Reference it by digest ({parsed.repository}@sha256:"
                "...) or by an immutable tag (a version or the commit SHA)."))
        elif parsed.placeholder:
            placeholders += 1
        elif parsed.digest:
            pinned += 1
        else:
            tagged += 1
    ok = f"{plural(pinned + tagged, 'image reference')} pinned ({pinned} by digest, " \
         f"{tagged} by tag)"
    if placeholders:
        ok += f"; {plural(placeholders, 'placeholder')} filled in at deploy time, not judged"
    if filled:
        ok += (f"; {plural(filled, 'reference')} to an image {tool} builds, which it "
               "fills in at deploy, not judged")
    return CheckResult.from_findings(
        "SR607", findings, ok, f"{plural(len(findings), 'image reference')} can change "
        "under the deployment", verified=pinned + tagged,
        nothing="every image reference is a placeholder filled in at deploy time")
