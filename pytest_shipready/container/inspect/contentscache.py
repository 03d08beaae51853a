"""SR220/SR221's cache: what the read of an image's layers found, kept for those layers.

The layers' key (their digests and the commands that made them, ``ImageInfo.layers_key``)
names their content, so a kept scan needs no maximum age; unlike the image ID, it does
not change with the labels each build gets. The key is the layers' key, the scan's rules
(:data:`~.contents.SCAN_VERSION`) and this plugin's version; the verdicts are judged
again on every run from what was kept (the budget, the Dockerfile's stages and the
judging rules may have changed). The store is pytest's cache (``--cache-clear`` empties
it), given as a :class:`~pytest_shipready.checks.ResultCache`, as for SR104. One entry
per Dockerfile and target: a new image replaces the old entry. Pure: no pytest, no docker.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ...checks import CheckResult, ResultCache, Status
from ...secrets import mask_build_line
from . import contents

KEY_PREFIX = "shipready/contents/"


def cache_key(layers: str, plugin_version: str | None = None) -> str:
    """What a kept scan must match: the layers, the scan's rules, the plugin's version."""
    if plugin_version is None:
        from ... import __version__ as plugin_version
    return f"{layers} scan-{contents.SCAN_VERSION} pytest-shipready-{plugin_version}"


def slot(display: str, target: str) -> str:
    """The cache entry of one Dockerfile (and build target)."""
    return KEY_PREFIX + hashlib.sha256(f"{display}\0{target}".encode()).hexdigest()[:16]


def short_id(image_id: str) -> str:
    """``sha256:1a2b...`` -> ``1a2b3c4d5e6f``, as `docker images` shows it."""
    return image_id.removeprefix("sha256:")[:12]


def lookup(cache: ResultCache | None, where: str, key: str, layers: int | None = None
           ) -> contents.ImageContents | None:
    """The scan kept for ``key`` in slot ``where``; None when there is none, it is for
    another image, rules or version, or it is not exactly what :func:`store` wrote (a
    hand-made or damaged entry: wrong types, a digest that does not match, not
    ``layers`` layers, the image's count)."""
    if cache is None:
        return None
    entry = cache.get(where, None)
    if not isinstance(entry, dict) or entry.get("key") != key \
            or entry.get("digest") != _digest(key, entry.get("contents")):
        return None
    try:
        kept = contents.from_json(entry.get("contents"))
    except ValueError:
        return None
    if layers is not None and len(kept.layers) != layers:
        return None
    return kept


def _digest(key: str, data: object) -> str:
    """What an entry's digest must be: of its key and contents, so that an entry made or
    edited by hand is not taken for a scan."""
    try:
        text = json.dumps([key, data], sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return ""
    return hashlib.sha256(text.encode()).hexdigest()


def store(cache: ResultCache | None, where: str, key: str,
          scanned: contents.ImageContents) -> None:
    """Keep a scan; the layers' commands with their secrets masked first (the build-arg
    values Docker records, ``ENV API_KEY=...``): nothing secret is written to the cache."""
    if cache is None:
        return
    data = contents.to_json(scanned)
    data["created_by"] = [mask_build_line(c) for c in scanned.created_by]
    entry: dict[str, Any] = {"key": key, "contents": data, "digest": _digest(key, data)}
    cache.set(where, entry)


def mark_cached(result: CheckResult, image_id: str) -> CheckResult:
    """A verdict judged from a kept scan: its PASS/FAIL line says so, and how to redo it."""
    if result.status == Status.SKIPPED:
        return result
    summary = (f"{result.summary}; layers read from the cache for image "
               f"{short_id(image_id)} (--cache-clear reads them again)")
    return CheckResult(result.check_id, result.status, summary, result.findings,
                       {**result.figures, "cached_image": short_id(image_id)})
