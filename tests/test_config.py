"""The [tool.shipready] schema: defaults and strict validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_shipready import config


def test_defaults_without_pyproject(tmp_path: Path) -> None:
    settings = config.load(tmp_path)
    assert settings.source is None
    assert settings.config.lockfile.require_hashes is True
    assert settings.config.lockfile.pip_config == "isolated"
    assert settings.config.disable == {}


def test_reads_and_converts_values(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.shipready.lockfile]\npaths = ['req/prod.txt']\nresolve_timeout = 30\n"
        "[tool.shipready.disable]\nSR102 = 'wheelhouse'\n"
    )
    cfg = config.load(tmp_path).config
    assert cfg.lockfile.paths == ("req/prod.txt",)
    assert cfg.lockfile.resolve_timeout == 30.0
    assert cfg.disable == {"SR102": "wheelhouse"}


@pytest.mark.parametrize(
    ("table", "fragments"),
    [
        ({"lockfiles": {}}, ["unknown key 'lockfiles'", "did you mean 'lockfile'"]),
        ({"lockfile": {"require_hash": True}}, ["[tool.shipready.lockfile]",
                                                "'require_hash'", "require_hashes"]),
        ({"lockfile": {"require_hashes": "yes"}}, ["tool.shipready.lockfile.require_hashes",
                                                   "true or false", "not a string"]),
        ({"lockfile": {"paths": "requirements.txt"}}, ["lockfile.paths", "an array"]),
        ({"lockfile": {"paths": [1]}}, ["lockfile.paths[0]", "a string"]),
        ({"lockfile": {"resolve_timeout": -1}}, ["resolve_timeout", "negative"]),
        ({"lockfile": {"resolve_timeout": True}}, ["resolve_timeout", "a number"]),
        ({"lockfile": {"pip_config": "global"}}, ["pip_config", "'isolated', 'inherit'"]),
        ({"lockfile": []}, ["[tool.shipready.lockfile] must be a table"]),
        ({"disable": {"SR999": "x"}}, ["SR999", "no such check"]),
        ({"disable": {"SR101": " "}}, ["SR101", "reason"]),
        ({"disable": {"SR101": 1}}, ["disable.SR101", "a string"]),
        ({"dockerfile": {"path": "docker/Dockerfile"}},
         ["[tool.shipready.dockerfile] path is now [tool.shipready.image] dockerfile"]),
        ({"dockerfile": {"target": "prod"}},
         ["[tool.shipready.dockerfile] target is now [tool.shipready.image] target"]),
        ({"logs": {"threshold": 1.5}}, ["[tool.shipready.logs] threshold", "between 0 and 1"]),
        ({"dockerfile": "Dockerfile"}, ["[tool.shipready.dockerfile] must be a table, not a "
                                        "string (did you mean [tool.shipready.image] "
                                        "dockerfile?)"]),
    ],
)
def test_bad_config_names_key_and_file(table: dict[str, object], fragments: list[str]) -> None:
    with pytest.raises(config.ConfigError) as info:
        config.parse(table, "/p/pyproject.toml")
    message = str(info.value)
    assert message.startswith("/p/pyproject.toml: ")
    for fragment in fragments:
        assert fragment in message


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.shipready\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(tmp_path)


def test_other_tools_tables_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 3\n")
    assert config.load(tmp_path).config == config.ShipreadyConfig()


@pytest.mark.parametrize("name", ["ship-ready", "ShipReady", "ship_ready"])
def test_a_misspelled_table_is_not_silently_ignored(tmp_path: Path, name: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.{name}.image]\nkeep = true\n")
    with pytest.raises(config.ConfigError, match=rf"\[tool\.{name}\] is not read; the "
                       r"table is \[tool\.shipready\]"):
        config.load(tmp_path)
