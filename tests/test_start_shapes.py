"""Shell start commands and migrations at start (issue 21, items 6 and 7).

`CMD ["sh", "-c", "python -m app.migrate && python -m app"]`: the shell is PID 1 and
does not pass SIGTERM on (SR304 says so and names `exec`), SR207 shows the chain, SR406
imports what the chain runs; an entrypoint script and Procfile lines are followed too.
A start command that migrates (manage.py migrate, alembic upgrade, flask db upgrade)
fails SR209 with the release-phase fix. Unit tests of the pure parts, the static items
through pytester, and the runtime verdicts against the real engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready.checks import Status
from pytest_shipready.container.inspect import integrity
from pytest_shipready.container.run import smoke
from pytest_shipready.dockerfile import command, parser

FIXTURES = Path(__file__).parent / "fixtures"
ENTRYPOINT = (FIXTURES / "entrypoint-script" / "docker-entrypoint.sh").read_text()


def reader(files: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda name: files.get(name.rsplit("/", 1)[-1])


# --- what a start command runs ----------------------------------------------------------


@pytest.mark.parametrize(("argv", "chain"), [
    (["sh", "-c", "python -m app.migrate && python -m app.server"],
     "`python -m app.migrate`, then `python -m app.server`"),
    (["/bin/bash", "-ec", "cd /srv; exec gunicorn pkg.wsgi:app"],
     "`gunicorn pkg.wsgi:app` (exec)"),
    (["docker-entrypoint.sh", "python", "-m", "app"],
     "`python -m app.migrate`, then `alembic upgrade head`, then `python -m app` (exec)"),
    (["sh", "docker-entrypoint.sh", "gunicorn", "a:b"],
     "`python -m app.migrate`, then `alembic upgrade head`, then `gunicorn a:b` (exec)"),
    (["python", "-m", "app"], "`python -m app`"),
])
def test_start_steps(argv: list[str], chain: str) -> None:
    read = reader({"docker-entrypoint.sh": ENTRYPOINT})
    assert command.chain(command.start_steps(argv, read)) == chain


def test_start_command_shows_the_chain() -> None:
    df = parser.parse('FROM python:3.11-slim\nCMD ["sh", "-c", "python -m app.migrate && '
                      'python -m app.server"]\n')
    result = command.check_start_command(df, df.stages[-1], "the final stage", (), None)
    assert result.summary == (
        "the final stage starts `sh -c 'python -m app.migrate && python -m app.server'` "
        "(CMD (line 2)), which runs `python -m app.migrate`, then `python -m app.server`")


def test_imports_follow_shells_scripts_and_exec() -> None:
    read = reader({"docker-entrypoint.sh": ENTRYPOINT,
                   "start.sh": "#!/bin/sh\nexec uvicorn pkg.main:app --host 0.0.0.0\n"})
    assert integrity.command_targets(["docker-entrypoint.sh", "gunicorn", "-c",
                                      "python:pkg.conf", "pkg.wsgi:app"], read) == \
        ["app", "pkg.wsgi:app"]
    assert integrity.command_programs(["docker-entrypoint.sh", "gunicorn", "pkg.wsgi:app"],
                                      read) == ["app.migrate"]
    assert integrity.command_targets(["/srv/start.sh"], read) == ["pkg.main:app"]
    assert integrity.command_targets(["sh", "-c", "python -m a.b&&python -m c"]) == ["a", "c"]
    assert integrity.command_programs(["sh", "-c", "python -m a.b&&python -m c"]) == \
        ["a.b", "c"]


# --- SR304: the shell as PID 1 ------------------------------------------------------------


def test_shell_pid1_is_named_and_the_fix_is_exec() -> None:
    pid1 = ("sh", "-c", "python -m app.migrate && python -m app")
    result = smoke.shutdown_verdict(137, 3.1, 3, (0,), "SIGTERM", b"", pid1)
    assert result.summary == ("ignored SIGTERM: PID 1 is a shell, killed after the 3 s grace "
                              "period")
    (finding,) = result.findings
    assert finding.message.startswith(
        "PID 1 is a shell (`sh -c 'python -m app.migrate && python -m app'`): it does not "
        "pass SIGTERM on to the program it started")
    assert "`exec`" in finding.hint and "tini" in finding.hint
    assert "exec form" not in finding.hint
    other = smoke.shutdown_verdict(137, 3.1, 3, (0,), "SIGTERM", b"", ("python", "-m", "x"))
    assert other.findings[0].message.startswith("PID 1 (`python -m x`) did not exit")


# --- SR209: migrations at every start -------------------------------------------------------


@pytest.mark.parametrize(("text", "fails"), [
    ("python manage.py migrate --noinput && gunicorn mysite.wsgi", True),
    ("./manage.py migrate && exec gunicorn mysite.wsgi", True),
    ("django-admin migrate; uvicorn a:b", True),
    ("alembic -c alembic.ini upgrade head && uvicorn a:b", True),
    ("python -m alembic upgrade head && uvicorn a:b", True),
    ("flask --app app db upgrade && gunicorn app:app", True),
    ("python manage.py makemigrations --check && gunicorn a:b", False),
    ("python manage.py collectstatic --noinput && gunicorn a:b", False),
    ("alembic current && gunicorn a:b", False),
    ("gunicorn a:b", False),
])
def test_migrations_in_a_start_command(text: str, fails: bool) -> None:
    start = command.StartCommand(text, "the Procfile's web process", "Procfile")
    result = command.check_start_migrations([start], lambda name: None)
    assert (result.status == Status.FAILED) == fails, result


def test_migrations_in_an_entrypoint_script_and_the_release_process() -> None:
    df = parser.parse('FROM python:3.11-slim\nENTRYPOINT ["docker-entrypoint.sh"]\n'
                      'CMD ["gunicorn", "a:b"]\n')
    found = command.image_command(df, df.stages[-1])
    assert found is not None
    read = reader({"docker-entrypoint.sh": ENTRYPOINT})
    result = command.check_start_migrations([found], read)
    assert result.status == Status.FAILED
    (finding,) = result.findings
    assert finding.message.startswith(
        "ENTRYPOINT (line 2) + CMD (line 3) `docker-entrypoint.sh gunicorn a:b` runs `alembic "
        "upgrade head` (docker-entrypoint.sh, line 6) at every start")
    assert "Kubernetes Job" in finding.hint and "`release:`" in finding.hint
    assert "[tool.shipready.disable] SR209" in finding.hint
    web = command.StartCommand("gunicorn a:b", "the Procfile's web process", "Procfile")
    ok = command.check_start_migrations([web], read, "python manage.py migrate")
    assert ok.status == Status.PASSED
    assert ok.summary == ("no schema migration at start in the Procfile's web process (the "
                          "Procfile's release process migrates: `python manage.py migrate`)")


# --- as users run it --------------------------------------------------------------------


def sample(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name.replace("-", "")
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc", "pyproject.toml"))
    shutil.copytree(FIXTURES / name, target, dirs_exist_ok=True)
    return target


def test_static_items_on_the_entrypoint_script(pytester: pytest.Pytester, tmp_path: Path
                                               ) -> None:
    project = sample(tmp_path, "entrypoint-script")
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR207 or SR209",
                                "-p", "no:cacheprovider", "-p", "no:randomly", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert ("the final stage starts `docker-entrypoint.sh python -m app` (ENTRYPOINT (line "
            "18) + CMD (line 19)), which runs `python -m app.migrate`, then `alembic upgrade "
            "head`, then `python -m app` (exec)") in out, out
    assert ("SR209 no-migrate-on-start: 2 start commands run schema migrations at every "
            "start") in out, out
    assert ("Procfile: the Procfile's web process `docker-entrypoint.sh python -m app` runs "
            "`alembic upgrade head` (docker-entrypoint.sh, line 6) at every start") in out


@pytest.mark.docker
def test_shell_as_pid1_against_the_engine(tmp_path: Path) -> None:
    from test_validation_shapes import readiness

    project = sample(tmp_path, "shell-start")
    proc, results = readiness(project, "-k", "SR207 or SR301 or SR304 or SR406")
    stop = results["smoke::graceful-shutdown"]
    assert stop["status"] == "failed", (stop, proc.stdout[-3000:])
    assert stop["summary"] == ("ignored SIGTERM: PID 1 is a shell, killed after the 3 s grace "
                               "period")
    (finding,) = stop["findings"]  # type: ignore[misc]
    assert finding["message"].startswith(
        "PID 1 is a shell (`sh -c 'python -m app.migrate && python -m app'`)"), finding
    assert "`exec`" in finding["hint"] and "exec form" not in finding["hint"]
    start = str(results["dockerfile::Dockerfile::start-command"]["summary"])
    assert start.endswith("which runs `python -m app.migrate`, then `python -m app`"), start
    imports = results["parity::imports"]
    assert imports["status"] == "passed", (imports, proc.stdout[-3000:])
    assert ("app.migrate (`python -m app.migrate` in the image's command: found and "
            "compiled, not run)") in str(imports["summary"]), imports


@pytest.mark.docker
def test_entrypoint_script_and_procfile_against_the_engine(tmp_path: Path) -> None:
    from test_validation_shapes import readiness

    project = sample(tmp_path, "entrypoint-script")
    proc, results = readiness(project, "-k", "SR301 or SR304 or SR406 or SR209")
    # `exec "$@"`: the server is PID 1 and hears the stop
    stop = results["smoke::graceful-shutdown"]
    assert stop["status"] == "passed", (stop, proc.stdout[-3000:])
    imports = results["parity::imports"]
    assert imports["status"] == "failed", (imports, proc.stdout[-3000:])
    messages = [f["message"] for f in imports["findings"]]  # type: ignore[union-attr]
    assert len(messages) == 1 and messages[0].startswith(
        "app.worker (`python -m app.worker` in the Procfile's worker process: found and "
        "compiled, not run): ModuleNotFoundError: No module named 'app.worker'"), messages
    assert results["dockerfile::Dockerfile::no-migrate-on-start"]["status"] == "failed"
