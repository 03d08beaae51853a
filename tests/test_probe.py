"""The HTTP probe that runs inside the engine (container/run/httpprobe.py, probe.py) and
where published ports are reached (enginehost.published_host).

The probe's program is run here by this machine's Python against servers of our own on
the loopback range: the same program the engine runs in the container.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_shipready.container.enginehost import published_host, route_of
from pytest_shipready.container.run import httpprobe


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/big":
            body = b"x" * 5000
        elif self.path == "/fail":
            self.send_response(500)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"boom")
            return
        else:
            body = f"path={self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    """A server bound to 127.0.0.1 only; its port."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield int(srv.server_address[1])
    srv.shutdown()
    srv.server_close()


def _probe(host: str, port: int, paths: list[str], cap: int = 1 << 20,
           env: dict[str, str] | None = None) -> list[httpprobe.Answer]:
    argv = httpprobe.argv(sys.executable, host, port, paths, 5.0, cap)
    proc = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    answers = httpprobe.parse(proc.stdout, len(paths))
    assert answers is not None, proc.stdout[-500:] + proc.stderr[-500:]
    return answers


def test_probe_answers_each_path_in_one_run(server: int) -> None:
    got = _probe("127.0.0.1", server, ["/health", "/fail", "/big"], cap=1000)
    assert [(a.status, a.body[:20]) for a in got] == [
        (200, b"path=/health"), (500, b"boom"), (200, b"x" * 20)]
    assert len(got[2].body) == 1000 and got[2].truncated
    assert not got[0].truncated


def test_probe_never_uses_a_proxy(server: int) -> None:
    # Issue 20, item 9: a dead proxy and no NO_PROXY; urllib would send the request to
    # the proxy (and fail), the probe goes to the server.
    dead = "http://127.0.0.1:9"
    env = {"PATH": "/usr/bin:/bin", "HTTP_PROXY": dead, "http_proxy": dead,
           "ALL_PROXY": dead, "all_proxy": dead}
    assert [a.status for a in _probe("127.0.0.1", server, ["/health"], env=env)] == [200]


def test_probe_reaches_only_what_listens_on_the_address_asked(server: int) -> None:
    # The probe asks the container's own address, as a peer would: a server bound to the
    # loopback only (unreachable from outside its container) does not answer there.
    [answer] = _probe("127.0.0.2", server, ["/health"])
    assert answer.status is None
    assert "ConnectionRefusedError" in answer.error


def test_probe_ignores_a_shadowing_http_module_in_the_working_directory(
        server: int, tmp_path: Path) -> None:
    (tmp_path / "http").mkdir()
    (tmp_path / "http" / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    argv = httpprobe.argv(sys.executable, "127.0.0.1", server, ["/x"], 5.0, 100)
    proc = subprocess.run(argv, capture_output=True, timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert httpprobe.parse(proc.stdout, 1) == [httpprobe.Answer(200, b"path=/x")]


def test_parse_refuses_what_is_not_the_probes_output() -> None:
    assert httpprobe.parse(b"", 1) is None
    assert httpprobe.parse(b"OCI runtime exec failed: exec failed", 1) is None
    assert httpprobe.parse(b"SHIPREADY-PROBE 0 200 10 0\nshort", 1) is None  # cut off
    assert httpprobe.parse(b"SHIPREADY-PROBE 1 200 0 0\n", 1) is None  # wrong index
    two = b"SHIPREADY-PROBE 0 200 2 0\nokSHIPREADY-PROBE 1 ERR 5\noops!"
    assert httpprobe.parse(two, 2) == [httpprobe.Answer(200, b"ok"),
                                       httpprobe.Answer(None, error="oops!")]
    assert httpprobe.parse(two, 3) is None


@pytest.mark.parametrize(("code", "text", "missing"), [
    (126, 'exec: "python3": executable file not found in $PATH: unknown', True),
    (127, "crun: executable file `python3` not found in $PATH", True),
    (2, "Unknown option: -I", True),  # Python 2
    (1, "Traceback ... ImportError", False),
    (None, "", False),
])
def test_missing_interpreter(code: int | None, text: str, missing: bool) -> None:
    assert httpprobe.missing_interpreter(code, text) is missing


@pytest.mark.parametrize(("docker_host", "override", "expected"), [
    (None, "", ("127.0.0.1", "127.0.0.1")),
    ("unix:///var/run/docker.sock", "", ("127.0.0.1", "127.0.0.1")),
    ("tcp://docker:2375", "", ("docker", "0.0.0.0")),
    ("tcp://127.0.0.1:2375", "", ("127.0.0.1", "127.0.0.1")),
    ("ssh://deploy@builder.example:2222", "", ("builder.example", "0.0.0.0")),
    ("ssh://root@localhost", "", ("127.0.0.1", "127.0.0.1")),
    ("tcp://docker:2375", "10.1.2.3", ("10.1.2.3", "0.0.0.0")),
    ("unix:///var/run/docker.sock", "localhost", ("127.0.0.1", "127.0.0.1")),
    ("tcp://[::1]:2375", "", ("127.0.0.1", "127.0.0.1")),
])
def test_published_host_is_where_testcontainers_reaches_ports(
        docker_host: str | None, override: str, expected: tuple[str, str]) -> None:
    assert published_host(docker_host, override) == expected


def test_a_probe_failure_names_the_route_and_the_engine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_SHIPREADY_DOCKER_CONTEXT", raising=False)
    text = route_of("tcp://docker:2375", "with docker exec of python3 in the container")
    assert text == ("probed with docker exec of python3 in the container, on the engine "
                    "at tcp://docker:2375 (from DOCKER_HOST)")


def test_a_docker_contexts_tls_material_goes_with_its_host(tmp_path: Path) -> None:
    import hashlib
    import json

    from pytest_shipready.container.enginehost import context_tls

    config = tmp_path / ".docker"
    env = {"DOCKER_CONFIG": str(config)}
    assert context_tls(env, tmp_path, "remote") is None  # no TLS material: plain TCP
    digest = hashlib.sha256(b"remote").hexdigest()
    tls = config / "contexts" / "tls" / digest / "docker"
    tls.mkdir(parents=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tls / name).write_text("-----BEGIN-----\n")
    assert context_tls(env, tmp_path, "remote") == (str(tls), True)
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": "remote", "Endpoints": {
        "docker": {"Host": "tcp://builder:2376", "SkipTLSVerify": True}}}))
    assert context_tls(env, tmp_path, "remote") == (str(tls), False)


def test_ssh_engine_advice_says_what_to_install_or_trust() -> None:
    from pytest_shipready.container.enginehost import unreachable

    msg = unreachable("ssh://deploy@builder", "DockerException: Install paramiko package "
                      "to enable ssh:// support")
    assert "pip install 'pytest-shipready[ssh]'" in msg
    assert "Start that engine" not in msg
    msg = unreachable("ssh://deploy@builder:2222", "DockerException: through paramiko: "
                      "SSHException: Server '[builder]:2222' not found in known_hosts; "
                      "through the ssh command: ...")
    assert "`ssh -p 2222 deploy@builder docker version` must work" in msg
    assert "known_hosts" in msg


@pytest.mark.docker
def test_the_probe_keeps_one_exec_for_many_requests() -> None:
    """Against a real container: the route is found past a missing interpreter, every
    request after the first goes through the same exec, and a session that ends is
    opened again."""
    import time

    from pytest_shipready.container import engine
    from pytest_shipready.container.run.probe import Prober

    client = engine.connect(60)
    container = engine.run_container(
        client, "python:3.11-slim", command=["python3", "-m", "http.server", "8000"],
        env={}, ports=[], labels={"io.pytest-shipready.test": "probe"}, publish_on=None)
    try:
        prober = Prober(container, ["no-such-python", "python3"])
        deadline = time.monotonic() + 30
        while True:
            answers = prober.get(["/", "/nope"], 8000, 2.0)
            if answers[0].status is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [a.status for a in answers] == [200, 404]
        assert prober.describe() == "with docker exec of python3 in the container"
        for _ in range(10):
            assert prober.http("/", 8000)[0] == 200
        assert prober._sessions == 1  # one exec served them all
        assert container.host_port(8000) is None  # nothing published
        prober.close()
        assert prober.http("/", 8000)[0] == 200  # a new session
        assert prober._sessions == 2
        prober.close()
    finally:
        container.remove()
