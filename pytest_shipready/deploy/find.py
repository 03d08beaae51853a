"""Where a project keeps what deploys its image, and which of its containers run it.

Finding is cheap (names and a look at each YAML file's text); reading is
:mod:`.kube`'s. Only files inside the project are read: a link out of it is passed over.
Pure: no pytest, no docker.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import kube, refs

# Folders never searched: tools' and environments' own files, not the project's.
_SKIP = frozenset({".git", ".hg", "node_modules", ".venv", "venv", ".tox", ".nox",
                   "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                   "site-packages", ".github", ".gitlab", ".circleci", "dist", "build",
                   ".idea", ".vscode", ".devcontainer",
                   # Test data and test rigs (merino-py's Locust load test deploys its own
                   # image from tests/load/), not the service's deployment: named in
                   # [tool.shipready.deploy] manifests they are read.
                   "tests", "test"})
MAX_DEPTH = 5
MAX_BYTES = 1_000_000  # a larger YAML file is not a hand-written manifest
MAX_FILES = 400


# docker compose's own names, and the usual variants (docker-compose.prod.yml, ...).
_COMPOSE = re.compile(r"^(docker-)?compose([.-][\w.-]+)?\.ya?ml$")


@dataclass(frozen=True)
class Found:
    kubernetes: tuple[Path, ...] = ()
    terraform: tuple[Path, ...] = ()
    skipped: tuple[str, ...] = ()  # what was passed over, and why
    compose: tuple[Path, ...] = ()


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except OSError:
        return False


def _walk(project: Path, skipped: list[str]) -> list[Path]:
    """Every file up to :data:`MAX_DEPTH` folders down, outside tool folders."""
    files_found: list[Path] = []
    for folder, dirs, files in os.walk(project):
        depth = len(Path(folder).relative_to(project).parts)
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith(".")
                         and depth < MAX_DEPTH)
        files_found.extend(Path(folder) / f for f in sorted(files))
        if len(files_found) > 50 * MAX_FILES:
            skipped.append(f"stopped looking after {len(files_found)} files")
            break
    return files_found


def display_name(path: Path, project: Path) -> str:
    """A file's name in messages: relative to the project (``../k8s/app.yaml`` for one
    outside it that [tool.shipready] allow_outside_project lets in)."""
    return Path(os.path.relpath(path, project)).as_posix()


def _configured(project: Path, root: Path, configured: Sequence[str],
                skipped: list[str], allow_outside: bool) -> list[Path]:
    files: list[Path] = []
    for entry in configured:
        path = project / entry
        if not allow_outside and not _inside(path, root):
            skipped.append(f"{entry}: outside the project (set [tool.shipready] "
                           "allow_outside_project = true to read it)")
        elif path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            skipped.append(f"{entry}: does not exist")
    return files


def find(project: Path, configured: Sequence[str] = (), allow_outside: bool = False) -> Found:
    """The Kubernetes YAML, Compose and Terraform files of ``project``. Kubernetes files:
    those ``configured`` (files or folders, relative to it), else every YAML file with
    ``apiVersion`` and ``kind``; the others are always looked for. Only files inside the
    project are read (a link out of it is passed over), except configured ones when
    ``allow_outside`` ([tool.shipready] allow_outside_project) says so."""
    root = project.resolve()
    skipped: list[str] = []
    walked = _walk(project, skipped)
    chosen = (_configured(project, root, configured, skipped, allow_outside) if configured
              else walked)
    kubernetes: list[Path] = []
    terraform: list[Path] = []
    compose: list[Path] = []
    for path in walked:
        if not _inside(path, root):
            continue
        if path.suffix == ".tf":
            terraform.append(path)
        elif path.suffix in (".yaml", ".yml") and _COMPOSE.match(path.name):
            compose.append(path)
    for path in chosen:
        if not (allow_outside and configured) and not _inside(path, root):
            skipped.append(f"{display_name(path, project)}: a link out of the project")
            continue
        if path.suffix not in (".yaml", ".yml") or path in compose:
            continue
        try:
            if path.stat().st_size > MAX_BYTES:
                skipped.append(f"{display_name(path, project)}: over {MAX_BYTES:,} bytes")
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if kube.looks_like_kubernetes(text):
            kubernetes.append(path)
        if len(kubernetes) >= MAX_FILES:
            skipped.append(f"read the first {MAX_FILES} Kubernetes files only")
            break
    return Found(tuple(kubernetes), tuple(terraform), tuple(skipped), tuple(compose))


def read_all(project: Path, found: Found) -> kube.Manifests:
    parts = []
    for path in found.kubernetes:
        display = display_name(path, project)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            parts.append(kube.Manifests(problems=((display, None, str(exc)),)))
            continue
        parts.append(kube.read(text, display))
    return kube.merge(parts)


@dataclass(frozen=True)
class Picked:
    """The containers of the manifests that run this image, and how they were told."""

    containers: tuple[tuple[kube.Workload, kube.Container], ...]
    how: str  # "by [tool.shipready.deploy] image", "the only image", ...
    candidates: tuple[str, ...] = ()  # the images seen, when none could be picked

    @property
    def why_none(self) -> str:
        seen = ", ".join(self.candidates) or "none"
        return (f"no container of the manifests is known to run this image (images seen: "
                f"{seen}); set [tool.shipready.deploy] image to the repository your "
                "deployments pull it from (e.g. \"ghcr.io/acme/shop\")")


def pick(manifests: kube.Manifests, image: str, project_name: str,
         also: Sequence[str] = ()) -> Picked:
    """The (workload, container) pairs that run this image: named by ``image`` (the
    repository deployments pull it from), else the repository whose last component is
    the project's name or one of ``also`` (e.g. a compose service's image), else the
    only repository the workloads use that is not a third party's well-known image."""
    pairs = [(w, c) for w in manifests.workloads for c in w.containers if c.image]
    repos = {refs.parse(_resolved(c.image, manifests)).repository for _, c in pairs}

    def running(repository: str) -> tuple[tuple[kube.Workload, kube.Container], ...]:
        return tuple((w, c) for w, c in pairs
                     if refs.same_repository(refs.parse(_resolved(c.image, manifests))
                                             .repository, repository))

    if image:
        found = running(refs.parse(image).repository)
        return Picked(found, f"by [tool.shipready.deploy] image = {image!r}",
                      () if found else tuple(sorted(repos)))
    names = {n.lower() for n in (project_name, *also) if n}
    by_name = sorted(r for r in repos if refs.parse(r).name.lower() in names)
    if len(by_name) == 1:
        return Picked(running(by_name[0]), f"by name: {by_name[0]} is the project's "
                      "image")
    own = sorted(r for r in repos if refs.parse(r).name.lower() not in _THIRD_PARTY
                 and not refs.parse(r).placeholder)
    if len(own) == 1:
        return Picked(running(own[0]), f"the only image of the manifests that is not a "
                      f"well-known service's: {own[0]}")
    return Picked((), "", tuple(sorted(repos)))


def _resolved(image: str, manifests: kube.Manifests) -> str:
    """The image a kustomization's ``images`` override turns ``image`` into."""
    ref = refs.parse(image)
    for name, new, _path, _line in manifests.image_overrides:
        if refs.same_repository(ref.repository, name):
            return new
    return image


# Images of backing services, sidecars and proxies: never the project's own image.
_THIRD_PARTY = frozenset({
    "postgres", "postgresql", "mysql", "mariadb", "redis", "valkey", "memcached",
    "rabbitmq", "mongo", "mongodb", "elasticsearch", "opensearch", "nginx", "httpd",
    "haproxy", "envoy", "traefik", "busybox", "alpine", "debian", "ubuntu", "python",
    "cloud-sql-proxy", "cloudsql-proxy", "pgbouncer", "minio", "kafka", "zookeeper",
    "otel-collector", "opentelemetry-collector", "fluent-bit", "fluentd", "jaeger",
    "prometheus", "grafana", "statsd-exporter", "istio-proxy", "linkerd-proxy",
})


def where(workload: kube.Workload, container: kube.Container) -> str:
    """One container of the manifests, as messages name it."""
    return f"{workload.path}: {workload.title} container {container.name}"


@dataclass(frozen=True)
class Runtime:
    """What a manifest asks of the container runtime, for the hardened smoke: its
    explicit settings (None where it says nothing) and where they come from."""

    where: str  # "k8s/app.yaml: Deployment/web container web"
    security: kube.SecurityContext


def manifest_runtime(project: Path, manifests_cfg: Sequence[str], image: str,
                     allow_outside: bool = False) -> Runtime | None:
    """The securityContext of the container that serves this image (the first picked
    one with a port or probe, else the first), or None without manifests."""
    manifests = read_all(project, find(project, manifests_cfg, allow_outside))
    picked = pick(manifests, image, project.resolve().name).containers
    if not picked:
        return None
    serving = [(w, c) for w, c in picked if c.ports or c.probes] or list(picked)
    workload, container = serving[0]
    return Runtime(where(workload, container),
                   container.security)


def compose_images(text: str) -> list[tuple[str, str, int | None]]:
    """The ``image`` of every Compose service that does not build its own (a service with
    ``build`` names the image it builds, not one it pulls): (service, image, line)."""
    docs, _error = kube.documents(text)
    found: list[tuple[str, str, int | None]] = []
    for _line, doc in docs:
        services = doc.get("services") if isinstance(doc, dict) else None
        if not isinstance(services, dict):
            continue
        for name, service in services.items():
            if name == kube.LINE or not isinstance(service, dict):
                continue
            image = service.get("image")
            if isinstance(image, str) and image and "build" not in service:
                found.append((str(name), image, service.get(kube.LINE)))
    return found
