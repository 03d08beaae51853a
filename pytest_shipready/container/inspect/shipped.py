"""What the image ships, as plain data: the report's ``image`` section, from which
:mod:`pytest_shipready.sbom` writes the SBOM and compares runs.

It reads only what the run already has (the built image's inspect data, the parity
probe's distributions, the parsed lock); the one engine call, for the base image's id,
is made once. Nothing here starts a build or a container.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from ...dockerfile import hygiene
from ...locks import pipcompile
from .parity import ImageFacts

if TYPE_CHECKING:
    from ..build.image import DockerRun
    from .parityrun import ParityRun


def lock_hashes(parity: ParityRun) -> tuple[str | None, dict[tuple[str, str], list[str]]]:
    """The lock(s) the image installs, and their hashes by (canonical name, version)."""
    found = parity.lock()
    if isinstance(found, str):
        return None, {}
    hashes: dict[tuple[str, str], list[str]] = {}
    for item in found:
        lock = item.lock
        if isinstance(lock, pipcompile.PipLock):
            for entry in lock.data.entries:
                if entry.name and entry.pinned_version and entry.hashes:
                    key = (str(canonicalize_name(entry.name)), entry.pinned_version)
                    hashes.setdefault(key, []).extend(entry.hashes)
        else:
            for package in lock.packages:
                if package.version:
                    key = (package.name, package.version)
                    hashes.setdefault(key, []).extend(h for f in package.files
                                                      for h in f.hashes)
    display = " + ".join(item.lock.display for item in found)
    return display, {k: sorted(set(v)) for k, v in hashes.items() if v}


def base_image(run: DockerRun) -> str | None:
    """The external image the shipped stage starts from (after ARG substitution)."""
    if not run.dockerfile.is_file():
        return None
    df = run.parsed()
    if hygiene.problems(df, run.cfg.target):
        return None
    stage = df.target(run.cfg.target or None)
    if stage is None:
        return None
    root = df.root(stage)
    return root.base if root.external else (None if root.parent is not None else "scratch")


class Inventory:
    """The image section, once the image is built (packages once the probe ran)."""

    def __init__(self, run: DockerRun, parity: ParityRun) -> None:
        self.run = run
        self.parity = parity
        self._base: dict[str, Any] | None = None
        self._base_known = False

    def _base_section(self) -> dict[str, Any] | None:
        if not self._base_known:
            self._base_known = True
            name = base_image(self.run)
            if name is None:
                return None
            section: dict[str, Any] = {"name": name, "id": None, "repo_digests": []}
            client = self.run.client() if name != "scratch" else None
            if client is not None:
                from .. import engine

                # Optional: without it the SBOM names the base image without its id.
                with contextlib.suppress(Exception):
                    info = engine.inspect_image(client, name)
                    section.update(id=info.id, repo_digests=list(info.repo_digests))
            self._base = section
        return self._base

    def __call__(self) -> dict[str, Any] | None:
        built = self.run.built
        if built is None or built.ref is None or built.info is None:
            return None
        info = built.info
        facts = self.parity.probed
        packages: list[dict[str, Any]] | None = None
        lock: str | None = None
        if isinstance(facts, ImageFacts):
            lock, hashes = lock_hashes(self.parity)
            packages = [
                {"name": shown, "version": version,
                 "hashes": hashes.get((name, version), [])}
                for name, (shown, version) in sorted(facts.dists.items())]
        return {
            "ref": built.tag or built.ref,
            "id": info.id,
            "repo_digests": list(info.repo_digests),
            "size": info.size,
            "base": self._base_section(),
            "python": facts.python if isinstance(facts, ImageFacts) else None,
            "interpreter": facts.executable if isinstance(facts, ImageFacts) else None,
            "lock": lock,
            "packages": packages,
        }

