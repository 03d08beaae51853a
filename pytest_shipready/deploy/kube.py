"""Kubernetes manifests as plain data: the workloads, their pod specs and containers.

Reads multi-document YAML (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
Pod; Services; ConfigMaps and Secrets for the keys they hold; a kustomization's
``images`` overrides). A Helm chart's templates are not YAML until rendered: a file with
``{{`` is reported as a template and not read. Pure: no pytest, no docker; the YAML
parser (PyYAML) is imported when a file is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# kind -> the path from the document to its pod template's spec
WORKLOAD_KINDS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
DEFAULT_GRACE = 30.0  # terminationGracePeriodSeconds when a pod spec says nothing
LINE = "__line__"  # the key the loader adds to every mapping: its 1-based line


@dataclass(frozen=True)
class Probe:
    """A liveness, readiness or startup probe of a container."""

    kind: str  # "liveness", "readiness", "startup"
    handler: str  # "httpGet", "tcpSocket", "exec", "grpc", or "" when it has none
    path: str = "/"
    port: int | str | None = None  # a number, or the name of a container port
    scheme: str = "HTTP"
    command: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 1.0  # timeoutSeconds (Kubernetes' default is 1)
    line: int | None = None

    def describe(self) -> str:
        if self.handler == "httpGet":
            return f"{self.kind} probe GET {self.path} on port {self.port}"
        if self.handler == "tcpSocket":
            return f"{self.kind} probe TCP port {self.port}"
        if self.handler == "exec":
            return f"{self.kind} probe exec {' '.join(self.command)!r}"
        return f"{self.kind} probe ({self.handler or 'no handler'})"


@dataclass(frozen=True)
class SecurityContext:
    """The container's security settings, the pod's filling in what it leaves unset."""

    run_as_non_root: bool | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    read_only_root: bool | None = None
    allow_privilege_escalation: bool | None = None
    privileged: bool | None = None
    drop: tuple[str, ...] = ()
    add: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None  # None: from a reference (``valueFrom``)
    source: str = ""  # "secret db-creds key password", "configMap app key X", "field ..."


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    command: tuple[str, ...] | None  # replaces the image's ENTRYPOINT
    args: tuple[str, ...] | None  # replaces its CMD
    ports: tuple[tuple[str, int, str], ...] = ()  # (name, containerPort, protocol)
    env: tuple[EnvVar, ...] = field(default=(), repr=False)
    env_from: tuple[str, ...] = ()  # "configMap app-config", "secret app-secrets"
    probes: tuple[Probe, ...] = ()
    security: SecurityContext = SecurityContext()
    pre_stop: tuple[str, ...] | None = None  # the preStop exec command, if any
    pre_stop_sleep: float = 0.0  # preStop ``sleep`` action seconds (or `sleep N` exec)
    line: int | None = None

    def port_number(self, port: int | str | None) -> int | None:
        """A probe's or Service's port as a number (a name is looked up)."""
        if isinstance(port, int):
            return port
        if isinstance(port, str):
            if port.isdigit():
                return int(port)
            for name, number, _ in self.ports:
                if name == port:
                    return number
        return None


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    path: str  # the file, relative to the project
    line: int | None
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = ()
    grace_period: float | None = None  # terminationGracePeriodSeconds; None: unset (30)
    labels: tuple[tuple[str, str], ...] = ()  # the pod template's labels

    @property
    def title(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ServicePort:
    port: int
    target: int | str | None  # targetPort (defaults to ``port``)
    name: str = ""


@dataclass(frozen=True)
class Service:
    name: str
    path: str
    line: int | None
    selector: tuple[tuple[str, str], ...]
    ports: tuple[ServicePort, ...]

    def selects(self, workload: Workload) -> bool:
        labels = dict(workload.labels)
        return bool(self.selector) and all(labels.get(k) == v for k, v in self.selector)


@dataclass(frozen=True)
class Manifests:
    """What the Kubernetes files of a project hold."""

    workloads: tuple[Workload, ...] = ()
    services: tuple[Service, ...] = ()
    config_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)  # "configMap x"
    image_overrides: tuple[tuple[str, str, str, int | None], ...] = ()  # kustomize images:
    # (name, newName:newTag or @digest, path, line)
    files: tuple[str, ...] = ()  # the files read
    problems: tuple[tuple[str, int | None, str], ...] = ()  # (path, line, what): unreadable
    templates: tuple[str, ...] = ()  # Helm templates, not read


def _yaml() -> Any:
    """PyYAML, imported when a file is read (never without --shipready)."""
    import yaml  # type: ignore[import-untyped]

    return yaml


def _loader() -> Any:
    safe: Any = _yaml().SafeLoader

    class LineLoader(safe):  # type: ignore[misc]
        """A safe loader that records each mapping's line under ``__line__``."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            mapping = super().construct_mapping(node, deep=deep)
            mapping[LINE] = node.start_mark.line + 1
            return mapping

    return LineLoader


def documents(text: str) -> tuple[list[tuple[int, Any]], str]:
    """The documents of a YAML stream with their first lines, and the error that stopped
    the reading ("" when none). Safe: no tags that build objects."""
    yaml = _yaml()

    loader = _loader()(text)
    found: list[tuple[int, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            found.append((node.start_mark.line + 1, loader.construct_document(node)))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        return found, f"{where}{problem}"
    finally:
        loader.dispose()
    return found, ""


def is_template(text: str) -> bool:
    """A Helm (or other Go template) file: not YAML until rendered."""
    return "{{" in text and "}}" in text


def looks_like_kubernetes(text: str) -> bool:
    """Whether a YAML file may hold Kubernetes objects (cheap, before parsing)."""
    return "apiVersion" in text and "kind" in text


def _dig(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _strs(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(str(v) for v in value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _port(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value) if value.isdigit() else value
    return None


def _probe(kind: str, data: Any) -> Probe | None:
    if not isinstance(data, Mapping):
        return None
    line = data.get(LINE)
    timeout = _number(data.get("timeoutSeconds")) or 1.0
    http = data.get("httpGet")
    if isinstance(http, Mapping):
        headers = tuple((str(h.get("name", "")), str(h.get("value", "")))
                        for h in http.get("httpHeaders") or [] if isinstance(h, Mapping))
        return Probe(kind, "httpGet", str(http.get("path") or "/"), _port(http.get("port")),
                     str(http.get("scheme") or "HTTP").upper(), headers=headers,
                     timeout=timeout, line=line)
    tcp = data.get("tcpSocket")
    if isinstance(tcp, Mapping):
        return Probe(kind, "tcpSocket", port=_port(tcp.get("port")), timeout=timeout,
                     line=line)
    exec_ = data.get("exec")
    if isinstance(exec_, Mapping):
        return Probe(kind, "exec", command=_strs(exec_.get("command")) or (),
                     timeout=timeout, line=line)
    grpc = data.get("grpc")
    if isinstance(grpc, Mapping):
        return Probe(kind, "grpc", port=_port(grpc.get("port")), timeout=timeout, line=line)
    return Probe(kind, "", timeout=timeout, line=line)


def _security(pod: Mapping[str, Any], container: Mapping[str, Any]) -> SecurityContext:
    pod_ctx = pod.get("securityContext") if isinstance(pod.get("securityContext"),
                                                        Mapping) else {}
    ctx = container.get("securityContext") if isinstance(container.get("securityContext"),
                                                         Mapping) else {}
    assert isinstance(pod_ctx, Mapping) and isinstance(ctx, Mapping)

    def pick(key: str) -> Any:
        return ctx[key] if key in ctx else pod_ctx.get(key)

    def flag(key: str) -> bool | None:
        value = pick(key)
        return value if isinstance(value, bool) else None

    def uid(key: str) -> int | None:
        value = pick(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    caps = ctx.get("capabilities") if isinstance(ctx.get("capabilities"), Mapping) else {}
    assert isinstance(caps, Mapping)
    return SecurityContext(
        run_as_non_root=flag("runAsNonRoot"), run_as_user=uid("runAsUser"),
        run_as_group=uid("runAsGroup"),
        read_only_root=ctx.get("readOnlyRootFilesystem")
        if isinstance(ctx.get("readOnlyRootFilesystem"), bool) else None,
        allow_privilege_escalation=ctx.get("allowPrivilegeEscalation")
        if isinstance(ctx.get("allowPrivilegeEscalation"), bool) else None,
        privileged=ctx.get("privileged") if isinstance(ctx.get("privileged"), bool) else None,
        drop=tuple(str(c).upper() for c in caps.get("drop") or []),
        add=tuple(str(c).upper() for c in caps.get("add") or []),
        line=ctx.get(LINE) or pod_ctx.get(LINE))


def _env(container: Mapping[str, Any]) -> tuple[tuple[EnvVar, ...], tuple[str, ...]]:
    env: list[EnvVar] = []
    for item in container.get("env") or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        name = str(item["name"])
        if "value" in item:
            value = item.get("value")
            env.append(EnvVar(name, "" if value is None else str(value)))
            continue
        ref = item.get("valueFrom") if isinstance(item.get("valueFrom"), Mapping) else {}
        assert isinstance(ref, Mapping)
        source = "a reference"
        for key, what in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            sel = ref.get(key)
            if isinstance(sel, Mapping):
                source = f"{what} {sel.get('name')} key {sel.get('key')}"
        if isinstance(ref.get("fieldRef"), Mapping):
            source = f"field {ref['fieldRef'].get('fieldPath')}"
        if isinstance(ref.get("resourceFieldRef"), Mapping):
            source = f"resource {ref['resourceFieldRef'].get('resource')}"
        env.append(EnvVar(name, None, source))
    env_from: list[str] = []
    for item in container.get("envFrom") or []:
        if not isinstance(item, Mapping):
            continue
        for key, what in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            sel = item.get(key)
            if isinstance(sel, Mapping) and sel.get("name"):
                prefix = f" (prefix {item['prefix']})" if item.get("prefix") else ""
                env_from.append(f"{what} {sel['name']}{prefix}")
    return tuple(env), tuple(env_from)


def _pre_stop(container: Mapping[str, Any]) -> tuple[tuple[str, ...] | None, float]:
    hook = _dig(container, ("lifecycle", "preStop"))
    if not isinstance(hook, Mapping):
        return None, 0.0
    sleep = hook.get("sleep")
    if isinstance(sleep, Mapping):
        return None, _number(sleep.get("seconds")) or 0.0
    command = _strs(_dig(hook, ("exec", "command")))
    if command is None:
        return None, 0.0
    seconds = 0.0
    words = " ".join(command).replace(";", " ").replace("&&", " ").split()
    for i, word in enumerate(words[:-1]):
        if word.rsplit("/", 1)[-1] == "sleep":
            seconds += _number(words[i + 1].rstrip("s")) or 0.0
    return command, seconds


def _container(pod: Mapping[str, Any], data: Any) -> Container | None:
    if not isinstance(data, Mapping) or not data.get("name"):
        return None
    ports = tuple((str(p.get("name") or ""), int(p["containerPort"]),
                   str(p.get("protocol") or "TCP").upper())
                  for p in data.get("ports") or []
                  if isinstance(p, Mapping) and isinstance(p.get("containerPort"), int)
                  and not isinstance(p.get("containerPort"), bool))
    probes = tuple(p for p in (_probe(kind, data.get(f"{kind}Probe"))
                               for kind in ("liveness", "readiness", "startup")) if p)
    env, env_from = _env(data)
    pre_stop, pre_stop_sleep = _pre_stop(data)
    return Container(str(data["name"]), str(data.get("image") or ""),
                     _strs(data.get("command")), _strs(data.get("args")), ports, env,
                     env_from, probes, _security(pod, data), pre_stop, pre_stop_sleep,
                     data.get(LINE))


def _labels(data: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(data, Mapping):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in data.items() if k != LINE))


def read(text: str, path: str) -> Manifests:
    """The Kubernetes objects of one file (``path`` is how messages name it)."""
    if is_template(text):
        return Manifests(templates=(path,), files=())
    docs, error = documents(text)
    workloads: list[Workload] = []
    services: list[Service] = []
    config: dict[str, frozenset[str]] = {}
    overrides: list[tuple[str, str, str, int | None]] = []
    problems: list[tuple[str, int | None, str]] = [(path, None, error)] if error else []
    for line, doc in docs:
        items = doc.get("items") if isinstance(doc, Mapping) and doc.get("kind") == "List" \
            else [doc]
        for item in items or []:
            if not isinstance(item, Mapping):
                continue
            kind = str(item.get("kind") or "")
            name = str(_dig(item, ("metadata", "name")) or "")
            where = item.get(LINE) or line
            if kind in WORKLOAD_KINDS:
                pod = _dig(item, WORKLOAD_KINDS[kind])
                if not isinstance(pod, Mapping):
                    problems.append((path, where, f"{kind}/{name} has no pod spec"))
                    continue
                template = (_dig(item, WORKLOAD_KINDS[kind][:-1]) if kind != "Pod"
                            else item)
                grace = _number(pod.get("terminationGracePeriodSeconds"))
                workloads.append(Workload(
                    kind, name, path, where,
                    tuple(c for c in (_container(pod, d) for d in pod.get("containers") or [])
                          if c),
                    tuple(c for c in (_container(pod, d)
                                      for d in pod.get("initContainers") or []) if c),
                    grace, _labels(_dig(template, ("metadata", "labels")))))
            elif kind == "Service":
                ports = tuple(ServicePort(int(p["port"]), _port(p.get("targetPort",
                                                                      p["port"])),
                                          str(p.get("name") or ""))
                              for p in _dig(item, ("spec", "ports")) or []
                              if isinstance(p, Mapping) and isinstance(p.get("port"), int))
                services.append(Service(name, path, where,
                                        _labels(_dig(item, ("spec", "selector"))), ports))
            elif kind in ("ConfigMap", "Secret"):
                keys = {str(k) for section in ("data", "stringData", "binaryData")
                        for k in (item.get(section) or {}) if k != LINE}
                config[f"{kind} {name}"] = frozenset(keys)
            elif kind == "Kustomization":
                for image in item.get("images") or []:
                    if not isinstance(image, Mapping) or not image.get("name"):
                        continue
                    new = str(image.get("newName") or image["name"])
                    if image.get("digest"):
                        new += f"@{image['digest']}"
                    elif image.get("newTag") is not None:
                        new += f":{image['newTag']}"
                    overrides.append((str(image["name"]), new, path, image.get(LINE)))
    return Manifests(tuple(workloads), tuple(services), config, tuple(overrides), (path,),
                     tuple(problems))


def merge(parts: Sequence[Manifests]) -> Manifests:
    config: dict[str, frozenset[str]] = {}
    for part in parts:
        config.update(part.config_keys)
    return Manifests(
        tuple(w for p in parts for w in p.workloads),
        tuple(s for p in parts for s in p.services), config,
        tuple(o for p in parts for o in p.image_overrides),
        tuple(f for p in parts for f in p.files),
        tuple(x for p in parts for x in p.problems),
        tuple(t for p in parts for t in p.templates))
