"""The engines CI uses (issue 22): the whole run as users run it where the test process
cannot reach the engine host's ports, on Podman, and through an ssh:// engine.

A remote engine is simulated exactly by running pytest in a network namespace of its
own (``unshare -n``): the engine still answers through its socket, but nothing it
publishes is reachable, as with GitLab's docker:dind or an ssh:// engine. Every test
checks that nothing the run created is left in the engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLE, REPO, remove_kept_image

pytestmark = pytest.mark.docker

DOCKER_SOCKET = "unix:///var/run/docker.sock"
PODMAN_SOCKET = "unix:///run/podman/podman.sock"
FIXTURES = REPO / "tests" / "fixtures"
DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens there
# Every check that makes an HTTP request to the container (SR504 judges the log the
# [tool.shipready.logs] requests made).
HTTP_CHECKS = ("SR301", "SR310", "SR504", "SR520", "SR521")


def _can_unshare() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def netns(argv: list[str], before: str = "") -> list[str]:
    """``argv`` in a network namespace of its own, with only a loopback."""
    script = f'ip link set lo up && {before} "$@"'
    return ["unshare", "-n", "sh", "-c", script, "sh", *argv]


needs_netns = pytest.mark.skipif(not _can_unshare(),
                                 reason="needs unshare -n and ip (root, util-linux)")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A copy of the example with a unique name; its kept image is removed after."""
    target = tmp_path / f"engines{uuid.uuid4().hex[:8]}"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc"))
    with (target / "pyproject.toml").open("a") as fh:
        fh.write("\n[tool.shipready.smoke]\nsettle = 0.5\n")
    yield target
    remove_kept_image(target)


def sample(tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"{name}{uuid.uuid4().hex[:6]}"
    shutil.copytree(FIXTURES / name, target)
    return target


def run(project: Path, *args: str, env: dict[str, str] | None = None,
        wrap: Any = None, offline: bool = True, argv0: list[str] | None = None
        ) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    """``pytest --shipready`` (or ``argv0``) on ``project`` in a subprocess (wrapped by
    ``wrap``, e.g. :func:`netns`); the report's results by check ID."""
    report = project / "report.json"
    argv = [*(argv0 or [sys.executable, "-m", "pytest", "--shipready"]), "-p",
            "no:cacheprovider", "-rA", f"--shipready-report={report}",
            *(["--shipready-offline"] if offline else []), *args]
    full = {**os.environ, "TESTCONTAINERS_RYUK_DISABLED": "true", **(env or {})}
    full.pop("CI", None)
    proc = subprocess.run(wrap(argv) if wrap else argv, cwd=project, env=full,
                          capture_output=True, text=True, timeout=600)
    results: dict[str, dict[str, Any]] = {}
    if report.is_file():
        for r in json.loads(report.read_text())["results"]:
            results[str(r["check_id"])] = r
    return proc, results


def text_of(result: dict[str, Any]) -> str:
    return " ".join([str(result["summary"]),
                     *(str(f.get("message", "")) for f in result.get("findings") or [])])


def left_behind(project: Path, base_url: str = DOCKER_SOCKET) -> list[str]:
    """Containers and networks of the project's runs still in the engine (the kept image
    is meant to stay: the fixture removes it)."""
    import docker

    from pytest_shipready.dockerfile.context import repository_name

    client = docker.DockerClient(base_url=base_url, timeout=60)
    try:
        flt = {"label": f"io.pytest-shipready.project={repository_name(project)}"}
        return [f"container {c.short_id}" for c in client.containers.list(all=True,
                                                                         filters=flt)] + \
            [f"network {n.name}" for n in client.networks.list(filters=flt)]
    finally:
        client.close()


def assert_ready(proc: subprocess.CompletedProcess[str],
                 results: dict[str, dict[str, Any]], checks: tuple[str, ...]) -> None:
    out = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, out
    assert "READY:" in proc.stdout and "NOT READY" not in proc.stdout, out
    for check in checks:
        assert results[check]["status"] == "passed", (check, text_of(results[check]), out)


# --- the whole example where the engine's ports are out of reach --------------------------


@needs_netns
def test_example_is_ready_with_pytest_in_its_own_network_namespace(project: Path) -> None:
    proc, results = run(project, env={"DOCKER_HOST": DOCKER_SOCKET}, wrap=netns)
    assert_ready(proc, results, HTTP_CHECKS)
    assert left_behind(project) == []


def test_probes_never_use_the_users_proxy_and_index_requests_still_do(
        project: Path) -> None:
    # Issue 20, item 9: HTTP_PROXY to a dead proxy, no NO_PROXY. The container's probes
    # go straight to it; the package index requests (SR104's pip-compile, SR106) go to
    # the proxy, and so cannot reach the index.
    proxies = {k: DEAD_PROXY for k in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY",
                                        "https_proxy", "ALL_PROXY", "all_proxy")}
    env = {**proxies, "NO_PROXY": "", "no_proxy": "", "PIP_CONFIG_FILE": os.devnull}
    # The example's own tests use urllib, which honours the proxy: not ours to judge.
    proc, results = run(project, "--ignore=tests/test_server.py", env=env, offline=False)
    assert_ready(proc, results, HTTP_CHECKS)
    assert results["SR104"]["status"] == "skipped"
    assert "port=9" in text_of(results["SR104"]), text_of(results["SR104"])
    assert results["SR106"]["status"] == "skipped"
    assert "Connection refused" in text_of(results["SR106"]), text_of(results["SR106"])
    assert left_behind(project) == []


def gitlab_job() -> dict[str, Any]:
    """The GitLab CI job of docs/recipes.md."""
    import re

    import yaml

    text = (REPO / "docs" / "recipes.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        doc = yaml.safe_load(block)
        if isinstance(doc, dict) and "shipready" in doc and "services" in doc["shipready"]:
            return dict(doc["shipready"])
    raise AssertionError("no GitLab job in docs/recipes.md")


@needs_netns
def test_gitlab_dind_recipe_shape_with_pytest_in_its_own_network_namespace(
        project: Path, tmp_path: Path) -> None:
    # The recipe's job reaches docker:dind only at DOCKER_HOST=tcp://docker:2375. Here:
    # the same engine through a TCP relay on the namespace's own loopback (the relay
    # reaches the engine's socket), and the job's pytest command as written.
    job = gitlab_job()
    assert job["services"] == ["docker:dind"]
    assert job["variables"]["DOCKER_HOST"].startswith("tcp://")
    [command] = [c for c in job["script"] if c.startswith("pytest ")]
    args = [a for a in command.split()[1:] if not a.startswith("--shipready-report=")]
    port = tmp_path / "relay-port"
    script = (
        "ip link set lo up || exit 1; "
        f"{sys.executable} {REPO / 'tests' / 'faultutil.py'} forward "
        f"{DOCKER_SOCKET.removeprefix('unix://')} >{port} 2>&1 </dev/null & relay=$!; "
        f"for _ in $(seq 100); do [ -s {port} ] && break; sleep 0.1; done; "
        f'DOCKER_HOST=tcp://127.0.0.1:$(cat {port}) "$@"; code=$?; '
        'kill $relay; exit $code')
    env = {k: v for k, v in job["variables"].items() if k != "DOCKER_HOST"}
    proc, results = run(project, env=env, argv0=[sys.executable, "-m", "pytest", *args],
                        wrap=lambda argv: ["unshare", "-n", "sh", "-c", script, "sh", *argv])
    assert_ready(proc, results, HTTP_CHECKS)
    assert (project / "report.xml").is_file()
    assert left_behind(project) == []


# --- the probe's routes -------------------------------------------------------------------


@needs_netns
def test_an_image_without_python_is_probed_from_a_probe_container(tmp_path: Path) -> None:
    svc = sample(tmp_path, "no-python-service")
    try:
        proc, results = run(svc, "-k", "SR301 or SR520",
                            env={"DOCKER_HOST": DOCKER_SOCKET}, wrap=netns)
        out = proc.stdout[-4000:] + proc.stderr[-2000:]
        assert results["SR301"]["status"] == "passed", out
        summary = results["SR301"]["summary"]
        assert "HTTP / answered 200" in summary, summary
        assert "in a probe container of python:" in summary, summary
        assert results["SR520"]["status"] == "passed", out
        assert left_behind(svc) == []  # the probe container too
    finally:
        remove_kept_image(svc)


def test_a_probe_failure_names_the_route_and_the_engine(tmp_path: Path) -> None:
    # Listening on its own loopback only, the server is out of reach from outside its
    # container: not ready, however the test process could reach the engine host.
    svc = sample(tmp_path, "loopback-only-service")
    try:
        proc, results = run(svc, "-k", "SR301", env={"DOCKER_HOST": DOCKER_SOCKET})
        assert results["SR301"]["status"] == "failed", proc.stdout[-4000:]
        text = text_of(results["SR301"])
        assert "ConnectionRefusedError" in text, text
        assert ("probed with docker exec of python3 in the container, on the engine at "
                f"{DOCKER_SOCKET} (from DOCKER_HOST)") in text, text
        assert left_behind(svc) == []
    finally:
        remove_kept_image(svc)


BINDINGS = '''
import docker, json, os
from pathlib import Path

def bindings():
    client = docker.from_env()
    flt = {"label": "io.pytest-shipready.session"}
    found = {}
    for c in client.containers.list(filters=flt):
        if c.labels.get("io.pytest-shipready.project", "").endswith("/" + Path.cwd().name):
            role = c.labels.get("io.pytest-shipready.role", "session")
            ports = c.attrs["HostConfig"].get("PortBindings") or {}
            found[role] = sorted(b["HostIp"] for v in ports.values() for b in v or [])
    return found
'''


def test_ports_are_published_only_for_a_users_fixture(project: Path) -> None:
    (project / "tests" / "bindings.py").write_text(BINDINGS)
    (project / "tests" / "test_published.py").write_text('''
import urllib.request
from bindings import bindings

def test_checks_publish_nothing():
    assert bindings() == {"session": [], "hardened": []}
''')
    proc, _ = run(project, "-k", "SR301 or SR310 or test_checks_publish_nothing")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "PASSED tests/test_published.py::test_checks_publish_nothing" in proc.stdout, \
        proc.stdout[-3000:]
    (project / "tests" / "test_published.py").write_text('''
import urllib.request
from bindings import bindings

def test_my_own_client_reaches_the_published_port(shipready_container):
    assert shipready_container.url("/health").startswith("http://127.0.0.1:")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(shipready_container.url("/health"), timeout=5) as response:
        assert response.status == 200
    assert bindings() == {"session": ["127.0.0.1"], "hardened": []}
''')
    proc, _ = run(project, "-k", "SR301 or SR310 or test_my_own_client")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "PASSED tests/test_published.py::test_my_own_client_reaches_the_published_port" \
        in proc.stdout, proc.stdout[-3000:]
    assert left_behind(project) == []


# --- Podman ------------------------------------------------------------------------------


@pytest.mark.podman
@needs_netns
def test_example_is_ready_on_podman(project: Path) -> None:
    if not Path(PODMAN_SOCKET.removeprefix("unix://")).exists():
        pytest.skip("no Podman API socket: run ../shared/docker/podman-up")
    proc, results = run(project, env={"DOCKER_HOST": PODMAN_SOCKET}, wrap=netns)
    try:
        assert_ready(proc, results, HTTP_CHECKS)
        assert left_behind(project, PODMAN_SOCKET) == []
    finally:
        _remove_podman_images(project)


def _remove_podman_images(project: Path) -> None:
    import docker

    from pytest_shipready.dockerfile.context import repository_name

    client = docker.DockerClient(base_url=PODMAN_SOCKET, timeout=60)
    try:
        flt = {"label": f"io.pytest-shipready.project={repository_name(project)}"}
        for image in client.images.list(filters=flt):
            client.images.remove(image.id, force=True)
    finally:
        client.close()


# --- ssh:// ------------------------------------------------------------------------------


SSHD = "/usr/sbin/sshd"


@pytest.fixture
def ssh_engine(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """An sshd of our own for the network namespace's loopback (port 2222, a key made
    here, root's login by key only), and the environment of a client that trusts it:
    ``HOME`` with ~/.ssh for paramiko (docker-py) and an ``ssh`` on PATH that reads our
    config (the ssh command ignores $HOME). Returns (env, shell code starting sshd)."""
    if not os.access(SSHD, os.X_OK):
        pytest.skip("no sshd: apt-get install openssh-server (.ci/run does)")
    pytest.importorskip("paramiko")
    d = tmp_path / "ssh"
    home = d / "home"
    (home / ".ssh").mkdir(parents=True)
    (d / "bin").mkdir()
    for key in ("hostkey", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                       check=True, timeout=60)
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    (d / "sshd_config").write_text(
        f"Port 2222\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\n"
        f"AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n"
        f"PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\n"
        f"UsePAM no\nPidFile {d}/sshd.pid\n")
    (d / "ssh_config").write_text(
        f"Host *\n  IdentityFile {d}/client\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {home}/.ssh/known_hosts\n  BatchMode yes\n  LogLevel ERROR\n")
    (home / ".ssh" / "config").write_text(f"Host 127.0.0.1\n  IdentityFile {d}/client\n")
    host_key = " ".join((d / "hostkey.pub").read_text().split()[:2])
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:2222 {host_key}\n")
    ssh = d / "bin" / "ssh"
    ssh.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {d}/ssh_config "$@"\n')
    ssh.chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    env = {"HOME": str(home), "PATH": f"{d / 'bin'}:{os.environ['PATH']}",
           "DOCKER_HOST": "ssh://root@127.0.0.1:2222"}
    start = f"{SSHD} -f {d}/sshd_config -E {d}/sshd.log &&"
    yield env, start
    pid = d / "sshd.pid"
    if pid.is_file():
        subprocess.run(["kill", pid.read_text().strip()], capture_output=True)


@needs_netns
def test_example_is_ready_through_an_ssh_engine(
        project: Path, ssh_engine: tuple[dict[str, str], str]) -> None:
    env, start_sshd = ssh_engine
    proc, results = run(project, env=env, wrap=lambda argv: netns(argv, start_sshd))
    assert_ready(proc, results, HTTP_CHECKS)
    assert left_behind(project) == []
