"""SR220/SR221 for the built image: stream its layers once (``docker save``) and judge
them with :mod:`pytest_shipready.container.contents`."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from ..checks import CheckResult, Finding
from ..dockerfile.parser import Dockerfile
from . import contents

if TYPE_CHECKING:
    from .build import DockerRun


class ContentsRun:
    def __init__(self, run: DockerRun) -> None:
        self.run = run

    @functools.cache  # noqa: B019 - one per run, lives as long as the run
    def _read(self) -> contents.ImageContents | CheckResult:
        from . import engine

        built, skip = self.run.need_image("SR220")
        if skip is not None:
            return skip
        client = self.run.client()
        assert built.ref is not None and client is not None
        try:
            return contents.scan(engine.save_image(client, built.ref))
        except engine.EngineError as exc:
            return CheckResult.failed("SR220", "cannot read the image's layers",
                                      [Finding(str(exc))])

    def _gate(self, check_id: str) -> contents.ImageContents | CheckResult:
        read = self._read()
        if isinstance(read, CheckResult):
            return CheckResult(check_id, read.status, read.summary, read.findings)
        return read

    def secrets(self) -> CheckResult:
        read = self._gate("SR220")
        return read if isinstance(read, CheckResult) else contents.check_secrets(read)

    def waste(self) -> CheckResult:
        read = self._gate("SR221")
        if isinstance(read, CheckResult):
            return read
        from . import engine

        df = _parsed(self.run)
        stage = df.target(self.run.cfg.target or None) if df is not None else None
        multi = df is not None and stage is not None and len(df.needed(stage)) > 1
        base = df.root(stage).base if df is not None and stage is not None else ""
        client = self.run.client()
        own_from = (engine.layer_count(client, base) if client is not None and base else
                    None) or 0
        return contents.check_waste(read, self.run.cfg.wasted_budget_mb, multi, own_from)


def _parsed(run: DockerRun) -> Dockerfile | None:
    from ..dockerfile import parser

    try:
        return parser.parse(run.dockerfile.read_text(encoding="utf-8"), run.display)
    except (OSError, UnicodeDecodeError):
        return None
