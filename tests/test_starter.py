"""--shipready-init prints a starter section that the strict schema accepts."""

from __future__ import annotations

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
    assert "# Dockerfiles found: docker/Dockerfile, docker/dev.Dockerfile; chose " \
           "docker/Dockerfile" in text
    assert tomllib.loads(text)["tool"]["shipready"]["image"] == {
        "dockerfile": "docker/Dockerfile"}


def test_missing_environment_variables_are_read_off_the_start_log() -> None:
    from pytest_shipready.starter import missing_env

    log = ('Traceback (most recent call last):\n  ...\nKeyError: \'DATABASE_URL\'\n'
           "settings\nSECRET_KEY\n  Field required [type=missing]\n")
    assert missing_env(log) == ("DATABASE_URL", "SECRET_KEY")


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
