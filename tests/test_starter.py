"""--shipready-init prints a starter section that the strict schema accepts."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready import config
from pytest_shipready.starter import starter


def test_starter_on_the_example_is_valid_and_says_what_it_found(example: Path) -> None:
    text = starter(example)
    parsed = tomllib.loads(text)
    config.parse(parsed["tool"]["shipready"], "starter")
    assert "# found requirements.txt: pip-compile lock of requirements.in" in text
    assert "USER app, EXPOSE 8000/tcp, HEALTHCHECK present" in text


def test_starter_on_an_empty_project_says_how_to_begin(tmp_path: Path) -> None:
    text = starter(tmp_path)
    config.parse(tomllib.loads(text)["tool"]["shipready"], "starter")
    assert "pip-compile --generate-hashes" in text
    assert "No readable Dockerfile" in text


def test_starter_flags_a_missing_healthcheck(example: Path) -> None:
    dockerfile = example / "Dockerfile"
    dockerfile.write_text("\n".join(
        line for line in dockerfile.read_text().splitlines()
        if not line.startswith(("HEALTHCHECK", "    CMD [\"python\", \"-m\", \"app.health"))))
    text = starter(example)
    assert "HEALTHCHECK missing" in text
    assert tomllib.loads(text)["tool"]["shipready"]["dockerfile"] == {
        "healthcheck_optional": False}


def test_init_option_prints_and_exits(pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    result = pytester.runpytest("--shipready-init")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["[[]tool.shipready.lockfile[]]", "# found requirements.txt*"])
    assert "passed" not in result.stdout.str()  # no tests ran


def test_starter_says_which_tables_the_project_already_has(example: Path) -> None:
    with (example / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.shipready.image]\nkeep = true\n')
    text = starter(example)
    assert ("# pyproject.toml already has [tool.shipready.observability], [tool.shipready."
            "image]: merge the keys below into them (TOML "
            "forbids a table twice).") in text
    bare = example / "bare"
    bare.mkdir()
    (bare / "pyproject.toml").write_text("[tool.shipready]\n")
    assert "already has [tool.shipready]:" in starter(bare)  # named as such


# --- the smoke section ----------------------------------------------------------------------

NO_CMD = ("FROM python:3.11-slim\nWORKDIR /srv\nCOPY requirements.txt .\n"
          "RUN pip install --no-cache-dir --require-hashes -r requirements.txt\n"
          "COPY app/ app/\n")


def _smoke(text: str) -> dict[str, object]:
    table = tomllib.loads(text)["tool"]["shipready"]
    config.parse(table, "starter")  # the strict schema accepts it
    return dict(table.get("smoke", {}))


def test_starter_takes_the_command_from_a_procfile_when_the_image_has_none(
        example: Path) -> None:
    (example / "Dockerfile").write_text(NO_CMD)
    (example / "Procfile").write_text("release: true\nweb: python -m app\n")
    text = starter(example)
    assert "# no CMD in the image: the Procfile's web process starts the service" in text
    smoke = _smoke(text)
    assert smoke["command"] == ["sh", "-c", "python -m app"]
    assert smoke["ports"] == [8000] and "a guess, check it" in text


def test_starter_reads_the_port_from_the_bind_option(example: Path) -> None:
    (example / "Dockerfile").write_text(
        NO_CMD + 'CMD gunicorn app.wsgi:app --bind 0.0.0.0:$PORT --workers 2\n')
    smoke = _smoke(starter(example))
    assert smoke == {"ports": [8000], "env": {"PORT": "8000"}}


def test_starter_lists_every_dockerfile_and_says_which_it_chose(example: Path) -> None:
    (example / "docker").mkdir()
    shutil.move(example / "Dockerfile", example / "docker" / "Dockerfile")
    (example / "docker" / "dev.Dockerfile").write_text(NO_CMD)
    text = starter(example)
    assert "# Dockerfiles found: docker/Dockerfile, docker/dev.Dockerfile\n# chose " \
           "docker/Dockerfile: the shallowest that is not for development or tests " \
           "(left out: docker/dev.Dockerfile (dev))" in text
    assert tomllib.loads(text)["tool"]["shipready"]["image"] == {
        "dockerfile": "docker/Dockerfile"}


def test_starter_never_picks_a_devcontainer_dockerfile_over_one_that_ships(
        example: Path) -> None:
    # The shape seen on a Django service: .devcontainer/Dockerfile is shallower than
    # the production one, and was picked.
    (example / "compose" / "production" / "django").mkdir(parents=True)
    shutil.move(example / "Dockerfile", example / "compose" / "production" / "django" /
                "Dockerfile")
    (example / ".devcontainer").mkdir()
    (example / ".devcontainer" / "Dockerfile").write_text(NO_CMD)
    (example / "compose" / "local").mkdir()
    (example / "compose" / "local" / "Dockerfile").write_text(NO_CMD)
    text = starter(example)
    assert ("# Dockerfiles found: .devcontainer/Dockerfile, compose/local/Dockerfile, "
            "compose/production/django/Dockerfile\n# chose compose/production/django/"
            "Dockerfile: its path says it ships (production)") in text, text
    assert tomllib.loads(text)["tool"]["shipready"]["image"] == {
        "dockerfile": "compose/production/django/Dockerfile"}
    # Without a production word: the shallowest that is not for development, saying
    # which were left out and why.
    shutil.move(example / "compose" / "production", example / "compose" / "web")
    text = starter(example)
    assert ("# chose compose/web/django/Dockerfile: the shallowest that is not for "
            "development or tests (left out: .devcontainer/Dockerfile (.devcontainer), "
            "compose/local/Dockerfile (local))") in text, text


def test_missing_environment_variables_are_read_off_the_start_log() -> None:
    from pytest_shipready.starter import missing_env

    log = ('Traceback (most recent call last):\n  ...\nKeyError: \'DATABASE_URL\'\n'
           "settings\nSECRET_KEY\n  Field required [type=missing]\n")
    assert missing_env(log) == ("DATABASE_URL", "SECRET_KEY")
    # django-environ, python-decouple, environs, pydantic-settings' lower-case fields
    log = ("django.core.exceptions.ImproperlyConfigured: Set the DJANGO_SECRET_KEY "
           "environment variable\n"
           "decouple.UndefinedValueError: REDIS_URL not found. Declare it as envvar or "
           "define a default value.\n"
           'environs.EnvError: Environment variable "SENTRY_DSN" not set\n'
           "1 validation error for Settings\nbroker_url\n  Field required [type=missing]\n"
           "KeyError: \"API_TOKEN\"\n")
    assert missing_env(log) == ("API_TOKEN", "SENTRY_DSN", "DJANGO_SECRET_KEY", "REDIS_URL",
                                "BROKER_URL")


def test_listening_ports_are_read_off_proc_net_tcp() -> None:
    from pytest_shipready.starter import listening_ports

    tcp = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt\n"
           "   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n"
           "   1: 0100007F:1F40 0100007F:9C40 01 00000000:00000000 00:00000000 00000000\n")
    tcp6 = ("  sl  local_address                         remote_address  st\n"
            "   0: 00000000000000000000000000000000:1388 0000000000000000000000000000000"
            "0:0000 0A 00000000:00000000\n")
    assert listening_ports(tcp + tcp6) == (5000, 8000)
    assert listening_ports(tcp.splitlines()[0]) == ()


@pytest.mark.parametrize(("command", "worker"), [
    ("celery -A proj worker -l info", True), ("rq worker high default", True),
    ("python -m app.consumer", True), ("dramatiq app.tasks", True),
    ("celery -A proj beat", True), ("gunicorn app.wsgi:app", False),
    ("python -m app", False), ("uvicorn app.main:app --port 8000", False)])
def test_worker_commands_get_no_port_guess(example: Path, command: str, worker: bool
                                           ) -> None:
    from pytest_shipready.starter import looks_like_worker

    assert looks_like_worker(command) is worker
    (example / "Dockerfile").write_text(NO_CMD + f"CMD {command}\n")
    smoke = _smoke(starter(example))
    if worker:
        assert smoke == {}, smoke
        assert "runs a worker, which serves no port: no ports and no HTTP probe" in \
            starter(example)
    else:
        assert "ports" in smoke


def test_an_arg_without_a_usable_default_is_named() -> None:
    from pytest_shipready.dockerfile import parser
    from pytest_shipready.starter import unset_args

    df = parser.parse("ARG BASE\nFROM python:${BASE}-slim\nARG APP_VERSION\nARG UNUSED\n"
                      "ARG EMPTY=\"\"\nARG SET=1\nRUN echo $APP_VERSION $EMPTY $SET\n",
                      "Dockerfile")
    stage = df.target()
    assert stage is not None
    assert unset_args(df, {}, stage) == ["APP_VERSION", "BASE", "EMPTY"]
    assert unset_args(df, {"BASE": "3.11"}, stage) == ["APP_VERSION", "EMPTY"]


@pytest.mark.docker
def test_init_with_an_engine_tries_health_paths_and_names_missing_env(
        pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    (pytester.path / "Dockerfile").write_text(NO_CMD)
    (pytester.path / "Procfile").write_text("web: python -m app\n")
    result = pytester.runpytest_subprocess("--shipready-init", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "# ran pytest-shipready/* once to see what it does",
        "# health paths tried: /health 200, /healthz 404, *"])
    # An app that stops on a variable it needs: the starter proposes a test value.
    server = pytester.path / "app" / "__main__.py"
    server.write_text("import os\nos.environ['DATABASE_URL']\n" + server.read_text())
    again = pytester.runpytest_subprocess("--shipready-init", "-p", "no:cacheprovider")
    again.stdout.fnmatch_lines(["# the app stopped on missing DATABASE_URL: give it test values",
                                'env = { PORT = "8000", DATABASE_URL = "change-me" }'])
    left = subprocess.run(["docker", "ps", "-aq", "--filter",
                           f"label=io.pytest-shipready.project=pytest-shipready/"
                           f"{pytester.path.name.lower()}"],
                          capture_output=True, text=True).stdout.split()
    assert left == []


# --- backing services -------------------------------------------------------------------


def test_starter_proposes_services_from_the_variables_the_app_reads(example: Path) -> None:
    (example / "app" / "settings.py").write_text(
        'import os\nDATABASES = {"default": env.db("DATABASE_URL")}\n'
        'CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]\n')
    (example / "manage.py").write_text("# Django\n")
    (example / "tests" / "test_x.py").write_text('REDIS_URL = "only in a test"\n')
    text = starter(example)
    table = tomllib.loads(text)["tool"]["shipready"]
    config.parse(table, "starter")  # the strict schema accepts it
    assert "# The app reads DATABASE_URL, CELERY_BROKER_URL: start what they name" in text
    assert table["services"] == {
        "db": {"image": "postgres:15", "env": {"POSTGRES_USER": "app", "POSTGRES_PASSWORD":
                                               "change-me", "POSTGRES_DB": "app"}},
        "broker": {"image": "rabbitmq:3", "env": {"RABBITMQ_DEFAULT_USER": "app",
                                                  "RABBITMQ_DEFAULT_PASS": "change-me"}}}
    assert table["smoke"]["env"] == {
        "DATABASE_URL": "postgresql://app:change-me@db:5432/app",
        "CELERY_BROKER_URL": "amqp://app:change-me@broker:5672/%2F"}
    assert '# release = ["python", "manage.py", "migrate", "--noinput"]' in text


def test_starter_says_the_compose_services_need_no_configuration(example: Path) -> None:
    (example / "compose.yaml").write_text(
        "services:\n  web:\n    build: .\n    command: gunicorn app:app\n"
        "    environment: {DATABASE_URL: 'postgresql://u:p@db/x'}\n"
        "    depends_on: [db]\n  db: {image: postgres:15}\n")
    text = starter(example)
    config.parse(tomllib.loads(text)["tool"]["shipready"], "starter")
    assert "# Backing services: compose.yaml (service web) depends on db (postgres:15)." in text
    assert "app gets that service's environment (DATABASE_URL)" in text
    assert "[tool.shipready.services" not in text
    assert "# [tool.shipready.compose] use_command = true   # run its `gunicorn app:app`" in text
    (example / "compose.yaml").write_text("services: [\n")
    assert "# compose.yaml: not valid YAML" in starter(example)


# --- the trial run, as users run it (a real engine) -------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


def _init_timed(project: Path) -> tuple[int, str, list[tuple[float, str]]]:
    """``pytest --shipready-init`` in ``project``: exit code, stdout, and each stderr line
    with the second it arrived (from the start), the exit last."""
    import os
    import sys
    import threading
    import time

    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--shipready-init", "-p", "no:cacheprovider"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TESTCONTAINERS_RYUK_DISABLED": "true"})
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append((time.monotonic() - started, line.rstrip("\n")))

    reader = threading.Thread(target=read)
    reader.start()
    assert proc.stdout is not None
    out = proc.stdout.read()  # not communicate(): it would read stderr too
    proc.wait(timeout=600)
    reader.join()
    lines.append((time.monotonic() - started, "(exit)"))
    return proc.returncode, out, lines


def _copy_fixture(tmp_path: Path, name: str) -> Path:
    import uuid

    project = tmp_path / f"{name}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURES / name, project, ignore=shutil.ignore_patterns("__pycache__"))
    return project


def _leftover_containers(project: Path) -> list[str]:
    return subprocess.run(["docker", "ps", "-aq", "--filter",
                           f"label=io.pytest-shipready.project=pytest-shipready/"
                           f"{project.name.lower()}"],
                          capture_output=True, text=True).stdout.split()


@pytest.mark.docker
def test_init_on_a_worker_imports_no_conftest_shows_progress_and_proposes_no_port(
        tmp_path: Path) -> None:
    from conftest import remove_kept_image

    project = _copy_fixture(tmp_path, "init-worker")
    try:
        code, out, err = _init_timed(project)
    finally:
        remove_kept_image(project)
    # The conftest imports a package that is not installed, and addopts name options of
    # a plugin that is not either: neither is applied, as under --shipready-only.
    assert code == 0, (out, err)
    table = tomllib.loads(out)["tool"]["shipready"]
    config.parse(table, "starter")
    # It opened no port: nothing to publish, no HTTP probe, no PORT.
    assert table.get("smoke", {}) == {}, table
    assert "# the trial run opened no port in " in out
    assert "probe_path" not in out and "health paths tried" not in out
    # Progress on stderr (stdout is the TOML): never silent for more than 5 s.
    texts = [text for _, text in err]
    assert "shipready: building Dockerfile and running it once to see what it does" in texts
    assert any(t.startswith("shipready: building the image") for t in texts), texts
    # (from the plugin's first line: before it, Python and pytest start, seconds on a
    # loaded machine, which no heartbeat of the plugin can cover)
    stamps = [when for when, _ in err]
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert max(gaps) <= 5.0, err
    assert _leftover_containers(project) == []


@pytest.mark.docker
def test_init_names_the_variable_a_500_asks_for(tmp_path: Path) -> None:
    from conftest import remove_kept_image

    project = _copy_fixture(tmp_path, "init-web-env")
    try:
        code, out, err = _init_timed(project)
    finally:
        remove_kept_image(project)
    assert code == 0, (out, err)
    assert "# health paths tried: /health 500, " in out
    assert "# the app answered 500 for missing DATABASE_URL: give it test values" in out
    smoke = _smoke(out)
    assert smoke["ports"] == [8000]
    assert smoke["env"] == {"PORT": "8000", "DATABASE_URL": "change-me"}


@pytest.mark.docker
def test_init_says_why_its_trial_build_failed_and_names_the_arg_it_needs(
        tmp_path: Path) -> None:
    from conftest import remove_kept_image

    project = _copy_fixture(tmp_path, "init-web-env")
    (project / "Dockerfile").write_text(
        "FROM python:3.11-slim\nARG APP_VERSION\nWORKDIR /srv\n"
        'RUN test -n "$APP_VERSION" || (echo "APP_VERSION must be given" >&2; exit 1)\n'
        'COPY app/ app/\nCMD ["python", "-m", "app"]\n')
    try:
        code, out, err = _init_timed(project)
    finally:
        remove_kept_image(project)
    assert code == 0, (out, err)
    assert "# could not build Dockerfile: the build failed (" in out
    assert '#   step `RUN test -n "$APP_VERSION" ||' in out
    assert "#   APP_VERSION must be given" in out
    assert ("# the Dockerfile has ARG APP_VERSION without a usable default: give the build "
            'values under [tool.shipready.image]: build_args = { APP_VERSION = "..." }') in out
    config.parse(tomllib.loads(out)["tool"]["shipready"], "starter")
