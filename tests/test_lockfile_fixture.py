"""The shipready_lockfile fixture: the project's lock, parsed, in users' own tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready import config
from pytest_shipready.locks import discover

FIXTURES = Path(__file__).parent / "fixtures"

USER_TESTS = '''
def test_example_lock(shipready_lockfile):
    assert shipready_lockfile.format == "pip-compile"
    assert shipready_lockfile.display == "requirements.txt"
    assert shipready_lockfile.packages() == {"structlog": "26.1.0"}
'''


@pytest.mark.parametrize("flag", [[], ["--shipready", "--shipready-offline", "-m",
                                       "not shipready"]])
def test_fixture_on_the_example(pytester: pytest.Pytester, flag: list[str]) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    (pytester.path / "tests" / "test_lock.py").write_text(USER_TESTS)
    result = pytester.runpytest(*flag, "tests/test_lock.py")
    result.assert_outcomes(passed=1)


def test_fixture_on_a_uv_project_with_groups_and_platforms(pytester: pytest.Pytester
                                                           ) -> None:
    shutil.copytree(FIXTURES / "uv-fork", pytester.path, dirs_exist_ok=True)
    pytester.makepyfile(test_lock='''
def test_uv_lock(shipready_lockfile):
    assert shipready_lockfile.format == "uv"
    linux = shipready_lockfile.packages()  # this interpreter: Linux, Python 3.11+
    assert linux["six"] == "1.17.0"
    windows = shipready_lockfile.packages({**_env(), "sys_platform": "win32"})
    assert windows["six"] == "1.16.0"

def _env():
    from packaging.markers import default_environment
    return {k: str(v) for k, v in default_environment().items()}
''')
    pytester.runpytest().assert_outcomes(passed=1)


def test_no_lockfile_skips_and_several_fail(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_lock="def test_it(shipready_lockfile):\n    pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no lockfile in *poetry.lock, uv.lock or pylock.toml)"])
    for name in ("poetry-pep621/poetry.lock", "uv-fork/uv.lock"):
        shutil.copy(FIXTURES / name, pytester.path)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*shipready_lockfile: several lockfiles (poetry.lock, "
                                 "uv.lock): name the one to use in [[]tool.shipready.parity] "
                                 "lockfile"])


def test_find_follows_the_configuration(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "uv-fork" / "uv.lock", tmp_path / "uv.lock")
    shutil.copy(FIXTURES / "poetry-pep621" / "poetry.lock", tmp_path / "poetry.lock")
    cfg = config.parse({"parity": {"lockfile": "poetry.lock"}})
    found = discover.find(config.Settings(tmp_path, None, cfg))
    assert (found.display, found.format) == ("poetry.lock", "poetry")
    assert found.packages(groups=["dev"])["iniconfig"] == "2.3.1"
    (tmp_path / "uv.lock").write_text("version = [\n")
    cfg = config.parse({"lockfile": {"paths": ["uv.lock"]}})
    with pytest.raises(discover.NoLockError, match=r"uv\.lock cannot be parsed") as info:
        discover.find(config.Settings(tmp_path, None, cfg))
    assert not info.value.skip
