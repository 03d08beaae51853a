"""The backing services' pure parts: configuration, the plan (from [tool.shipready.services]
or a Compose file), how readiness is judged, and the verdicts (SR320, SR321, SR301's
explanation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_shipready import config
from pytest_shipready.checks import CheckResult, Finding, Status
from pytest_shipready.config import ConfigError
from pytest_shipready.container.run import backing
from pytest_shipready.container.run.backing import Outcome
from pytest_shipready.secrets import redact_text, secret_values

# --- configuration ----------------------------------------------------------------------


def test_services_tables_are_validated_strictly() -> None:
    cfg = config.parse({"services": {"db": {"image": "postgres:15", "env": {
        "POSTGRES_PASSWORD": "pw"}, "ready_timeout": 30, "aliases": ["postgres"]}},
        "smoke": {"release": ["python", "-m", "app.migrate"]}})
    assert cfg.services["db"].image == "postgres:15"
    assert cfg.services["db"].ready_timeout == 30.0
    assert cfg.smoke.release == ("python", "-m", "app.migrate")
    assert "pw" not in repr(cfg.services["db"])  # env values are never in a repr
    with pytest.raises(ConfigError, match=r"\[tool.shipready.services.db\]: image is required"):
        config.parse({"services": {"db": {"env": {}}}})
    with pytest.raises(ConfigError, match=r"unknown key 'imgae' \(did you mean 'image'\?\)"):
        config.parse({"services": {"db": {"imgae": "x"}}})
    with pytest.raises(ConfigError, match="'my db' is not a valid service name"):
        config.parse({"services": {"my db": {"image": "x"}}})
    with pytest.raises(ConfigError, match="ready_timeout = 'soon': must be a number"):
        config.parse({"services": {"db": {"image": "x", "ready_timeout": "soon"}}})
    with pytest.raises(ConfigError, match=r"\[tool.shipready.compose\] unknown key 'files'"):
        config.parse({"compose": {"files": "x"}})


def test_a_compose_file_outside_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.shipready.compose]\nfile = "../c.yaml"\n')
    with pytest.raises(ConfigError, match=r"\[tool.shipready.compose\] file = '../c.yaml' is "
                       "outside the project"):
        config.load(tmp_path)


# --- the plan ---------------------------------------------------------------------------


def _project(tmp_path: Path, compose_text: str | None = None) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    if compose_text is not None:
        (tmp_path / "compose.yaml").write_text(compose_text)
    return tmp_path


COMPOSE = """
services:
  web:
    build: .
    environment: {DATABASE_URL: "postgresql://app:pw-1234@db/app", REDIS_URL: "redis://cache"}
    depends_on: {db: {condition: service_healthy}, cache: {}, once: {condition:
      service_completed_successfully}, other: {}}
  db: {image: postgres:15, environment: {POSTGRES_PASSWORD: pw-1234},
       healthcheck: {test: "pg_isready"}}
  cache: {image: "docker.io/library/redis:7"}
  once: {image: "busybox:1", command: "true"}
  other: {image: "example/thing:2"}
"""


def test_plan_from_compose_names_its_source_and_judges_each_service(tmp_path: Path) -> None:
    project = _project(tmp_path, COMPOSE)
    plan = backing.plan(config.parse({}), project, project / "Dockerfile", {})
    assert plan.source == "compose.yaml (service web)"
    assert plan.app_env["REDIS_URL"] == "redis://cache"
    probes = {s.name: s.probe for s in plan.services}
    assert probes["db"] == backing.Probe("exec", "its healthcheck `pg_isready`",
                                         argv=("/bin/sh", "-c", "pg_isready"))
    assert probes["cache"].argv == ("redis-cli", "ping")  # known image, no healthcheck
    assert probes["once"].kind == "exit"  # service_completed_successfully
    assert probes["other"].kind == "image"  # its HEALTHCHECK or EXPOSE, read when it runs
    # Every value that is secret in any environment is masked.
    secrets = {v for env in plan.secret_env() for v in secret_values(env)}
    assert "pw-1234" in secrets


def test_configured_services_win_over_compose_and_say_so(tmp_path: Path) -> None:
    project = _project(tmp_path, COMPOSE)
    cfg = config.parse({"services": {"q": {"image": "rabbitmq:3"},
                                     "c": {"image": "x:1", "ports": [6000]},
                                     "h": {"image": "x:1", "healthcheck": ["true"],
                                           "ready_log": "ignored"}}})
    plan = backing.plan(cfg, project, project / "Dockerfile", {})
    assert plan.source == "[tool.shipready.services]" and plan.app_env == {}
    assert [s.name for s in plan.services] == ["q", "c", "h"]
    assert plan.services[0].probe.pattern == "Server startup complete"
    assert plan.services[1].probe == backing.Probe("port", "port 6000 listening",
                                                   ports=(6000,))
    assert plan.services[2].probe.argv == ("true",)
    assert "the Compose file is not read" in plan.notes[0]


def test_no_services_is_a_reason_not_an_error(tmp_path: Path) -> None:
    project = _project(tmp_path)
    plan = backing.plan(config.parse({}), project, project / "Dockerfile", {})
    assert plan.services == () and "no compose.yaml" in plan.none_why
    (project / "compose.yaml").write_text(COMPOSE)
    off = backing.plan(config.parse({"compose": {"enabled": False}}), project,
                       project / "Dockerfile", {})
    assert off.services == () and "enabled = false" in off.none_why
    (project / "compose.yaml").write_text("services: [")
    broken = backing.plan(config.parse({}), project, project / "Dockerfile", {})
    assert broken.error.startswith("compose.yaml: not valid YAML")


def test_the_compose_command_is_used_only_when_asked_and_never_a_reloading_one(
        tmp_path: Path) -> None:
    project = _project(tmp_path, "services:\n  web: {build: ., command: gunicorn app:app}\n")
    default = backing.plan(config.parse({}), project, project / "Dockerfile", {})
    assert default.app_command == ()
    assert any("use_command = true uses it" in n for n in default.notes)
    used = backing.plan(config.parse({"compose": {"use_command": True}}), project,
                        project / "Dockerfile", {})
    assert used.app_command == ("gunicorn", "app:app")
    (project / "compose.yaml").write_text(
        "services:\n  web: {build: ., command: flask run --reload}\n")
    dev = backing.plan(config.parse({"compose": {"use_command": True}}), project,
                       project / "Dockerfile", {})
    assert dev.app_command == ()
    assert any("is not used" in n and "development server" in n for n in dev.notes)


@pytest.mark.parametrize(("image", "repo"), [
    ("postgres:15", "postgres"), ("docker.io/library/redis:7-alpine", "redis"),
    ("registry:5000/team/rabbitmq@sha256:abc", "rabbitmq"), ("Postgres", "postgres")])
def test_repository_names(image: str, repo: str) -> None:
    assert backing.repository(image) == repo


# --- what a service shows ---------------------------------------------------------------

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 1
   1: 0100007F:9C40 0100007F:1538 01 00000000:00000000 00:00000000 00000000   101        0 2
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:18EB 00000000000000000000000000000000:0000 0A 0
"""


def test_listening_ports_are_read_off_proc_net_tcp() -> None:
    assert backing.listening(PROC_NET_TCP) == {5432, 6379}  # 0x9C40 is not listening


def test_rejected_credentials_are_found_in_a_services_log() -> None:
    log = ('2026 [7] FATAL:  password authentication failed for user "app"\n'
           '2026 [7] DETAIL:  Connection matched pg_hba.conf line 99\n'
           '2026 [8] FATAL:  password authentication failed for user "app"\n'
           '2026 [9] FATAL:  database "shop" does not exist\n')
    assert backing.rejections(log) == ['password authentication failed for user "app"',
                                       'database "shop" does not exist']
    assert backing.rejections("HTTP/1.1 200 OK\nready\n") == []
    assert backing.rejections("PLAIN login refused: user 'guest' - invalid credentials") \
        == ["PLAIN login refused: user 'guest' - invalid credentials"]


# --- verdicts -----------------------------------------------------------------------------


def test_services_verdict_passes_with_what_it_verified_and_where_they_came_from() -> None:
    result = backing.services_verdict(
        [Outcome("db", "postgres:15", "ready", 1.6, "a `select 1`"),
         Outcome("cache", "x:1", "unverified", 2.0, "running")],
        "compose.yaml (service web)", ["db: named volume pgdata not used"], {})
    assert result.status == Status.PASSED
    assert result.summary.startswith("db (postgres:15) ready in 1.6 s (a `select 1`), cache "
                                     "(x:1) running, nothing says it is ready")
    assert "from compose.yaml (service web); db: named volume" in result.summary


def test_services_verdict_names_each_failed_service_with_its_log() -> None:
    result = backing.services_verdict(
        [Outcome("db", "postgres:15", "exited", 0.4, "q", b"Error: superuser password is "
                 b"not specified\n", exit_code=1),
         Outcome("mq", "rabbitmq:3", "not-ready", 60.0, "the log line", b"booting\n",
                 error="exit 1: nope"),
         Outcome("cache", "redis:9", "failed", error="the image redis:9 is not in the "
                 "engine, and pulling it failed: denied"),
         Outcome("ok", "x:1", "ready", 1.0, "q")],
        "[tool.shipready.services]", [], {})
    assert result.status == Status.FAILED
    assert result.summary == ("service db, mq, cache did not become ready; from "
                              "[tool.shipready.services]")
    db, mq, cache = result.findings
    assert "service db (postgres:15) exited before becoming ready (exit code 1" in db.message
    assert "superuser password is not specified" in db.message
    assert "not ready within 60 s (waiting for the log line); the last probe said: exit 1: " \
        "nope; its log:\nbooting" in mq.message
    assert "[tool.shipready.services.mq] ready_timeout" in mq.hint
    assert "pulling it failed" in cache.message


def test_the_apps_failure_names_the_service_that_refused_it() -> None:
    failed = CheckResult.failed("SR301", "the HEALTHCHECK reports unhealthy after 16.0 s",
                                [Finding("probe failed")])
    result = backing.explain_app_failure(failed, {
        "db": ("postgres:15", b'FATAL:  password authentication failed for user "app"\n'),
        "cache": ("redis:7", b"Ready to accept connections\n")})
    assert result.summary.endswith("; service db refused the app's credentials")
    assert 'service db (postgres:15) refused the app: password authentication failed for ' \
        'user "app"' in result.findings[1].message
    assert result.findings[2].message.startswith("service cache (redis:7) is running")
    quiet = backing.explain_app_failure(failed, {"cache": ("redis:7", b"")})
    assert quiet.summary == failed.summary


def test_release_verdicts() -> None:
    ok = backing.release_verdict(["python", "-m", "app.migrate"], 0, 1.234,
                                 b"x\napplied 2 migrations\n", 300)
    assert ok.status == Status.PASSED
    assert ok.summary == "`python -m app.migrate` exited 0 in 1.2 s: applied 2 migrations"
    bad = backing.release_verdict(["migrate"], 3, 0.5, b"Traceback\nValueError: no\n", 300)
    assert bad.status == Status.FAILED and "failed (exit code 3)" in bad.summary
    assert "ValueError: no" in bad.findings[0].message
    hung = backing.release_verdict(["migrate"], None, 300.0, b"waiting for lock\n", 300)
    assert hung.summary == "`migrate` did not finish within 300 s"
    assert "release_timeout" in hung.findings[0].hint


def test_service_secrets_are_masked_in_log_tails() -> None:
    env = {"POSTGRES_PASSWORD": "s3cr3t-pw", "RABBITMQ_DEFAULT_USER": "guest"}
    text = "starting with s3cr3t-pw as password"
    assert redact_text(text, secret_values(env)) == "starting with *** as password"


def test_a_compose_file_in_a_subfolder_is_named_with_the_key_that_reads_it(
        tmp_path: Path) -> None:
    # Shape of healthchecks (fourth validation pass): docker/docker-compose.yml, none at
    # the top. SR320 said "no compose.yaml / docker-compose.yml" while SR607 read that file.
    project = _project(tmp_path)
    (project / "docker").mkdir()
    (project / "docker" / "docker-compose.yml").write_text(
        COMPOSE.replace("build: .", "build: {context: .., dockerfile: Dockerfile}"))
    plan = backing.plan(config.parse({}), project, project / "Dockerfile", {})
    assert plan.services == ()
    assert plan.none_why.endswith(
        "no compose.yaml / docker-compose.yml at the project's top (docker/docker-compose.yml"
        " is not read unless named: [tool.shipready.compose] file = "
        "\"docker/docker-compose.yml\")")
    named = backing.plan(config.parse({"compose": {"file": "docker/docker-compose.yml"}}),
                         project, project / "Dockerfile", {})
    assert [s.name for s in named.services] == ["db", "cache", "once", "other"]


def test_no_release_phase_names_the_procfiles_release_process(tmp_path: Path) -> None:
    # Shape of Django-Styleguide-Example (fourth validation pass): `release: python
    # manage.py migrate` in the Procfile; SR321 said "no release phase" and SR209 said
    # "the Procfile's release process migrates".
    from pytest_shipready.container.run.services import _no_release

    assert _no_release(tmp_path).startswith("no release phase ([tool.shipready.smoke]")
    (tmp_path / "Procfile").write_text("release: python manage.py migrate\nweb: gunicorn a:b\n")
    assert _no_release(tmp_path) == (
        "no release phase run: the Procfile's release process `python manage.py migrate` "
        "is not run unless declared: [tool.shipready.smoke] release = "
        '["python", "manage.py", "migrate"]')
    (tmp_path / "Procfile").write_text("release: ./bin/pre && python manage.py migrate\n")
    assert _no_release(tmp_path).endswith(
        'release = ["sh", "-c", "./bin/pre && python manage.py migrate"]')


def test_a_failed_release_says_it_ran_through_the_entrypoint() -> None:
    # taiga-back (fourth validation pass): its entrypoint migrates, then execs gunicorn
    # with "$@" appended: `python manage.py migrate` reached gunicorn, which exits 2. The
    # fix said only "fix the command or the migration".
    tail = (b"  Applying wiki.0005_auto_20161201_1628... OK\nStarting Taiga API...\n"
            b"gunicorn: error: unrecognized arguments: python manage.py migrate\n")
    got = backing.release_verdict(["python", "manage.py", "migrate"], 2, 63.3, tail, 300,
                                  ("./docker/entrypoint.sh",))
    assert got.status == Status.FAILED
    message, hint = got.findings[0].message, got.findings[0].hint or ""
    assert message.startswith(
        "the release phase exited 2 after 63.3 s; it ran as the arguments of the image's "
        "ENTRYPOINT `./docker/entrypoint.sh` (as `docker run IMAGE python manage.py "
        "migrate` does); ")
    assert 'if [ $# -gt 0 ]; then exec "$@"; fi' in hint
    assert "release_replaces_entrypoint = true" in hint
    plain = backing.release_verdict(["migrate"], 3, 0.5, b"ValueError: no\n", 300)
    assert "ENTRYPOINT" not in plain.findings[0].message + (plain.findings[0].hint or "")
