"""The image, smoke and parity areas as users run them, against the real Docker engine.

Each test runs ``pytest --shipready`` in a subprocess on a copy of the example service
(broken on purpose where the test says so) and checks which item failed and why, and that
nothing labelled with that project is left in the engine afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EXAMPLE, EngineEvents

pytestmark = pytest.mark.docker

LABEL_PROJECT = "io.pytest-shipready.project"
LABEL_KEEP = "label=io.pytest-shipready.keep"
FAST = """
[tool.shipready.smoke]
settle = 0.5
grace_period = 3
"""


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True,
                          timeout=120).stdout


@pytest.fixture(scope="module")
def layer_cache() -> Iterator[None]:
    """Keep the example's layers in the engine for this module, so that each run's build
    (whose image is removed at its end, with its unshared layers) hits the cache."""
    tag = f"shipready-test-cache:{uuid.uuid4().hex[:8]}"
    _docker("build", "-q", "--label", "io.pytest-shipready.test=cache", "-t", tag,
            str(EXAMPLE))
    yield
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)


@pytest.fixture
def svc(pytester: pytest.Pytester, layer_cache: None) -> Iterator[Path]:
    """A private copy of the example, with a unique name (its image and label use it);
    its kept image is removed after the test."""
    target = pytester.path / f"svc{uuid.uuid4().hex[:8]}"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc"))
    with (target / "pyproject.toml").open("a") as fh:
        fh.write(FAST)
    yield target
    remove_images(target)


def project_key(project: Path) -> str:
    return f"pytest-shipready/{project.name.lower()}"


def leftovers(project: Path) -> list[str]:
    """What a run left of the project besides its kept image (keep = true, the default:
    the last image of the project stays, older ones are pruned)."""
    flt = f"label={LABEL_PROJECT}={project_key(project)}"
    containers = _docker("ps", "-aq", "--filter", flt).split()
    images = _docker("images", "-q", "--filter", flt).split()
    kept = _docker("images", "-q", "--filter", flt, "--filter", f"{LABEL_KEEP}=true").split()
    return containers + [i for i in images if i not in kept[:1]] + kept[1:]


def remove_images(project: Path) -> None:
    flt = f"label={LABEL_PROJECT}={project_key(project)}"
    images = _docker("images", "-q", "--filter", flt).split()
    if images:
        subprocess.run(["docker", "rmi", "-f", *sorted(set(images))], capture_output=True,
                       timeout=120)


def run(pytester: pytest.Pytester, project: Path, *args: str,
        env: dict[str, str] | None = None) -> tuple[pytest.RunResult, dict[str, dict[str, object]]]:
    """``pytest --shipready`` on ``project`` in a subprocess; the results by node id."""
    report = project / "report.json"
    argv = ["--shipready", "--shipready-offline", "-p", "no:cacheprovider", "-rA",
            f"--rootdir={project}", f"--shipready-project={project}",
            f"--shipready-report={report}", "-c", str(project / "pyproject.toml"),
            *args, str(project / "tests")]
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        result = pytester.runpytest_subprocess(*argv, timeout=300)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    results: dict[str, dict[str, object]] = {}
    if report.is_file():
        data = json.loads(report.read_text())
        for r in data.get("results", data.get("checks", [])):
            results[str(r["nodeid"]).removeprefix("shipready::")] = r
    return result, results


def status(results: dict[str, dict[str, object]], node: str) -> str:
    return str(results[node]["status"])


def edit_dockerfile(project: Path, old: str, new: str) -> None:
    path = project / "Dockerfile"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


# --- the example passes ---------------------------------------------------------------


def test_example_passes_build_smoke_and_parity(pytester: pytest.Pytester, svc: Path) -> None:
    # The structured-logs area reads the session container's whole log, through the stop;
    # the user's test shares that one container before the stop (it runs first).
    with (svc / "tests" / "conftest.py").open("a") as fh:
        fh.write(LOG_RECORDER)
    (svc / "tests" / "test_uses_container.py").write_text('''
def test_the_session_container_serves_me(shipready_container):
    status, _ = shipready_container.http("/from-a-user-test")
    assert status == 404
''')
    with EngineEvents("type=container", "event=create",
                      f"label={LABEL_PROJECT}={project_key(svc)}",
                      "label=io.pytest-shipready.session",  # not the build's
                      fmt="{{.ID}} {{index .Actor.Attributes \"io.pytest-shipready.role\"}}"
                      ) as events:
        result, results = run(pytester, svc)
    for node in ("image::build", "smoke::ready", "smoke::stays-up", "smoke::non-root-runtime",
                 "smoke::graceful-shutdown", "parity::python", "parity::packages"):
        assert status(results, node) == "passed", (node, result.stdout.str())
    for node in ("image::size", "smoke::commands", "parity::environment", "parity::tests"):
        assert status(results, node) == "skipped", node
    build = str(results["image::build"]["summary"])
    assert " built in " in build and " MB" in build, build
    # Ready as soon as the HEALTHCHECK's own command passes, run with docker exec.
    ready = str(results["smoke::ready"]["summary"])
    assert "the HEALTHCHECK command passed after" in ready and "docker exec" in ready, ready
    # One session container for everything: the user's test (which runs after the smoke
    # and parity items) and the log checks used the container SR301 waited for.
    created = events.lines
    # The example also runs the hardened smoke (SR310): its own container, by role.
    # The holder (created, never started) keeps the image from other runs' pruning.
    session = [c for c in created if not c.endswith(("hardened", "holder"))]
    assert len(session) == 1 and len(created) == 3, created
    # The phase lines, at default verbosity, and the phases' timings in the report.
    result.stdout.fnmatch_lines([
        "shipready: building the image (Dockerfile) ...",
        "shipready: image built (*s)",
        "shipready: waiting for the container to become ready ...",
        "shipready: the container is ready (*s)"])
    document = json.loads((svc / "report.json").read_text())
    assert {"build", "ready"} <= set(document["phases"]), document["phases"]
    assert set(results["image::build"]["phases"]) == {"build"}
    assert "SIGTERM: exited 0" in str(results["smoke::graceful-shutdown"]["summary"])
    for node in ("logs::structured", "logs::required-keys", "logs::levels-and-timestamps",
                 "logs::no-secrets", "logs::setup"):
        assert status(results, node) == "passed", (node, result.stdout.str())
    # SR521 requests the example's /fail: its exception is logged as data, which SR504
    # sees too; its metrics endpoint answers SR520; it also runs hardened (SR310/SR311).
    for node in ("logs::exceptions-structured", "smoke::error-event", "smoke::metrics",
                 "smoke::hardened-ready", "smoke::hardened-shutdown"):
        assert status(results, node) == "passed", (node, result.stdout.str())
    assert "1 exception logged inside structured lines" in str(
        results["logs::exceptions-structured"]["summary"])
    result.stdout.fnmatch_lines(["READY: 3? passed, * skipped"])
    assert "the image was not built" not in result.stdout.str()
    assert result.ret == 0
    shared = json.loads((svc / "shared-log.json").read_text())
    assert shared["events"][0] == "listening", shared
    assert shared["events"][-2:] == ["stopping", "stopped"], shared
    # The log's environment is the container's: the image's ENV (no smoke env here).
    assert "/from-a-user-test" in shared["paths"]
    assert shared["env"]["PORT"] == "8000" and "PATH" in shared["env"], shared["env"]
    assert leftovers(svc) == []


def test_no_hardened_container_unless_its_items_run(pytester: pytest.Pytester,
                                                    svc: Path) -> None:
    """SR310/SR311 deselected, or the hardened smoke switched off: no second container
    (SR301 starts it only when one of its items is selected and enabled)."""
    def hardened_created(*args: str) -> tuple[list[str], dict[str, dict[str, object]]]:
        with EngineEvents("type=container", "event=create",
                          f"label={LABEL_PROJECT}={project_key(svc)}",
                          "label=io.pytest-shipready.role=hardened", fmt="{{.ID}}") as events:
            _, results = run(pytester, svc, *args)
        return events.lines, results

    created, results = hardened_created("-k", "smoke and not hardened")
    assert status(results, "smoke::ready") == "passed" and created == [], created
    created, results = hardened_created("-k", "smoke and not shutdown")  # SR310 alone
    assert status(results, "smoke::hardened-ready") == "passed" and len(created) == 1
    with (svc / "pyproject.toml").open("a") as fh:
        fh.write("\n[tool.shipready.hardened]\nenabled = false\n")
    created, results = hardened_created("-k", "smoke")
    assert created == [], created
    for node in ("smoke::hardened-ready", "smoke::hardened-shutdown"):
        assert status(results, node) == "skipped", node
        assert "enabled = false" in str(results[node]["summary"])
    assert leftovers(svc) == []


def test_nothing_to_wait_for_still_stops_both_containers(pytester: pytest.Pytester,
                                                         svc: Path) -> None:
    """No HEALTHCHECK, port or ready_log: SR301 and SR310 skip, and both containers, still
    running, are stopped and judged (SR304, SR311) as the session container is."""
    edit_dockerfile(svc, "EXPOSE 8000\n", "")
    edit_dockerfile(svc, "HEALTHCHECK --interval=2s --timeout=10s --start-period=10s "
                    "--retries=3 \\\n    CMD [\"python\", \"-m\", \"app.healthcheck\"]\n", "")
    _, results = run(pytester, svc, "-k", "smoke")
    for node in ("smoke::ready", "smoke::hardened-ready"):
        assert status(results, node) == "skipped", results[node]
    for node in ("smoke::graceful-shutdown", "smoke::hardened-shutdown"):
        assert status(results, node) == "passed", results[node]
        assert "SIGTERM: exited 0" in str(results[node]["summary"])
    assert leftovers(svc) == []


def test_the_last_image_of_the_project_is_kept_and_older_ones_pruned(
        pytester: pytest.Pytester, svc: Path) -> None:
    flt = f"label={LABEL_PROJECT}={project_key(svc)}"
    with (svc / ".dockerignore").open("a") as fh:
        fh.write("report.json\n")  # the report each run writes is not in the image
    _, first = run(pytester, svc, "-k", "build")
    tag1 = str(first["image::build"]["figures"]["tag"])
    assert _docker("images", "-q", "--filter", flt).split() == \
        _docker("images", "-q", tag1).split(), "the first run keeps its image"
    # Unchanged: the same content-addressed tag, built from the engine's cache.
    _, again = run(pytester, svc, "-k", "build")
    assert again["image::build"]["figures"]["tag"] == tag1
    # An edit to the app: a new tag; the older kept image of the project is pruned.
    app = svc / "app" / "__init__.py"
    app.write_text(app.read_text() + "\n# an edit\n")
    _, second = run(pytester, svc, "-k", "build")
    tag2 = str(second["image::build"]["figures"]["tag"])
    assert tag2 != tag1
    kept = _docker("images", "--filter", flt, "--format", "{{.Repository}}:{{.Tag}}").split()
    assert kept == [tag2], kept
    assert _docker("image", "inspect", "-f",
                   '{{index .Config.Labels "io.pytest-shipready.keep"}}', tag2).strip() == "true"
    assert leftovers(svc) == []


def test_keep_false_leaves_nothing(pytester: pytest.Pytester, svc: Path) -> None:
    with (svc / "pyproject.toml").open("a") as fh:
        fh.write("\n[tool.shipready.image]\nkeep = false\n")
    _, results = run(pytester, svc, "-k", "build")
    assert status(results, "image::build") == "passed"
    flt = f"label={LABEL_PROJECT}={project_key(svc)}"
    assert _docker("images", "-q", "--filter", flt).split() == []


def test_configured_checks_run_and_fail_with_reasons(pytester: pytest.Pytester,
                                                     svc: Path) -> None:
    with (svc / "pyproject.toml").open("a") as fh:
        fh.write("""
[[tool.shipready.smoke.commands]]
command = ["python", "-c", "import app; print('app ok')"]
output = "app ok"

[[tool.shipready.smoke.commands]]
command = ["python", "-c", "raise SystemExit(4)"]

[tool.shipready.image]
size_budget_mb = 1

[tool.shipready.parity]
required_env = ["PORT", "DATABASE_URL"]
""")
    (svc / "tests" / "test_both.py").write_text('''
from pathlib import Path
import pytest

@pytest.mark.shipready_parity
def test_app_imports():
    import app.server

@pytest.mark.shipready_parity
def test_reads_a_repo_file():
    assert (Path(__file__).parent.parent / "requirements.in").is_file()
''')
    result, results = run(pytester, svc)
    assert status(results, "parity::tests") == "failed"
    result.stdout.fnmatch_lines([
        "*SR404 tests: 1 test differs between the host and the container*",
        "*tests.test_both::test_reads_a_repo_file: passed on the host, failed in the "
        "container*"])
    assert status(results, "smoke::commands") == "failed"
    assert "1 of 2" in str(results["smoke::commands"]["summary"])
    assert status(results, "image::size") == "failed"
    assert "largest layers" in json.dumps(results["image::size"])
    assert status(results, "parity::environment") == "failed"
    assert "DATABASE_URL" in str(results["parity::environment"]["summary"])
    assert "PORT" not in str(results["parity::environment"]["summary"])
    assert leftovers(svc) == []


# --- broken copies fail the right item -------------------------------------------------


def test_user_line_removed_fails_non_root(pytester: pytest.Pytester, svc: Path) -> None:
    edit_dockerfile(svc, "USER app\n", "")
    result, results = run(pytester, svc)
    assert status(results, "smoke::non-root-runtime") == "failed"
    assert status(results, "smoke::ready") == "passed"
    result.stdout.fnmatch_lines(["*SR303 non-root-runtime: the container runs as root*",
                                 "*main process (PID 1) runs as uid 0*",
                                 "*useradd*USER app*"])
    assert leftovers(svc) == []


def test_cmd_exiting_at_start_fails_ready_with_its_log(pytester: pytest.Pytester,
                                                       svc: Path) -> None:
    edit_dockerfile(svc, 'CMD ["python", "-m", "app"]',
                    'CMD ["python", "-c", "print(\'config error: DATABASE_URL missing\'); '
                    'raise SystemExit(3)"]')
    result, results = run(pytester, svc)
    assert status(results, "smoke::ready") == "failed"
    assert status(results, "smoke::stays-up") == "skipped"
    assert status(results, "parity::packages") == "skipped"
    result.stdout.fnmatch_lines(["*SR301 ready: the container exited after * (exit code 3)*",
                                 "*config error: DATABASE_URL missing*"])
    assert leftovers(svc) == []


def test_pid1_ignoring_sigterm_fails_graceful_shutdown(pytester: pytest.Pytester,
                                                       svc: Path) -> None:
    # A shell as PID 1 neither handles nor forwards SIGTERM: the classic shell-form bug.
    edit_dockerfile(svc, 'CMD ["python", "-m", "app"]',
                    'CMD ["sh", "-c", "python -m app; echo exited"]')
    result, results = run(pytester, svc)
    assert status(results, "smoke::ready") == "passed"
    assert status(results, "smoke::graceful-shutdown") == "failed"
    assert "ignored SIGTERM: PID 1 is a shell, killed after the 3 s grace period" in str(
        results["smoke::graceful-shutdown"]["summary"])
    result.stdout.fnmatch_lines(["*exit code 137*"])
    assert leftovers(svc) == []


def test_extra_pip_install_is_named_by_parity(pytester: pytest.Pytester, svc: Path) -> None:
    edit_dockerfile(svc, "COPY app/ app/\n",
                    "RUN pip install --no-cache-dir six\nCOPY app/ app/\n")
    result, results = run(pytester, svc)
    assert status(results, "parity::packages") == "failed"
    assert status(results, "parity::python") == "passed"
    result.stdout.fnmatch_lines(["*SR402 packages: 1 difference*",
                                 "*six==* is installed in the image but not in "
                                 "requirements.txt*"])
    assert leftovers(svc) == []


def test_failing_run_step_shows_step_and_output(pytester: pytest.Pytester, svc: Path) -> None:
    marker = f"marker-{uuid.uuid4().hex}"  # makes the last good step this test's own
    edit_dockerfile(svc, "COPY app/ app/\n",
                    f"COPY app/ app/\nRUN echo {marker} > /tmp/marker\n"
                    "RUN echo 'compiling assets: syntax error in main.css' && exit 2\n")
    result, results = run(pytester, svc, "-v")
    # -v: BuildKit's steps as they happen
    result.stdout.fnmatch_lines(["*build: #* FROM docker.io/library/python:3.11-slim*"])
    assert status(results, "image::build") == "failed"
    for node in ("smoke::ready", "parity::packages", "smoke::graceful-shutdown"):
        assert status(results, node) == "skipped", node
    line = (svc / "Dockerfile").read_text().splitlines().index(
        "RUN echo 'compiling assets: syntax error in main.css' && exit 2") + 1
    result.stdout.fnmatch_lines([
        "*SR210 build: the build failed*",
        f"*Dockerfile:{line}: step `RUN echo 'compiling assets*` failed: *exit code: 2*",
        "*compiling assets: syntax error in main.css*",
    ])
    assert leftovers(svc) == []
    # forcerm: no failed container; and the last good step is not left as a dangling image
    assert "compiling assets" not in _docker("ps", "-a", "--no-trunc",
                                             "--format", "{{.Command}}")
    for image in _docker("images", "-qf", "dangling=true").split():
        history = subprocess.run(["docker", "history", "--no-trunc", image],
                                 capture_output=True, text=True, timeout=60).stdout
        assert marker not in history, f"the failed build left {image} behind"


def test_dockerfile_syntax_error_is_reported(pytester: pytest.Pytester, svc: Path) -> None:
    edit_dockerfile(svc, "WORKDIR /srv\n", "WORKDIR /srv\nRUNN echo typo\n")
    result, results = run(pytester, svc)
    assert status(results, "image::build") == "failed"
    result.stdout.fnmatch_lines(["*SR210 build: the build failed*", "*RUNN*"])
    assert leftovers(svc) == []


def test_run_mount_dockerfile_builds_with_buildkit(pytester: pytest.Pytester,
                                                   svc: Path) -> None:
    edit_dockerfile(svc, "RUN pip install --no-cache-dir",
                    "RUN --mount=type=cache,target=/root/.cache/pip pip install")
    result, results = run(pytester, svc, "-v")
    # -v: build steps as they happen
    result.stdout.fnmatch_lines(["*build: #* RUN --mount=type=cache*pip install*"])
    assert status(results, "image::build") == "passed", result.stdout.str()
    assert "BuildKit via" in str(results["image::build"]["summary"])
    for node in ("smoke::ready", "smoke::graceful-shutdown", "parity::packages"):
        assert status(results, node) == "passed", node
    assert leftovers(svc) == []


# --- parity against Poetry and uv locks --------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


_MADE: list[Path] = []


@pytest.fixture(autouse=True)
def _remove_kept_images() -> Iterator[None]:
    """The kept image of each project a test made is removed after it."""
    yield
    while _MADE:
        remove_images(_MADE.pop())


def tool_project(pytester: pytest.Pytester, fixture: str) -> Path:
    """The example's app and tests with a Poetry or uv project's files from fixtures/."""
    target = pytester.path / f"{fixture.split('-')[0]}{uuid.uuid4().hex[:8]}"
    _MADE.append(target)
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc", "requirements.*", "pyproject.toml",
        "Dockerfile"))
    for path in (FIXTURES / fixture).iterdir():
        if path.is_dir():
            shutil.copytree(path, target / path.name)
        else:
            shutil.copy(path, target / path.name)
    with (target / "pyproject.toml").open("a") as fh:
        fh.write(FAST)
    return target


def test_uv_project_parity_follows_the_lock_and_the_sync_options(
        pytester: pytest.Pytester) -> None:
    project = tool_project(pytester, "uv-service")
    result, results = run(pytester, project)
    for node in ("lockfile::uv.lock::pinned", "lockfile::uv.lock::hashed",
                 "lockfile::uv.lock::covers-inputs", "dockerfile::Dockerfile::lock-used",
                 "image::build", "smoke::ready", "parity::python", "parity::packages",
                 "logs::structured"):
        assert status(results, node) == "passed", (node, result.stdout.str())
    line = (project / "Dockerfile").read_text().splitlines().index(
        "RUN uv sync --frozen --no-dev") + 1
    # structlog from the lock; colorama (win32 only) and iniconfig (dev) not expected.
    assert results["parity::packages"]["summary"] == (
        "1 locked package installed at the locked versions (runtime dependencies, per "
        f"Dockerfile:{line} `uv sync --frozen --no-dev`)")
    assert "uv.lock requires-python '>=3.11'" in str(results["parity::python"]["summary"])
    assert leftovers(project) == []

    # The dev group installed too, while the project says the image has runtime deps only.
    # And the venv is not on PATH: the app runs /opt/venv/bin/python, and parity must ask
    # that interpreter (the system python3 has uv, not structlog).
    edit_dockerfile(project, "RUN uv sync --frozen --no-dev", "RUN uv sync --frozen")
    edit_dockerfile(project, "ENV PATH=/opt/venv/bin:$PATH\n", "")
    edit_dockerfile(project, 'CMD ["python", "-m", "app.healthcheck"]',
                    'CMD ["/opt/venv/bin/python", "-m", "app.healthcheck"]')
    edit_dockerfile(project, 'CMD ["python", "-m", "app"]',
                    'CMD ["/opt/venv/bin/python", "-m", "app"]')
    with (project / "pyproject.toml").open("a") as fh:
        fh.write("\n[tool.shipready.parity]\ngroups = []\n")
    result, results = run(pytester, project)
    assert status(results, "parity::packages") == "failed"
    result.stdout.fnmatch_lines([
        "*SR402 packages: 1 difference between the image's /opt/venv/bin/python* and "
        "uv.lock*",
        "*iniconfig==2.3.1 is installed in the image; uv.lock locks it, but not for what "
        "the image should install (runtime dependencies, per [[]tool.shipready.parity] "
        "groups/extras)*"])
    assert leftovers(project) == []


def test_poetry_project_parity_passes_on_the_main_group(pytester: pytest.Pytester) -> None:
    project = tool_project(pytester, "poetry-service")
    result, results = run(pytester, project)
    for node in ("lockfile::poetry.lock::pinned", "lockfile::poetry.lock::fresh",
                 "dockerfile::Dockerfile::lock-used", "image::build", "smoke::ready",
                 "parity::python", "parity::packages", "logs::structured"):
        assert status(results, node) == "passed", (node, result.stdout.str())
    assert "poetry.lock requires-python '^3.11'" in str(results["parity::python"]["summary"])
    line = (project / "Dockerfile").read_text().splitlines().index(
        "RUN poetry install --only main --no-root") + 1
    # The venv Poetry made holds structlog (and pip, allowed); not colorama (win32 only)
    # nor iniconfig (dev group).
    assert results["parity::packages"]["summary"] == (
        "1 locked package installed at the locked versions (runtime dependencies, per "
        f"Dockerfile:{line} `poetry install --only main --no-root`)")
    assert result.ret == 0
    assert leftovers(project) == []


def findings(results: dict[str, dict[str, object]], node: str) -> list[str]:
    return [str(f["message"]) for f in results[node]["findings"]]  # type: ignore[attr-defined]


def test_uv_env_selects_the_install_and_the_project_is_not_a_stranger(
        pytester: pytest.Pytester) -> None:
    # ENV UV_NO_DEV=1 UV_LOCKED=1: a bare `uv sync` installs the runtime dependencies
    # exactly as locked, and the project itself (uv.lock's editable "." root).
    project = tool_project(pytester, "uv-env-service")
    result, results = run(pytester, project)
    for node in ("dockerfile::Dockerfile::lock-used", "image::build", "smoke::ready",
                 "parity::python", "parity::packages"):
        assert status(results, node) == "passed", (node, result.stdout.str())
    line = (project / "Dockerfile").read_text().splitlines().index("RUN uv sync") + 1
    assert results["parity::packages"]["summary"] == (
        "1 locked package installed at the locked versions (runtime dependencies, per "
        f"Dockerfile:{line} `uv sync` with `UV_NO_DEV=1 UV_LOCKED=1`); the project itself: "
        "uv-env-service 0.1.0")
    assert "uv add" not in result.stdout.str()
    assert leftovers(project) == []


def test_poetry_root_package_installed_is_the_project(pytester: pytest.Pytester) -> None:
    # `poetry install --only main` without --no-root installs the project (app) too.
    project = tool_project(pytester, "poetry-root-service")
    result, results = run(pytester, project)
    for node in ("dockerfile::Dockerfile::lock-used", "image::build", "smoke::ready",
                 "parity::packages"):
        assert status(results, node) == "passed", (node, result.stdout.str())
    line = (project / "Dockerfile").read_text().splitlines().index(
        "RUN poetry install --only main") + 1
    assert results["parity::packages"]["summary"] == (
        "1 locked package installed at the locked versions (runtime dependencies, per "
        f"Dockerfile:{line} `poetry install --only main`); the project itself: "
        "poetry-root-service 0.1.0")
    assert "poetry add" not in result.stdout.str()
    assert leftovers(project) == []


def test_two_pip_compile_locks_installed_are_compared_with_their_union(
        pytester: pytest.Pytester) -> None:
    # requirements/main.txt and requirements/deploy.txt installed in one `if ... then`
    # RUN, after a bootstrap of pip (with an ARG) and setuptools/wheel.
    project = tool_project(pytester, "piplocks-service")
    result, results = run(pytester, project)
    for node in ("dockerfile::Dockerfile::lock-used", "image::build", "smoke::ready",
                 "parity::python", "parity::packages"):
        assert status(results, node) == "passed", (node, result.stdout.str())
    assert results["dockerfile::Dockerfile::lock-used"]["summary"] == (
        "pip installs requirements/main.txt with hashes (line 14); taken to run: `pip "
        "install --no-cache-dir --no-deps --require-hashes -r requirements/main.txt -r "
        "requirements/deploy.txt` (line 14), as `[ -f requirements/deploy.txt ]` (line 13) "
        "cannot be decided from the Dockerfile: `-f requirements/deploy.txt` tests the "
        "image's files")
    python = str(results["parity::python"]["summary"])
    assert python.startswith("Python 3.11.") and python.endswith(
        " matches requirements/main.txt 3.11 and requirements/deploy.txt 3.11"), python
    assert results["parity::packages"]["summary"] == (
        "2 locked packages installed at the locked versions; taken to run: `pip install "
        "--no-cache-dir --no-deps --require-hashes -r requirements/main.txt -r "
        "requirements/deploy.txt` (line 14), as `[ -f requirements/deploy.txt ]` (line 13) "
        "cannot be decided from the Dockerfile: `-f requirements/deploy.txt` tests the "
        "image's files")
    assert leftovers(project) == []

    # Naming one of them: the other's package is a stranger, said of that lock.
    config = project / "pyproject.toml"
    config.write_text(config.read_text().replace(
        "[tool.shipready.parity]\n",
        '[tool.shipready.parity]\nlockfile = ["requirements/main.txt"]\n'))
    result, results = run(pytester, project)
    assert status(results, "parity::packages") == "failed"
    assert findings(results, "parity::packages") == [
        "iniconfig==2.3.1 is installed in the image but not in requirements/main.txt"]
    assert leftovers(project) == []


def test_buildkit_failure_names_the_step_that_errored(pytester: pytest.Pytester,
                                                      svc: Path) -> None:
    # Stage "bad" fails while stage "slow" still runs; BuildKit cancels "slow" and says
    # so last. SR210 names the failing step, its line, and its output line by line.
    shutil.copy(FIXTURES / "buildkit-canceled" / "Dockerfile", svc / "Dockerfile")
    _, results = run(pytester, svc)
    assert status(results, "image::build") == "failed"
    (finding,) = results["image::build"]["findings"]  # type: ignore[misc]
    assert finding["line"] == 5, finding
    message = str(finding["message"])
    assert message.startswith("step `RUN --mount=type=cache,target=/c sleep 2 && python -c"), \
        message
    assert "sleep 15" not in message.split("\n")[0]
    assert message.split("output of the step:\n", 1)[1].splitlines() == [
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "  error: subprocess-exited-with-error", "",
        "  x Getting requirements to build wheel did not run successfully.",
        "  | exit code: 1"]
    assert leftovers(svc) == []


# --- the structured-logs area on the smoke container's real output --------------------


def test_plain_text_output_in_the_container_fails_structured(pytester: pytest.Pytester,
                                                             svc: Path) -> None:
    server = svc / "app" / "server.py"
    # Without the override http.server writes its plain-text access log to stderr.
    source = server.read_text()
    start, end = source.index("    def log_message"), source.index("def make_server")
    server.write_text(source[:start] + "\n\n" + source[end:])
    result, results = run(pytester, svc)
    assert status(results, "smoke::ready") == "passed"
    assert status(results, "logs::structured") == "failed"
    assert status(results, "logs::no-secrets") == "passed"
    summary = str(results["logs::structured"]["summary"])
    assert " of " in summary and "lines checked are not JSON objects" in summary, summary
    result.stdout.fnmatch_lines([
        "*SR501 structured: * of * lines checked are not JSON objects*",
        '*container log:*: not a JSON object (from access log): *"GET /health HTTP/1.1" 200 -*'])
    assert result.ret == 1
    assert leftovers(svc) == []


LOG_RECORDER = '''
import json
from pathlib import Path
from pytest_shipready.plugin import _STATE

def pytest_sessionfinish(session):
    logs = session.config.stash[_STATE].context.container_logs()
    assert all(isinstance(line, bytes) for line in logs.lines)
    records = [json.loads(line) for line in logs.lines]
    Path(session.config.rootpath, "shared-log.json").write_text(json.dumps({
        "events": [r["event"] for r in records],
        "paths": [r.get("path") for r in records],
        "env": dict(logs.env)}))
'''


def test_log_items_alone_run_the_container_they_need(pytester: pytest.Pytester,
                                                     svc: Path) -> None:
    # -k SR501: the smoke items that start and stop the container are deselected.
    with (svc / "tests" / "conftest.py").open("a") as fh:
        fh.write(LOG_RECORDER)
    result, results = run(pytester, svc, "-k", "SR501 or SR505")
    assert set(results) == {"logs::structured", "logs::no-secrets"}, results
    for node in results:
        assert status(results, node) == "passed", (node, result.stdout.str())
    events = json.loads((svc / "shared-log.json").read_text())["events"]
    assert events[0] == "listening" and events[-2:] == ["stopping", "stopped"], events
    # The whole log was checked, through the graceful stop.
    result.assert_outcomes(passed=2)
    assert leftovers(svc) == []


def test_secret_env_value_logged_in_the_container_fails_unseen(pytester: pytest.Pytester,
                                                               svc: Path) -> None:
    secret = f"pg-Secret-{uuid.uuid4().hex[:12]}"
    server = svc / "app" / "server.py"
    text = server.read_text()
    old = '    log.info("listening", host=host, port=server.server_address[1])'
    assert old in text
    server.write_text(text.replace(old, (
        '    log.info("listening", host=host, port=server.server_address[1],\n'
        '             dsn=f"postgres://app:{os.environ[\'DATABASE_PASSWORD\']}@db/app")')))
    with (svc / "pyproject.toml").open("a") as fh:
        fh.write(f'\n[tool.shipready.smoke.env]\nDATABASE_PASSWORD = "{secret}"\n')
    junit = svc / "junit.xml"
    result, results = run(pytester, svc, f"--junitxml={junit}")
    assert status(results, "smoke::ready") == "passed"
    assert status(results, "logs::structured") == "passed"
    assert status(results, "logs::no-secrets") == "failed"
    result.stdout.fnmatch_lines([
        "*SR505 no-secrets:*",
        "*container log:1: contains *the value of $DATABASE_PASSWORD (from app): "
        "*postgres://app:[[]REDACTED]@db/app*"])
    outputs = {"terminal": result.stdout.str() + result.stderr.str(),
               "json report": (svc / "report.json").read_text(),
               "junit": junit.read_text()}
    for where, output in outputs.items():
        assert secret not in output, where
    assert result.ret == 1
    assert leftovers(svc) == []


# --- cleanup after kills ---------------------------------------------------------------


def _start_slow_run(project: Path) -> subprocess.Popen[bytes]:
    with (project / "pyproject.toml").open("a") as fh:
        fh.write("\n[tool.shipready.parity]\nrequired_env = []\n")
    # A long settle keeps the session container running while we kill pytest.
    text = (project / "pyproject.toml").read_text().replace("settle = 0.5", "settle = 120")
    (project / "pyproject.toml").write_text(text)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--shipready", "--shipready-offline", "-p",
         "no:cacheprovider", f"--rootdir={project}", "-c", str(project / "pyproject.toml"),
         str(project / "tests")],
        cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_container(project: Path, proc: subprocess.Popen[bytes]) -> None:
    flt = f"label={LABEL_PROJECT}={project_key(project)}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if _docker("ps", "-q", "--filter", flt).split():
            return
        assert proc.poll() is None, "pytest ended before starting its container"
        time.sleep(0.3)
    proc.kill()
    pytest.fail("no container appeared")


def test_sigkilled_run_is_reaped_by_the_next(pytester: pytest.Pytester, svc: Path) -> None:
    proc = _start_slow_run(svc)
    _wait_for_container(svc, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert leftovers(svc), "the killed run should have left its container behind"
    workdirs = [d for d in Path(tempfile.gettempdir()).glob("pytest-shipready-*")
                if (d / "owner").is_file()
                and (d / "owner").read_text().split()[0] == str(proc.pid)]
    assert len(workdirs) == 1
    text = (svc / "pyproject.toml").read_text().replace("settle = 120", "settle = 0.5")
    (svc / "pyproject.toml").write_text(text)
    _, results = run(pytester, svc)
    assert status(results, "image::build") == "passed"
    assert leftovers(svc) == []
    assert not workdirs[0].exists()


def test_sigterm_of_pytest_cleans_up(svc: Path) -> None:
    proc = _start_slow_run(svc)
    _wait_for_container(svc, proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert leftovers(svc) == []


# --- xdist and fixtures ----------------------------------------------------------------


def test_xdist_builds_once_and_fixtures_work(pytester: pytest.Pytester, svc: Path) -> None:
    (svc / "tests" / "test_ready.py").write_text('''
import json, os
from pathlib import Path

import pytest

OUT = Path(__file__).parent.parent / "fixture-out"

@pytest.mark.parametrize("n", range(4))
def test_image_and_container(shipready_image, shipready_container, n):
    code, out = shipready_container.exec(["id", "-u"])
    assert code == 0 and out.strip() == "10001"
    status, body = shipready_container.http("/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    OUT.mkdir(exist_ok=True)
    (OUT / f"{os.environ['PYTEST_XDIST_WORKER']}-{n}.json").write_text(json.dumps(
        {"ref": shipready_image.ref, "built_here": shipready_image.built_here}))

def test_fresh_container(shipready_fresh_container, shipready_container):
    assert shipready_fresh_container.id != shipready_container.id
    assert '"listening"' in shipready_fresh_container.logs()
''')
    with EngineEvents("type=image", "event=tag", fmt="{{.Actor.Attributes.name}}") as events:
        result, results = run(pytester, svc, "-n", "2")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, outcomes
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*PASSED*test_ready.py::test_fresh_container*"])
    assert sum(1 for line in result.outlines
               if "PASSED" in line and "test_image_and_container[" in line) == 4
    seen = [json.loads(p.read_text()) for p in (svc / "fixture-out").iterdir()]
    assert len({s["ref"] for s in seen}) == 1
    assert sum(1 for s in seen if s["built_here"]) <= 4  # one worker's four at most
    # The engine's own record: the image of this project was tagged (built) once.
    tags = events.lines
    built = [t for t in tags if t.startswith(project_key(svc) + ":build-")]
    kept = [t for t in tags if t.startswith(project_key(svc) + ":")
            and ":build-" not in t]
    assert len(built) == 1 and len(kept) == 1, tags
    assert status(results, "image::build") == "passed"
    assert leftovers(svc) == []
