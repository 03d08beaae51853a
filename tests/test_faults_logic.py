"""Pure logic behind the fault handling: the no-engine message, secret masking, the
verdict of a hung command. No engine needed."""

from __future__ import annotations

import pytest

from pytest_shipready import secrets
from pytest_shipready.checks import CheckResult, Finding, Status
from pytest_shipready.container import enginehost
from pytest_shipready.container.smoke import command_verdicts

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
