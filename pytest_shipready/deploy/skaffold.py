"""Images a skaffold.yaml builds: skaffold writes their references into the manifests it
deploys (``image: emailservice`` becomes ``emailservice:<tag>@sha256:...``), so such a
reference in a manifest is a placeholder, not a moving tag. Pure: no pytest, no docker."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from . import kube

NAMES = ("skaffold.yaml", "skaffold.yml")


def artifact_images(text: str) -> frozenset[str]:
    """The ``build.artifacts[].image`` names of every document and profile of a
    skaffold.yaml (an unreadable file gives none)."""
    docs, _ = kube.documents(text)
    found: set[str] = set()
    for _, doc in docs:
        if not isinstance(doc, Mapping):
            continue
        builds = [doc.get("build")]
        profiles = doc.get("profiles")
        if isinstance(profiles, list):
            builds += [p.get("build") for p in profiles if isinstance(p, Mapping)]
        for build in builds:
            found.update(_images(build))
    return frozenset(found)


def _images(build: Any) -> Iterator[str]:
    artifacts = build.get("artifacts") if isinstance(build, Mapping) else None
    for artifact in artifacts if isinstance(artifacts, list) else []:
        if isinstance(artifact, Mapping) and isinstance(artifact.get("image"), str):
            yield artifact["image"]


def find_config(project: Path, beyond_project: bool) -> Path | None:
    """The skaffold.yaml that deploys this project: in the project, or (when files
    outside it may be read, ``allow_outside_project``) in the nearest directory above
    it, up to the top of its git checkout (where skaffold.yaml usually is)."""
    directories = [project]
    if beyond_project:
        for parent in project.parents:
            directories.append(parent)
            if (parent / ".git").exists():
                break
        else:
            directories = [project]  # not in a git checkout: the project only
    for directory in directories:
        for name in NAMES:
            if (directory / name).is_file():
                return directory / name
    return None
