"""Shapes found on real services by the fourth validation pass (a gRPC server, uWSGI from
an ini file, a slow graceful stop, a Celery worker, ...), on sample projects of our own:
each once gave a false verdict or a fix that does not work when followed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from test_docker_integrity import readiness as integrity_readiness

from conftest import remove_kept_image
from pytest_shipready.checks import Status
from pytest_shipready.container.inspect import integrity
from pytest_shipready.container.run import httpprobe, smoke
from pytest_shipready.dockerfile import command, parser, uwsgi

FIXTURES = Path(__file__).parent / "fixtures"


def standalone(tmp_path: Path, name: str) -> Path:
    """A copy of tests/fixtures/<name> alone (these samples are whole projects)."""
    target = tmp_path / f"{name.split('-')[0]}{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURES / name, target)
    return target


def readiness(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                  dict[str, dict[str, object]]]:
    try:
        return integrity_readiness(project, *args)
    finally:
        remove_kept_image(project)


def _set(project: Path, old: str, new: str) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert old in text, text
    pyproject.write_text(text.replace(old, new, 1))


# --- pure parts ------------------------------------------------------------------------


SETTINGS = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00d"


def test_a_non_http_answer_is_named() -> None:
    h2 = "BadStatusLine: " + (SETTINGS + b"\x00\x00\x1a\x07").decode("latin-1")
    assert httpprobe.non_http(h2) == "HTTP/2 frames (a gRPC or HTTP/2-only server)"
    assert httpprobe.non_http("BadStatusLine: \x15\x03\x01\x00\x02\x02P") == \
        "a TLS record (an HTTPS or TLS-only port)"
    assert httpprobe.non_http("BadStatusLine: SSH-2.0-OpenSSH_9.2") == \
        "bytes that are not an HTTP status line: SSH-2.0-OpenSSH_9.2"
    # Nothing answered: not a server of another protocol.
    for error in ("RemoteDisconnected: Remote end closed connection without response",
                  "ConnectionRefusedError: [Errno 111] Connection refused",
                  "TimeoutError: timed out", ""):
        assert httpprobe.non_http(error) == ""
    assert httpprobe.printable("a\x00b\x07") == "a\\x00b\\x07"


STATUS = "Name:\tpython\nSigBlk:\t0000000000000000\nSigIgn:\t{ign}\nSigCgt:\t{cgt}\n"


@pytest.mark.parametrize(("ign", "cgt", "expected"), [
    ("0000000001001000", "0000000000000002", "default"),  # Python: SIGINT only
    ("0000000000000000", "0000000000004002", "caught"),  # a SIGTERM handler (bit 15)
    ("0000000000004000", "0000000000000000", "ignored"),
])
def test_signal_disposition_from_proc_status(ign: str, cgt: str, expected: str) -> None:
    status = STATUS.format(ign=ign, cgt=cgt)
    assert smoke.signal_disposition(status, "SIGTERM") == expected
    assert smoke.signal_disposition("", "SIGTERM") == ""
    assert smoke.signal_disposition(status, "SIGFOO") == ""


def test_a_slow_stop_is_not_an_ignored_signal() -> None:
    log = b"listening\nSIGINT/SIGTERM received...killing workers...\nworker 1 buried\n"
    slow = smoke.shutdown_verdict(137, 10.1, 10, (0,), "SIGTERM", log,
                                  ("uwsgi", "/srv/uwsgi.ini"),
                                  STATUS.format(ign="0", cgt="0000000000004002"))
    assert slow.summary == ("received SIGTERM but did not finish stopping within the 10 s "
                            "grace period, killed")
    (finding,) = slow.findings
    assert "it logged `SIGINT/SIGTERM received...killing workers...`" in finding.message
    assert "grace_period" in finding.hint and "terminationGracePeriodSeconds" in finding.hint
    assert "exec form" not in finding.hint and "ignored" not in slow.summary
    # Python in exec form without a handler: the exec form is no cure.
    plain = smoke.shutdown_verdict(137, 10.1, 10, (0,), "SIGTERM", b"",
                                   ("python", "server.py"),
                                   STATUS.format(ign="0000000001001000", cgt="2"))
    assert plain.summary == "ignored SIGTERM, killed after the 10 s grace period"
    (finding,) = plain.findings
    assert finding.message.startswith("PID 1 (`python server.py`) has no handler for SIGTERM")
    assert "exec form" not in finding.hint
    assert "signal.signal(signal.SIGTERM" in finding.hint and "143" in finding.hint


def test_what_commands_run_python_files_uwsgi_and_celery() -> None:
    assert integrity.command_scripts(["python", "email_server.py"]) == ["email_server.py"]
    assert integrity.command_scripts(["python", "-u", "-W", "ignore", "srv.py"]) == ["srv.py"]
    assert integrity.command_scripts([
        "/venv/bin/opentelemetry-instrument", "/venv/bin/python", "rec_server.py"]) == \
        ["rec_server.py"]
    assert integrity.command_scripts(["python", "-c", "print(1)"]) == []
    assert integrity.command_scripts(["python", "-m", "app"]) == []
    # merino-py: the file FastAPI's CLI serves, through `uv run`
    assert integrity.command_scripts([
        "uv", "run", "--no-project", "fastapi", "run", "merino/main.py", "--port",
        "8000"]) == ["merino/main.py"]
    assert integrity.command_scripts(["fastapi", "run", "--port", "80", "app/main.py"]) \
        == ["app/main.py"]
    assert integrity.command_scripts(["python", "-m", "fastapi", "dev", "main.py"]) == \
        ["main.py"]
    assert integrity.command_scripts(["fastapi", "run"]) == []  # its own discovery
    assert integrity.command_workers(["celery", "-A", "pkg.tasks", "worker", "-l",
                                      "info"]) == ["pkg.tasks"]
    assert integrity.command_workers(["celery", "--app=pkg.celery:app", "worker"]) == \
        ["pkg.celery:app"]
    assert integrity.command_workers(["python", "-m", "celery", "-A", "proj", "beat"]) == \
        ["proj"]
    ini = "[uwsgi]\nchdir = /opt/hc\nmodule = hc.wsgi:application\n"
    read = {"/opt/hc/docker/uwsgi.ini": ini}.get
    assert integrity.command_targets(["uwsgi", "/opt/hc/docker/uwsgi.ini"], read) == \
        ["hc.wsgi:application"]
    assert integrity.command_targets(["uwsgi", "--ini", "/opt/hc/docker/uwsgi.ini"], read) \
        == ["hc.wsgi:application"]
    assert integrity.command_targets(["uwsgi", "--module", "a.wsgi", "--callable", "app"]) \
        == ["a.wsgi:app"]
    assert integrity.command_scripts(["uwsgi", "--wsgi-file", "app.py", "--chdir", "/srv"]) \
        == ["/srv/app.py"]


def test_a_uwsgi_ini_hook_that_migrates_is_sr209() -> None:
    ini = textwrap.dedent("""\
        [uwsgi]
        module = hc.wsgi:application
        hook-pre-app = exec:./manage.py migrate
        attach-daemon = ./manage.py sendalerts
        exec-asap = echo hello
        """)
    df = parser.parse('FROM python:3.13-slim\nCMD ["uwsgi", "/opt/hc/docker/uwsgi.ini"]\n')
    found = command.image_command(df, df.stages[-1])
    assert found is not None
    read = {"/opt/hc/docker/uwsgi.ini": ini}.get
    result = command.check_start_migrations([found], read)
    assert result.status == Status.FAILED
    (finding,) = result.findings
    assert finding.message.startswith(
        'CMD (line 2) `uwsgi /opt/hc/docker/uwsgi.ini` runs `./manage.py migrate` '
        '(uwsgi.ini, line 3 (hook-pre-app)) at every start'), finding.message
    assert [o.key for o in uwsgi.ini_options(ini, "uwsgi.ini")] == [
        "module", "hook-pre-app", "attach-daemon", "exec-asap"]
    # Without the hook: nothing migrates.
    calm = {"/opt/hc/docker/uwsgi.ini": "[uwsgi]\nmodule = hc.wsgi\n"}.get
    assert command.check_start_migrations([found], calm).status == Status.PASSED


@pytest.mark.parametrize("text", [
    "poetry run alembic upgrade head && poetry run uvicorn --host=0.0.0.0 app.main:app",
    "sh -c 'alembic upgrade head && exec uvicorn app.main:app'",
])
def test_migrations_in_a_shell_cmd(text: str) -> None:
    df = parser.parse(f"FROM python:3.11-slim\nCMD {text}\n")
    found = command.image_command(df, df.stages[-1])
    assert found is not None
    assert command.check_start_migrations([found], lambda n: None).status == Status.FAILED


def _imports(workdir: Path, targets: list[list[str]]) -> list[dict[str, object]]:
    """The SR406 program run by this interpreter in ``workdir``, as in the image."""
    out = subprocess.run([sys.executable, "-c", integrity.IMPORTS,
                          json.dumps({"dists": [], "targets": targets})],
                         cwd=workdir, capture_output=True, text=True, timeout=60).stdout
    return [json.loads(line.partition(integrity.MARK)[2]) for line in out.splitlines()
            if line.startswith(integrity.MARK) and "target" in line]


def test_the_imports_program_checks_scripts_without_running_them(tmp_path: Path) -> None:
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "__init__.py").write_text("")
    (tmp_path / "service" / "frames.py").write_text("X = 1\n")
    (tmp_path / "server.py").write_text(
        "import os\nfrom service.frames import X\ntry:\n    import nope_optional\n"
        "except ImportError:\n    pass\nraise SystemExit('ran!')\n")
    (tmp_path / "broken.py").write_text("import os\nimport not_installed_anywhere\n")
    (tmp_path / "syntax.py").write_text("def f(:\n")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "__init__.py").write_text("")
    (tmp_path / "proj" / "celery.py").write_text("app = object()\n")
    events = {e["target"]: e for e in _imports(tmp_path, [
        ["server.py", "o", "script"], ["broken.py", "o", "script"],
        ["syntax.py", "o", "script"], ["gone.py", "o", "script"],
        ["proj.celery", "o", "celery"], ["proj.celery.app", "o", "celery"],
        ["proj.nothing", "o", "celery"]])}
    assert events["server.py"]["ok"] and not events["server.py"]["skipped"]
    assert not events["broken.py"]["ok"]
    assert "No module named 'not_installed_anywhere' (imported by broken.py)" in str(
        events["broken.py"]["error"])
    assert not events["syntax.py"]["ok"] and "SyntaxError" in str(events["syntax.py"]["error"])
    assert events["gone.py"]["ok"] and str(events["gone.py"]["skipped"]).startswith(
        "not found in ")
    assert events["proj.celery"]["ok"] and events["proj.celery.app"]["ok"]
    assert not events["proj.nothing"]["ok"]
    run = integrity.parse_imports("\n".join(
        integrity.MARK + json.dumps(e) for e in events.values()))
    result = integrity.check_imports(run, "python3")
    assert result.status == Status.FAILED and len(result.findings) == 3
    good = integrity.parse_imports("\n".join(
        integrity.MARK + json.dumps(events[t]) for t in ("server.py", "gone.py")))
    passed = integrity.check_imports(good, "python3")
    assert passed.status == Status.PASSED
    assert passed.summary.startswith("1 import succeeded in python3: server.py (o); not "
                                     "checked: gone.py (not found in "), passed.summary


# --- against the engine ------------------------------------------------------------------


@pytest.mark.docker
def test_grpc_like_service_with_ready_log(tmp_path: Path) -> None:
    """emailservice: a gRPC port EXPOSEd, ready_log configured, logs.requests set: the log
    line decides (no 60 s HTTP wait), the request to a port that answers HTTP/2 is no
    crash, SR304 tells Python without a handler (no exec-form fix), SR406 checks
    `python server.py`."""
    project = standalone(tmp_path, "grpc-like-service")
    proc, results = readiness(project, "-k", "smoke or parity or logs")
    assert not [n for n, r in results.items() if r["status"] == "error"], proc.stdout[-3000:]
    ready = results["smoke::ready"]
    assert ready["status"] == "passed", (ready, proc.stdout[-3000:])
    assert str(ready["summary"]).startswith("log line /listening on port/ after ")
    assert str(ready["summary"]).endswith("([tool.shipready.smoke] ready_log; no HTTP probe)")
    stop = results["smoke::graceful-shutdown"]
    assert stop["summary"] == "ignored SIGTERM, killed after the 3 s grace period", stop
    (finding,) = stop["findings"]  # type: ignore[misc]
    assert finding["message"].startswith(
        "PID 1 (`python server.py`) has no handler for SIGTERM"), finding
    assert "exec form" not in finding["hint"]
    imports = results["parity::imports"]
    assert imports["status"] == "passed", (imports, proc.stdout[-3000:])
    assert "server.py (run by the image's command: compiled and its imports found, not run)" \
        in str(imports["summary"]), imports


@pytest.mark.docker
def test_grpc_like_service_without_readiness_settings(tmp_path: Path) -> None:
    """No ready_log: the implicit HTTP probe gets HTTP/2 frames and says so at once (no
    60 s FAIL); SR520 on that port is a clean FAIL, not an error; a handler that is
    still stopping when the grace period ends is a slow stop, and raising grace_period
    (its fix) makes SR304 pass."""
    project = standalone(tmp_path, "grpc-like-service")
    _set(project, 'ready_log = "listening on port"\n', 'env = { SLOW_STOP = "5" }\n')
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() +
                                            '\n[tool.shipready.observability]\n'
                                            'metrics_path = "/metrics"\n'
                                            'error_path = "/fail"\n')
    proc, results = readiness(project, "-k", "SR301 or SR304 or SR520 or SR521")
    assert not [n for n, r in results.items() if r["status"] == "error"], proc.stdout[-3000:]
    ready = results["smoke::ready"]
    assert ready["status"] == "passed", (ready, proc.stdout[-3000:])
    assert "port 8080 answered after" in str(ready["summary"])
    assert "not over HTTP (HTTP/2 frames (a gRPC or HTTP/2-only server))" in str(
        ready["summary"]), ready
    assert float(ready["figures"]["seconds"]) < 15  # type: ignore[index]
    for node in ("smoke::metrics", "smoke::error-event"):  # asked, answered: not HTTP
        assert results[node]["status"] == "failed", results[node]
        assert "answered, but not over HTTP: HTTP/2 frames" in json.dumps(results[node])
    stop = results["smoke::graceful-shutdown"]
    assert stop["summary"] == ("received SIGTERM but did not finish stopping within the 3 s "
                               "grace period, killed"), stop
    (finding,) = stop["findings"]  # type: ignore[misc]
    assert "it logged `SIGTERM received, stopping workers...`" in finding["message"]
    # The fix followed: a grace period longer than the stop.
    _set(project, "grace_period = 3", "grace_period = 9")
    proc, results = readiness(project, "-k", "SR304")
    stop = results["smoke::graceful-shutdown"]
    assert stop["status"] == "passed", (stop, proc.stdout[-3000:])


@pytest.mark.docker
def test_uwsgi_ini_service(tmp_path: Path) -> None:
    """healthchecks: `uwsgi /srv/docker/uwsgi.ini` whose ini names the module and migrates
    in hook-pre-app: SR406 imports the module, SR209 names the hook."""
    project = standalone(tmp_path, "uwsgi-ini-service")
    proc, results = readiness(project, "-k", "SR209 or SR301 or SR406")
    imports = results["parity::imports"]
    assert imports["status"] == "passed", (imports, proc.stdout[-3000:])
    assert "app.wsgi:application (the image's command)" in str(imports["summary"]), imports
    migrate = results["dockerfile::Dockerfile::no-migrate-on-start"]
    assert migrate["status"] == "failed", migrate
    assert "runs `python manage.py migrate` (uwsgi.ini, line 7 (hook-pre-app)) at every " \
        "start" in json.dumps(migrate), migrate


@pytest.mark.parametrize(("entrypoint", "syncs"), [
    ('["uv", "run", "--no-project", "fastapi", "run"]', False),  # merino
    ('["uv", "run", "--python", "3.13", "--no-project", "fastapi", "run"]', False),
    ('["uv", "run", "--no-sync", "fastapi", "run"]', False),
    # --frozen leaves the lock alone but still installs what the environment lacks
    ('["uv", "run", "--frozen", "fastapi", "run"]', True),
    ('["uv", "run", "fastapi", "run", "--no-project"]', True),  # fastapi's option, not uv's
])
def test_uv_run_that_does_not_sync_is_not_a_dev_server(entrypoint: str, syncs: bool) -> None:
    df = parser.parse(f"FROM python:3.13-slim\nENTRYPOINT {entrypoint}\n"
                      'CMD ["merino/main.py", "--proxy-headers"]\n')
    found = command.image_command(df, df.stages[-1])
    assert found is not None
    result = command.check_production_server([found], {}, lambda name: None)
    assert (result.status == Status.FAILED) == syncs, result
    if syncs:
        assert "`uv run` syncs the environment at every start" in result.findings[0].message


def test_tmpfs_options_give_the_path_to_the_user() -> None:
    from pytest_shipready.container.engine import tmpfs_options

    # Docker's options first, then Podman's (each engine refuses the other's).
    assert tmpfs_options("1000680000:0") == ["mode=1777,uid=1000680000,gid=0", "U",
                                             "mode=1777"]
    assert tmpfs_options("10001") == ["mode=1777,uid=10001", "U", "mode=1777"]
    assert tmpfs_options("app") == ["mode=1777", "U"]
    assert tmpfs_options("") == ["mode=1777", "U"]


@pytest.mark.docker
@pytest.mark.parametrize("uid", [None, 0])
def test_a_tmpfs_over_a_directory_of_the_image_is_writable(tmp_path: Path,
                                                           uid: int | None) -> None:
    """healthchecks: [tool.shipready.hardened] tmpfs over /data, which the image has (0755,
    owned by its user): the engine gave the tmpfs root as owner, so neither the arbitrary
    uid nor the image's USER could write it; a pod's emptyDir is writable."""
    project = standalone(tmp_path, "tmpfs-data-service")
    if uid is not None:  # keep the image's USER
        (project / "pyproject.toml").write_text(
            (project / "pyproject.toml").read_text() + f"uid = {uid}\n")
    proc, results = readiness(project, "-k", "SR301 or SR310")
    assert results["smoke::ready"]["status"] == "passed", proc.stdout[-3000:]
    hardened = results["smoke::hardened-ready"]
    assert hardened["status"] == "passed", (hardened, proc.stdout[-3000:])
    assert "tmpfs /tmp, /data" in str(hardened["summary"]), hardened


def test_passwd_ids() -> None:
    from pytest_shipready.container.run.hardened import passwd_ids

    text = "root:x:0:0:root:/root:/bin/bash\napp:x:10001:10001::/home/app:/bin/sh\n"
    assert passwd_ids(text, "app") == "10001:10001"
    assert passwd_ids(text, "nobody") == ""
    assert passwd_ids("", "app") == ""


def test_installers_that_choose_their_packages_fail_lock_used(
        pytester: pytest.Pytester, sample: Callable[[str], Path]) -> None:
    """otel-demo recommendation: `opentelemetry-bootstrap -a install` pip-installs the
    instrumentations it picks, unpinned; a script the Dockerfile runs installs by name."""
    project = sample("self-installers")
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR205",
                                "-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    out = " ".join(result.stdout.str().split())
    assert ("SR205 lock-used: 1 package installed outside the lock, 1 installer choosing its "
            "own packages outside the lock") in out, out
    assert ("`opentelemetry-bootstrap -a install` installs the OpenTelemetry "
            "instrumentation packages for the libraries it finds installed (it runs pip "
            "install on each, unpinned, without hashes): outside the lock") in out, out
    assert "`opentelemetry-bootstrap -a requirements` prints what it would install" in out
    assert ("`pip install --no-cache-dir sentry-sdk` installs sentry-sdk outside the lock "
            "(install-extras.sh, line 4, run by RUN line 13)") in out, out
    # Allowed by name, as any install.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.shipready.dockerfile]\n"
                         'allowed_installs = ["opentelemetry-bootstrap", "sentry-sdk"]\n')
    again = pytester.runpytest("--shipready", "--shipready-offline",
                               f"--shipready-project={project}", "-k", "SR205",
                               "-p", "no:cacheprovider", "-p", "no:randomly")
    again.assert_outcomes(passed=1)


def test_self_installers_recognised() -> None:
    from pytest_shipready.dockerfile.installs import install_steps

    df = parser.parse("FROM python:3.11-slim\nRUN opentelemetry-bootstrap --action=install\n"
                      "RUN opentelemetry-bootstrap -a requirements > extra.txt\n"
                      "RUN python -m spacy download en_core_web_sm\n"
                      "RUN ./setup.sh\n")
    read = {"./setup.sh": "#!/bin/bash\npip install -r requirements.txt\n"}.get
    steps = install_steps(df, df.stages, read)
    assert [(s.line, bool(s.indirect), s.via) for s in steps] == [
        (2, True, ""), (4, True, ""), (5, False, "setup.sh, line 2, run by RUN line 5")]
    assert "en_core_web_sm" in steps[1].indirect and steps[2].files == ("requirements.txt",)
    assert [s.line for s in install_steps(df, df.stages)] == [2, 4]  # no reader: no script


def test_compose_env_file_missing_in_a_fresh_clone(
        pytester: pytest.Pytester, sample: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """realworld: zero config from compose.yaml whose services read `env_file: .env`,
    absent from a fresh clone (only .env.example is committed). Compose refuses it too:
    said, with the template to copy; not a readiness FAIL of the app."""
    from pytest_shipready import report

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    project = sample("compose-env-missing")
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR320",
                                "-p", "no:cacheprovider", "-p", "no:randomly", "-rs",
                                "--shipready-report=r.json")
    result.assert_outcomes(skipped=1)
    out = " ".join(result.stdout.str().split())
    assert ("compose.yaml: services.app.env_file names .env, which is not in this checkout: "
            "`docker compose up` refuses the file as well (env file .env not found); "
            ".env.example is committed beside it") in out, out
    assert "`cp .env.example .env` beside it" in out, out
    doc = json.loads((pytester.path / "r.json").read_text())
    assert doc["verdict"] == "ready"
    assert any("the checks of the running app did not run" in n for n in report.caveat(doc))


@pytest.mark.docker
def test_compose_env_file_missing_then_copied(tmp_path: Path,
                                               sample: Callable[[str], Path]) -> None:
    """The same against the engine: the app's checks skip (no FAIL of the app); with the
    fix followed (`cp .env.example .env`), the services start and the app is ready."""
    project = sample("compose-env-missing")
    proc, results = readiness(project, "-k", "SR301 or SR320 or SR302")
    assert [r["status"] for r in results.values()] == ["skipped"] * 3, proc.stdout[-3000:]
    assert results["smoke::stays-up"]["summary"] == \
        "the container did not run (see shipready::smoke::ready)"
    shutil.copy(project / ".env.example", project / ".env")
    proc, results = readiness(project, "-k", "SR301 or SR320")
    assert results["smoke::services"]["status"] == "passed", proc.stdout[-3000:]
    assert results["smoke::ready"]["status"] == "passed", proc.stdout[-3000:]


# --- fix texts that work when followed ------------------------------------------------------


ENTRY = "#!/bin/sh\nset -e\nchown -R app /srv/media\nexec gosu app \"$@\"\n"


@pytest.mark.parametrize(("script", "passes"), [
    (ENTRY, True),
    (ENTRY.replace("gosu app", "su-exec 10001:10001"), True),
    (ENTRY.replace("gosu app", "setpriv --reuid=10001 --regid=10001 --init-groups"), True),
    (ENTRY.replace("gosu app", "gosu root"), False),
    (ENTRY.replace("exec gosu app ", "exec "), False),
    # The drop must come before the server: a migration run as the user is not enough.
    ("#!/bin/sh\ngosu app python -m app.migrate\nexec \"$@\"\n", False),
])
def test_an_entrypoint_that_drops_root_is_a_non_root_runtime(script: str,
                                                              passes: bool) -> None:
    """taiga: `chown -R` then `exec gosu taiga gunicorn`: "add USER" would break the
    chown (set -e: the container exits); the runtime is not root."""
    from pytest_shipready.dockerfile import hygiene

    df = parser.parse('FROM python:3.11-slim\nENTRYPOINT ["docker-entrypoint.sh"]\n'
                      'CMD ["gunicorn", "app.wsgi"]\n')
    read = {"docker-entrypoint.sh": script}.get
    result = hygiene.check_non_root(df, None, read)
    assert (result.status == Status.PASSED) == passes, result
    if passes:
        assert "the final stage starts as root, and its start command runs its server as " \
            in result.summary and "(docker-entrypoint.sh, line 4)" in result.summary
    assert hygiene.check_non_root(df).status == Status.FAILED  # without the script


def test_the_healthcheck_fix_fits_what_the_service_speaks() -> None:
    from pytest_shipready.dockerfile import hygiene

    df = parser.parse('FROM python:3.13-slim\nEXPOSE 8080\nENTRYPOINT ["python", '
                      '"email_server.py"]\n')
    grpc = hygiene.check_healthcheck(df, serves="grpc").findings[0].hint
    assert "urllib" not in grpc and "grpc_health_probe" in grpc
    assert "socket.create_connection(('127.0.0.1', 8080), 3)" in grpc
    worker = parser.parse('FROM python:3.12\nCMD ["celery", "-A", "sg.tasks", "worker"]\n')
    hint = hygiene.check_healthcheck(worker, serves="none",
                                     worker="celery -A sg.tasks worker").findings[0].hint
    assert "urllib" not in hint and "celery -A sg.tasks inspect ping" in hint
    assert "/tmp/heartbeat" in hint
    web = hygiene.check_healthcheck(df).findings[0].hint
    assert "urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=3)" in web


def test_sr203_tells_grpc_and_workers_from_the_project(
        pytester: pytest.Pytester, sample: Callable[[str], Path]) -> None:
    project = sample("privilege-drop")
    (project / "requirements.in").write_text("grpcio>=1.60\n")
    (project / "Dockerfile").write_text((project / "Dockerfile").read_text().replace(
        "EXPOSE 8000", "EXPOSE 50051"))
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR203 or SR202",
                                "-p", "no:cacheprovider", "-p", "no:randomly")
    out = " ".join(result.stdout.str().split())
    assert "A gRPC server answers no HTTP" in out and "-addr=127.0.0.1:50051" in out, out
    assert "SR202" in out and "runs its server as 10001: `setpriv --reuid=10001" in out, out
    (project / "requirements.in").unlink()
    (project / "Dockerfile").write_text((project / "Dockerfile").read_text().replace(
        "EXPOSE 50051\n", "").replace('CMD ["python", "-m", "app"]',
                                      'CMD ["celery", "-A", "app.tasks", "worker"]'))
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR203",
                                "-p", "no:cacheprovider", "-p", "no:randomly")
    out = " ".join(result.stdout.str().split())
    assert "It serves no port (a worker)" in out and "celery -A app.tasks inspect" in out, out


def test_a_key_the_build_writes_is_not_a_dockerignore_fix() -> None:
    """saleor: collectstatic wrote /app/.jwt_key.pem (no key configured at build time)."""
    from test_contents import KEY, saved

    from pytest_shipready.container.inspect import contents

    for made_by in ("/bin/sh -c python manage.py collectstatic --no-input",
                    "RUN /bin/sh -c python3 manage.py collectstatic --no-input # buildkit"):
        image = contents.scan(saved([
            ("/bin/sh -c #(nop) COPY dir:abc in /app", {"app/manage.py": b"x"}),
            (made_by, {"app/.jwt_key.pem": KEY})]))
        (finding,) = contents.check_secrets(image).findings
        assert finding.hint.startswith("The build wrote it: `RUN ")
        assert "collectstatic --no-input" in finding.hint
        assert "created /app/.jwt_key.pem" in finding.hint and ".dockerignore does not " \
            "help" in finding.hint and "rm -f /app/.jwt_key.pem" in finding.hint
    copied = contents.scan(saved([("/bin/sh -c #(nop) COPY dir:abc in /app",
                                   {"app/.jwt_key.pem": KEY})]))
    assert contents.check_secrets(copied).findings[0].hint.startswith(
        "Keep it out of the build context (.dockerignore)")


@pytest.mark.docker
def test_privilege_drop_runs_as_the_user(tmp_path: Path,
                                         sample: Callable[[str], Path]) -> None:
    project = sample("privilege-drop")
    proc, results = readiness(project, "-k", "SR202 or SR301 or SR303")
    for node in ("dockerfile::Dockerfile::non-root-user", "smoke::ready",
                 "smoke::non-root-runtime"):
        assert results[node]["status"] == "passed", (node, proc.stdout[-3000:])
    assert results["smoke::non-root-runtime"]["summary"] == "uid 10001"


@pytest.mark.docker
def test_the_grpc_healthcheck_fix_works_when_followed(tmp_path: Path) -> None:
    """The standard-library check SR203 proposes for a gRPC server, pasted in: SR301
    passes by it (the HTTP one it proposed before could never pass)."""
    from pytest_shipready.dockerfile import hygiene

    project = standalone(tmp_path, "grpc-like-service")
    text = (project / "Dockerfile").read_text()
    df = parser.parse(text)
    hint = hygiene.check_healthcheck(df, serves="grpc").findings[0].hint
    line = hint.split("check that the port accepts connections: `")[1].split("`")[0]
    (project / "Dockerfile").write_text(text.replace("EXPOSE 8080\n", f"EXPOSE 8080\n{line}\n"))
    _set(project, 'ready_log = "listening on port"\n', "")
    proc, results = readiness(project, "-k", "SR203 or SR301")
    assert results["dockerfile::Dockerfile::healthcheck"]["status"] == "passed"
    ready = results["smoke::ready"]
    assert ready["status"] == "passed", (ready, proc.stdout[-3000:])
    assert "the HEALTHCHECK command passed" in str(ready["summary"]), ready


def test_an_interpreter_difference_is_not_a_stale_lock() -> None:
    """taiga: a lock made with Python 3.10 re-resolved with 3.11, where only what is
    needed below 3.11 differs: no FAIL, a skip saying why and how to judge it."""
    from pytest_shipready.locks import pipcompile, requirements, resolve

    header = ("#\n# This file is autogenerated by pip-compile with Python 3.10\n"
              "# by the following command:\n#\n#    pip-compile requirements.in\n#\n")
    lock_text = header + "six==1.16.0\n    # via -r requirements.in\ntomli==2.0.1\n" \
        "    # via -r requirements.in\n"
    resolved_text = header.replace("3.10", "3.11") + "six==1.16.0\n"

    def load(text: str, tmp: Path) -> tuple[pipcompile.PipLock, requirements.RequirementsFile]:
        (tmp / "requirements.txt").write_text(text)
        return (pipcompile.load(tmp / "requirements.txt", tmp),
                requirements.read(tmp / "requirements.txt"))

    import tempfile

    with tempfile.TemporaryDirectory() as d:
        lock, _ = load(lock_text, Path(d))
        _, resolved = load(resolved_text, Path(d))
    other = resolve.judge(lock, resolved, 1.0, "3.11")
    assert other.status == Status.SKIPPED, other
    assert other.summary.startswith(
        "requirements.txt was made with Python 3.10, and re-resolving it here with Python "
        "3.11 changes 1 entry (removed: tomli 2.0.1 (locked but no longer needed)): an "
        "interpreter difference"), other.summary
    assert "Run pytest under Python 3.10" in other.summary
    same = resolve.judge(lock, resolved, 1.0, "3.10")  # the same Python: a verdict
    assert same.status == Status.FAILED


@pytest.mark.network
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="tomli is needed below 3.12 only")
def test_a_lock_made_with_another_python_is_not_called_stale(
        pytester: pytest.Pytester, isolated_pip: None) -> None:
    """The pip-platform lock was made with Python 3.12 (tomli only below 3.12): real
    pip-compile under this Python adds tomli; that is said, not failed."""
    shutil.copytree(FIXTURES / "pip-platform", pytester.path, dirs_exist_ok=True)
    (pytester.path / "pyproject.toml").write_text("")
    result = pytester.runpytest("--shipready", "-k", "SR104", "-p", "no:cacheprovider",
                                "-p", "no:randomly", "-rs")
    result.assert_outcomes(skipped=1)
    out = " ".join(result.stdout.str().split())
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert ("requirements.txt was made with Python 3.12, and re-resolving it here with "
            f"Python {here} changes 1 entry (added: tomli==2.0.1 (needed but not "
            "locked))") in out, out


# --- masking a secret that is the project's own word ----------------------------------------


def test_a_secret_that_is_the_projects_word_is_masked_where_it_stands_alone(
        tmp_path: Path) -> None:
    """saleor: POSTGRES_PASSWORD=saleor made `uvicorn ***.asgi:application` and the image
    `pytest-shipready/***-***`. The value stays masked wherever it is the value."""
    from pytest_shipready.secrets import (
        StandaloneSecret,
        mark_standalone,
        project_words,
        redact_text,
    )

    project = tmp_path / "saleor"
    (project / "saleor" / "core").mkdir(parents=True)
    (project / "src").mkdir()
    (project / "src" / "shop_api").mkdir()
    (project / ".secret-dir").mkdir()
    words = project_words(project)
    assert {"saleor", "shop_api", "shop", "api", "src"} <= words
    assert ".secret-dir" not in words and "secret" not in words
    secrets = mark_standalone(("saleor", "s3cr3t-saleor-key", "hunter22"), words)
    assert [type(s) for s in secrets] == [str, str, StandaloneSecret]
    shown = redact_text(
        "uvicorn saleor.asgi:application; image pytest-shipready/saleor-saleor:73fe; "
        "logger saleor.core.jwt_manager; /app/saleor/settings.py; pg_isready -U saleor; "
        "POSTGRES_PASSWORD=saleor; {\"password\": \"saleor\"}; "
        "postgres://saleor:saleor@db:5432/saleor; key s3cr3t-saleor-key; hunter22",
        secrets)
    assert shown == (
        "uvicorn saleor.asgi:application; image pytest-shipready/saleor-saleor:73fe; "
        "logger saleor.core.jwt_manager; /app/saleor/settings.py; pg_isready -U ***; "
        "POSTGRES_PASSWORD=***; {\"password\": \"***\"}; "
        "postgres://saleor:***@db:5432/saleor; key ***; ***")


def test_the_projects_word_is_readable_in_the_run(pytester: pytest.Pytester,
                                                  sample: Callable[[str], Path]) -> None:
    project = sample("privilege-drop")
    shutil.move(project / "app", project / "shop")
    (project / "Dockerfile").write_text((project / "Dockerfile").read_text().replace(
        "COPY app/ app/", "COPY shop/ shop/").replace('"-m", "app"', '"-m", "shop.server"'))
    (project / "pyproject.toml").write_text(
        '[tool.shipready.smoke]\nenv = { DATABASE_URL = "postgres://shop:shop@db/shop", '
        'DB_PASSWORD = "shop" }\n')
    result = pytester.runpytest("--shipready-only", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR207",
                                "-p", "no:cacheprovider", "-p", "no:randomly", "-rA")
    out = result.stdout.str()
    # Inside the module's name: the project's word, shown (standing alone, as the
    # value of -U or PASSWORD=, it would be masked).
    assert "python -m shop.server" in out and "***" not in out, out
