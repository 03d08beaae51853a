"""Parity (SR401, SR402) against Poetry, uv and pylock.toml locks: the pure part.

Which groups and extras an install command selects (``lockselect``), and what the image
must hold according to a real lock made by Poetry or uv (tests/fixtures), judged with the
image's marker environment. The Docker runs are in test_docker_areas.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_shipready.checks import Status
from pytest_shipready.container.inspect import parity
from pytest_shipready.dockerfile.installs import Command, recognise_poetry, recognise_uv
from pytest_shipready.locks import discover, inputs, model
from pytest_shipready.locks import selection as lockselect

FIXTURES = Path(__file__).parent / "fixtures"
LINUX = {"implementation_name": "cpython", "implementation_version": "3.11.2",
         "os_name": "posix", "platform_machine": "x86_64", "platform_release": "6.1.0",
         "platform_system": "Linux", "platform_version": "#1 SMP",
         "python_full_version": "3.11.2", "platform_python_implementation": "CPython",
         "python_version": "3.11", "sys_platform": "linux"}

UV_PROJECT = {"project": {"name": "svc", "optional-dependencies": {"idn": [], "Fast": []}},
              "dependency-groups": {"dev": [], "test": [], "lint": []}}
POETRY_PROJECT = {"tool": {"poetry": {"group": {"dev": {}, "docs": {"optional": True}},
                                      "extras": {"idn": []}}}}


def select(command: str, pyproject: dict[str, object]) -> lockselect.Selection:
    step = recognise_uv(Command(tuple(command.split()), 1, command)) or \
        recognise_poetry(Command(tuple(command.split()), 1, command))
    assert step is not None and step.verb, command
    return lockselect.from_command(step.tool, step.verb, step.options, pyproject, "here")


@pytest.mark.parametrize(("command", "groups", "extras"), [
    ("uv sync --frozen", {"dev"}, set()),
    ("uv sync --locked --no-dev", set(), set()),
    ("uv sync --frozen --no-default-groups --group test --group=lint --extra idn",
     {"test", "lint"}, {"idn"}),
    ("uv sync --frozen --all-groups --no-group lint --all-extras --no-extra fast",
     {"dev", "test"}, {"idn"}),
    ("uv sync --frozen --only-group test", {"test"}, set()),
    ("uv export --frozen --no-dev -o requirements.txt", set(), set()),
    ("poetry install", {"dev"}, set()),
    ("poetry install --only main --no-root", set(), set()),
    ("poetry install --with docs -E idn", {"dev", "docs"}, {"idn"}),
    ("poetry install --without dev --all-extras", set(), {"idn"}),
    ("poetry --no-interaction install --no-dev", set(), set()),
    ("poetry export -o requirements.txt", set(), set()),
    ("poetry export --with dev,docs -o requirements.txt", {"dev", "docs"}, set()),
    ("poetry install --all-groups", {"dev", "docs"}, set()),
])
def test_install_options_select_groups_and_extras(command: str, groups: set[str],
                                                  extras: set[str]) -> None:
    pyproject = POETRY_PROJECT if command.startswith("poetry") else UV_PROJECT
    got = select(command, pyproject)
    assert (set(got.groups), set(got.extras)) == (groups, extras)


def test_uv_default_groups_come_from_pyproject() -> None:
    pyproject = {**UV_PROJECT, "tool": {"uv": {"default-groups": ["test"]}}}
    assert select("uv sync --frozen", pyproject).groups == {"test"}
    everything = {**UV_PROJECT, "tool": {"uv": {"default-groups": "all"}}}
    assert select("uv sync --frozen", everything).groups == {"dev", "test", "lint"}


def test_configured_groups_override_what_the_dockerfile_says() -> None:
    inferred = select("uv sync --frozen", UV_PROJECT)
    assert lockselect.configured(None, None, inferred, "config") is inferred
    mine = lockselect.configured([], ["idn"], inferred, "config")
    assert (mine.groups, mine.extras, mine.how) == (frozenset(), {"idn"}, "config")
    assert mine.describe() == "runtime dependencies + extra idn"


# --- what the image must hold ------------------------------------------------------------


def facts(dists: dict[str, str], python: str = "3.11.2",
          markers: dict[str, str] | None = None) -> parity.ImageFacts:
    return parity.parse_probe(json.dumps({
        "python": python, "dists": [[n, v] for n, v in dists.items()], "env": {},
        "markers": LINUX if markers is None else markers}))


def tool_lock(fixture: str, name: str) -> model.ToolLock:
    lock = discover.load(FIXTURES / fixture / name, FIXTURES / fixture)
    assert lock.error is None, lock.error
    return lock


UV_APP_RUNTIME = {"anyio": "4.16.0", "click": "8.5.1", "idna": "3.20", "six": "1.16.0",
                  "typing-extensions": "4.16.0"}


def test_uv_lock_parity_passes_on_exactly_the_runtime_selection() -> None:
    lock = tool_lock("uv-app", "uv.lock")
    chosen = lockselect.runtime_only("per Dockerfile:9")
    expected = parity.expected_from_toollock(lock, LINUX, chosen)
    assert {n: v for n, (v, _) in expected.packages.items()} == UV_APP_RUNTIME
    line = expected.packages["six"][1]
    assert line is not None and (FIXTURES / "uv-app" / "uv.lock").read_text().splitlines()[
        line - 1] == 'name = "six"'
    result = parity.check_packages(facts({**UV_APP_RUNTIME, "pip": "24.0"}), expected,
                                   ("pip",))
    assert result.status == Status.PASSED, result
    assert result.summary == ("5 locked packages installed at the locked versions "
                              "(runtime dependencies, per Dockerfile:9)")


def test_dev_group_installed_but_not_selected_is_explained() -> None:
    lock = tool_lock("uv-app", "uv.lock")
    expected = parity.expected_from_toollock(lock, LINUX, lockselect.runtime_only("here"))
    result = parity.check_packages(
        facts({**UV_APP_RUNTIME, "iniconfig": "2.3.1", "six": "1.17.0"}), expected, ())
    assert result.status == Status.FAILED
    assert [f.message for f in result.findings] == [
        "six: the image has 1.17.0, the lock pins 1.16.0",
        "iniconfig==2.3.1 is installed in the image; uv.lock locks it, but not for what "
        "the image should install (runtime dependencies, here)",
    ]
    assert "uv sync --frozen --no-dev" in result.findings[1].hint
    with_dev = parity.expected_from_toollock(
        lock, LINUX, lockselect.Selection(frozenset({"dev"}), how="here"))
    assert parity.check_packages(facts({**UV_APP_RUNTIME, "iniconfig": "2.3.1"}), with_dev,
                                 ()).status == Status.PASSED


def test_forked_uv_lock_is_judged_with_the_image_markers() -> None:
    lock = tool_lock("uv-fork", "uv.lock")
    runtime = lockselect.runtime_only("here")
    on_linux = parity.expected_from_toollock(lock, LINUX, runtime)
    assert on_linux.packages["six"][0] == "1.17.0"
    # The host running pytest may be anything: only the image's markers count.
    win = {**LINUX, "sys_platform": "win32", "python_version": "3.13",
           "python_full_version": "3.13.1"}
    on_win = parity.expected_from_toollock(lock, win, runtime)
    assert {n: v for n, (v, _) in on_win.packages.items()} == {"six": "1.16.0"}
    result = parity.check_packages(facts({"six": "1.16.0", "typing-extensions": "4.16.0"}),
                                   on_linux, ())
    assert [f.message for f in result.findings] == [
        "six: the image has 1.16.0, the lock pins 1.17.0"]


def test_poetry_lock_parity_names_missing_and_extra_with_poetry_hints() -> None:
    lock = tool_lock("poetry-pep621", "poetry.lock")
    expected = parity.expected_from_toollock(lock, LINUX, lockselect.runtime_only("here"))
    assert {n: v for n, (v, _) in expected.packages.items()} == {"click": "8.5.1",
                                                                 "six": "1.16.0"}
    result = parity.check_packages(facts({"six": "1.16.0", "requests": "2.32.0"}), expected,
                                   ())
    assert [f.message for f in result.findings] == [
        "click==8.5.1 is locked but not installed in the image",
        "requests==2.32.0 is installed in the image but not in poetry.lock",
    ]
    assert (result.findings[0].path, result.findings[0].line) == ("poetry.lock", 4)  # click
    assert "poetry install --only main" in result.findings[0].hint
    assert result.findings[1].hint.startswith("Add it with `poetry add requests`")


def test_old_poetry_lock_cannot_tell() -> None:
    lock = tool_lock("poetry18-app", "poetry.lock")
    with pytest.raises(model.LockError, match=r"relock with Poetry >= 2\.0"):
        parity.expected_from_toollock(lock, LINUX, lockselect.runtime_only("here"))


@pytest.mark.parametrize(("fixture", "name", "written"), [
    ("uv-app", "uv.lock", ">=3.11"),
    ("poetry-app", "poetry.lock", "^3.11"),
])
def test_python_must_be_in_the_locks_range(fixture: str, name: str, written: str) -> None:
    lock = tool_lock(fixture, name)
    requires = inputs.requires_python(lock)
    assert requires is not None and requires[0] == written
    ok = parity.check_python("3.11.2", None, name, None, requires)
    assert ok.status == Status.PASSED
    assert ok.summary == f"Python 3.11.2 matches {name} requires-python {written!r}"
    bad = parity.check_python("3.10.12", None, name, None, requires)
    assert bad.status == Status.FAILED
    assert bad.findings[0].message == (
        f"the image runs Python 3.10.12, outside {name}'s Python range {written!r}")


# --- which lock the image installs, and with which command --------------------------------


def test_lock_installs_follow_exports_and_copies() -> None:
    from pytest_shipready.dockerfile import hygiene
    from pytest_shipready.dockerfile.parser import parse

    locks = [hygiene.KnownLock("requirements.txt", True), hygiene.KnownLock("uv.lock", True),
             hygiene.KnownLock("poetry.lock", True)]
    df = parse("FROM python:3.11-slim AS build\n"
               "COPY uv.lock pyproject.toml ./\n"
               "RUN uv export --frozen --no-dev --extra idn -o /tmp/req.txt\n"
               "FROM python:3.11-slim\n"
               "COPY --from=build /tmp/req.txt /tmp/req.txt\n"
               "RUN pip install --no-deps --require-hashes -r /tmp/req.txt\n")
    found = hygiene.lock_installs(df, locks)
    assert [(i.lock.path, i.step.tool, i.selecting.tool, i.selecting.verb) for i in found] == [
        ("uv.lock", "pip", "uv", "export")]
    chosen = lockselect.from_command("uv", "export", found[0].selecting.options,
                                     UV_PROJECT, "here")
    assert (chosen.groups, chosen.extras) == (frozenset(), {"idn"})
    # The shipped stage only: a test stage's install does not count.
    df = parse("FROM python:3.11-slim AS prod\n"
               "COPY poetry.lock pyproject.toml ./\n"
               "RUN poetry install --only main --no-root\n"
               "FROM prod AS test\n"
               "RUN pip install -r requirements.txt\n")
    assert [i.lock.path for i in hygiene.lock_installs(df, locks, "prod")] == ["poetry.lock"]
    assert [i.lock.path for i in hygiene.lock_installs(df, locks)] == [
        "poetry.lock", "requirements.txt"]


# --- which interpreter parity asks ------------------------------------------------------


@pytest.mark.parametrize(("command", "env", "configured", "expected"), [
    (("python", "-m", "app"), {}, "", ["python3", "python"]),
    (("/opt/venv/bin/python", "-m", "app"), {}, "", ["/opt/venv/bin/python", "python3",
                                                     "python"]),
    (("tini", "--", "/srv/.venv/bin/gunicorn", "app:wsgi"), {}, "",
     ["/srv/.venv/bin/python", "python3", "python"]),
    (("/usr/local/bin/gunicorn", "app:wsgi"), {"VIRTUAL_ENV": "/opt/venv/"}, "",
     ["/opt/venv/bin/python", "python3", "python"]),
    (("/opt/venv/bin/python3.11", "-m", "app"), {"VIRTUAL_ENV": "/opt/venv"}, "",
     ["/opt/venv/bin/python3.11", "/opt/venv/bin/python", "python3", "python"]),
    (("/opt/venv/bin/python",), {}, "/usr/bin/python3", ["/usr/bin/python3"]),
    # uv sync installed into UV_PROJECT_ENVIRONMENT; the command names a bare python
    (("python", "-m", "app"), {"UV_PROJECT_ENVIRONMENT": "/opt/venv"}, "",
     ["/opt/venv/bin/python", "python3", "python"]),
])
def test_parity_asks_the_interpreter_the_app_runs(command: tuple[str, ...],
                                                  env: dict[str, str], configured: str,
                                                  expected: list[str]) -> None:
    assert parity.interpreters(command, env, configured) == expected


def test_missing_packages_name_the_interpreter_and_installers_get_their_own_hint() -> None:
    lock = tool_lock("uv-app", "uv.lock")
    expected = parity.expected_from_toollock(lock, LINUX, lockselect.runtime_only("here"))
    got = parity.parse_probe(json.dumps({
        "python": "3.11.2", "executable": "/usr/local/bin/python3",
        "dists": [["uv", "0.13.9"], ["pip", "24.0"]], "env": {}, "markers": LINUX}))
    result = parity.check_packages(got, expected, ("pip",))
    assert result.summary == ("6 differences between the image's /usr/local/bin/python3 "
                              "and uv.lock")
    assert "put that first on PATH or set [tool.shipready.parity] python; this looked at " \
        "/usr/local/bin/python3" in result.findings[0].hint
    assert result.findings[-1].message == "uv==0.13.9 is installed in the image but not in " \
        "uv.lock"
    assert result.findings[-1].hint.startswith("uv is an installer: install it in a build "
                                               "stage only")


# --- the project itself, several locks, bootstrap tools ----------------------------------


def test_the_projects_own_distribution_is_not_a_stranger() -> None:
    # uv-app's root (`source = { editable = "." }`) and its editable path source helper
    # are installed from the source tree: never "installed but not in the lock".
    lock = tool_lock("uv-app", "uv.lock")
    expected = parity.expected_from_toollock(lock, LINUX, lockselect.runtime_only("here"))
    assert expected.project == {"uv-app", "helper"}
    result = parity.check_packages(
        facts({**UV_APP_RUNTIME, "uv-app": "0.1.0", "helper": "0.1.0"}), expected, ())
    assert result.status == Status.PASSED, result.findings
    assert result.summary == ("5 locked packages installed at the locked versions "
                              "(runtime dependencies, here); the project itself: helper "
                              "0.1.0, uv-app 0.1.0")
    assert "uv add" not in repr(result)
    # Poetry's root package is not in poetry.lock: its name comes from pyproject.toml.
    plock = tool_lock("poetry-app", "poetry.lock")
    pexp = parity.union([parity.expected_from_toollock(
        plock, LINUX, lockselect.runtime_only("here"))], frozenset({"poetry-app"}))
    installed = {n: v for n, (v, _) in pexp.packages.items()}
    ok = parity.check_packages(facts({**installed, "poetry-app": "0.1.0"}), pexp, ())
    assert ok.status == Status.PASSED, ok.findings
    stranger = parity.check_packages(facts({**installed, "flask": "3.1.0"}), pexp, ())
    assert [f.message for f in stranger.findings] == [
        "flask==3.1.0 is installed in the image but not in poetry.lock"]


def _piplock(tmp_path: Path, name: str, pins: dict[str, str], python: str = "3.11"
             ) -> parity.Expected:
    from pytest_shipready.locks import pipcompile

    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"#\n# This file is autogenerated by pip-compile with Python {python}\n"
        "# by the following command:\n#\n#    pip-compile\n#\n"
        + "".join(f"{n}=={v}\n" for n, v in pins.items()))
    return parity.expected_from_piplock(pipcompile.load(path, tmp_path), LINUX)


def test_several_locks_are_compared_with_their_union(tmp_path: Path) -> None:
    main = _piplock(tmp_path, "requirements/main.txt", {"structlog": "25.4.0"})
    deploy = _piplock(tmp_path, "requirements/deploy.txt", {"gunicorn": "23.0.0"})
    both = parity.union([main, deploy])
    assert both.display == "requirements/main.txt + requirements/deploy.txt"
    image = facts({"structlog": "25.4.0", "gunicorn": "23.0.0", "pip": "24.0"})
    result = parity.check_packages(image, both, ())
    assert result.status == Status.PASSED, result.findings
    assert result.summary == "2 locked packages installed at the locked versions"
    only_main = parity.check_packages(image, parity.union([main]), ())
    assert [f.message for f in only_main.findings] == [
        "gunicorn==23.0.0 is installed in the image but not in requirements/main.txt"]
    clash = _piplock(tmp_path, "requirements/old.txt", {"structlog": "24.1.0"})
    bad = parity.check_packages(image, parity.union([main, deploy, clash]), ())
    assert [f.message for f in bad.findings] == [
        "requirements/main.txt pins structlog==25.4.0, requirements/old.txt pins "
        "structlog==24.1.0: the image can hold only one of them"]


def test_python_of_several_locks_and_why_none(tmp_path: Path) -> None:
    locks = [parity.LockPython("requirements/main.txt", "3.11"),
             parity.LockPython("requirements/deploy.txt", "3.12")]
    result = parity.check_python_locks("3.11.9", locks, None)
    assert result.summary == ("Python 3.11.9 does not match requirements/main.txt 3.11 and "
                              "requirements/deploy.txt 3.12")
    assert [f.message for f in result.findings] == [
        "the image runs Python 3.11.9, requirements/deploy.txt was compiled with Python 3.12"]
    why = ("several lockfiles (a.txt, b.txt) and Dockerfile installs from none of them: "
           "name the image's in [tool.shipready.parity] lockfile")
    skipped = parity.check_python_locks("3.11.9", [], None, why)
    assert skipped.summary == f"image Python 3.11.9; {why}, and host_python is off"
    headerless = parity.check_python_locks("3.11.9", [parity.LockPython("r.txt")], None)
    assert "r.txt names no Python (no pip-compile header)" in headerless.summary


def test_bootstrap_tools_are_allowed_whatever_allow_extra_says() -> None:
    lock = tool_lock("uv-app", "uv.lock")
    expected = parity.expected_from_toollock(lock, LINUX, lockselect.runtime_only("here"))
    image = facts({**UV_APP_RUNTIME, "pip": "25.3", "setuptools": "80.0", "wheel": "0.45"})
    assert parity.check_packages(image, expected, ("gunicorn",)).status == Status.PASSED


def test_parity_lockfile_accepts_a_list(tmp_path: Path) -> None:
    from pytest_shipready.config import ConfigError, parse

    cfg = parse({"parity": {"lockfile": ["requirements/main.txt", "requirements/deploy.txt"]}})
    assert cfg.parity.lockfiles == ("requirements/main.txt", "requirements/deploy.txt")
    assert parse({"parity": {"lockfile": "uv.lock"}}).parity.lockfiles == ("uv.lock",)
    assert parse({}).parity.lockfiles == ()
    with pytest.raises(ConfigError, match=r"parity.lockfile = 3: must be a string or an "
                                          r"array of strings, not an integer"):
        parse({"parity": {"lockfile": 3}})
    with pytest.raises(ConfigError, match=r"parity.lockfile\[1\] = 2: must be a string"):
        parse({"parity": {"lockfile": ["a.txt", 2]}})


def test_the_interpreter_the_app_runs_comes_first() -> None:
    """`poetry run` execs a bare `python` under $VIRTUAL_ENV; a console script's shebang
    puts the venv's python in argv[0]; tini and shells are not interpreters."""
    listing = ("1|/usr/bin/tini -- /app/bin/run.sh server |\n"
               "7|python -m telescope |VIRTUAL_ENV=/home/app/.cache/pypoetry/virtualenvs/t-py3.13\n"
               "9|/app/.venv/bin/python3 /app/.venv/bin/gunicorn app:app |\n"
               "12|sh -c for p in /proc/[0-9]*; do ... |\n")
    live = parity.running_interpreters(listing)
    assert live == ["/home/app/.cache/pypoetry/virtualenvs/t-py3.13/bin/python",
                    "/app/.venv/bin/python3"]
    order = parity.interpreters(("/app/bin/run.sh", "server"), {}, "", live)
    assert order[:2] == live and order[-2:] == ["python3", "python"]
    assert parity.interpreters((), {}, "/opt/py/bin/python", live) == ["/opt/py/bin/python"]
