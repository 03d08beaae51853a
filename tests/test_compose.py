"""deploy/compose.py: what a Compose file says about the app that builds this Dockerfile
and the services it depends on (pure: files in, plain data out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_shipready.deploy import compose
from pytest_shipready.deploy.compose import ComposeError, interpolate, parse_dotenv


def _project(tmp_path: Path, text: str, name: str = "compose.yaml") -> Path:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / name).write_text(text)
    return tmp_path


def _load(project: Path, environ: dict[str, str] | None = None, service: str = "",
          name: str = "compose.yaml") -> compose.ComposeModel:
    return compose.load(project / name, project, project / "Dockerfile",
                        environ=environ or {}, service=service)


WEB_AND_DB = """
services:
  web:
    build: .
    ports: ["8000:8000"]
    environment:
      DATABASE_URL: postgresql://app:${DB_PASSWORD:-secret}@db:5432/app
      DEBUG: false
    depends_on:
      db:
        condition: service_healthy
      cache:
        condition: service_started
  db:
    image: postgres:15
    environment:
      - POSTGRES_PASSWORD=secret
      - POSTGRES_USER=app
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U app"]
      interval: 1m30s
      timeout: 500ms
      retries: 5
  cache:
    image: redis:7
    command: redis-server --appendonly no
  unrelated:
    image: nginx:1
"""


def test_the_service_building_the_dockerfile_gives_env_and_backing_services(
        tmp_path: Path) -> None:
    model = _load(_project(tmp_path, WEB_AND_DB))
    assert model.file == "compose.yaml"
    assert model.app is not None and model.app.name == "web"
    assert model.app.env == {"DATABASE_URL": "postgresql://app:secret@db:5432/app",
                             "DEBUG": "false"}
    assert [s.name for s in model.services] == ["db", "cache"]  # not `unrelated`
    db, cache = model.services
    assert db.image == "postgres:15" and db.condition == "service_healthy"
    assert db.env == {"POSTGRES_PASSWORD": "secret", "POSTGRES_USER": "app"}
    assert db.healthcheck == compose.Healthcheck(("/bin/sh", "-c", "pg_isready -U app"),
                                                 90.0, 0.5, 0.0, 5)
    assert cache.command == ("redis-server", "--appendonly", "no")
    assert cache.condition == "service_started" and cache.healthcheck is None


def test_interpolation_uses_the_environment_before_the_dotenv_file(tmp_path: Path) -> None:
    project = _project(tmp_path, WEB_AND_DB)
    (project / ".env").write_text("DB_PASSWORD=from-dotenv\n")
    assert _load(project).app.env["DATABASE_URL"].endswith(":from-dotenv@db:5432/app")  # type: ignore[union-attr]
    env = _load(project, {"DB_PASSWORD": "from-shell"}).app.env  # type: ignore[union-attr]
    assert env["DATABASE_URL"] == "postgresql://app:from-shell@db:5432/app"


@pytest.mark.parametrize(("text", "env", "expected"), [
    ("$A-${A}", {"A": "x"}, "x-x"),
    ("${A:-d}", {}, "d"),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A-d}", {"A": ""}, ""),
    ("${A-d}", {}, "d"),
    ("${A:+yes}", {"A": "1"}, "yes"),
    ("${A:+yes}", {"A": ""}, ""),
    ("${A+yes}", {"A": ""}, "yes"),
    ("${A:-${B:-inner}}", {}, "inner"),
    ("$$HOME and $$", {"HOME": "/root"}, "$HOME and $"),
    ("cost: 5$", {}, "cost: 5$"),
    ("${A}", {}, ""),
])
def test_interpolation_follows_compose(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env.get, "x") == expected


def test_a_required_variable_that_is_not_set_is_an_error_naming_it() -> None:
    with pytest.raises(ComposeError, match=r"required variable TOKEN is not set: give it"):
        interpolate("${TOKEN:?give it}", {}.get, "compose.yaml: services.web")
    with pytest.raises(ComposeError, match="not closed"):
        interpolate("${A", {}.get, "x")
    with pytest.raises(ComposeError, match="not a valid variable"):
        interpolate("${1A}", {}.get, "x")


def test_an_unset_variable_becomes_empty_and_is_noted(tmp_path: Path) -> None:
    project = _project(tmp_path, """
services:
  web:
    build: .
    environment:
      API_URL: http://${API_HOST}/v1
""")
    model = _load(project)
    assert model.app is not None and model.app.env == {"API_URL": "http:///v1"}
    assert any("API_HOST is not set" in n for n in model.notes)


def test_development_settings_are_left_out_and_said(tmp_path: Path) -> None:
    project = _project(tmp_path, """
services:
  web:
    build:
      context: .
      dockerfile: Dockerfile
    command: uvicorn app:app --host 0.0.0.0 --reload
    volumes:
      - .:/app
      - type: bind
        source: ./src
        target: /src
    depends_on: [db]
  db:
    image: postgres:15
    environment: {POSTGRES_PASSWORD: pw}
    volumes:
      - pgdata:/var/lib/postgresql/data
      - ./initdb:/docker-entrypoint-initdb.d
      - /etc/hosts:/etc/hosts2
volumes: {pgdata: {}}
""")
    (project / "initdb").mkdir()
    (project / "compose.override.yaml").write_text("services: {}\n")
    model = _load(project)
    assert model.app is not None
    assert model.app.command == ("uvicorn", "app:app", "--host", "0.0.0.0", "--reload")
    assert "reloads" in model.app.dev_command
    notes = "\n".join(model.notes)
    assert "web: bind mount .:/app not used" in notes
    assert "web: bind mount ./src:/src not used" in notes
    assert "db: named volume pgdata not used" in notes
    assert "bind mount /etc/hosts not used (not a file of the project)" in notes
    assert "compose.override.yaml not read" in notes
    (db,) = model.services
    # A project directory mounted into the service (initdb scripts) is copied in.
    assert db.copies == (compose.CopyIn((project / "initdb").resolve(),
                                        "/docker-entrypoint-initdb.d"),)


def test_transitive_dependencies_come_first_and_cycles_are_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, """
services:
  web: {build: ., depends_on: [worker_broker]}
  worker_broker: {image: rabbitmq:3, depends_on: {db: {condition: service_healthy}}}
  db: {image: postgres:15}
""")
    model = _load(project)
    assert [s.name for s in model.services] == ["db", "worker_broker"]
    assert model.services[0].condition == "service_healthy"
    (project / "compose.yaml").write_text("""
services:
  web: {build: ., depends_on: [a]}
  a: {image: x:1, depends_on: [b]}
  b: {image: x:1, depends_on: [a]}
""")
    with pytest.raises(ComposeError, match="cycle: web -> a -> b -> a"):
        _load(project)


def test_which_file_and_which_service(tmp_path: Path) -> None:
    assert compose.find(tmp_path) is None
    _project(tmp_path, "services: {}\n", "docker-compose.yml")
    assert compose.find(tmp_path) == tmp_path / "docker-compose.yml"
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    assert compose.find(tmp_path) == tmp_path / "compose.yaml"  # compose's own order


def test_several_services_build_the_image_the_one_with_ports_is_the_app(
        tmp_path: Path) -> None:
    project = _project(tmp_path, """
services:
  worker: {build: ., command: celery worker}
  web: {build: ., ports: ["80:8000"]}
""")
    model = _load(project)
    assert model.app is not None and model.app.name == "web"
    assert model.candidates == ("worker", "web")
    assert any("chose web" in n for n in model.notes)
    assert _load(project, service="worker").app.name == "worker"  # type: ignore[union-attr]
    with pytest.raises(ComposeError, match=r"no service 'api'.*services: worker, web"):
        _load(project, service="api")


def test_no_service_builds_this_dockerfile(tmp_path: Path) -> None:
    project = _project(tmp_path, """
services:
  other: {build: {context: ., dockerfile: other.Dockerfile}}
  db: {image: postgres:15}
""")
    model = _load(project)
    assert model.app is None and model.services == ()


def test_a_dependency_without_an_image_is_not_started_and_said(tmp_path: Path) -> None:
    project = _project(tmp_path, """
services:
  web: {build: ., depends_on: {migrate: {condition: service_completed_successfully}}}
  migrate: {build: ., command: python manage.py migrate}
""")
    model = _load(project, service="web")
    assert model.services == ()
    assert any("migrate: not started" in n and "release" in n for n in model.notes)


def test_env_file_then_environment_and_names_from_the_shell(tmp_path: Path) -> None:
    project = _project(tmp_path, """
services:
  web:
    build: .
    env_file: [web.env, {path: missing.env, required: false}]
    environment: [FROM_SHELL, OVERRIDDEN=env, ABSENT]
""")
    (project / "web.env").write_text('# comment\nexport OVERRIDDEN=file\nQUOTED="a b"\n'
                                     "PLAIN=x # trailing\nSINGLE='$NOT'\n")
    model = _load(project, {"FROM_SHELL": "yes"})
    assert model.app is not None and model.app.env == {
        "OVERRIDDEN": "env", "QUOTED": "a b", "PLAIN": "x", "SINGLE": "$NOT",
        "FROM_SHELL": "yes"}
    (project / "compose.yaml").write_text("services:\n  web: {build: ., env_file: nope.env}\n")
    with pytest.raises(ComposeError, match=r"env_file names nope\.env, which is not in this "
                       r"checkout: `docker compose up` refuses the file as well"):
        _load(project)


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  web: [\n", "not valid YAML (line 3)"),
    ("version: '3'\n", "has no `services:` mapping"),
    ("services:\n  web: {build: ., depends_on: [nope]}\n", "names 'nope', which is not"),
    ("services:\n  web: {build: ., depends_on: {db: {condition: up}}}\n  db: {image: x}\n",
     "condition = 'up': must be one of"),
    ("services:\n  web: {build: ., depends_on: [db]}\n"
     "  db: {image: x, healthcheck: {test: [CMD], interval: soon}}\n",
     "must start with CMD, CMD-SHELL or NONE"),
    ("services:\n  web: {build: ., depends_on: [db]}\n"
     "  db: {image: x, healthcheck: {test: [CMD, x], interval: soon}}\n",
     "healthcheck.interval = 'soon': not a duration"),
])
def test_bad_files_are_clear_errors_naming_the_file(tmp_path: Path, text: str,
                                                    message: str) -> None:
    project = _project(tmp_path, text)
    with pytest.raises(ComposeError) as info:
        _load(project)
    assert str(info.value).startswith("compose.yaml")
    assert message in str(info.value)


def test_healthcheck_forms() -> None:
    read = compose._healthcheck
    assert read({"test": "curl -f localhost"}, "x").argv == ("/bin/sh", "-c",  # type: ignore[union-attr]
                                                              "curl -f localhost")
    assert read({"test": ["CMD", "pg_isready"]}, "x").argv == ("pg_isready",)  # type: ignore[union-attr]
    assert read({"test": ["NONE"]}, "x") is None
    assert read({"disable": True, "test": ["CMD", "x"]}, "x") is None


def test_dotenv_values() -> None:
    assert parse_dotenv('A=1\nB="x\\ny"\n C = spaced \n=bad\nnot a line\n') == {
        "A": "1", "B": "x\ny", "C": "spaced"}


def test_what_is_not_followed_is_said(tmp_path: Path) -> None:
    project = _project(tmp_path, """
include: [other.yaml]
services:
  web: {build: ., extends: {file: base.yaml, service: app}, depends_on: [db]}
  db: {image: postgres:15}
""")
    notes = _load(project).notes
    assert "compose.yaml: `include` is not followed (only this file is read)" in notes
    assert "web: `extends` is not followed (its base's settings are not used)" in notes


def test_the_dockerfile_a_service_builds_is_interpolated(tmp_path: Path) -> None:
    # Shape of opentelemetry-demo (fourth validation pass): `dockerfile:
    # ${RECOMMENDATION_DOCKERFILE}` with the value in the committed .env; SR320 said "no
    # service of compose.yaml builds Dockerfile".
    project = _project(tmp_path, """
services:
  recommendation:
    build: {context: ./, dockerfile: "${RECOMMENDATION_DOCKERFILE}"}
    depends_on: [catalog]
  catalog: {image: "${IMAGE_NAME}:2-catalog"}
""")
    (project / "src" / "recommendation").mkdir(parents=True)
    (project / "src" / "recommendation" / "Dockerfile").write_text("FROM python:3.13\n")
    (project / ".env").write_text("RECOMMENDATION_DOCKERFILE=./src/recommendation/Dockerfile\n"
                                  "IMAGE_NAME=demo\n")
    model = compose.load(project / "compose.yaml", project,
                         project / "src" / "recommendation" / "Dockerfile", environ={})
    assert model.app is not None and model.app.name == "recommendation"
    assert [s.name for s in model.services] == ["catalog"]
    assert model.services[0].image == "demo:2-catalog"
    # the environment wins over .env, as in `docker compose`
    other = compose.load(project / "compose.yaml", project, project / "Dockerfile",
                         environ={"RECOMMENDATION_DOCKERFILE": "Dockerfile"})
    assert other.app is not None and other.app.name == "recommendation"
