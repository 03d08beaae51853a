"""The CI and hook recipes in docs/recipes.md and .pre-commit-hooks.yaml really work."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLE, REPO

RECIPES = (REPO / "docs" / "recipes.md").read_text()
HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", RECIPES, flags=re.S)


def pytest_commands(node: object) -> list[str]:
    """Every string in a YAML document that runs pytest (CI steps, scripts)."""
    if isinstance(node, dict):
        return [c for v in node.values() for c in pytest_commands(v)]
    if isinstance(node, list):
        return [c for v in node for c in pytest_commands(v)]
    if isinstance(node, str) and node.startswith("pytest "):
        return [node]
    return []


def test_every_recipe_is_valid_yaml_and_runs_pytest_shipready() -> None:
    blocks = yaml_blocks()
    assert len(blocks) == 3
    docs = [yaml.safe_load(b) for b in blocks]
    assert all(isinstance(d, dict) for d in docs)
    commands = [c for d in docs[:2] for c in pytest_commands(d)]
    assert len(commands) == 2
    assert all({"--shipready", "--shipready-only"} & set(shlex.split(c)) for c in commands)
    hook_ids = {h["id"] for h in HOOKS}
    used = docs[2]["repos"][0]["hooks"]
    assert {h["id"] for h in used} <= hook_ids


def test_pre_commit_hooks_are_pre_push_and_whole_project() -> None:
    for hook in HOOKS:
        assert hook["stages"] == ["pre-push"]
        assert hook["pass_filenames"] is False
        assert hook["always_run"] is True
        assert hook["entry"].split()[:2] in (["pytest", "--shipready"],
                                             ["pytest", "--shipready-only"])


def all_commands() -> list[str]:
    docs = [yaml.safe_load(b) for b in yaml_blocks()]
    return sorted({c for d in docs for c in pytest_commands(d)} | {h["entry"] for h in HOOKS})


@pytest.mark.parametrize("command", all_commands())
def test_recipe_command_runs_on_the_example(command: str, pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    args = shlex.split(command)[1:]
    # --shipready-offline keeps this test off the network; the options are what we check.
    result = pytester.runpytest(*args, "--shipready-offline")
    assert result.ret == 0, result.stdout.str()
    for arg in args:
        if arg.startswith("--shipready-report=") or arg.startswith("--junitxml="):
            assert Path(pytester.path, arg.split("=", 1)[1]).is_file()


# --- the install steps work with a hashed lock ----------------------------------------------


def pip_commands() -> list[list[str]]:
    docs = [yaml.safe_load(b) for b in yaml_blocks()]
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str) and "pip install" in node:
            found.append(node)

    for doc in docs:
        walk(doc)
    return [shlex.split(c) for c in found]


def test_no_recipe_mixes_a_hashed_lock_with_unhashed_names() -> None:
    """pip's hash-checking mode (a lock with --hash) refuses any requirement without one."""
    commands = pip_commands()
    assert len(commands) >= 3
    for argv in commands:
        names = [a for a in argv[argv.index("install") + 1:] if not a.startswith("-")]
        if "-r" in argv:
            lock = argv[argv.index("-r") + 1]
            assert names == [lock], f"{shlex.join(argv)}: install the plugin separately"


@pytest.mark.network
def test_recipe_installs_resolve_with_the_examples_hashed_lock(tmp_path: Path) -> None:
    """Each install step as written (the plugin from this checkout instead of PyPI),
    resolved by pip against the example's hashed lock, without installing anything."""
    import os
    import subprocess
    import sys

    shutil.copytree(EXAMPLE, tmp_path / "svc")
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    for argv in pip_commands():
        args = [str(REPO) if a == "pytest-shipready" else a
                for a in argv[argv.index("install") + 1:]]
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "-q",
                               "--ignore-installed", *args], cwd=tmp_path / "svc", env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (argv, proc.stderr[-2000:])
