"""Pure logic behind the fault handling: the no-engine message, secret masking, the
verdict of a hung command. No engine needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_shipready import secrets
from pytest_shipready.checks import CheckResult, Finding, Status
from pytest_shipready.container import enginehost
from pytest_shipready.container.run.smoke import command_verdicts

MISSING = ("DockerException: Error while fetching server API version: ('Connection aborted.', "
           "FileNotFoundError(2, 'No such file or directory'))")
REFUSED_TCP = ("DockerException: Error while fetching server API version: HTTPConnectionPool("
               "host='127.0.0.1', port=1): Max retries exceeded with url: /version (Caused by "
               "NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=1): Failed to "
               "establish a new connection: [Errno 111] Connection refused\"))")


def test_unreachable_names_host_source_cause_and_fix() -> None:
    msg = enginehost.unreachable("unix:///nonexistent.sock", MISSING)
    assert msg.startswith("cannot reach a Docker engine at unix:///nonexistent.sock "
                          "(from DOCKER_HOST): No such file or directory (errno 2); ")
    assert "there is no socket at /nonexistent.sock" in msg
    assert "Start Docker" in msg and "set DOCKER_HOST" in msg


def test_unreachable_default_host_and_refused() -> None:
    msg = enginehost.unreachable(None, REFUSED_TCP)
    assert "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)" in msg
    assert "Connection refused (errno 111)" in msg
    assert "the engine is stopped" in msg


def test_unreachable_remote_engine_is_not_told_to_systemctl() -> None:
    msg = enginehost.unreachable("tcp://127.0.0.1:1", REFUSED_TCP)
    assert "the remote engine is down, or the address, port or tunnel is wrong" in msg
    assert "Start that engine" in msg and "systemctl" not in msg


def test_unreachable_other_errors_keep_their_first_line() -> None:
    msg = enginehost.unreachable("ssh://u@h", "DockerException: Install paramiko package "
                                 "to enable ssh:// support\nmore")
    assert "Install paramiko package to enable ssh:// support;" in msg
    assert "more" not in msg


def test_secret_values_by_name_and_url_password() -> None:
    env = {"API_TOKEN": "tok-123456", "DB_PASSWORD": "hunter22", "LOG_LEVEL": "debug",
           "PORT": "8000", "DATABASE_URL": "postgres://app:p%40ss-word@db/app",
           "SESSION_KEY": "abc", "MONKEY": "banana", "AUTH_HEADER": "Bearer xyz123"}
    values = secrets.secret_values(env)
    assert set(values) == {"tok-123456", "hunter22", "p%40ss-word", "p@ss-word",
                           "Bearer xyz123"}  # "abc": too short to mask safely
    assert list(values) == sorted(values, key=len, reverse=True)
    assert not secrets.is_secret_name("MONKEY") and secrets.is_secret_name("monkey_key")


def test_redact_result_masks_every_text() -> None:
    result = CheckResult.failed(
        "SR301", "exited: tok-123456",
        [Finding("API_TOKEN=tok-123456 LOG_LEVEL=debug", "tok-123456.txt", 3,
                 "unset tok-123456")], shown="tok-123456", count=1)
    masked = secrets.redact_result(result, ("tok-123456",))
    assert "tok-123456" not in repr(masked)
    assert masked.findings[0].message == "API_TOKEN=*** LOG_LEVEL=debug"
    assert masked.findings[0].line == 3 and masked.figures["count"] == 1
    assert masked.status == Status.FAILED
    assert secrets.redact_result(result, ()) is result


def test_hung_command_verdict_shows_output_so_far() -> None:
    result = command_verdicts(
        [(["sh", "-c", "migrate"], 0, None, "", b"step 1\nstep 2\n"),
         (["true"], 0, 0, "", b"")], [2.0, 60.0])
    assert result.status == Status.FAILED and result.summary == "1 of 2 command(s) failed"
    message = result.findings[0].message
    assert message.startswith("`sh -c migrate` did not finish within 2 s; ")
    assert message.endswith("step 1\nstep 2")
    assert "timeout" in result.findings[0].hint
    silent = command_verdicts([(["sleep", "9"], 0, None, "", b"")], [1.5])
    assert "did not finish within 1.5 s; it wrote nothing" in silent.findings[0].message


# --- one definition of a secret -----------------------------------------------------------


@pytest.mark.parametrize("name", ["MYSQLPASSWORD", "API_CLIENTSECRET", "GPG_PASSPHRASE",
                                  "DATABASE_PASSWORD", "NPM_TOKEN", "DB_PASS", "AWS_SECRET_KEY",
                                  "SIGNING_KEY", "BASIC_AUTH", "HASH_SALT"])
def test_one_secret_rule_for_masking_sr204_and_sr505(name: str) -> None:
    from pytest_shipready.config import LogsConfig
    from pytest_shipready.dockerfile import hygiene, parser
    from pytest_shipready.logs.lines import secret_env_values
    from pytest_shipready.secrets import is_secret_name, secret_values

    value = "s3cr3t-value-1234"
    assert is_secret_name(name)
    assert secret_values({name: value}) == (value,)  # masked in every report
    assert secret_env_values({name: value}, ()) == {name: value}  # SR505, any patterns
    assert secret_env_values({name: value}, LogsConfig().secret_env) == {name: value}
    df = parser.parse(f"FROM python:3.11\nARG {name}\n", "Dockerfile")
    assert hygiene.check_no_secrets(df).status.value == "failed"  # SR204


@pytest.mark.parametrize("name", ["HOME", "PATH", "PWD", "SSH_KEY_PATH", "PUBLIC_KEY",
                                  "KEYBOARD", "PASSENGER_COUNT"])
def test_ordinary_names_are_not_secrets(name: str) -> None:
    from pytest_shipready.secrets import is_secret_name

    assert not is_secret_name(name)


# --- secrets: build args, reprs, URLs -------------------------------------------------------


def test_build_arg_secrets_are_masked_and_named() -> None:
    token = "ghp_" + "A1b2" * 9
    values = secrets.configured_secrets(
        {"API_TOKEN": "tok-123456"},
        {"PIP_INDEX_TOKEN": "s3cr3t-idx", "PYTHON_VERSION": "3.11", "MIRROR": token,
         "INDEX": "https://u:pw-9876@pypi.example/simple"})
    assert set(values) == {"tok-123456", "s3cr3t-idx", token, "pw-9876"}
    assert "3.11" not in values  # an ordinary build arg stays readable
    named = dict(secrets.secret_build_args(
        {"PIP_INDEX_TOKEN": "s3cr3t-idx", "PYTHON_VERSION": "3.11", "MIRROR": token,
         "INDEX": "https://u:pw-9876@pypi.example/simple"}))
    assert named == {"PIP_INDEX_TOKEN": "its name (TOKEN)",
                     "MIRROR": "its value (a GitHub or Slack token)",
                     "INDEX": "its value (credentials in a URL)"}


def test_masked_env_repr_shows_names_only() -> None:
    env = secrets.MaskedEnv({"DATABASE_PASSWORD": "hunter22", "LOG_LEVEL": "debug"})
    assert repr(env) == "{'DATABASE_PASSWORD': '***', 'LOG_LEVEL': '***'}"
    assert str(env) == repr(env) and env["DATABASE_PASSWORD"] == "hunter22"
    assert repr(secrets.MaskedEnv()) == "{}"


def test_fixture_objects_have_no_secret_in_their_repr() -> None:
    from pytest_shipready.config import parse

    config = parse({"smoke": {"env": {"DSN": "postgres://a:pw-55555@db/x"}},
                    "image": {"build_args": {"NPM_TOKEN": "npm-77777"}}})
    assert "pw-55555" not in repr(config) and "npm-77777" not in repr(config)


def test_redact_text_masks_url_passwords_whatever_the_name() -> None:
    text = "Step 3/9 : ARG INDEX=https://bob:hunter22@pypi.example/simple, ${X} @ s3://k:${PW}@h"
    masked = secrets.redact_text(text, ())
    assert masked == ("Step 3/9 : ARG INDEX=https://bob:***@pypi.example/simple, ${X} @ "
                      "s3://k:${PW}@h")


def test_sr204_flags_credentials_in_a_url_default_without_echoing_them() -> None:
    from pytest_shipready.dockerfile import hygiene, parser

    df = parser.parse("FROM python:3.11-slim\n"
                      "ARG INDEX_URL=https://bob:hunter22@pypi.example/simple\n"
                      "ENV MIRROR=https://pypi.org/simple CACHE=https://u:${PW}@c/\n", "Dockerfile")
    result = hygiene.check_no_secrets(df)
    assert result.status == Status.FAILED
    assert [(f.line, f.message.split(":")[0]) for f in result.findings] == [
        (2, "ARG INDEX_URL looks like a secret (its default is a URL with credentials, "
            "user")]
    assert "hunter22" not in repr(result)


# --- paths outside the project ------------------------------------------------------------


def test_outside_paths_refused_unless_allowed(tmp_path: Path) -> None:
    from pytest_shipready.config import outside_paths, parse

    project = tmp_path / "app"
    project.mkdir()
    (project / "link").symlink_to(tmp_path)
    table = {"image": {"dockerfile": "../Dockerfile", "context": "link"},
             "lockfile": {"paths": ["requirements.txt"]},
             "parity": {"lockfile": ["/etc/passwd"], "tests": ["tests"]}}
    refused = outside_paths(project, parse(table))
    assert [r.split(" = ")[0] for r in refused] == [
        "[tool.shipready.image] dockerfile", "[tool.shipready.image] context",
        "[tool.shipready.parity] lockfile"]
    assert f"(a symlink to {tmp_path.resolve()})" in refused[1]
    assert all("allow_outside_project = true" in r for r in refused)
    assert outside_paths(project, parse({**table, "allow_outside_project": True})) == []
    proc = outside_paths(project, parse({"allow_outside_project": True,
                                         "image": {"dockerfile": "/proc/self/environ"}}))
    assert len(proc) == 1 and "is in /proc" in proc[0]


def test_load_refuses_before_reading(tmp_path: Path) -> None:
    from pytest_shipready.config import ConfigError, load

    (tmp_path / "pyproject.toml").write_text(
        '[tool.shipready.image]\ndockerfile = "/proc/self/environ"\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml: \[tool.shipready.image\] "
                       "dockerfile = '/proc/self/environ' is in /proc"):
        load(tmp_path)


# --- the log cap ------------------------------------------------------------------------------


def test_log_collector_keeps_the_first_lines_then_counts_and_samples() -> None:
    from pytest_shipready.container.run.logcap import LogCollector

    lines = [b"line %06d" % i for i in range(20_000)]  # 11 bytes + newline each
    data = b"".join(x + b"\n" for x in lines)
    collector = LogCollector(cap_bytes=12_000, sample_size=100)
    for start in range(0, len(data), 4093):  # chunks that split lines
        collector.feed(data[start:start + 4093])
    logs = collector.result({"A": "b"})
    assert logs.kept == 1000 and list(logs.lines[:1000]) == lines[:1000]
    sample = list(logs.lines[1000:])
    assert len(sample) == 100 and set(sample) <= set(lines[1000:])
    assert len(set(sample)) == 100  # distinct lines, spread over the rest
    assert int(max(sample)[5:]) > 10_000
    assert logs.total_lines == 20_000 and logs.total_bytes == len(data)
    assert logs.capped
    assert logs.coverage() == (
        "checked the first 1,000 lines (0.0 MB) and a sample of 100 of the 19,000 lines "
        "after them, of 0.2 MB in all ([tool.shipready.logs] max_log_mb = 0.012)")
    # The same log gives the same sample.
    again = LogCollector(cap_bytes=12_000, sample_size=100)
    again.feed(data)
    assert again.result({}).lines == logs.lines


def test_log_collector_under_the_cap_is_the_whole_log() -> None:
    from pytest_shipready.container.run.logcap import collect

    logs = collect([b"a\r\nb", b"c\n", b"last"], 1000, {})
    assert list(logs.lines) == [b"a", b"bc", b"last"] and not logs.capped
    assert logs.coverage() == ""


def test_log_collector_memory_is_bounded_by_long_lines() -> None:
    from pytest_shipready.container.run.logcap import SAMPLE_LINE_MAX, LogCollector

    collector = LogCollector(cap_bytes=100, sample_size=10)
    collector.feed(b"short\n" + b"x" * 5_000_000 + b"\n" + b"y" * 10 + b"\n")
    logs = collector.result({})
    assert list(logs.lines) == [b"short", b"y" * 10]  # the huge line: counted only
    assert logs.total_lines == 3
    assert len(collector._partial) <= SAMPLE_LINE_MAX + 1


def test_any_line_finds_a_pattern_across_chunks() -> None:
    from pytest_shipready.container.run.logcap import any_line

    assert any_line([b"starting\nrea", b"dy on 8000\nmore"], lambda s: s == "ready on 8000")
    assert not any_line([b"starting\n"], lambda s: "ready" in s)
    assert any_line([b"no newline ready"], lambda s: "ready" in s)


# --- a lost engine ----------------------------------------------------------------------------


def test_lost_engine_line_names_host_cause_and_what_to_do() -> None:
    line = enginehost.lost("tcp://127.0.0.1:2375", "no answer within 3 s", "shipready::x")
    assert line.startswith("lost the Docker engine at tcp://127.0.0.1:2375 (from "
                           "DOCKER_HOST) during shipready::x: no answer within 3 s. ")
    assert "docker info" in line and "removed by the next run" in line
    assert "\n" not in line
    left = enginehost.not_removed(["container 1a2b", "image p/x:1"], "no answer", "sid")
    assert left.startswith("could not remove container 1a2b, image p/x:1 (no answer); the "
                           "next run on this host removes them")
    assert "label=io.pytest-shipready.session=sid" in left


# --- the engine: DOCKER_HOST, else the active docker context --------------------------------


def _context(config_dir: Path, name: str, host: str) -> None:
    import hashlib
    import json

    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps(
        {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host}}}))


def test_the_active_docker_context_names_the_engine(tmp_path: Path) -> None:
    import json

    config_dir = tmp_path / ".docker"
    _context(config_dir, "colima", "unix:///home/me/.colima/docker.sock")
    (config_dir / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    env = {"DOCKER_CONFIG": str(config_dir)}
    assert enginehost.context_host(env, tmp_path) == (
        "unix:///home/me/.colima/docker.sock", "colima")
    # DOCKER_HOST wins, as with the docker CLI; DOCKER_CONTEXT overrides the config file.
    assert enginehost.context_host({**env, "DOCKER_HOST": "tcp://127.0.0.1:2375"},
                                   tmp_path) is None
    assert enginehost.context_host({**env, "DOCKER_CONTEXT": "default"}, tmp_path) is None
    assert enginehost.context_host({}, tmp_path / "nowhere") is None


def test_a_missing_context_engine_is_named_in_the_verdict(pytester: pytest.Pytester,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    import json
    import shutil

    from conftest import EXAMPLE

    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    config_dir = pytester.path / "dockercfg"
    _context(config_dir, "gone", "unix:///nonexistent/gone.sock")
    (config_dir / "config.json").write_text(json.dumps({"currentContext": "gone"}))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    result = pytester.runpytest_subprocess("--shipready", "--shipready-offline", "-k", "SR210",
                                           "-rs", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*unix:///nonexistent/gone.sock (from docker context 'gone')*"])
