"""--shipready-init prints a starter section that the strict schema accepts."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready import config
from pytest_shipready.starter import starter


def test_starter_on_the_example_is_valid_and_says_what_it_found(example: Path) -> None:
    text = starter(example)
    parsed = tomllib.loads(text)
    config.parse(parsed["tool"]["shipready"], "starter")
    assert "# found requirements.txt: pip-compile lock of requirements.in" in text
    assert "USER app, EXPOSE 8000/tcp, HEALTHCHECK present" in text


def test_starter_on_an_empty_project_says_how_to_begin(tmp_path: Path) -> None:
    text = starter(tmp_path)
    config.parse(tomllib.loads(text)["tool"]["shipready"], "starter")
    assert "pip-compile --generate-hashes" in text
    assert "No readable Dockerfile" in text


def test_starter_flags_a_missing_healthcheck(example: Path) -> None:
    dockerfile = example / "Dockerfile"
    dockerfile.write_text("\n".join(
        line for line in dockerfile.read_text().splitlines()
        if not line.startswith(("HEALTHCHECK", "    CMD [\"python\", \"-m\", \"app.health"))))
    text = starter(example)
    assert "HEALTHCHECK missing" in text
    assert tomllib.loads(text)["tool"]["shipready"]["dockerfile"] == {
        "healthcheck_optional": False}


def test_init_option_prints_and_exits(pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    result = pytester.runpytest("--shipready-init")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["[[]tool.shipready.lockfile[]]", "# found requirements.txt*"])
    assert "passed" not in result.stdout.str()  # no tests ran


def test_starter_says_which_tables_the_project_already_has(example: Path) -> None:
    with (example / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.shipready.image]\nkeep = true\n')
    text = starter(example)
    assert "# pyproject.toml already has [tool.shipready.image]: merge the keys below into " \
        "them (TOML forbids a table twice)." in text
    # The example's bare [tool.shipready] alone is named as such.
    assert "already has [tool.shipready]:" in starter(EXAMPLE)
