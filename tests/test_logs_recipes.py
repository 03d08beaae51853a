"""The gunicorn and uvicorn logging recipes of docs/logs.md pass SR501-SR505 for real.

tests/fixtures/json-logs-servers is a small project whose image runs gunicorn (or, with
``[tool.shipready.smoke] command``, uvicorn) with the documented logging configuration;
``pytest --shipready`` runs it in the smoke container, requests a 404 and a path that
raises, stops it with SIGTERM and checks everything the server wrote. The docs quote the
fixture's files, and a test keeps them the same.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import remove_kept_image
from pytest_shipready.config import LogsConfig, parse
from pytest_shipready.logs.lines import check_all

FIXTURE = Path(__file__).parent / "fixtures" / "json-logs-servers"
DOCS = Path(__file__).parent.parent / "docs" / "logs.md"
UVICORN = ["uvicorn", "app.asgi:app", "--host", "0.0.0.0", "--port", "8000",
           "--log-config", "logging.json"]

# What the server itself writes, to prove its own lines were among those checked.
OWN_LINES = {
    "gunicorn": ["Starting gunicorn ", "Booting worker with pid", "Error handling request",
                 "Shutting down: Master"],
    "uvicorn": ["Uvicorn running on ", "Exception in ASGI application",
                "Finished server process"],
}
ACCESS_LOGGER = {"gunicorn": "gunicorn.access", "uvicorn": "uvicorn.access"}

SHARED_LOG = '''
import json
from pytest_shipready.plugin import _STATE

def test_server_log(request):
    lines = request.config.stash[_STATE].context.container_logs().lines
    events = [json.loads(line) for line in lines]
    (request.config.rootpath / "server-log.json").write_text(json.dumps(events))
'''


def _docs_blocks() -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", DOCS.read_text(), flags=re.S)


@pytest.mark.parametrize("name", ["gunicorn.conf.py", "logging.json"])
def test_the_docs_quote_the_tested_recipe_files(name: str) -> None:
    text = (FIXTURE / name).read_text()
    assert text in _docs_blocks(), f"docs/logs.md does not quote {name} verbatim"


def test_the_docs_quote_the_tested_logging_setup_and_commands() -> None:
    docs = DOCS.read_text()
    source = (FIXTURE / "app" / "logconfig.py").read_text()
    # From json_formatter() to the end: the part the recipes rely on.
    assert source[source.index("def json_formatter"):] in "\n".join(_docs_blocks())
    assert " ".join(UVICORN) in docs
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py", "app.wsgi:app"]' in docs
    assert json.loads((FIXTURE / "logging.json").read_text())["formatters"] == {
        "json": {"()": "app.logconfig.json_formatter"}}


@pytest.fixture
def servers(pytester: pytest.Pytester) -> Iterator[Path]:
    """A private copy of the fixture, with a unique name (its image and label use it)."""
    target = pytester.path / f"srv{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "tests").mkdir()
    (target / "tests" / "test_server_log.py").write_text(SHARED_LOG)
    yield target
    remove_kept_image(target)


def _leftovers(project: Path) -> list[str]:
    """Containers and images of the project, besides its one kept image (the default)."""
    flt = f"label=io.pytest-shipready.project=pytest-shipready/{project.name.lower()}"
    out = [subprocess.run(["docker", *args, "--filter", flt], capture_output=True,
                          text=True, timeout=60, check=True).stdout.split()
           for args in (["ps", "-aq"], ["images", "-q"],
                        ["images", "-q", "--filter", "label=io.pytest-shipready.keep=true"])]
    kept = out[2]
    return out[0] + [i for i in out[1] if i not in kept[:1]] + kept[1:]


@pytest.mark.docker
@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_documented_server_logging_passes_in_the_container(
    pytester: pytest.Pytester, servers: Path, server: str
) -> None:
    if server == "uvicorn":
        pyproject = servers / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace(
            "[tool.shipready.smoke]\n",
            f"[tool.shipready.smoke]\ncommand = {json.dumps(UVICORN)}\n"))
    report = servers / "report.json"
    result = pytester.runpytest_subprocess(
        "--shipready", "--shipready-offline", "-p", "no:cacheprovider", "-rA",
        f"--rootdir={servers}", f"--shipready-project={servers}",
        f"--shipready-report={report}", "-c", str(servers / "pyproject.toml"),
        "-k", "SR501 or SR502 or SR503 or SR504 or SR505 or SR510 or test_server_log",
        str(servers / "tests"), timeout=600)
    out = result.stdout.str()
    results = {str(r["nodeid"]).removeprefix("shipready::logs::"): r
               for r in json.loads(report.read_text())["results"]}
    assert {node: r["status"] for node, r in results.items()} == dict.fromkeys(
        ["structured", "required-keys", "levels-and-timestamps", "exceptions-structured",
         "no-secrets", "setup"], "passed"), out
    result.assert_outcomes(passed=7)

    events = json.loads((servers / "server-log.json").read_text())
    n = len(events)
    messages = "\n".join(str(e.get("event")) for e in events)
    for own in OWN_LINES[server]:
        assert own in messages, (own, messages)
    assert {e["logger"] for e in events} >= {ACCESS_LOGGER[server], "app"}
    summaries = {node: r["summary"] for node, r in results.items()}
    # Each says which loggers its lines came from: the server's and the app's own.
    loggers = {str(e["logger"]) for e in events}
    origin = summaries["structured"].removeprefix(f"{n} lines, all JSON objects; from ")
    assert origin != summaries["structured"], summaries["structured"]
    assert f"{ACCESS_LOGGER[server]} (" in origin and "app (" in origin, origin
    assert set(re.findall(r"([\w.]+) \(\d+\)", origin)) <= loggers, origin
    assert summaries["required-keys"] == (f"{n} lines with event, level and timestamp "
                                          f"(keys: event, level, timestamp); from {origin}")
    assert summaries["levels-and-timestamps"] == (
        f"{n} levels (names) and {n} timestamps (ISO 8601) valid in {n} lines; "
        f"from {origin}")
    # /fail raised: the server logged the exception inside one JSON line.
    assert summaries["exceptions-structured"] == (
        f"1 exception logged inside structured lines, no raw tracebacks in {n} lines")
    assert result.ret == 0
    assert _leftovers(servers) == []


@pytest.mark.docker
def test_only_server_lines_pass_saying_the_apps_own_log_was_not_seen(
    pytester: pytest.Pytester, servers: Path
) -> None:
    # No request reaches a path where the app logs (the app logs only on 404s and
    # errors): every line is gunicorn's own (startup, access log of /health, shutdown),
    # JSON through the recipe. The PASS must say so rather than "all JSON objects".
    pyproject = servers / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'requests = ["/shipready-not-found", "/fail"]', "requests = []"))
    report = servers / "report.json"
    result = pytester.runpytest_subprocess(
        "--shipready", "--shipready-offline", "-p", "no:cacheprovider", "-rA",
        f"--rootdir={servers}", f"--shipready-project={servers}",
        f"--shipready-report={report}", "-c", str(pyproject),
        "-k", "SR501 or SR502 or SR503 or test_server_log", str(servers / "tests"),
        timeout=600)
    result.assert_outcomes(passed=4)
    events = json.loads((servers / "server-log.json").read_text())
    assert {e["logger"] for e in events} == {"gunicorn.error", "gunicorn.access"}
    summaries = {str(r["nodeid"]).removeprefix("shipready::logs::"): r["summary"]
                 for r in json.loads(report.read_text())["results"]}
    n = len(events)
    assert summaries["structured"].startswith(
        f"{n} lines, all JSON objects; but every line came from the server (its startup "
        "and access lines: gunicorn.error ("), summaries["structured"]
    assert ("none from the app's own loggers, so how the app's own log calls render was "
            "not seen: make the smoke run reach a path where the app logs "
            "([tool.shipready.logs] requests)") in summaries["structured"]
    for node in ("required-keys", "levels-and-timestamps"):
        assert summaries[node].endswith("none from the app's own loggers (see SR501)"), \
            summaries[node]
    assert _leftovers(servers) == []


def _run_on_host(server: str, project: Path) -> list[bytes]:
    """The server run on this machine with the recipe: health, 404, /fail, SIGTERM."""
    import signal
    import socket
    import sys
    import time
    import urllib.error
    import urllib.request

    binary = Path(sys.executable).parent / server
    if not binary.is_file():
        pytest.skip(f"{server} is not installed here (pip install -e '.[test]')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = {"gunicorn": [str(binary), "--config", "gunicorn.conf.py", "--bind",
                            f"127.0.0.1:{port}", "app.wsgi:app"],
               "uvicorn": [str(binary), *UVICORN[1:3], "127.0.0.1", "--port", str(port),
                           *UVICORN[-2:]]}[server]
    proc = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": "."})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, f"{server} did not become ready"
                time.sleep(0.1)
        for path, code in (("/shipready-not-found", 404), ("/fail", 500)):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
            assert err.value.code == code
        time.sleep(0.3)  # the access log line of /fail
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out.splitlines()


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_documented_server_logging_passes_on_the_host(tmp_path: Path, server: str) -> None:
    # The same recipe without Docker, with the gunicorn / uvicorn of the test extra.
    project = tmp_path / "srv"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("__pycache__"))
    lines = _run_on_host(server, project)
    table = parse(__import__("tomllib").loads((project / "pyproject.toml").read_text())[
        "tool"]["shipready"]).logs
    assert table == LogsConfig(requests=("/shipready-not-found", "/fail"))
    got = {r.check_id: r for r in check_all(lines, table, source="server output")}
    assert {k: r.status.value for k, r in got.items()} == dict.fromkeys(
        ["SR501", "SR502", "SR503", "SR504", "SR505"], "passed"), {
        k: (r.summary, [f.message for f in r.findings]) for k, r in got.items()}
    text = b"\n".join(lines).decode()
    for own in OWN_LINES[server]:
        assert own in text
    assert got["SR504"].summary.startswith("1 exception logged inside structured lines")


def test_gunicorn_without_the_recipe_fails_structured(tmp_path: Path) -> None:
    # The app configures logging when a worker imports it; gunicorn's master never does,
    # so without logconfig_dict its own lines stay plain text.
    project = tmp_path / "srv"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "gunicorn.conf.py").write_text('accesslog = "-"\n')
    got = check_all(_run_on_host("gunicorn", project), LogsConfig())[0]
    assert got.status.value == "failed"
    assert "lines checked are not JSON objects" in got.summary
    assert any("] Starting gunicorn " in f.message for f in got.findings), got.findings
