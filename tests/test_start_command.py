"""SR207 start-command and SR208 production-server, from the Dockerfile text."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_shipready.checks import Status
from pytest_shipready.dockerfile import command, parser


def _df(text: str) -> parser.Dockerfile:
    return parser.parse(text, "Dockerfile")


def start(text: str, smoke: tuple[str, ...] = (), procfile: str | None = None
          ) -> tuple[Status, str, str]:
    df = _df(text)
    result = command.check_start_command(df, df.stages[-1], "the final stage", smoke, procfile)
    message = result.findings[0].message if result.findings else ""
    return result.status, result.summary, message


def test_no_cmd_fails_naming_the_inherited_interpreter() -> None:
    status, summary, message = start("FROM python:3.12-slim\nRUN pip install flask\n",
                                     procfile="gunicorn app:app")
    assert status == Status.FAILED
    assert summary == "no CMD or ENTRYPOINT in the final stage: it runs python:3.12-slim's"
    assert "`python3`, an interactive interpreter that exits at once" in message
    assert "The Procfile's web process is `gunicorn app:app`" in message


def test_cmd_of_an_earlier_stage_counts_and_the_pass_names_it() -> None:
    status, summary, _ = start('FROM python:3.11-slim AS base\nCMD ["python", "-m", "app"]\n'
                               "FROM base\nRUN true\n")
    assert status == Status.PASSED
    assert summary == "the final stage starts `python -m app` (CMD (line 2))"


def test_entrypoint_and_cmd_are_shown_together() -> None:
    status, summary, _ = start('FROM debian:bookworm-slim\nENTRYPOINT ["/docker-entrypoint.sh"]'
                               '\nCMD ["serve"]\n')
    assert status == Status.PASSED and "`/docker-entrypoint.sh serve`" in summary
    assert "ENTRYPOINT (line 2) + CMD (line 3)" in summary


def test_a_declared_platform_command_passes_and_says_so() -> None:
    status, summary, _ = start("FROM python:3.11-slim\n", smoke=("gunicorn", "app:app"))
    assert status == Status.PASSED
    assert "[tool.shipready.smoke] command (`gunicorn app:app`)" in summary


@pytest.mark.parametrize(("cmd", "why"), [
    ('CMD ["flask", "run", "--host=0.0.0.0"]', "Flask's development server"),
    ('CMD ["python", "-m", "flask", "--app", "app", "run"]', "Flask's development server"),
    ("CMD fastapi dev app/main.py", "fastapi dev"),
    ('CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--reload"]', "--reload"),
    ('CMD ["gunicorn", "--reload", "app:app"]', "--reload"),
    ('CMD ["python", "manage.py", "runserver", "0.0.0.0:8000"]', "Django's development"),
    ('CMD ["uv", "run", "gunicorn", "app:app"]', "`uv run` syncs the environment"),
    ("CMD python -m http.server 8000", "http.server"),
    ('CMD ["watchmedo", "auto-restart", "--", "python", "worker.py"]', "auto-reloader"),
])
def test_development_servers_fail(cmd: str, why: str) -> None:
    df = _df(f"FROM python:3.11-slim\n{cmd}\n")
    found = command.image_command(df, df.stages[-1])
    assert found is not None
    result = command.check_production_server([found], {}, lambda name: None)
    assert result.status == Status.FAILED, result
    assert why in result.findings[0].message and result.findings[0].line == 2


@pytest.mark.parametrize("cmd", [
    'CMD ["gunicorn", "app:app", "--bind", "0.0.0.0:8000"]',
    'CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0"]',
    'CMD ["uv", "run", "--no-sync", "gunicorn", "app:app"]',
    'CMD ["python", "-m", "app"]',
    'CMD ["/app/.venv/bin/granian", "--interface", "asgi", "app:app"]',
])
def test_production_servers_pass_and_say_what_was_checked(cmd: str) -> None:
    df = _df(f"FROM python:3.11-slim\n{cmd}\n")
    found = command.image_command(df, df.stages[-1])
    assert found is not None
    result = command.check_production_server([found], {}, lambda name: None)
    assert result.status == Status.PASSED
    assert result.summary == "no development server or auto-reload in CMD (line 2)"


def test_uv_no_sync_in_the_environment_is_honoured() -> None:
    df = _df('FROM python:3.11-slim\nENV UV_NO_SYNC=1\nCMD ["uv", "run", "gunicorn", "a:b"]\n')
    found = command.image_command(df, df.stages[-1])
    assert found is not None
    result = command.check_production_server([found], df.variables(df.stages[-1]),
                                             lambda name: None)
    assert result.status == Status.PASSED


def test_scripts_and_python_files_the_command_runs_are_read(tmp_path: Path) -> None:
    (tmp_path / "start.sh").write_text("#!/bin/sh\nset -e\nexec python manage.py runserver\n")
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n"
                                     "if __name__ == '__main__':\n    app.run(port=8000)\n")
    read = command.project_reader(tmp_path, tmp_path)
    for cmd, why in (('CMD ["/start.sh"]', "start.sh: `runserver`"),
                     ("CMD python app.py", "app.py: calls Flask's `app.run()`")):
        df = _df(f"FROM python:3.11-slim\n{cmd}\n")
        found = command.image_command(df, df.stages[-1])
        assert found is not None
        result = command.check_production_server([found], {}, read)
        assert result.status == Status.FAILED and why in result.findings[0].message


@pytest.mark.parametrize(("cmd", "reasons"), [
    ('CMD ["flask", "run", "--reload", "--host=0.0.0.0"]',
     ["`flask run` is Flask's development server", "--reload restarts the server"]),
    ('CMD ["watchfiles", "flask --debug run --host=0.0.0.0"]',
     ["`flask run` is Flask's development server", "an auto-reloader restarts",
      "the Flask debugger is switched on"]),
    ('CMD ["uv", "run", "uvicorn", "app:app", "--reload"]',
     ["--reload restarts the server", "`uv run` syncs the environment"]),
])
def test_every_distinct_reason_of_a_command_is_a_finding(cmd: str, reasons: list[str]
                                                         ) -> None:
    df = _df(f"FROM python:3.11-slim\n{cmd}\n")
    found = command.image_command(df, df.stages[-1])
    assert found is not None
    result = command.check_production_server([found], {}, lambda name: None)
    assert result.status == Status.FAILED
    assert len(result.findings) == len(reasons), result.findings
    for finding, why in zip(result.findings, reasons, strict=True):
        assert finding.message.startswith("CMD (line 2) `") and why in finding.message
        assert finding.line == 2
    assert result.summary == ("1 start command runs a development server "
                              f"({len(reasons)} problems)")


def test_a_script_adds_its_own_reasons_to_the_commands(tmp_path: Path) -> None:
    # The command reloads, and the file it runs is Flask's development server: both.
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n"
                                     "if __name__ == '__main__':\n    app.run(port=8000)\n")
    df = _df('FROM python:3.11-slim\nCMD ["watchmedo", "auto-restart", "--", "python", '
             '"app.py"]\nHEALTHCHECK NONE\n')
    found = command.image_command(df, df.stages[-1])
    assert found is not None
    result = command.check_production_server(
        [found, command.StartCommand("watchmedo auto-restart -- python app.py",
                                     "the Procfile's web process", "Procfile")],
        {}, command.project_reader(tmp_path, tmp_path))
    assert [f.message.split("`: ", 1)[1] for f in result.findings] == [
        "an auto-reloader restarts the process on file changes (development only)",
        "app.py: calls Flask's `app.run()`, the development server"] * 2
    assert result.summary == "2 start commands run a development server (4 problems)"


def test_the_reader_never_leaves_the_project(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (tmp_path / "secret.sh").write_text("flask run\n")
    read = command.project_reader(project, project)
    assert read("../secret.sh") is None and read("/etc/passwd") is None


def test_procfile_web_line() -> None:
    assert command.procfile_web("release: migrate\nweb: gunicorn app:app\n") == "gunicorn app:app"
    assert command.procfile_web("worker: celery\n") is None


def test_nothing_to_check_is_a_skip() -> None:
    result = command.check_production_server([], {}, lambda name: None)
    assert result.status == Status.SKIPPED and "see start-command" in result.summary


def test_a_procfile_service_without_dockerfile_gets_its_web_process_checked(
        pytester: pytest.Pytester) -> None:
    pytester.makefile("", Procfile="web: python manage.py runserver 0.0.0.0:$PORT\n")
    result = pytester.runpytest("--shipready-only", "--shipready-offline", "-k", "dockerfile",
                                "-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1, skipped=7)
    result.stdout.fnmatch_lines([
        "*the Procfile's web process `python manage.py runserver*`: `runserver` is Django's "
        "development server*"])


def test_a_watcher_around_flask_run_reload_lists_every_reason(pytester: pytest.Pytester
                                                              ) -> None:
    """tests/fixtures/flask-reload: `watchmedo auto-restart -- flask run --reload`: three
    problems, each its own finding, on the CMD's line."""
    import shutil

    shutil.copytree(Path(__file__).parent / "fixtures" / "flask-reload", pytester.path,
                    dirs_exist_ok=True)
    result = pytester.runpytest("--shipready-only", "--shipready-offline", "-k",
                                "production-server", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*1 start command runs a development server (3 problems)*",
        "*Dockerfile:9: CMD (line 9) `watchmedo auto-restart*`: `flask run` is Flask's "
        "development server*",
        "*Dockerfile:9: CMD (line 9) `watchmedo auto-restart*`: --reload restarts the server "
        "on file changes (development only)*",
        "*Dockerfile:9: CMD (line 9) `watchmedo auto-restart*`: an auto-reloader restarts the "
        "process on file changes (development only)*",
    ])
