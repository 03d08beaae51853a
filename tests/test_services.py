"""Backing services (SR320) and the release phase (SR321) as users run them: sample
services on top of the example, with PostgreSQL and RabbitMQ from the images
../shared/docker/services seeds (postgres:15, rabbitmq:3, redis:7), against the real
engine. Nothing of a run may be left behind: containers, networks.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import EngineEvents

pytestmark = pytest.mark.docker

FIXTURES = Path(__file__).parent / "fixtures"
LABEL_PROJECT = "io.pytest-shipready.project"


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True,
                          timeout=120).stdout


@pytest.fixture(scope="module", autouse=True)
def seeded_images() -> None:
    """The service images (nothing can be pulled here: seeded from Debian packages)."""
    missing = [i for i in ("postgres:15", "rabbitmq:3", "redis:7")
               if subprocess.run(["docker", "image", "inspect", i],
                                 capture_output=True).returncode != 0]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run ../shared/docker/services first",
                    pytrace=False)


def _key(project: Path) -> str:
    return f"pytest-shipready/{project.name.lower()}"


def leftovers(project: Path) -> list[str]:
    """Containers and networks of the project's runs still in the engine."""
    flt = f"label={LABEL_PROJECT}={_key(project)}"
    return [*(f"container {c}" for c in _docker("ps", "-aq", "--filter", flt).split()),
            *(f"network {n}" for n in _docker("network", "ls", "-q", "--filter",
                                               flt).split())]


def run(pytester: pytest.Pytester, project: Path, *args: str
        ) -> tuple[pytest.RunResult, dict[str, dict[str, object]]]:
    report = project / "report.json"
    result = pytester.runpytest_subprocess(
        "--shipready", "--shipready-offline", "-p", "no:cacheprovider", "-rA",
        f"--rootdir={project}", f"--shipready-project={project}",
        f"--shipready-report={report}", "-c", str(project / "pyproject.toml"), *args,
        str(project / "tests"), timeout=600)
    results: dict[str, dict[str, object]] = {}
    if report.is_file():
        for r in json.loads(report.read_text())["results"]:
            results[str(r["nodeid"]).removeprefix("shipready::")] = r
    return result, results


def summary(results: dict[str, dict[str, object]], node: str) -> str:
    return str(results[node]["summary"])


def status(results: dict[str, dict[str, object]], node: str) -> str:
    return str(results[node]["status"])


def findings(results: dict[str, dict[str, object]], node: str) -> str:
    return "\n".join(str(f["message"]) for f in results[node]["findings"])  # type: ignore[attr-defined]


# --- acceptance --------------------------------------------------------------------------


USES_DB = '''
import json

def test_health_queried_postgres(shipready_container):
    status, body = shipready_container.http("/health")
    assert status == 200, body
    assert json.loads(body)["database"].startswith("PostgreSQL 15"), body
'''


def test_compose_database_without_any_config_is_ready(pytester: pytest.Pytester,
                                                      sample: Callable) -> None:
    project = sample("pg-service")
    import tomllib

    assert "shipready" not in tomllib.loads((project / "pyproject.toml").read_text())["tool"]
    (project / "tests" / "test_uses_db.py").write_text(USES_DB)
    result, results = run(pytester, project)
    out = result.stdout.str()
    assert status(results, "smoke::services") == "passed", out
    text = summary(results, "smoke::services")
    assert text.startswith("db (postgres:15) ready in "), text
    assert "from compose.yaml (service web)" in text
    # The development settings of the file are not used, and it says so.
    assert "web: bind mount ./app:/srv/app not used" in text
    assert "web: its command `python -m app --reload` is not used" in text
    assert "db: named volume pgdata not used" in text
    for node in ("smoke::ready", "smoke::stays-up", "smoke::graceful-shutdown",
                 "smoke::hardened-ready", "smoke::hardened-shutdown", "parity::packages"):
        assert status(results, node) == "passed", (node, out)
    # The user's test reached the app, whose /health queried the database.
    result.stdout.fnmatch_lines(["PASSED *test_uses_db.py::test_health_queried_postgres"])
    # The services start first, and become ready while the image builds.
    result.stdout.fnmatch_lines([
        "shipready: starting the backing services db (postgres:15) from compose.yaml "
        "(service web)", "shipready: building the image (Dockerfile) ...",
        "READY: * passed, * skipped*"])
    assert result.ret == 0
    # The database password of the file is a secret: never shown.
    assert "pg-secret-4711" not in out + (project / "report.json").read_text()
    assert leftovers(project) == []


def test_wrong_database_password_is_not_ready_naming_the_service(
        pytester: pytest.Pytester, sample: Callable) -> None:
    project = sample("pg-service")
    compose = project / "compose.yaml"
    compose.write_text(compose.read_text().replace("${DB_PASSWORD:-pg-secret-4711}",
                                                   "wrong-pw-2468"))
    started = time.monotonic()
    result, results = run(pytester, project)
    took = time.monotonic() - started
    out = result.stdout.str()
    assert status(results, "smoke::services") == "passed", out  # the database is fine
    assert status(results, "smoke::ready") == "failed", out
    assert summary(results, "smoke::ready").endswith(
        "; service db refused the app's credentials"), out
    assert 'service db (postgres:15) refused the app: password authentication failed for ' \
        'user "app"' in findings(results, "smoke::ready")
    result.stdout.fnmatch_lines(["NOT READY: 1 failed (SR301)*"])
    assert result.ret == 1
    # Bounded: the HEALTHCHECK's retries, not the whole ready_timeout of 60 s.
    assert took < 150, took
    for secret in ("pg-secret-4711", "wrong-pw-2468"):
        assert secret not in out + (project / "report.json").read_text(), secret
    assert leftovers(project) == []


def test_release_migrates_a_fresh_database_twice_in_a_row(pytester: pytest.Pytester,
                                                          sample: Callable) -> None:
    project = sample("migrate-service")
    for _ in range(2):
        with EngineEvents("type=container", "event=create",
                          f"label={LABEL_PROJECT}={_key(project)}",
                          "label=io.pytest-shipready.session",  # not the build's
                          fmt='{{.TimeNano}} {{index .Actor.Attributes '
                              '"io.pytest-shipready.role"}}') as events:
            result, results = run(pytester, project)
        out = result.stdout.str()
        # One release container, then the session container; the hardened one only once
        # the session container was ready (they share the database).
        created = [(int(line.split()[0]) / 1e9, (line.split()[1:] or [""])[0])
                   for line in events.lines]
        # (The holder keeps the image from pruning while the run lasts: not the app.)
        roles = [role for _, role in created if not role.startswith(("service", "holder"))]
        assert roles == ["release", "", "hardened"], created
        at = {role: t for t, role in created}
        ready_after = float(results["smoke::ready"]["figures"]["seconds"])  # type: ignore[index]
        assert at["hardened"] - at[""] >= ready_after - 0.05, (created, ready_after)
        assert status(results, "smoke::services") == "passed", out
        assert summary(results, "smoke::services").endswith(
            "from [tool.shipready.services]")
        # Fresh services on every run: both migrations applied each time, once.
        release = summary(results, "smoke::release")
        assert release.startswith("`python -m app.migrate` exited 0 in "), release
        assert "applied 2 migrations" in release, release
        for node in ("smoke::ready", "smoke::hardened-ready", "smoke::hardened-shutdown",
                     "smoke::graceful-shutdown"):
            assert status(results, node) == "passed", (node, out)
        result.stdout.fnmatch_lines([
            "shipready: running the release phase `python -m app.migrate` ...",
            "shipready: the release phase succeeded (*s)",
            "shipready: waiting for the container to become ready ...",
            "READY: * passed, * skipped*"])
        assert result.ret == 0
        assert leftovers(project) == []


def test_worker_with_a_broker_is_ready_by_its_log_line(pytester: pytest.Pytester,
                                                       sample: Callable) -> None:
    project = sample("worker-service")
    result, results = run(pytester, project)
    out = result.stdout.str()
    assert summary(results, "smoke::services").startswith(
        "broker (rabbitmq:3) ready in "), out
    assert "its healthcheck `rabbitmq-diagnostics -q ping`" in summary(
        results, "smoke::services")
    ready = summary(results, "smoke::ready")
    assert ready.startswith('log line /"event": "worker_ready"/ after'), ready
    assert status(results, "smoke::hardened-ready") == "passed", out
    result.stdout.fnmatch_lines(["READY: * passed, * skipped*"])
    assert "mq-secret-77" not in out
    assert leftovers(project) == []


# --- faults -------------------------------------------------------------------------------


def test_a_service_that_exits_fails_with_its_log_and_the_app_is_not_started(
        pytester: pytest.Pytester, sample: Callable) -> None:
    project = sample("pg-service")
    compose = project / "compose.yaml"
    compose.write_text(compose.read_text().replace("      POSTGRES_PASSWORD: pg-secret-4711\n",
                                                   ""))
    started = time.monotonic()
    result, results = run(pytester, project)
    out = result.stdout.str()
    assert time.monotonic() - started < 120
    assert status(results, "smoke::services") == "failed", out
    assert summary(results, "smoke::services") == (
        "service db did not become ready; from compose.yaml (service web)")
    text = findings(results, "smoke::services")
    assert "service db (postgres:15) exited before becoming ready (exit code 1" in text
    assert "superuser password is not specified" in text  # its log tail
    assert summary(results, "smoke::ready") == (
        "a backing service did not become ready (see shipready::smoke::services)")
    assert status(results, "smoke::ready") == "skipped"
    result.stdout.fnmatch_lines(["NOT READY: 1 failed (SR320)*"])
    assert leftovers(project) == []


def test_a_service_never_ready_is_bounded_and_not_lost_when_its_item_is_deselected(
        pytester: pytest.Pytester, sample: Callable) -> None:
    project = sample("pg-service")
    with (project / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.shipready.services.cache]\nimage = "redis:7"\n'
                 'ready_log = "never printed"\nready_timeout = 4\n'
                 "[tool.shipready.smoke]\nready_timeout = 20\n")
    result, results = run(pytester, project, "-k", "SR301")
    out = result.stdout.str()
    assert "smoke::services" not in results  # deselected: SR301 carries its verdict
    assert status(results, "smoke::ready") == "failed", out
    text = summary(results, "smoke::ready")
    assert text == ("a backing service did not become ready: service cache did not become "
                    "ready; from [tool.shipready.services]"), text
    assert "service cache (redis:7) not ready within 4 s (waiting for the log line " \
        "/never printed/)" in findings(results, "smoke::ready")
    assert "Ready to accept connections" in findings(results, "smoke::ready")  # its log
    assert leftovers(project) == []


def test_an_image_the_engine_lacks_is_named(pytester: pytest.Pytester,
                                            sample: Callable) -> None:
    project = sample("migrate-service")
    path = project / "pyproject.toml"
    path.write_text(path.read_text().replace('image = "postgres:15"',
                                             'image = "postgres:99-not-here"'))
    result, results = run(pytester, project, "-k", "services or release")
    assert status(results, "smoke::services") == "failed", result.stdout.str()
    assert "service db: the image postgres:99-not-here is not in the engine, and pulling " \
        "it failed" in findings(results, "smoke::services")
    assert summary(results, "smoke::release") == (
        "the backing services are not ready (see shipready::smoke::services)")
    assert leftovers(project) == []


def test_a_failing_release_is_its_own_failure_with_its_output(pytester: pytest.Pytester,
                                                              sample: Callable) -> None:
    project = sample("migrate-service")
    path = project / "pyproject.toml"
    path.write_text(path.read_text().replace(
        'release = ["python", "-m", "app.migrate"]',
        'release = ["python", "-c", "import sys; print(\'relation items exists\'); '
        'sys.exit(3)"]'))
    result, results = run(pytester, project)
    out = result.stdout.str()
    assert status(results, "smoke::release") == "failed", out
    assert "failed (exit code 3)" in summary(results, "smoke::release")
    assert "relation items exists" in findings(results, "smoke::release")
    assert summary(results, "smoke::ready") == (
        "the release phase failed (see shipready::smoke::release)")
    result.stdout.fnmatch_lines(["NOT READY: 1 failed (SR321)*"])
    assert leftovers(project) == []


def test_sigterm_while_services_start_leaves_nothing(sample: Callable) -> None:
    project = sample("worker-service")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--shipready", "--shipready-offline", "-p",
         "no:cacheprovider", f"--rootdir={project}", "-c", str(project / "pyproject.toml"),
         str(project / "tests")], cwd=project, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    flt = f"label={LABEL_PROJECT}={_key(project)}"
    deadline = time.monotonic() + 90
    while not _docker("ps", "-q", "--filter", flt).split():
        assert time.monotonic() < deadline and proc.poll() is None, "no service started"
        time.sleep(0.2)
    assert _docker("network", "ls", "-q", "--filter", flt).split()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert leftovers(project) == []


def test_a_killed_runs_network_is_reaped_by_the_next(pytester: pytest.Pytester,
                                                     sample: Callable) -> None:
    project = sample("worker-service")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--shipready", "--shipready-offline", "-p",
         "no:cacheprovider", f"--rootdir={project}", "-c", str(project / "pyproject.toml"),
         str(project / "tests")], cwd=project, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    flt = f"label={LABEL_PROJECT}={_key(project)}"
    deadline = time.monotonic() + 90
    while not _docker("network", "ls", "-q", "--filter", flt).split() or \
            not _docker("ps", "-q", "--filter", flt).split():
        assert time.monotonic() < deadline and proc.poll() is None, "nothing started"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert any(x.startswith("network") for x in leftovers(project))
    run(pytester, project, "-k", "build")
    assert leftovers(project) == []


def test_init_scripts_bind_mounted_from_the_project_are_copied_in(
        pytester: pytest.Pytester, sample: Callable[[str], Path]) -> None:
    """The official images run /docker-entrypoint-initdb.d at first start: a bind mount
    of the project's scripts there is copied in, so a role they create exists."""
    project = sample("pg-service")
    (project / "initdb").mkdir()
    (project / "initdb" / "10-reader.sql").write_text(
        "CREATE ROLE reader LOGIN PASSWORD 'reader-pw-31';\n")
    compose = project / "compose.yaml"
    text = compose.read_text().replace(
        "      - pgdata:/var/lib/postgresql/data\n",
        "      - pgdata:/var/lib/postgresql/data\n"
        "      - ./initdb:/docker-entrypoint-initdb.d:ro\n").replace(
        "postgresql://app:${DB_PASSWORD:-pg-secret-4711}@db:5432/app",
        "postgresql://reader:reader-pw-31@db:5432/app")
    compose.write_text(text)
    result, results = run(pytester, project, "-k", "SR320 or SR301")
    assert status(results, "smoke::services") == "passed", result.stdout.str()
    assert status(results, "smoke::ready") == "passed", result.stdout.str()
    assert "bind mount ./initdb" not in summary(results, "smoke::services")
    assert leftovers(project) == []


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux's unshare")
def test_services_work_with_an_engine_whose_ports_this_process_cannot_reach(
        sample: Callable[[str], Path]) -> None:
    """A remote engine, simulated exactly: pytest in its own network namespace reaches
    the engine through its socket only. The services are started, judged and reached by
    the app through the engine and the run's network."""
    project = sample("pg-service")
    report = project / "report.json"
    inner = (f"ip link set lo up; DOCKER_HOST=unix:///var/run/docker.sock {sys.executable} "
             "-m pytest --shipready --shipready-offline -p no:cacheprovider -q "
             f"--shipready-report={report} -k 'SR320 or SR301'")
    proc = subprocess.run(["unshare", "-n", "sh", "-c", inner], cwd=project,
                          capture_output=True, text=True, timeout=600)
    results = {r["nodeid"]: r for r in json.loads(report.read_text())["results"]}
    assert results["shipready::smoke::services"]["status"] == "passed", proc.stdout
    assert results["shipready::smoke::ready"]["status"] == "passed", proc.stdout
    assert leftovers(project) == []


def test_init_runs_the_image_with_its_services(pytester: pytest.Pytester,
                                               sample: Callable[[str], Path]) -> None:
    """--shipready-init with an engine runs the image once to propose the smoke settings:
    with the Compose file's services started, so /health (which queries the database)
    answers; a service that cannot start is said, not a traceback."""
    project = sample("pg-service")
    result = pytester.run(sys.executable, "-m", "pytest", "--shipready-init",
                          f"--rootdir={project}", "-c", str(project / "pyproject.toml"),
                          timeout=600)
    out = result.stdout.str()
    assert "# Backing services: compose.yaml (service web) depends on db (postgres:15)." in out
    assert "# health paths tried: /health 200" in out, out
    compose = project / "compose.yaml"
    compose.write_text(compose.read_text().replace("      POSTGRES_PASSWORD: pg-secret-4711\n",
                                                   ""))
    result = pytester.run(sys.executable, "-m", "pytest", "--shipready-init",
                          f"--rootdir={project}", "-c", str(project / "pyproject.toml"),
                          timeout=600)
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["# could not start *: a backing service did not become "
                                 "ready: service db did not become ready; from compose.yaml*"])
    assert leftovers(project) == []


@pytest.mark.docker
def test_a_release_the_entrypoint_swallows_and_the_key_that_runs_it_as_a_job_does(
        pytester: pytest.Pytester, sample: Callable) -> None:
    """taiga-back (fourth validation pass): the image's ENTRYPOINT starts its server with
    the command as options. The release fails saying so; with release_replaces_entrypoint
    it runs in place of the ENTRYPOINT, as a Kubernetes Job's `command:`, and passes."""
    project = sample("entrypoint-release")
    pyproject = project / "pyproject.toml"
    base = pyproject.read_text() + (
        '\n[tool.shipready.smoke]\nrelease = ["python", "-c", "print(\'migrated\')"]\n')
    pyproject.write_text(base)
    _, results = run(pytester, project, "-k", "release")
    assert status(results, "smoke::release") == "failed", results
    text = json.dumps(results["smoke::release"])
    assert "ENTRYPOINT `/bin/sh /srv/start.sh`" in text and "unrecognized arguments" in text
    assert "release_replaces_entrypoint = true" in text
    pyproject.write_text(base + "release_replaces_entrypoint = true\n")
    _, results = run(pytester, project, "-k", "release")
    assert status(results, "smoke::release") == "passed", results
    assert summary(results, "smoke::release").endswith(": migrated"), results
    assert leftovers(project) == []
