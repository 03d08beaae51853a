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


def run_steps(doc: dict[str, object]) -> list[str]:
    """The ``run:`` commands of a GitHub Actions workflow or a GitLab job, in order."""
    if "jobs" in doc:
        jobs = doc["jobs"]
        assert isinstance(jobs, dict)
        return [step["run"] for job in jobs.values() for step in job["steps"] if "run" in step]
    return [c for job in doc.values() if isinstance(job, dict)
            for c in job.get("script", [])]


def test_every_recipe_is_valid_yaml_and_runs_pytest_shipready() -> None:
    blocks = yaml_blocks()
    assert len(blocks) == 5
    docs = [yaml.safe_load(b) for b in blocks]
    assert all(isinstance(d, dict) for d in docs)
    ci = [d for d in docs if "repos" not in d]
    assert len(ci) == 4  # GitHub Actions (pip-compile, Poetry, uv) and GitLab CI
    for doc in ci:  # each runs pytest with the plugin, directly or through its tool
        runs = [shlex.split(c) for c in run_steps(doc) if re.search(r"(^| )pytest ", c)]
        assert len(runs) == 1, doc
        assert {"--shipready", "--shipready-only"} & set(runs[0]), runs
    commands = [c for d in ci for c in pytest_commands(d)]
    assert len(commands) == 2
    hook_ids = {h["id"] for h in HOOKS}
    used = next(d for d in docs if "repos" in d)["repos"][0]["hooks"]
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


# --- the Poetry and uv recipes, step by step on a sample project -----------------------------

FIXTURES = REPO / "tests" / "fixtures"
TOOL_PROJECTS = {"poetry": "poetry-service", "uv": "uv-service"}


def tool_recipe(tool: str) -> dict[str, object]:
    """The GitHub Actions recipe for a project with ``<tool>.lock``."""
    found = [yaml.safe_load(b) for b in yaml_blocks()
             if f"(a project with pyproject.toml and {tool}.lock)" in b]
    assert len(found) == 1, tool
    doc = found[0]
    assert isinstance(doc, dict)
    return doc


def _sample(tmp_path: Path, tool: str) -> Path:
    """The example service as a Poetry or uv project (as tests/test_docker_areas.py)."""
    project = tmp_path / "svc"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc", "requirements.*", "pyproject.toml",
        "Dockerfile"))
    for path in (FIXTURES / TOOL_PROJECTS[tool]).iterdir():
        shutil.copy(path, project / path.name)
    return project


@pytest.mark.network
@pytest.mark.parametrize("tool", ["poetry", "uv"])
def test_tool_recipe_runs_step_by_step_on_its_sample_project(tool: str,
                                                             tmp_path: Path) -> None:
    """Each ``run:`` as written, in a fresh virtualenv standing in for setup-python
    (setup-uv: this checkout's uv on PATH), the plugin from this checkout instead of
    PyPI, without a Docker engine (the image checks skip) and without re-resolving."""
    import json
    import os
    import subprocess
    import sys
    import venv

    project = _sample(tmp_path, tool)
    python_dir = tmp_path / "ci-python"
    venv.EnvBuilder(with_pip=True).create(python_dir)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("PYTEST_")}
    env.update(PATH=os.pathsep.join([str(python_dir / "bin"), str(Path(sys.executable).parent),
                                     env.get("PATH", "")]),
               PIP_CONFIG_FILE=os.devnull, DOCKER_HOST="unix:///nonexistent/docker.sock",
               POETRY_VIRTUALENVS_IN_PROJECT="true",
               POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"),
               UV_PYTHON=str(python_dir / "bin" / "python"), UV_PYTHON_DOWNLOADS="never",
               TESTCONTAINERS_RYUK_DISABLED="true")
    # The plugin as a wheel of this checkout, in a new path each run: uv caches what it
    # built from a directory by its version, which a checkout does not change.
    dist = tmp_path / "dist"
    built = subprocess.run(["uv", "build", "--wheel", "-o", str(dist), str(REPO)], env=env,
                           capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(dist.glob("pytest_shipready-*.whl"))
    steps = run_steps(tool_recipe(tool))
    assert steps
    for command in steps:
        command = re.sub(r"(?<![\w/.-])pytest-shipready(?![\w-])", str(wheel), command)
        if re.search(r"(^| )pytest --shipready", command):
            command += " --shipready-offline -p no:cacheprovider"
        proc = subprocess.run(command, shell=True, cwd=project, env=env, text=True,
                              capture_output=True, timeout=900, check=False)
        assert proc.returncode == 0, (command, proc.stdout[-3000:], proc.stderr[-3000:])
    report = json.loads((project / "shipready-report.json").read_text())
    lock = f"{tool}.lock"
    lock_items = {r["nodeid"]: r["status"] for r in report["results"]
                  if f"::{lock}::" in r["nodeid"]}
    assert lock_items and "failed" not in lock_items.values(), report["results"]
    assert "passed" in lock_items.values(), lock_items
    assert report["verdict"] == "ready", report
