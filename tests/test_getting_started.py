"""docs/getting-started.md: its commands, exactly as written, reach a green run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLE, REPO

PAGE = (REPO / "docs" / "getting-started.md").read_text()


def sh_blocks() -> list[list[str]]:
    return [[ln for ln in b.splitlines() if ln.strip()]
            for b in re.findall(r"```sh\n(.*?)```", PAGE, flags=re.S)]


@pytest.mark.network
def test_getting_started_commands_reach_a_green_run(tmp_path: Path) -> None:
    install, example = sh_blocks()
    # The package is installed (editable) in this environment already: the step must
    # name the checkout, but running it here would replace the editable install.
    assert install == ["python -m pip install ."]
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "service",
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTEST_"))}
    # A user's machine without this one's local pip indexes; our interpreter first.
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    before = (tmp_path / "examples/service/requirements.txt").read_text()
    proc = subprocess.run(["bash", "-euc", "\n".join(example)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "READY:" in proc.stdout
    assert "NOT READY" not in proc.stdout
    # Re-locking an up-to-date lock changes nothing but, at most, the header.
    after = (tmp_path / "examples/service/requirements.txt").read_text()
    assert after.splitlines()[6:] == before.splitlines()[6:]
