"""The build context for the classic builder, as a tar made from the files the context
walk found (the project's own linear-time .dockerignore matcher, once), instead of
docker-py's own walk, whose pattern matching can take minutes on a hostile
.dockerignore.

Pure: no docker, no pytest. The engine adapter sends the tar as a custom context.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import time
from pathlib import Path
from typing import IO

from ...dockerfile.ignore import ContextTooSlowError


def context_tar(root: Path, files: tuple[str, ...], extra: dict[str, bytes] | None = None,
                deadline: float | None = None) -> IO[bytes]:
    """A tar (rewound, spooled to disk past 64 MB) of ``files`` under ``root`` with their
    parent directories, and ``extra`` files (name -> content) at the top. Files that
    vanished or cannot be read are left out (the builder then says what is missing),
    and fifos and sockets are never opened."""
    out = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - returned open
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for n, rel in enumerate(files):
            if deadline is not None and n % 64 == 0 and time.monotonic() > deadline:
                raise ContextTooSlowError(f"{n} of {len(files)} files of {root} packed")
            parts = rel.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent not in dirs:
                    dirs.add(parent)
                    _add(tar, root / parent, parent)
            _add(tar, root / rel, rel)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def _add(tar: tarfile.TarFile, path: Path, name: str) -> None:
    try:
        info = tar.gettarinfo(str(path), arcname=name)
    except OSError:
        return
    if not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
        return  # a fifo, socket or device: docker-py sends none either
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isfile():
        try:
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
        except OSError:
            return
    else:
        tar.addfile(info)


def dockerfile_name(dockerfile: Path, context: Path) -> str | None:
    """The Dockerfile's path inside the context (with /), or None when it lies outside."""
    try:
        return dockerfile.resolve().relative_to(context.resolve()).as_posix()
    except ValueError:
        return None



