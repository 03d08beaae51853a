"""SR220 contents-secrets and SR221 contents-waste: what the image's layers hold.

Reads the image as ``docker save`` streams it (a tar of layer tars), one member at a
time, so memory stays bounded whatever the image's size. Every layer counts, also the
files a later layer deletes: they stay in the image and in every copy of it.

Pure: takes the byte chunks of the saved image, returns findings; the engine adapter
streams them. What a scan found round-trips through JSON (:func:`to_json`), so that it is
kept between runs for an unchanged image (:mod:`.contentscache`) and judged again.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from ...checks import CheckResult, Finding
from ...secrets import holds_credentials, secret_file_reason

# Not the project's: dependencies' test data and the system's own files.
_FOREIGN = re.compile(r"(^|/)(site-packages|dist-packages|node_modules)/|^usr/(share|lib)/|"
                      r"^etc/ssl/|^usr/local/lib/python[\d.]+/(?!site-packages)")
_CACHES = (
    (re.compile(r"(^|/)\.cache/pip/"), "pip's cache"),
    (re.compile(r"(^|/)\.cache/uv/"), "uv's cache"),
    (re.compile(r"(^|/)\.cache/pypoetry/(cache|artifacts)/"), "Poetry's cache"),
    # Seed wheels and the zipapp cache that virtualenv (Poetry's, pipx's) keeps.
    (re.compile(r"(^|/)(\.cache|\.local/share)/virtualenv/"), "virtualenv's app data"),
    # What `apt-get update` / `apt-get install` leave: only the image's own layers count.
    (re.compile(r"^var/lib/apt/lists/"), "apt's package lists"),
    (re.compile(r"^var/cache/apt/"), "apt's cache"),
)
_APT = frozenset({"apt's package lists", "apt's cache"})
_APT_FIX = ("Clean up in the RUN that installs: `apt-get update && apt-get install -y "
            "--no-install-recommends ... && rm -rf /var/lib/apt/lists/*` (with `apt-get "
            "clean` for /var/cache/apt); or keep them out of the layers with `RUN "
            "--mount=type=cache,target=/var/cache/apt --mount=type=cache,target="
            "/var/lib/apt`.")
_CACHE_FIX = {
    "virtualenv's app data": "Remove it in the RUN that creates the virtualenv (`rm -rf "
                             "~/.cache/virtualenv ~/.local/share/virtualenv`), or create the "
                             "virtualenv in a build stage.",
    "apt's package lists": _APT_FIX,
    "apt's cache": _APT_FIX,
}
_COMPILERS = re.compile(r"^usr/(bin/(gcc|g\+\+|cc|c\+\+|cpp)(-[\d.]+)?$|lib/gcc/|"
                        r"include/python3[\d.]*/)")
_READ_LIMIT = 64 * 1024  # bytes of a small suspect file read to judge its content
# What a scan finds, as kept between runs: bump when the scan's rules change (the patterns
# above, what _scan_layer records, secrets.secret_file_reason / holds_credentials), so
# that a kept scan of an unchanged image is not judged by the old rules.
SCAN_VERSION = 3


@dataclass
class LayerFacts:
    """What one layer holds that matters, and where it came from."""

    secrets: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    caches: dict[str, int] = field(default_factory=dict)  # what -> bytes
    compilers: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # path -> size (for deletions)
    deleted: list[str] = field(default_factory=list)  # paths whited out here
    git_dirs: set[str] = field(default_factory=set)
    pycache: int = 0  # bytes under __pycache__/ (outside installed packages)


@dataclass
class ImageContents:
    layers: list[LayerFacts]  # oldest first
    created_by: list[str]  # the Dockerfile instruction of each layer, oldest first


def to_json(contents: ImageContents) -> dict[str, object]:
    """``contents`` as plain JSON, for the cache. Of each layer's files, only those a
    later layer deletes are kept: the judgement reads no others, and a layer may hold
    thousands."""
    deleted_later: list[set[str]] = []
    seen: set[str] = set()
    for layer in reversed(contents.layers):
        deleted_later.append(set(seen))
        seen.update(layer.deleted)
    deleted_later.reverse()
    layers = []
    for layer, later in zip(contents.layers, deleted_later, strict=True):
        prefixes = tuple(p.rstrip("/") + "/" for p in later)
        files = {p: size for p, size in layer.files.items()
                 if p in later or p.startswith(prefixes)}
        layers.append({"secrets": [list(s) for s in layer.secrets],
                       "caches": dict(layer.caches), "compilers": list(layer.compilers),
                       "files": files, "deleted": list(layer.deleted),
                       "git_dirs": sorted(layer.git_dirs), "pycache": layer.pycache})
    return {"layers": layers, "created_by": list(contents.created_by)}


def from_json(data: object) -> ImageContents:
    """What :func:`to_json` wrote; ValueError when it is not exactly that (a hand-made or
    damaged entry: wrong types, missing keys, no layers, a command per layer missing)."""
    def strings(value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("not a list of strings")
        return value

    def sizes(value: object) -> dict[str, int]:
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and _count(v) for k, v in value.items()):
            raise ValueError("not a table of sizes")
        return dict(value)

    if not isinstance(data, dict):
        raise ValueError(f"not a kept scan of an image: {type(data).__name__}")
    try:
        raw_layers, created = data["layers"], strings(data["created_by"])
        if not isinstance(raw_layers, list) or not raw_layers \
                or len(raw_layers) != len(created):
            raise ValueError("no layers, or not one command per layer")
        layers = []
        for raw in raw_layers:
            secrets = raw["secrets"]
            if not isinstance(secrets, list) or not all(
                    isinstance(s, list) and len(s) == 2 for s in secrets):
                raise ValueError("secrets: not (path, why) pairs")
            if not _count(raw["pycache"]):
                raise ValueError("pycache: not a size")
            layers.append(LayerFacts(
                secrets=[(path, why) for path, why in (strings(s) for s in secrets)],
                caches=sizes(raw["caches"]), compilers=strings(raw["compilers"]),
                files=sizes(raw["files"]), deleted=strings(raw["deleted"]),
                git_dirs=set(strings(raw["git_dirs"])), pycache=raw["pycache"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a kept scan of an image: {exc!r}") from None
    return ImageContents(layers, created)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def _scan_layer(fileobj: io.BufferedIOBase | io.RawIOBase) -> LayerFacts:
    facts = LayerFacts()
    with tarfile.open(fileobj=fileobj, mode="r|") as layer:
        for member in layer:
            path = member.name.removeprefix("./")
            name = posixpath.basename(path)
            if name.startswith(".wh."):
                if name != ".wh..wh..opq":
                    facts.deleted.append(posixpath.join(posixpath.dirname(path), name[4:]))
                continue
            parts = path.split("/")
            if ".git" in parts[:-1] or (name == ".git" and member.isdir()):
                root = "/".join(parts[:parts.index(".git") + 1]) if ".git" in parts else path
                if not _FOREIGN.search(path):
                    facts.git_dirs.add(root)
            if not member.isfile():
                continue
            facts.files[path] = member.size
            if "/__pycache__/" in f"/{path}" and not _FOREIGN.search(path):
                facts.pycache += member.size
            for pattern, what in _CACHES:
                if pattern.search(path):
                    facts.caches[what] = facts.caches.get(what, 0) + member.size
            if _COMPILERS.match(path):
                facts.compilers.append(path)
            if _FOREIGN.search(path):
                continue
            why = secret_file_reason(name)
            if why is None:
                continue
            text = ""
            extracted = layer.extractfile(member)
            if extracted is not None:
                text = extracted.read(_READ_LIMIT).decode("utf-8", "replace")
            if name.endswith((".pem", ".key")) and "PRIVATE KEY" not in text:
                continue  # a certificate, not a key
            if holds_credentials(name, text):
                facts.secrets.append((path, why))
    return facts


def scan(chunks: Iterable[bytes]) -> ImageContents:
    """Stream a saved image (``docker save``): every layer's facts, oldest first."""
    by_path: dict[str, LayerFacts] = {}
    manifest: list[dict[str, object]] = []
    config: dict[str, object] = {}
    configs: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks)), mode="r|") as saved:
        for member in saved:
            if not member.isfile():
                continue
            extracted = saved.extractfile(member)
            if extracted is None:
                continue
            if member.name.endswith("layer.tar") or member.name.startswith("blobs/"):
                try:
                    by_path[member.name] = _scan_layer(extracted)  # type: ignore[arg-type]
                except tarfile.TarError:
                    continue  # a config blob of the OCI layout, not a layer
            elif member.name == "manifest.json":
                manifest = json.loads(extracted.read())
            elif member.name.endswith(".json") and member.size < 4_000_000:
                configs[member.name] = extracted.read()
    if not manifest:
        return ImageContents(list(by_path.values()), [])
    entry = manifest[0]
    raw_layers = entry.get("Layers")
    layer_paths = [str(p) for p in (raw_layers if isinstance(raw_layers, list) else [])]
    raw = configs.get(str(entry.get("Config", "")))
    if raw:
        config = json.loads(raw)
    raw_history = config.get("history")
    history = [h for h in (raw_history if isinstance(raw_history, list) else [])
               if isinstance(h, dict) and not h.get("empty_layer")]
    created = [str(h.get("created_by", "")) for h in history]
    if len(created) != len(layer_paths):
        created = [""] * len(layer_paths)
    return ImageContents([by_path.get(p, LayerFacts()) for p in layer_paths], created)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB" if n >= 1000 \
        else f"{n} bytes"


def _instruction(created_by: str) -> str:
    """A history entry as the Dockerfile wrote it. The legacy builder records
    ``/bin/sh -c #(nop) COPY ...`` and ``/bin/sh -c apt-get ...``, BuildKit
    ``RUN /bin/sh -c apt-get ... # buildkit``; either may put the build arguments first
    (``|2 NAME=value ...``)."""
    text = re.sub(r"\s*# buildkit$", "", created_by.strip())
    text = re.sub(r"^RUN (?=\|\d+ |/bin/sh -c )", "", text)
    text = re.sub(r"^\|\d+ (\S+=\S* )+", "", text)  # build args: never shown
    text = re.sub(r"^/bin/sh -c #\(nop\)\s*", "", text)
    text = re.sub(r"^/bin/sh -c ", "RUN ", text)
    return text.strip()[:120] or "(a layer of the base image)"


def _deleted(path: str, whiteouts: Collection[str]) -> bool:
    """A later layer's whiteout (a path without a trailing "/") removes ``path``: the path
    itself or a directory above it."""
    if not whiteouts:
        return False
    parts = path.split("/")
    return any("/".join(parts[:n]) in whiteouts for n in range(1, len(parts) + 1))


def _generated_fix(made_by: str, path: str) -> str:
    """The fix for a secret a RUN wrote during the build (not copied from the context,
    so .dockerignore cannot help): a framework command that makes a key when none is
    configured (Django's collectstatic importing settings that generate one)."""
    return (f"The build wrote it: `{made_by}` created /{path} (it is not in the build "
            "context, so .dockerignore does not help). Give that command what it needs "
            "so it makes no key (the setting or variable that names the real key, a "
            "placeholder during the build), or delete the file in the same RUN "
            f"(`... && rm -f /{path}`: a later RUN leaves it in this layer); provide the "
            "real key at run time from the orchestrator's secrets, and `RUN "
            "--mount=type=secret` if the build itself needs one.")


def check_secrets(contents: ImageContents, builders: str = "") -> CheckResult:
    """SR220. ``builders``: the stages that do not ship but take the whole build context
    ("stage 'build' (`COPY . .` (line 5))"): leaving a path out of the context would take
    it from them too, so the fix says to narrow the image's own COPY instead."""
    narrow = (f" If {builders} needs it from the build context (setuptools_scm reads "
              ".git, tests read their fixtures), copy only what the image needs into the "
              "stage that ships (`COPY src/ src/`, or `COPY --from=` the builder's output) "
              "instead of the whole context: .dockerignore would take it from that stage "
              "too.") if builders else ""
    findings: list[Finding] = []
    layers = len(contents.layers)
    for i, layer in enumerate(contents.layers):
        made_by = _instruction(contents.created_by[i]) if contents.created_by else ""
        later_deleted = {p.rstrip("/") for later in contents.layers[i + 1:]
                         for p in later.deleted}
        for path, why in layer.secrets:
            gone = (" (a later layer deletes it, but it stays in this layer of the image)"
                    if _deleted(path, later_deleted) else "")
            findings.append(Finding(
                f"/{path} looks like a secret ({why}), in layer {i + 1} of {layers} "
                f"(`{made_by}`){gone}", None, None,
                _generated_fix(made_by, path) if made_by.startswith("RUN") else
                "Keep it out of the build context (.dockerignore) or out of the image: use "
                "`RUN --mount=type=secret` for build-time secrets and the orchestrator's "
                "secrets at run time." + narrow))
        for root in sorted(layer.git_dirs):
            findings.append(Finding(
                f"/{root} (a git directory: the whole history) is in layer {i + 1} of "
                f"{layers} (`{made_by}`)", None, None,
                "Leave .git out of the build context (.dockerignore)." + narrow))
    return CheckResult.from_findings(
        "SR220", findings, f"no private keys, credential files, .env or .git in the "
        f"{layers} layers of the image",
        f"{len(findings)} secret-looking {'path' if len(findings) == 1 else 'paths'} in the "
        "image's layers", verified=layers, nothing="the image has no layers to read",
        layers=layers)


def check_waste(contents: ImageContents, budget_mb: float, multi_stage: bool,
                own_from: int) -> CheckResult:
    """SR221: bytes the image carries for nothing (package caches, files a later layer
    deletes) within ``budget_mb``; compilers and headers in the final stage of a
    multi-stage build. ``own_from``: the first layer this Dockerfile made (the base
    image's layers are not judged for compilers)."""
    findings: list[Finding] = []
    wasted = 0
    layers = contents.layers
    for i, layer in enumerate(layers):
        made_by = _instruction(contents.created_by[i]) if contents.created_by else ""
        later_deleted = {p.rstrip("/") for later in layers[i + 1:] for p in later.deleted}
        gone = {p for p in layer.files if _deleted(p, later_deleted)}
        caches = dict(layer.caches)
        for path in gone:  # a cache a later layer deletes counts once, as deleted
            for pattern, what in _CACHES:
                if pattern.search(path) and what in caches:
                    caches[what] -= layer.files[path]
        for what, size in sorted(caches.items()):
            if size <= 0 or (what in _APT and i < own_from):  # the base image's: not ours
                continue
            wasted += size
            findings.append(Finding(
                f"{what}: {_size(size)} in layer {i + 1} (`{made_by}`)", None, None,
                _CACHE_FIX.get(what, "Install with --no-cache-dir (pip), UV_NO_CACHE=1 or a "
                               "`RUN --mount=type=cache` (uv, Poetry), so the cache never "
                               "lands in a layer.")))
        deleted_size = sum(layer.files[p] for p in gone)  # each file once
        wasted += deleted_size
        if deleted_size:
            findings.append(Finding(
                f"{_size(deleted_size)} of layer {i + 1} (`{made_by}`) is deleted by "
                "a later layer, but still shipped", None, None,
                "Delete in the same RUN that creates it, or build it in an earlier stage."))
        if i >= own_from and layer.pycache and re.match(r"(COPY|ADD)\b", made_by):
            # Bytecode copied from the build context: the developer's interpreter wrote
            # it, the image's may not match it, and it is rebuilt when needed.
            wasted += layer.pycache
            findings.append(Finding(
                f"__pycache__ copied from the build context: {_size(layer.pycache)} in "
                f"layer {i + 1} (`{made_by}`)", None, None,
                "Leave __pycache__ out of the build context: a line `**/__pycache__` in "
                ".dockerignore."))
        # Compilers a later layer removes (`apt-get remove gcc`) are not in the final
        # stage's files; their bytes are counted above, as deleted.
        compilers = [p for p in layer.compilers if p not in gone]
        if multi_stage and i >= own_from and compilers:
            shown = ", ".join("/" + p for p in compilers[:4])
            findings.append(Finding(
                f"compilers or build headers in the final stage, layer {i + 1} "
                f"(`{made_by}`): {shown}", None, None,
                "Compile in the build stage and copy only the result (a wheel, a venv) into "
                "the final stage."))
    over = wasted / 1e6 > budget_mb
    failing = [f for f in findings if over or f.message.startswith("compilers")]
    return CheckResult.from_findings(
        "SR221", failing,
        f"{wasted / 1e6:.1f} MB wasted (caches, files deleted later) of a {budget_mb:g} MB "
        f"budget in {len(layers)} layers"
        + ("; no compilers in the final stage" if multi_stage else ""),
        f"{wasted / 1e6:.1f} MB wasted, over the {budget_mb:g} MB budget"
        if over else "compilers left in the final stage of a multi-stage build",
        verified=len(layers), nothing="the image has no layers to read",
        wasted_mb=round(wasted / 1e6, 1))
