"""Where a project keeps what deploys its image, and which of its containers run it.

Finding is cheap (names and a look at each YAML file's text); reading is
:mod:`.kube`'s. Only files inside the project are read: a link out of it is passed over.
Pure: no pytest, no docker.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import kube, refs

# Folders never searched: tools' and environments' own files, not the project's.
_SKIP = frozenset({".git", ".hg", "node_modules", ".venv", "venv", ".tox", ".nox",
                   "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                   "site-packages", ".github", ".gitlab", ".circleci", "dist", "build",
                   ".idea", ".vscode", ".devcontainer"})
MAX_DEPTH = 5
MAX_BYTES = 1_000_000  # a larger YAML file is not a hand-written manifest
MAX_FILES = 400


@dataclass(frozen=True)
class Found:
    kubernetes: tuple[Path, ...] = ()
    terraform: tuple[Path, ...] = ()
    skipped: tuple[str, ...] = ()  # what was passed over, and why


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except OSError:
        return False


def find(project: Path, configured: Sequence[str] = ()) -> Found:
    """The Kubernetes YAML and Terraform files of ``project``: those ``configured``
    (files or folders, relative to it), else any found up to :data:`MAX_DEPTH` levels
    down outside tool folders."""
    root = project.resolve()
    skipped: list[str] = []
    candidates: list[Path] = []
    if configured:
        for entry in configured:
            path = project / entry
            if not _inside(path, root):
                skipped.append(f"{entry}: outside the project")
            elif path.is_dir():
                candidates.extend(sorted(p for p in path.rglob("*") if p.is_file()))
            elif path.is_file():
                candidates.append(path)
            else:
                skipped.append(f"{entry}: does not exist")
    else:
        for folder, dirs, files in os.walk(project):
            depth = len(Path(folder).relative_to(project).parts)
            dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith(".")
                             and depth < MAX_DEPTH)
            candidates.extend(Path(folder) / f for f in sorted(files))
            if len(candidates) > 50 * MAX_FILES:
                skipped.append(f"stopped looking after {len(candidates)} files")
                break
    kubernetes: list[Path] = []
    terraform: list[Path] = []
    for path in candidates:
        if not _inside(path, root):
            skipped.append(f"{path.relative_to(project)}: a link out of the project")
            continue
        if path.suffix == ".tf":
            terraform.append(path)
            continue
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            if path.stat().st_size > MAX_BYTES:
                skipped.append(f"{path.relative_to(project)}: over {MAX_BYTES:,} bytes")
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if kube.looks_like_kubernetes(text):
            kubernetes.append(path)
        if len(kubernetes) >= MAX_FILES:
            skipped.append(f"read the first {MAX_FILES} Kubernetes files only")
            break
    return Found(tuple(kubernetes), tuple(terraform), tuple(skipped))


def read_all(project: Path, found: Found) -> kube.Manifests:
    parts = []
    for path in found.kubernetes:
        display = path.relative_to(project).as_posix()
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
