"""The logs area as users run it: SR510 on copies of the example, the log-capture fixture,
and the container-log items fed by a log source."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready.checks import ContainerLogs, NoContainerLogs, RunContext, Status
from pytest_shipready.config import LogsConfig, Settings, ShipreadyConfig
from pytest_shipready.logs import area as logs_area
from pytest_shipready.logs.setup import check_setup, discover
from pytest_shipready.plugin import format_failure

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example, with no Docker engine: SR510 runs the setup on the host
    only (in the session container too where an engine answers: test_logs_in_image)."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return pytester.path


PLAIN_STDLIB_SETUP = '''
import logging
import sys

import structlog


def configure() -> None:
    """structlog renders JSON, but stdlib records bypass it: basicConfig's plain format."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    # As logging.basicConfig(format=...) would, but basicConfig is a no-op under pytest
    # (pytest's own handlers are already on the root logger).
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
'''


# --- SR510 through pytest --shipready ------------------------------------------------------


def test_example_setup_passes_with_zero_config(pytester: pytest.Pytester,
                                               project: Path) -> None:
    result = pytester.runpytest("--shipready", "-k", "SR510", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*SR510*setup*PASSED*app.logconfig:configure: structlog and stdlib "
        "records render structured (4 lines)*",
    ])


def test_app_without_structlog_has_its_stdlib_logging_checked(
    pytester: pytest.Pytester
) -> None:
    # structlog is importable (pytest-shipready depends on it), but the app does not use
    # it: its stdlib JSON logging passes, and no structlog event is asked for.
    shutil.copytree(FIXTURES / "stdlib-logging-app", pytester.path, dirs_exist_ok=True)
    result = pytester.runpytest("--shipready", "-k", "SR510", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*SR510*setup*PASSED*app.logconfig:configure: stdlib records render structured "
        "(2 lines); structlog not probed: the setup does not import it*",
    ])
    assert "structlog event" not in result.stdout.str()


def test_mozlog_app_passes_with_its_preset_and_fails_without(
    pytester: pytest.Pytester
) -> None:
    shutil.copytree(FIXTURES / "mozlog-app", pytester.path, dirs_exist_ok=True)
    result = pytester.runpytest("--shipready", "-k", "SR510", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*SR510*PASSED*app.logconfig:configure: stdlib records "
                                 "render structured (2 lines)*"])
    # Without the preset: the keys are found (Severity, Timestamp are aliases), but a
    # numeric severity and a nanosecond timestamp are not valid by default.
    pyproject = pytester.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('preset = "mozlog"', ""))
    result = pytester.runpytest("--shipready", "-k", "SR510")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert ("SR502 2 of 2 lines checked lack a required key; SR503 2 of 2 lines checked "
            "have a bad level or timestamp") in out
    assert "[SR502] no event key (event/message/msg): " in out
    assert 'set preset = "mozlog" / "ecs" / "gcp"' in out
    # An explicit key still wins over the preset.
    pyproject.write_text(pyproject.read_text() + 'preset = "mozlog"\nnumeric_levels = "none"\n')
    result = pytester.runpytest("--shipready", "-k", "SR510")
    result.assert_outcomes(failed=1)
    assert "[SR503] level 4 is a number, not a level name: " in result.stdout.str()


def test_logfmt_setup_in_a_json_project_hints_at_the_format(
    pytester: pytest.Pytester
) -> None:
    shutil.copytree(FIXTURES / "stdlib-logging-app", pytester.path, dirs_exist_ok=True)
    config = pytester.path / "app" / "logconfig.py"
    config.write_text(config.read_text().replace(
        "        return json.dumps(event)",
        "        return \" \".join(f\"{k}={json.dumps(v) if ' ' in str(v) else v}\"\n"
        "                        for k, v in event.items() if k != 'exception')"))
    result = pytester.runpytest("--shipready", "-k", "SR510")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "the stdlib logging record came out as plain text: timestamp=" in out
    assert ('SR501 2 of 2 lines checked are not JSON objects; 2 of them are logfmt '
            '(key=value): if that is your format, set [tool.shipready.logs] format = '
            '"logfmt"') in out
    (pytester.path / "pyproject.toml").write_text('[tool.shipready.logs]\nformat = "logfmt"\n')
    result = pytester.runpytest("--shipready", "-k", "SR510", "-rA")
    result.assert_outcomes(passed=1)


def test_stdlib_bypassing_structlog_fails_and_shows_the_line(
    pytester: pytest.Pytester, project: Path
) -> None:
    (project / "app" / "logconfig.py").write_text(PLAIN_STDLIB_SETUP)
    result = pytester.runpytest("--shipready", "-k", "SR510")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "SR510 setup: app.logconfig:configure: the stdlib logging record is not " \
           "structured" in out
    result.stdout.fnmatch_lines([
        "*app.logconfig:configure output:*: the stdlib logging record came out as plain "
        "text: * WARNING shipready.probe.library: shipready-probe-stdlib record",
        "*fix: *ProcessorFormatter*",
        "*output:5: [[]SR501[]] part of a raw traceback: Traceback (most recent call last):",
    ])
    assert "Traceback" not in out.split("SR510 setup:")[0]  # no traceback of ours


def test_json_setup_in_a_logfmt_project_says_so(pytester: pytest.Pytester,
                                                 project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.shipready.logs]\nformat = "logfmt"\n')
    result = pytester.runpytest("--shipready", "-k", "SR510")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "the stdlib logging record came out as JSON, not logfmt: {" in out
    assert "plain text" not in out
    assert "LogfmtRenderer()]) instead of logging.basicConfig" in out


def test_configured_setup_that_does_not_import_fails(pytester: pytest.Pytester,
                                                     project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.shipready.logs]\nsetup = "app.nolog:configure"\n')
    result = pytester.runpytest("--shipready", "-k", "SR510")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*the logging setup app.nolog:configure cannot be imported; run on the host "
        "only: no Docker engine*",
        "*ModuleNotFoundError: No module named 'app.nolog'",
    ])


def test_no_setup_found_skips_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(mypkg__init__="")
    result = pytester.runpytest("--shipready", "-k", "SR510", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no logging setup found (looked for configure()*"
                                 "name it in [[]tool.shipready.logs[]] setup*"])


def test_container_items_skip_without_an_engine(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Selected alone they start the container they need (test_docker_areas); without an
    # engine they say why they could not.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = pytester.runpytest("--shipready", "-k", "logs and not SR510", "-rs")
    result.assert_outcomes(skipped=5)
    result.stdout.fnmatch_lines([
        "*shipready::logs::structured: no container logs: the smoke container did not run "
        "(no Docker engine (see shipready::image::build))"])


# --- SR510 directly -------------------------------------------------------------------------


def test_setup_that_prints_plain_text_fails(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "__init__.py").write_text("")
    (tmp_path / "svc" / "logging_setup.py").write_text(textwrap.dedent('''
        import logging
        def setup_logging():
            print("logging configured")
            logging.basicConfig(format="%(message)s")
        '''))
    assert discover(tmp_path) is not None
    result = check_setup(tmp_path, LogsConfig())
    assert result.status == Status.FAILED
    text = format_failure(result)
    assert "svc.logging_setup:setup_logging" in text
    assert "logging configured" in text
    # The setup does not import structlog: only its stdlib logging is judged.
    assert result.summary.startswith(
        "svc.logging_setup:setup_logging: the stdlib logging record is not structured; ")
    assert "structlog event" not in text and "shipready-probe-structlog" not in text


def test_setup_importing_structlog_without_configuring_it_fails_saying_so(
    tmp_path: Path
) -> None:
    (tmp_path / "logconfig.py").write_text(
        (FIXTURES / "stdlib-logging-app" / "app" / "logconfig.py").read_text()
        .replace("import json\n", "import json\n\nimport structlog  # noqa: F401\n"))
    result = check_setup(tmp_path, LogsConfig())
    assert result.status == Status.FAILED
    assert result.summary.startswith("logconfig:configure: the structlog event is not "
                                     "structured")
    assert "never calls structlog.configure()" in format_failure(result)


def test_setup_that_never_returns_times_out(tmp_path: Path) -> None:
    (tmp_path / "logconfig.py").write_text("import time\ndef configure():\n  time.sleep(30)\n")
    result = check_setup(tmp_path, LogsConfig(setup_timeout=1.0))
    assert result.status == Status.FAILED
    assert "did not finish within 1 s" in result.summary


# --- the container-log items, fed by a source --------------------------------------------------


def _run_area(lines: list[bytes], env: dict[str, str] | None = None,
              cfg: LogsConfig | None = None) -> dict[str, object]:
    settings = Settings(Path("."), None, ShipreadyConfig(logs=cfg or LogsConfig()))
    context = RunContext()
    context.container_logs = lambda: ContainerLogs(lines, env or {})
    planned = logs_area.plan_with(settings, logs_area.from_context(context))
    return {c.name: c.run() for c in planned if c.check_id != "SR510"}


STRUCTURED = [
    b'{"event": "listening", "level": "info", "timestamp": "2026-05-01T12:00:00Z"}',
    b'{"event": "not_found", "path": "/x", "level": "warning", '
    b'"timestamp": "2026-05-01T12:00:01Z"}',
]


def test_structured_container_output_passes_every_item() -> None:
    failing = (b'{"event": "failed", "level": "error", "timestamp": "2026-05-01T12:00:02Z", '
               b'"exception": [{"exc_type": "ZeroDivisionError", "frames": []}]}')
    got = _run_area([*STRUCTURED, failing], {"DB_PASSWORD": "correct-horse-battery"})
    assert {name: r.status for name, r in got.items()} == {  # type: ignore[attr-defined]
        "structured": Status.PASSED, "required-keys": Status.PASSED,
        "levels-and-timestamps": Status.PASSED, "exceptions-structured": Status.PASSED,
        "no-secrets": Status.PASSED}
    assert got["exceptions-structured"].summary == (  # type: ignore[attr-defined]
        "1 exception logged inside structured lines, no raw tracebacks in 3 lines")
    # Without an exception there is nothing to show how exceptions render: skipped.
    skipped = _run_area(STRUCTURED)["exceptions-structured"]
    assert skipped.status == Status.SKIPPED  # type: ignore[attr-defined]
    assert "[tool.shipready.logs] requests" in skipped.summary  # type: ignore[attr-defined]


def test_plain_text_container_output_fails_and_shows_the_line() -> None:
    got = _run_area([*STRUCTURED, b"Serving HTTP on 0.0.0.0 port 8000 ..."])
    result = got["structured"]
    text = format_failure(result)  # type: ignore[arg-type]
    assert "1 of 3 lines checked are not JSON objects" in text
    assert "container log:3: not a JSON object: Serving HTTP on 0.0.0.0 port 8000 ..." in text


def test_secret_env_value_in_container_output_fails_without_printing_it() -> None:
    secret = "correct-horse-battery"
    leak = (b'{"event": "connecting", "dsn": "db?pw=correct-horse-battery", '
            b'"level": "info", "timestamp": "2026-05-01T12:00:00Z"}')
    got = _run_area([*STRUCTURED, leak], {"DB_PASSWORD": secret, "PORT": "8000"})
    text = format_failure(got["no-secrets"])  # type: ignore[arg-type]
    assert "SR505 no-secrets: 1 of 3 lines checked contain a secret" in text
    assert "container log:3: contains the value of $DB_PASSWORD" in text
    assert secret not in text
    assert secret not in json.dumps({k: v.to_json() for k, v in got.items()})  # type: ignore[attr-defined]


def test_a_source_that_raises_skips_with_its_reason() -> None:
    def source() -> ContainerLogs:
        raise NoContainerLogs("the smoke container did not run (image build failed)")

    planned = logs_area.plan_with(Settings(Path("."), None, ShipreadyConfig()), source)
    for check in planned[:5]:  # SR501-SR505: nothing to verify, and why
        result = check.run()
        assert result.status == Status.SKIPPED
        assert result.summary == (
            "no container logs: the smoke container did not run (image build failed)")


def test_no_container_area_names_what_enables_the_log_items() -> None:
    context = RunContext()  # no Dockerfile: the container area set no log source
    planned = logs_area.plan_with(Settings(Path("."), None, ShipreadyConfig()),
                                  logs_area.from_context(context))
    result = planned[0].run()
    assert result.status == Status.SKIPPED
    assert "[tool.shipready.image] dockerfile) and a Docker engine" in result.summary


# --- the shipready_log_capture fixture ---------------------------------------------------------


def test_log_capture_fixture_uses_the_real_chain(pytester: pytest.Pytester,
                                                 project: Path) -> None:
    (project / "tests" / "test_logs.py").write_text(textwrap.dedent('''
        import json
        import logging

        import pytest
        import structlog

        from app.logconfig import configure


        @pytest.fixture(scope="session", autouse=True)
        def _app_logging():
            configure()


        log = structlog.get_logger("app")


        def test_events_and_lines(shipready_log_capture):
            log.info("hello", user="bob")
            logging.getLogger("somelib").warning("lib says %s", "hi")
            try:
                1 / 0
            except ZeroDivisionError:
                log.exception("failed")
            events = shipready_log_capture.events
            assert [e["event"] for e in events] == ["hello", "lib says hi", "failed"]
            # processors really ran: capture_logs would have neither of these
            assert events[0]["timestamp"].endswith("Z") and events[0]["level"] == "info"
            assert events[1]["logger"] == "somelib"
            first = json.loads(shipready_log_capture.lines[0])
            assert first["user"] == "bob"
            assert json.loads(shipready_log_capture.lines[2])["exception"][0]["exc_type"] \\
                == "ZeroDivisionError"
            shipready_log_capture.assert_structured()


        def test_chain_is_restored_after_the_fixture():
            chain = structlog.get_config()["processors"]
            assert chain[-1] is structlog.stdlib.ProcessorFormatter.wrap_for_formatter
            handler = logging.getLogger().handlers[0]
            assert "format" not in vars(handler)
            names = [type(p).__name__ for p in handler.formatter.processors]
            assert names[-1] == "JSONRenderer"
        '''))
    result = pytester.runpytest_subprocess("tests/test_logs.py", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_log_capture_fixture_catches_plain_stdlib_output(pytester: pytest.Pytester,
                                                         project: Path) -> None:
    (project / "app" / "logconfig.py").write_text(PLAIN_STDLIB_SETUP)
    (project / "tests" / "test_logs.py").write_text(textwrap.dedent('''
        import logging

        import structlog

        from app.logconfig import configure

        configure()
        log = structlog.get_logger()
        log.info("cached before the fixture")  # PrintLogger chain, cached on first use


        def test_plain(shipready_log_capture):
            log.info("direct", n=1)
            logging.getLogger("somelib").warning("plain %s", "text")
            assert [e["event"] for e in shipready_log_capture.events] == ["direct"]
            shipready_log_capture.assert_structured()
        '''))
    result = pytester.runpytest_subprocess("tests/test_logs.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: captured logs are not structured:",
        "*SR501: 1 of 2 lines checked are not JSON objects",
        "*captured log:2: not a JSON object: * WARNING somelib: plain text",
    ])


def test_log_capture_fixture_uses_the_projects_logs_settings(pytester: pytest.Pytester,
                                                              project: Path) -> None:
    with (project / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.shipready.logs]\nformat = "logfmt"\n')
    (project / "tests" / "test_logs.py").write_text(textwrap.dedent('''
        import structlog

        from pytest_shipready.config import LogsConfig


        def test_logfmt(shipready_log_capture):
            structlog.configure(processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.LogfmtRenderer(),
            ], logger_factory=structlog.PrintLoggerFactory())
            shipready_log_capture.attach()
            structlog.get_logger().info("login", user="bob")
            assert "event=login level=info" in shipready_log_capture.lines[0]
            shipready_log_capture.assert_structured()  # logfmt, as pyproject.toml says
            failed = [r.check_id for r in shipready_log_capture.check(LogsConfig())
                      if r.status.value == "failed"]
            assert failed == ["SR501"]  # read as JSON, the same line fails
        '''))
    result = pytester.runpytest_subprocess("tests/test_logs.py")
    result.assert_outcomes(passed=1)


# --- the example service's real output (run on the host, as the container would run it) ------


def run_service(project: Path, env: dict[str, str] | None = None) -> list[bytes]:
    """Start ``python -m app``, probe /health, request a 404, SIGTERM: all its output."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=project, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1", **(env or {})})
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the service did not become ready"
                time.sleep(0.05)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/shipready-not-found", timeout=5)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out.splitlines()


def test_example_service_output_passes_every_container_item(example: Path) -> None:
    lines = run_service(example, {"API_TOKEN": "tok-5d41402abc4b2a76b9719d911017c592"})
    assert len(lines) >= 5  # listening, requests, not_found, stopping, stopped
    got = _run_area(lines, {"API_TOKEN": "tok-5d41402abc4b2a76b9719d911017c592"})
    assert {name: r.status for name, r in got.items()} == {  # type: ignore[attr-defined]
        **dict.fromkeys(["structured", "required-keys", "levels-and-timestamps",
                         "no-secrets"], Status.PASSED),
        # The example logs no exception on its probed paths: nothing to judge.
        "exceptions-structured": Status.SKIPPED}
    assert got["no-secrets"].summary.endswith(  # type: ignore[attr-defined]
        "free of secrets (the 1 secret env value of $API_TOKEN; 6 common secret shapes)")


def test_example_printing_plain_text_fails_structured(example: Path) -> None:
    server = example / "app" / "server.py"
    # Drop the override: http.server's own plain-text access log reaches the output.
    source = server.read_text()
    start = source.index("    def log_message")
    end = source.index("def make_server")
    server.write_text(source[:start] + "\n\n" + source[end:])
    got = _run_area(run_service(example))
    result = got["structured"]
    assert result.status == Status.FAILED  # type: ignore[attr-defined]
    text = format_failure(result)  # type: ignore[arg-type]
    assert "lines checked are not JSON objects" in text
    assert '"GET /health HTTP/1.1" 200 -' in text


def test_example_logging_a_secret_env_value_fails_without_printing_it(example: Path) -> None:
    secret = "pg-Secret-8c1f0e3b"
    server = example / "app" / "server.py"
    server.write_text(server.read_text().replace(
        '    log.info("listening", host=host, port=server.server_address[1])',
        '    log.info("listening", host=host, port=server.server_address[1],\n'
        '             database=f"postgres://app@db/app?sslmode=require&pw={os.environ['
        '\'DATABASE_PASSWORD\']}")'))
    env = {"DATABASE_PASSWORD": secret}
    got = _run_area(run_service(example, env), env)
    result = got["no-secrets"]
    assert result.status == Status.FAILED  # type: ignore[attr-defined]
    text = format_failure(result)  # type: ignore[arg-type]
    assert "contains the value of $DATABASE_PASSWORD" in text
    assert secret not in text
    assert secret not in json.dumps([r.to_json() for r in got.values()])  # type: ignore[attr-defined]
    assert got["structured"].status == Status.PASSED  # type: ignore[attr-defined]
