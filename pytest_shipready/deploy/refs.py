"""Image references as deployments name them, and whether each is immutable.

A reference pinned by digest (``@sha256:...``) always means the same image; one with an
explicit tag other than ``latest`` means what the registry says that tag is today (an
immutable tag policy makes it stable); ``:latest`` and an untagged reference move
whenever someone pushes, so two pods of one Deployment can run different code. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Terraform (kubernetes_deployment, aws_ecs_task_definition JSON, docker_container...):
# `image = "..."` and `"image": "..."` strings.
_TERRAFORM = re.compile(r"""(?m)^[^#\n]*?["']?\bimage["']?\s*[=:]\s*"([^"\n]+)\"""")


@dataclass(frozen=True)
class ImageRef:
    text: str
    repository: str  # registry/path/name, without tag or digest
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """The last path component of the repository ("myapp" of ghcr.io/org/myapp)."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def placeholder(self) -> bool:
        """A reference filled in at deploy time (``${IMAGE}``, ``{{ .Values.image }}``,
        ``$(IMAGE)``): nothing to judge here."""
        return any(mark in self.text for mark in ("$", "{{", "<", "%"))

    def mutability(self) -> str:
        """Why the reference may change under the deployment ("" when it is pinned)."""
        if self.placeholder or self.digest:
            return ""
        if self.tag is None:
            return "has no tag, so it means :latest"
        if self.tag == "latest":
            return "is :latest"
        return ""


def parse(text: str) -> ImageRef:
    """``ghcr.io/org/app:1.2@sha256:...`` -> its repository, tag and digest."""
    text = text.strip()
    rest, _, digest = text.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = None
    if colon > slash:  # a colon after the last slash is a tag, not a registry port
        rest, tag = rest[:colon], rest[colon + 1:]
    return ImageRef(text, rest, tag or None, digest or None)


def same_repository(a: str, b: str) -> bool:
    """Whether two repositories name the same image, ignoring Docker Hub's implicit
    ``docker.io/library/`` prefixes."""
    def norm(repo: str) -> str:
        repo = repo.lower()
        for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/",
                       "index.docker.io/", "library/"):
            if repo.startswith(prefix):
                repo = repo[len(prefix):]
        return repo
    return norm(a) == norm(b)


def terraform_images(text: str) -> list[tuple[str, int]]:
    """``image = "..."`` strings of a Terraform file, with their lines."""
    found: list[tuple[str, int]] = []
    for m in _TERRAFORM.finditer(text):
        found.append((m.group(1), text.count("\n", 0, m.start(1)) + 1))
    return found
