"""Python run in the session container for another family: SR510 runs the app's logging
setup there, so that a setup that renders JSON only under a production variable (the
image's ENV, the smoke env) is judged as the image runs it.

The program runs with the interpreter parity found (the one the app runs), in the
image's WORKDIR, as the image's USER, with the container's own environment (an exec
inherits it); its output never reaches the container's log.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...checks import CheckResult, ImageRun, ImageRunner, NoContainerLogs

if TYPE_CHECKING:
    from ..build.image import DockerRun
    from ..run.smokerun import SmokeRun
    from .parityrun import ParityRun


# Set in every container or base image; never what makes a setup log differently.
_GENERIC = frozenset({"PATH", "HOSTNAME", "HOME", "LANG", "LC_ALL", "TERM", "GPG_KEY",
                      "SSL_CERT_FILE", "PYTHON_VERSION", "PYTHON_SHA256", "PYTHON_PIP_VERSION",
                      "PYTHON_SETUPTOOLS_VERSION", "PYTHON_GET_PIP_URL",
                      "PYTHON_GET_PIP_SHA256"})


def runner(run: DockerRun, parity: ParityRun, smoke: SmokeRun) -> ImageRunner:
    """What the container area sets as ``RunContext.run_in_image``."""

    def run_python(args: Sequence[str], timeout: float) -> ImageRun:
        from .. import engine

        if run.lost:
            raise NoContainerLogs(run.lost)
        try:
            running, gate = smoke.session("SR510")
            if running is None:
                assert gate is not None
                raise NoContainerLogs(gate.summary)
            facts = parity.facts()
            python = run.settings.config.parity.python or (
                "python3" if isinstance(facts, CheckResult) else facts.executable or "python3")
            code, output = running.container.exec_timed([python, *args], timeout)
        except engine.EngineError as exc:
            raise NoContainerLogs(str(exc)) from None
        env = running.container.environment()
        differs = tuple(sorted(name for name, value in env.items()
                               if name not in _GENERIC and os.environ.get(name) != value))
        return ImageRun(code, output, f"in the session container ({python})", differs)

    return run_python
