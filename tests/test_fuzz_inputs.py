"""Malformed input never gives an internal traceback: only a usage error or a finding."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_shipready import config
from pytest_shipready.checks import Status
from pytest_shipready.locks import pipcompile, requirements

toml_scalars = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=20))
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=12), inner, max_size=3)),
    max_leaves=8,
)
keys = st.sampled_from(["lockfile", "disable", "paths", "require_hashes", "resolve",
                        "resolve_timeout", "pip_config", "SR101", "bogus"])


@given(st.dictionaries(keys, toml_values, max_size=4))
def test_any_table_gives_config_or_config_error(table: dict[str, object]) -> None:
    try:
        result = config.parse(table, "pyproject.toml")
    except config.ConfigError as exc:
        assert str(exc).startswith("pyproject.toml: ")
    else:
        assert isinstance(result, config.ShipreadyConfig)


@given(st.dictionaries(st.sampled_from(["paths", "require_hashes", "resolve",
                                        "resolve_timeout", "pip_config"]),
                       toml_values, max_size=5))
def test_any_lockfile_table(table: dict[str, object]) -> None:
    try:
        config.parse({"lockfile": table}, "pyproject.toml")
    except config.ConfigError as exc:
        assert "tool.shipready.lockfile" in str(exc)


line_parts = st.sampled_from([
    "flask==3.0.0", "flask>=3", "six", "-e ./pkg", "--hash=sha256:ab", "--hash", "\\",
    "--index-url", "file:///x", "# via x", " ", "pkg @ https://x/y.whl", "==", ";",
    "python_version < '3'", "\"", "-r other.in", "--find-links /w", "\t", "é", "\x00",
])
lock_text = st.lists(st.lists(line_parts, max_size=4).map(" ".join), max_size=8).map(
    "\n".join)


@given(lock_text)
def test_requirements_parser_raises_only_parse_error(text: str) -> None:
    try:
        requirements.parse(text)
    except requirements.ParseError as exc:
        assert exc.line >= 1


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(st.binary(max_size=200) | lock_text.map(str.encode))
def test_any_lockfile_bytes_give_a_result(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(data)
    lock = pipcompile.load(path, tmp_path)
    if lock.error is not None:
        assert lock.error.path == "requirements.txt"
        return
    for result in (pipcompile.check_pinned(lock), pipcompile.check_hashed(lock),
                   pipcompile.check_portable(lock),
                   pipcompile.check_covers_inputs(lock, pipcompile.read_inputs(lock, tmp_path))):
        assert result.status in (Status.PASSED, Status.FAILED, Status.SKIPPED)
