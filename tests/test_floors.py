"""What the dependency floors in pyproject.toml are for; .ci/floors runs this module
(with the rest of the pure tests) on exactly those versions."""

from __future__ import annotations

from pathlib import Path

from pytest_shipready.locks import discover, selection
from pytest_shipready.locks.target import resolve

# PEP 751: a package only a dependency group needs carries a dependency_groups marker.
PYLOCK = """\
lock-version = "1.0"
created-by = "hand"
requires-python = ">=3.11"

[[packages]]
name = "six"
version = "1.16.0"
[[packages.wheels]]
name = "six-1.16.0-py2.py3-none-any.whl"
hashes = { sha256 = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254" }

[[packages]]
name = "iniconfig"
version = "2.0.0"
marker = "'dev' in dependency_groups"
[[packages.wheels]]
name = "iniconfig-2.0.0-py3-none-any.whl"
hashes = { sha256 = "b6a85871a79d2e3b22d2d1b94ac2824226a63c6b741c88f7ae975f18b6778374" }
"""


def test_dev_only_package_is_not_expected_at_runtime(tmp_path: Path) -> None:
    # packaging >= 25 evaluates dependency_groups markers (the lock_file context);
    # before, the marker could not be judged and the dev package was expected too.
    (tmp_path / "pylock.toml").write_text(PYLOCK)
    lock = discover.load(tmp_path / "pylock.toml", tmp_path)
    env = resolve("linux/x86_64").environment()
    assert selection.expected_distributions(lock, env) == {"six": "1.16.0"}
    assert selection.expected_distributions(lock, env, groups=["dev"]) == {
        "six": "1.16.0", "iniconfig": "2.0.0"}
