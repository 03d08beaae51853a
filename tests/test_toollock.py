"""Poetry, uv and pylock.toml checks on real locks made by those tools (tests/fixtures)."""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.markers import default_environment

from pytest_shipready.checks import CheckResult, Status
from pytest_shipready.locks import discover, inputs, model, poetry, selection, toolchecks, uv

FIXTURES = Path(__file__).resolve().parent / "fixtures"
Copy = Callable[[str], Path]


@pytest.fixture
def copy(tmp_path: Path) -> Copy:
    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target
    return make


def load(project: Path, name: str) -> model.ToolLock:
    lock = discover.load(project / name, project)
    assert lock.error is None, lock.error
    return lock


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def messages(result: CheckResult) -> str:
    return "\n".join(f.message for f in result.findings)


def env(**overrides: str) -> dict[str, str]:
    base = {k: str(v) for k, v in default_environment().items()}
    base.update(python_version="3.11", python_full_version="3.11.7", sys_platform="linux",
                platform_system="Linux")
    base.update(overrides)
    return base


# --- formats and discovery --------------------------------------------------------------


def test_discover_and_formats(copy: Copy) -> None:
    uv = copy("uv-app")
    assert [p.name for p in discover.discover(uv)] == ["uv.lock", "pylock.toml"]
    assert discover.format_of(Path("pylock.prod.toml")) == "pylock"
    assert discover.format_of(Path("pylock.toml.bak")) is None
    for src, fmt in (("uv-app/uv.lock", "uv"), ("poetry-app/poetry.lock", "poetry"),
                     ("uv-app/pylock.toml", "pylock")):
        renamed = uv / f"renamed-{fmt}.lock"
        shutil.copyfile(FIXTURES / src, renamed)
        assert discover.sniff_format(renamed) == fmt
    assert discover.sniff_format(FIXTURES.parent / "conftest.py") is None


# --- Poetry -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["poetry-app", "poetry-pep621", "poetry18-app"])
def test_content_hash_is_the_one_poetry_wrote(name: str) -> None:
    pyproject = tomllib.loads((FIXTURES / name / "pyproject.toml").read_text())
    lock = tomllib.loads((FIXTURES / name / "poetry.lock").read_text())
    assert poetry.poetry_content_hash(pyproject) == lock["metadata"]["content-hash"]


def test_content_hash_of_dependency_groups_only_from_poetry_2_3() -> None:
    pyproject = tomllib.loads((FIXTURES / "poetry-pep621" / "pyproject.toml").read_text())
    with_groups = poetry.poetry_content_hash(pyproject)
    without = poetry.poetry_content_hash(pyproject, with_dependency_groups=False)
    assert with_groups != without


@pytest.mark.parametrize("name", ["poetry-app", "poetry-pep621", "poetry18-app"])
def test_fresh_poetry_lock_passes_every_check(copy: Copy, name: str) -> None:
    project = copy(name)
    lock = load(project, "poetry.lock")
    for result in (toolchecks.check_pinned(lock), toolchecks.check_hashed(lock),
                   toolchecks.check_covers_inputs(lock), poetry.check_poetry_fresh(lock),
                   toolchecks.check_portable(lock, project)):
        assert result.status is Status.PASSED, (result.check_id, result.summary,
                                                messages(result))


def test_poetry_dependency_edited_without_relock_fails_naming_it(copy: Copy) -> None:
    project = copy("poetry-app")
    edit(project / "pyproject.toml", 'click = "^8.1"', 'click = "^9.0"')
    lock = load(project, "poetry.lock")
    fresh = poetry.check_poetry_fresh(lock)
    assert fresh.status is Status.FAILED
    assert "click = '^9.0'" in messages(fresh)
    assert fresh.findings[0].line is not None  # the content-hash line
    covers = toolchecks.check_covers_inputs(lock)
    assert covers.status is Status.FAILED
    assert re.search(r"click = '\^9.0' is required by pyproject.toml "
                     r"\[tool.poetry.dependencies\] but poetry.lock:\d+ locks click 8.5.1",
                     messages(covers)), messages(covers)


def test_poetry_edit_still_satisfied_is_stale_but_covered(copy: Copy) -> None:
    project = copy("poetry-pep621")
    edit(project / "pyproject.toml", '"click>=8.1"', '"click>=8.2"')
    lock = load(project, "poetry.lock")
    assert poetry.check_poetry_fresh(lock).status is Status.FAILED
    assert toolchecks.check_covers_inputs(lock).status is Status.PASSED


def test_poetry_added_dependency_is_named(copy: Copy) -> None:
    project = copy("poetry-pep621")
    edit(project / "pyproject.toml", '"click>=8.1",', '"click>=8.1",\n    "attrs>=23",')
    lock = load(project, "poetry.lock")
    assert "attrs>=23 (pyproject.toml [project] dependencies) is not locked" in messages(
        poetry.check_poetry_fresh(lock))
    assert "attrs>=23 is required by pyproject.toml [project] dependencies but not in " \
        "poetry.lock" in messages(toolchecks.check_covers_inputs(lock))


def test_poetry_irrelevant_pyproject_edit_keeps_the_lock_fresh(copy: Copy) -> None:
    project = copy("poetry-app")
    edit(project / "pyproject.toml", 'version = "0.1.0"', 'version = "0.2.0"')
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text()
                                            + "\n[tool.shipready]\n")
    assert poetry.check_poetry_fresh(load(project, "poetry.lock")).status is Status.PASSED


def test_poetry_removed_hashes_fail_with_line(copy: Copy) -> None:
    project = copy("poetry-app")
    path = project / "poetry.lock"
    text = path.read_text()
    text = re.sub(r'(\{file = "six-1\.16\.0[^"]*"), hash = "[^"]*"', r"\1", text)
    path.write_text(text)
    result = toolchecks.check_hashed(load(project, "poetry.lock"))
    assert result.status is Status.FAILED
    assert [f.message for f in result.findings] == [
        "six 1.16.0: no hash for six-1.16.0-py2.py3-none-any.whl, six-1.16.0.tar.gz"]
    line = result.findings[0].line
    assert line is not None and path.read_text().splitlines()[line - 1] == 'name = "six"'


def test_poetry_path_dependency_is_named(copy: Copy) -> None:
    project = copy("poetry-app")
    lock = load(project, "poetry.lock")
    for result in (toolchecks.check_pinned(lock), toolchecks.check_hashed(lock)):
        assert "helper (editable libs/helper)" in result.summary
    assert "helper" in toolchecks.check_portable(lock, project).summary


def test_poetry_path_dependency_outside_project_is_not_portable(copy: Copy) -> None:
    project = copy("poetry-app")
    edit(project / "poetry.lock", 'url = "libs/helper"', 'url = "../../elsewhere/helper"')
    result = toolchecks.check_portable(load(project, "poetry.lock"), project)
    assert result.status is Status.FAILED
    assert "helper comes from ../../elsewhere/helper, outside the project" in messages(result)


@pytest.mark.parametrize(("constraint", "inside", "outside"), [
    ("^1.2.3", ["1.2.3", "1.9"], ["1.2.2", "2.0.0"]),
    ("^0.2.3", ["0.2.9"], ["0.3.0"]),
    ("^0.0.3", ["0.0.3"], ["0.0.4"]),
    ("^0", ["0.9"], ["1.0"]),
    ("~1.2.3", ["1.2.9"], ["1.3.0"]),
    ("~1", ["1.9"], ["2.0"]),
    ("~=1.4", ["1.9"], ["2.0"]),
    ("1.2.*", ["1.2.7"], ["1.3"]),
    ("1.2.3", ["1.2.3"], ["1.2.4"]),
    (">=1.2, <2", ["1.5"], ["2.0"]),
    (">=1.2 <2", ["1.5"], ["2.0"]),
    ("<1 || >=2.1", ["0.5", "2.1"], ["1.5"]),
    ("*", ["0.1", "99"], []),
])
def test_poetry_constraints_translate_to_pep_440(constraint: str, inside: list[str],
                                                 outside: list[str]) -> None:
    alternatives = inputs.poetry_constraint(constraint)
    assert all(any(a.contains(v) for a in alternatives) for v in inside)
    assert not any(any(a.contains(v) for a in alternatives) for v in outside)


# --- uv ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["uv-app", "uv-fork"])
def test_fresh_uv_lock_passes_every_offline_check(copy: Copy, name: str) -> None:
    project = copy(name)
    lock = load(project, "uv.lock")
    for result in (toolchecks.check_pinned(lock), toolchecks.check_hashed(lock),
                   toolchecks.check_covers_inputs(lock), uv.check_uv_fresh_offline(lock),
                   toolchecks.check_portable(lock, project)):
        assert result.status is Status.PASSED, (result.check_id, result.summary,
                                                messages(result))


def test_uv_dependency_edited_without_relock_fails_naming_it(copy: Copy) -> None:
    project = copy("uv-app")
    edit(project / "pyproject.toml", '"click>=8.1"', '"click>=9"')
    lock = load(project, "uv.lock")
    fresh = uv.check_uv_fresh_offline(lock)
    assert fresh.status is Status.FAILED
    assert messages(fresh) == ("click>=9 in pyproject.toml [project] dependencies, but "
                               "uv.lock was locked for click>=8.1")
    covers = toolchecks.check_covers_inputs(lock)
    assert covers.status is Status.FAILED
    assert "click>=9 is required by pyproject.toml [project] dependencies" in messages(covers)


def test_uv_added_removed_and_group_changes_are_named(copy: Copy) -> None:
    project = copy("uv-app")
    edit(project / "pyproject.toml", '"six==1.16.*",', '"attrs>=23",')
    edit(project / "pyproject.toml", 'dev = ["iniconfig>=2"]', 'dev = ["iniconfig>=2.1"]')
    edit(project / "pyproject.toml", 'requires-python = ">=3.11"', 'requires-python = ">=3.12"')
    found = messages(uv.check_uv_fresh_offline(load(project, "uv.lock")))
    assert "attrs>=23 in pyproject.toml [project] dependencies is not in uv.lock" in found
    assert "six==1.16.* is recorded in uv.lock ([project]) but no longer in pyproject.toml" \
        in found
    assert "iniconfig>=2.1 in pyproject.toml [dependency-groups] dev, but uv.lock was " \
        "locked for iniconfig>=2" in found
    assert "requires-python is '>=3.12' in pyproject.toml but '>=3.11' in uv.lock" in found


def test_uv_removed_hashes_fail(copy: Copy) -> None:
    project = copy("uv-app")
    path = project / "uv.lock"
    path.write_text(re.sub(r'(/anyio-[^"]*"), hash = "sha256:[0-9a-f]+"', r"\1",
                           path.read_text()))
    result = toolchecks.check_hashed(load(project, "uv.lock"))
    assert result.status is Status.FAILED
    assert messages(result) == ("anyio 4.16.0: no hash for anyio-4.16.0.tar.gz, "
                                "anyio-4.16.0-py3-none-any.whl")


def test_uv_path_dependency_is_named_and_project_is_not(copy: Copy) -> None:
    project = copy("uv-app")
    lock = load(project, "uv.lock")
    pinned = toolchecks.check_pinned(lock)
    assert pinned.summary == ("6 packages pinned; local, not pinned by version: helper "
                              "(editable libs/helper)")


def test_unparseable_lock_is_one_finding_with_line(copy: Copy) -> None:
    project = copy("uv-app")
    path = project / "uv.lock"
    lines = path.read_text().splitlines()
    lines[9] = "this is not toml"
    path.write_text("\n".join(lines))
    lock = discover.load(path, project)
    assert lock.error is not None and lock.error.line == 10
    assert "not valid TOML" in lock.error.message


def test_unsupported_lock_versions_are_named(copy: Copy) -> None:
    project = copy("uv-app")
    edit(project / "uv.lock", "version = 1\n", "version = 7\n")
    lock = discover.load(project / "uv.lock", project)
    assert lock.error is not None
    assert "uv.lock version 7 is not supported" in lock.error.message


# --- pylock.toml ------------------------------------------------------------------------


def test_pylock_pinned_hashed_and_named(copy: Copy) -> None:
    project = copy("uv-app")
    lock = load(project, "pylock.toml")
    assert lock.format == "pylock"
    assert toolchecks.check_pinned(lock).status is Status.PASSED
    hashed = toolchecks.check_hashed(lock)
    assert hashed.status is Status.PASSED
    assert "helper (editable libs/helper)" in hashed.summary
    assert toolchecks.check_covers_inputs(lock).status is Status.SKIPPED
    path = project / "pylock.toml"
    path.write_text("\n".join(
        re.sub(r'hashes = \{ sha256 = "[0-9a-f]+" \}', "hashes = {}", line)
        if "click-8" in line else line for line in path.read_text().splitlines()))
    edit(path, 'name = "six"\nversion = "1.16.0"\n', 'name = "six"\n')
    broken = load(project, "pylock.toml")
    assert "click 8.5.1: no hash for" in messages(toolchecks.check_hashed(broken))
    assert messages(toolchecks.check_pinned(broken)) == "six has no version"


# --- expected distributions (for the parity check) ------------------------------------


def test_expected_from_poetry_lock_by_group_and_extra() -> None:
    lock = load(FIXTURES / "poetry-pep621", "poetry.lock")
    assert selection.expected_distributions(lock, env()) == {"click": "8.5.1", "six": "1.16.0"}
    assert selection.expected_distributions(lock, env(), groups=["dev"], extras=["idn"]) == {
        "click": "8.5.1", "six": "1.16.0", "iniconfig": "2.3.1", "idna": "3.20"}
    app = load(FIXTURES / "poetry-app", "poetry.lock")
    expected = selection.expected_distributions(app, env())
    assert "helper" not in expected  # a develop (editable) path dependency
    assert expected["typing-extensions"] == "4.16.0"
    assert "typing-extensions" not in selection.expected_distributions(
        app, env(python_version="3.15", python_full_version="3.15.0"))


def test_expected_from_uv_lock_follows_markers_and_forks() -> None:
    fork = load(FIXTURES / "uv-fork", "uv.lock")
    assert selection.expected_distributions(fork, env()) == {
        "six": "1.17.0", "typing-extensions": "4.16.0"}
    assert selection.expected_distributions(
        fork, env(sys_platform="win32", python_full_version="3.13.1", python_version="3.13")
    ) == {"six": "1.16.0"}
    app = load(FIXTURES / "uv-app", "uv.lock")
    runtime = selection.expected_distributions(app, env())
    assert runtime == {"anyio": "4.16.0", "click": "8.5.1", "idna": "3.20", "six": "1.16.0",
                       "typing-extensions": "4.16.0"}
    assert selection.expected_distributions(app, env(), groups=["dev"]) == {
        **runtime, "iniconfig": "2.3.1"}


def test_expected_from_pylock_and_old_poetry_locks() -> None:
    pylock = load(FIXTURES / "uv-app", "pylock.toml")
    assert "uv-app" not in selection.expected_distributions(pylock, env())
    assert selection.expected_distributions(pylock, env())["six"] == "1.16.0"
    old = load(FIXTURES / "poetry18-app", "poetry.lock")
    with pytest.raises(model.LockError, match=r"lock-version 2\.0"):
        selection.expected_distributions(old, env())


# --- uv command line --------------------------------------------------------------------


def test_uv_command_is_isolated_like_pip_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_shipready.locks import uvcheck

    assert uvcheck.build_argv("uv", "isolated", True) == [
        "uv", "lock", "--check", "--no-python-downloads", "--no-config", "--offline"]
    assert uvcheck.build_argv("uv", "inherit", False) == [
        "uv", "lock", "--check", "--no-python-downloads"]
    monkeypatch.setenv("UV_INDEX_URL", "file:///local")
    assert "UV_INDEX_URL" not in uvcheck.uv_env("isolated")
    assert uvcheck.uv_env("inherit")["UV_INDEX_URL"] == "file:///local"


def test_uv_local_index_is_not_portable(copy: Copy) -> None:
    project = copy("uv-app")
    path = project / "uv.lock"
    text = path.read_text()
    head, sep, rest = text.partition('name = "six"\nversion = "1.16.0"\n')
    rest = rest.replace('source = { registry = "https://pypi.org/simple" }',
                        'source = { registry = "file:///opt/pypi/simple" }', 1)
    path.write_text(head + sep + rest)
    result = toolchecks.check_portable(load(project, "uv.lock"), project)
    assert result.status is Status.FAILED
    assert messages(result) == ("six comes from file:///opt/pypi/simple, which only exists "
                                "on the machine that wrote the lock")
    assert result.findings[0].line is not None


def test_expected_from_any_lock_including_pip_compile(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n#\n"
        "six==1.16.0\ncolorama==0.4.6 ; sys_platform == \"win32\"\n-e ./local\n")
    lock = discover.load_any(tmp_path / "requirements.txt", tmp_path)
    assert selection.expected_distributions(lock, env()) == {"six": "1.16.0"}
    assert selection.expected_distributions(lock, env(sys_platform="win32")) == {
        "six": "1.16.0", "colorama": "0.4.6"}
    uv = discover.load_any(FIXTURES / "uv-app" / "uv.lock", FIXTURES / "uv-app")
    assert isinstance(uv, model.ToolLock) and uv.format == "uv"


def test_requirement_line_finds_pep508_strings_and_poetry_keys(tmp_path: Path) -> None:
    from pytest_shipready.locks.inputs import requirement_line

    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "six-service"\ndescription = "Six things"\n'
        'dependencies = [\n    "Six>=1.16; python_version < \'4\'",  # six\n'
        '    "typing_extensions",\n]\n'
        '[tool.poetry.dependencies]\nclick = { version = "^8.1", extras = ["x"] }\n')
    assert requirement_line(path, "six") == 5  # not the name or the description
    assert requirement_line(path, "typing-extensions") == 6
    assert requirement_line(path, "click") == 9
    assert requirement_line(path, "version") is None  # a key inside an inline table
    assert requirement_line(path, "nope") is None
    assert requirement_line(tmp_path / "missing.toml", "six") is None
