"""Every number in [tool.shipready] is validated fully: NaN, infinities, negative, zero
where it means nothing, and values past what the system takes are usage errors naming
the key and the file. No configuration turns the container checks into skips that end
READY (`engine_timeout = nan` did: the engine client broke, every docker item skipped)."""

from __future__ import annotations

import dataclasses
import math
import shutil
import typing
from typing import Any

import pytest

from conftest import EXAMPLE, remove_kept_image
from pytest_shipready import config


def _numeric_keys() -> list[tuple[str, tuple[str, ...], type]]:
    """(name, path of tables, int or float) of every number in the schema."""
    found: list[tuple[str, tuple[str, ...], type]] = []

    def walk(cls: type[Any], where: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            if dataclasses.is_dataclass(hint) and isinstance(hint, type):
                walk(hint, (*where, f.name))
            elif hint in (int, float):
                found.append((f.name, where, hint))
            elif typing.get_origin(hint) is tuple:
                (item,) = typing.get_args(hint)[:1]
                if item is int:
                    found.append((f.name, where, list))  # an array of integers
                elif dataclasses.is_dataclass(item) and isinstance(item, type):
                    walk(item, (*where, f.name, "[]"))
    walk(config.ShipreadyConfig, ())
    return found


KEYS = _numeric_keys()


def _table(name: str, where: tuple[str, ...], value: object) -> dict[str, Any]:
    table: Any = {name: value}
    for part in reversed(where):
        # an array of tables (smoke.commands): one, with the command it needs
        table = [{"command": ["true"], **table}] if part == "[]" else {part: table}
    return dict(table)


def test_the_schema_has_the_numbers_the_issue_names() -> None:
    names = {name for name, _, _ in KEYS}
    assert {"engine_timeout", "ready_timeout", "build_timeout", "timeout", "grace_period",
            "max_log_mb", "size_budget_mb", "wasted_budget_mb", "settle"} <= names


@pytest.mark.parametrize(("name", "where", "kind"), KEYS,
                         ids=[".".join((*w, n)) for n, w, _ in KEYS])
def test_nan_infinity_and_out_of_range_are_usage_errors(name: str, where: tuple[str, ...],
                                                        kind: type) -> None:
    bad: list[object] = [-1, 10**12]
    if kind is float:
        bad += [math.nan, math.inf, -math.inf]
    for value in bad:
        shown = [value] if kind is list else value
        with pytest.raises(config.ConfigError) as info:
            config.parse(_table(name, where, shown), "/p/pyproject.toml")
        message = str(info.value)
        assert message.startswith("/p/pyproject.toml: "), message
        assert name in message, message
        if kind is float and isinstance(value, float) and not math.isfinite(value):
            assert "must be a finite number" in message


@pytest.mark.parametrize("name", ["timeout", "engine_timeout", "build_timeout",
                                  "ready_timeout", "resolve_timeout", "tests_timeout",
                                  "imports_timeout", "setup_timeout", "grace_period",
                                  "max_log_mb", "release_timeout"])
def test_zero_is_refused_where_it_means_nothing(name: str) -> None:
    places = [w for n, w, _ in KEYS if n == name and "[]" not in w]
    assert places
    for where in places:
        with pytest.raises(config.ConfigError, match=f"{name} = 0: must be "):
            config.parse(_table(name, where, 0), "/p/pyproject.toml")


def test_zero_keeps_its_meaning_where_it_has_one() -> None:
    cfg = config.parse({"lockfile": {"resolve_max_age": 0}, "image": {"size_budget_mb": 0},
                        "smoke": {"settle": 0}, "hardened": {"uid": 0}})
    assert cfg.lockfile.resolve_max_age == 0 and cfg.hardened.uid == 0


def test_an_engine_timeout_below_the_clients_granularity_is_refused() -> None:
    with pytest.raises(config.ConfigError, match=r"engine_timeout = 0\.001: must be at "
                                                 r"least 1 and at most 3600"):
        config.parse({"engine_timeout": 0.001}, "/p/pyproject.toml")


@pytest.mark.docker
@pytest.mark.parametrize("setting", ["engine_timeout = nan",
                                     "engine_timeout = 0.001",
                                     "timeout = inf"])
def test_a_broken_timeout_ends_in_a_usage_error_not_in_ready(
        pytester: pytest.Pytester, setting: str) -> None:
    project = pytester.path / "svc"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache"))
    toml = project / "pyproject.toml"
    toml.write_text(toml.read_text().replace("[tool.shipready]\n",
                                             f"[tool.shipready]\n{setting}\n", 1))
    try:
        result = pytester.runpytest_subprocess(
            "--shipready-only", "--shipready-offline", "-p", "no:randomly",
            f"--rootdir={project}", f"--shipready-project={project}", "-c", str(toml),
            "-k", "image or smoke", timeout=600)
    finally:
        remove_kept_image(project)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output[-3000:]
    assert f"{toml}: tool.shipready.{setting.split(' = ')[0]} = " in output
    assert "READY" not in output.replace("NOT READY", "")
