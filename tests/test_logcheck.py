"""The pure structured-log validators (SR501-SR505): unit tests and hypothesis."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
import structlog
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pytest_shipready.checks import CheckResult, Status
from pytest_shipready.config import ConfigError, LogsConfig, parse
from pytest_shipready.logs.lines import (
    CHECKS,
    REDACTED,
    analyse,
    check_all,
    parse_pairs,
    secret_env_values,
    split_lines,
    timestamp_problem,
    traceback_lines,
)

TS = "2026-05-01T12:00:00.123456Z"
TRACEBACK = ('Traceback (most recent call last):\n  File "/app/x.py", line 3, in f\n'
             "    1 / 0\nZeroDivisionError: division by zero")


def line(**fields: Any) -> bytes:
    base: dict[str, Any] = {"event": "hello", "level": "info", "timestamp": TS}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def results(lines: list[bytes], config: LogsConfig | None = None,
            env: dict[str, str] | None = None) -> dict[str, CheckResult]:
    return {r.check_id: r for r in check_all(lines, config, env, source="container log")}


def rendered(fmt: str, **extra: Any) -> bytes:
    event: dict[str, Any] = {"event": "user logged in", "level": "info", "timestamp": TS,
                             **extra}
    renderer = {"json": structlog.processors.JSONRenderer(),
                "logfmt": structlog.processors.LogfmtRenderer(),
                "keyvalue": structlog.processors.KeyValueRenderer()}[fmt]
    out = renderer(None, "info", event)
    return out.encode() if isinstance(out, str) else out


# --- the happy paths, through structlog's real renderers --------------------------------


@pytest.mark.parametrize("fmt", ["json", "logfmt", "keyvalue"])
def test_structlog_renderers_pass_in_their_format(fmt: str) -> None:
    lines = [rendered(fmt), rendered(fmt, user="bob", n=3, ok=True, missing=None,
                                     note='say "hi" = bye', path="C:\\tmp",
                                     exc=ZeroDivisionError("division by zero"),
                                     data={"a": [1, 2]}),
             rendered(fmt, level="error", exception=TRACEBACK)]
    got = results(lines, LogsConfig(format=fmt))  # type: ignore[arg-type]
    assert {k: r.status for k, r in got.items()} == dict.fromkeys(CHECKS, Status.PASSED)
    assert got["SR501"].figures == {"checked": 3, "failed": 0}
    assert got["SR504"].summary == ("1 exception logged inside structured lines, no raw "
                                    "tracebacks in 3 lines")


def test_logfmt_values_are_decoded() -> None:
    fields = parse_pairs('event="a \\"b\\" c" level=info flag n=3 empty=', "logfmt")
    assert fields == {"event": 'a "b" c', "level": "info", "flag": True, "n": "3",
                      "empty": None}


def test_keyvalue_values_are_python_reprs() -> None:
    fields = parse_pairs("event='a b' n=3 e=ValueError('x y') d={'k': [1, 2]} o=<obj at 1>",
                         "keyvalue")
    assert fields == {"event": "a b", "n": 3, "e": "ValueError('x y')",
                      "d": {"k": [1, 2]}, "o": "<obj at 1>"}


@pytest.mark.parametrize(("text", "why"), [
    ("Listening on port 8000", "no key=value pairs"),  # not "'8000' is not a pair"
    ("GET /?a=b HTTP/1.1", "no key=value pairs"),
    ('event="unterminated', "an unterminated quoted value"),
    ("just-a-word", "no key=value pairs"),
    ("event=ok 8000", "'8000' is not a key=value pair"),
])
def test_prose_is_not_logfmt(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(why)}$"):
        parse_pairs(text, "logfmt")


# --- SR501 ---------------------------------------------------------------------------------


def test_plain_text_lines_fail_with_counts_and_first_lines() -> None:
    lines = [line(), b"Starting server on 0.0.0.0:8000", line(), b"GET / 200"]
    got = results(lines)["SR501"]
    assert got.status == Status.FAILED
    assert got.summary == "2 of 4 lines checked are not JSON objects"
    assert got.figures == {"checked": 4, "failed": 2}
    assert [(f.path, f.line) for f in got.findings] == [("container log", 2),
                                                        ("container log", 4)]
    assert "Starting server on 0.0.0.0:8000" in got.findings[0].message


def test_only_the_first_offending_lines_are_shown_and_truncated() -> None:
    lines = [b"plain " + b"x" * 500] * 9
    got = results(lines, LogsConfig(show_lines=3))["SR501"]
    assert len(got.findings) == 3
    assert "(first 3 shown)" in got.summary
    assert all(len(f.message) < 250 and f.message.endswith("...") for f in got.findings)


def test_threshold_lets_a_fraction_of_lines_fail() -> None:
    lines = [line()] * 9 + [b"one plain line"]
    assert results(lines, LogsConfig(threshold=0.9))["SR501"].status == Status.PASSED
    strict = results(lines, LogsConfig(threshold=0.95))["SR501"]
    assert strict.status == Status.FAILED
    assert "threshold 0.95 needs at least 10 passing" in strict.summary


def test_blank_lines_are_ignored_but_an_empty_log_fails() -> None:
    assert results([line(), b"", b"   "])["SR501"].status == Status.PASSED
    empty = results([])["SR501"]
    assert empty.status == Status.FAILED
    assert "empty" in empty.summary


def test_non_utf8_bytes_are_a_finding() -> None:
    got = results([line(), b"\xff\xfe{broken"])["SR501"]
    assert got.status == Status.FAILED
    assert "not valid UTF-8 (byte 0xff at offset 0)" in got.findings[0].message


@pytest.mark.parametrize(("raw", "reason"), [
    (b"[1, 2]", "not a JSON object"),
    (b'{"event": NaN}', "NaN is not JSON"),
    (b'{"event": "x"', "not valid JSON"),
    (b"{" * 5000 + b"}" * 5000, "JSON"),
])
def test_json_problems_are_named(raw: bytes, reason: str) -> None:
    got = results([raw])["SR501"]
    assert got.status == Status.FAILED
    assert reason in got.findings[0].message


def test_blob_with_newlines_and_crlf_is_split() -> None:
    assert split_lines(b"a\r\nb\n") == [b"a", b"b"]
    assert len(analyse([line() + b"\n" + line() + b"\r\n"]).lines) == 2


# --- SR502 / SR503 -------------------------------------------------------------------------


def test_missing_keys_are_named() -> None:
    got = results([line(level=...), line(timestamp=..., event=..., msg="ok")])["SR502"]
    assert got.status == Status.FAILED
    assert [f.line for f in got.findings] == [1, 2]
    assert "no level key (level/severity/levelname/Severity/log.level)" in \
        got.findings[0].message
    assert "no timestamp key" in got.findings[1].message
    assert "event key" not in got.findings[1].message  # msg counts as the event


def test_key_names_are_configurable() -> None:
    cfg = LogsConfig(event_keys=("what",), level_keys=("sev",), timestamp_keys=("at",))
    ok = json.dumps({"what": "x", "sev": "INFO", "at": TS}).encode()
    assert results([ok], cfg)["SR502"].status == Status.PASSED
    assert results([line()], cfg)["SR502"].status == Status.FAILED


def test_required_keys_skip_when_nothing_parsed() -> None:
    got = results([b"plain"])["SR502"]
    assert got.status == Status.SKIPPED
    assert "see SR501" in got.summary


@pytest.mark.parametrize(("value", "mode", "ok"), [
    ("2026-05-01T12:00:00Z", "iso", True),
    ("2026-05-01T12:00:00.5+02:00", "iso", True),
    ("2026-05-01 12:00:00+00:00", "iso", True),
    ("2026-05-01T12:00:00", "iso", False),
    ("yesterday", "iso", False),
    (1777636800.5, "iso", False),
    (1777636800.5, "epoch", True),
    (1777636800123, "epoch", True),
    ("1777636800", "epoch", True),
    (12, "epoch", False),
    (float("inf"), "epoch", False),
    (True, "epoch", False),
    ("2026-05-01T12:00:00Z", "any", True),
    (1777636800, "any", True),
])
def test_timestamps(value: Any, mode: str, ok: bool) -> None:
    assert (timestamp_problem(value, mode) is None) is ok


def test_bad_levels_and_naive_timestamps_fail() -> None:
    got = results([line(level="INFO"), line(level="loud"), line(timestamp="2026-05-01 12:00"),
                   line(level=30)])["SR503"]
    assert got.status == Status.FAILED
    assert [f.line for f in got.findings] == [2, 3, 4]
    assert "level 'loud' is not a level name" in got.findings[0].message
    assert "has no timezone" in got.findings[1].message


# --- SR504 ---------------------------------------------------------------------------------


def _traceback_text() -> list[bytes]:
    try:
        try:
            raise KeyError("inner")
        except KeyError as exc:
            raise ValueError("outer") from exc
    except ValueError:
        import traceback

        return [s.encode() for s in traceback.format_exc().splitlines()]


def test_raw_tracebacks_fail_every_line_of_them() -> None:
    tb = _traceback_text()
    lines = [line(), *tb, line()]
    got = results(lines, LogsConfig(show_lines=100))["SR504"]
    assert got.status == Status.FAILED
    text_lines = {n for n, raw in enumerate(tb, start=2) if raw.strip()}  # blanks are skipped
    assert got.figures["failed"] == len(text_lines) == 9
    assert {f.line for f in got.findings} == text_lines
    assert results(lines)["SR501"].status == Status.FAILED


def test_traceback_detection_does_not_flag_ordinary_lines() -> None:
    texts = ["ValueError: not in a traceback", "  indented prose", "Error: nope"]
    assert traceback_lines(texts) == set()


def test_structured_exceptions_pass_and_strings_fail_when_asked() -> None:
    as_dicts = line(exception=[{"exc_type": "ValueError", "frames": []}])
    as_text = line(exception="Traceback (most recent call last):\n  File ...\nValueError: x")
    assert results([as_dicts, as_text])["SR504"].status == Status.PASSED
    strict = results([as_dicts, as_text], LogsConfig(dict_tracebacks=True))["SR504"]
    assert strict.status == Status.FAILED
    assert [f.line for f in strict.findings] == [2]


def test_exception_logged_through_a_real_chain_passes() -> None:
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.dict_tracebacks,
                    structlog.processors.JSONRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(), cache_logger_on_first_use=False)
    try:
        log = structlog.get_logger()
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            out = log.exception("failed")
    finally:
        structlog.reset_defaults()
    got = results([out.encode()], LogsConfig(dict_tracebacks=True))
    assert all(r.status == Status.PASSED for r in got.values()), got


# --- SR505 ---------------------------------------------------------------------------------

SECRET = "s3cr3t-Value-9f2c"


def test_secret_env_value_fails_without_printing_it() -> None:
    env = {"DB_PASSWORD": SECRET, "PORT": "8000", "DEBUG": "true"}
    lines = [line(), line(event="connecting", dsn=f"postgres://app@db/{SECRET}")]
    got = results(lines, env=env)
    sr505 = got["SR505"]
    assert sr505.status == Status.FAILED
    assert sr505.findings[0].line == 2
    assert "the value of $DB_PASSWORD" in sr505.findings[0].message
    assert REDACTED in sr505.findings[0].message
    everything = json.dumps([r.to_json() for r in got.values()])
    assert SECRET not in everything


def test_multiline_secret_printed_raw_is_found_line_by_line() -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    got = results([line(), *key.encode().splitlines()], env={"TLS_PRIVATE_KEY": key},
                  config=LogsConfig(secret_shapes=False))["SR505"]
    assert [f.line for f in got.findings] == [2, 3, 4]
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in str(got.to_json())


def test_secret_is_redacted_in_other_checks_too() -> None:
    got = results([f"connecting with {SECRET}".encode()], env={"API_TOKEN": SECRET})
    assert got["SR501"].status == Status.FAILED
    assert SECRET not in got["SR501"].findings[0].message
    assert REDACTED in got["SR501"].findings[0].message


def test_json_escaped_secret_is_found() -> None:
    secret = 'pa"ss\\word!'
    got = results([line(note=secret)], env={"ADMIN_PASSWORD": secret})["SR505"]
    assert got.status == Status.FAILED
    assert "pa" + '\\"' + "ss" not in got.findings[0].message


@pytest.mark.parametrize(("text", "kind"), [
    ('{"event": "call", "headers": {"Authorization": "Bearer eyJhbGciOi.abc.def"}}',
     "a bearer token"),
    ("event=upload key=AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
    ('{"event": "login", "password": "hunter22"}', "a password or key assignment"),
    ("event=db url=postgres://app:hunter22@db:5432/app", "credentials in a URL"),
    ("-----BEGIN RSA PRIVATE KEY-----", "a private key"),
])
def test_secret_shapes_are_flagged(text: str, kind: str) -> None:
    got = results([text.encode()])["SR505"]
    assert got.status == Status.FAILED
    assert kind in got.findings[0].message
    for secret in ("eyJhbGciOi.abc.def", "AKIAIOSFODNN7EXAMPLE", "hunter22"):
        assert secret not in got.findings[0].message


@pytest.mark.parametrize("text", [
    '{"event": "login", "password": "[REDACTED]"}',
    "event=login password=*** token=",
    '{"event": "tokens", "max_tokens": 4096, "token_type": "bearer"}',
    '{"event": "cwd", "pwd": "/srv"}',
])
def test_redacted_or_harmless_values_are_not_secrets(text: str) -> None:
    assert results([text.encode()])["SR505"].status == Status.PASSED


def test_secrets_ignore_the_threshold_and_shapes_can_be_off() -> None:
    lines = [line()] * 99 + [b'{"password": "hunter22"}']
    assert results(lines, LogsConfig(threshold=0.5))["SR505"].status == Status.FAILED
    assert results(lines, LogsConfig(secret_shapes=False),
                   {"DB_PASSWORD": "s3cret-value"})["SR505"].status == Status.PASSED


def test_short_or_boolean_env_values_are_not_secrets() -> None:
    env = {"USE_TOKEN": "true", "SECRET_MODE": "on", "API_KEY": "abc"}
    assert results([b'{"event": "true abc on"}'], env=env)["SR505"].status == Status.PASSED


# --- configuration ----------------------------------------------------------------------------


def test_logs_section_parses_and_validates() -> None:
    cfg = parse({"logs": {"format": "logfmt", "threshold": 0.9, "requests": ["/missing"],
                          "setup": "app.log:configure"}})
    assert cfg.logs.format == "logfmt"
    assert cfg.logs.requests == ("/missing",)
    # Like every config error, the section's own rules name the file and the key.
    with pytest.raises(ConfigError, match=r"^svc/pyproject\.toml: \[tool\.shipready\.logs\] "
                       r"threshold = 2\.0: must be between 0 and 1$"):
        parse({"logs": {"threshold": 2}}, "svc/pyproject.toml")
    with pytest.raises(ConfigError, match=r"^pyproject\.toml: .*module:function"):
        parse({"logs": {"setup": "app.log"}})
    with pytest.raises(ConfigError, match="must be one of"):
        parse({"logs": {"format": "xml"}})


# --- presets, aliases, numeric severities ------------------------------------------------

# As python-dockerflow's JsonLogFormatter (MozLog), ecs-logging-python and Google Cloud's
# structured logging write them.
MOZLOG = [
    b'{"Timestamp": 1777636800123456789, "Type": "request.summary", "Logger": "svc", '
    b'"Hostname": "web-1", "EnvVersion": "2.0", "Severity": 6, "Pid": 7, '
    b'"Fields": {"msg": "GET /", "code": 200}}',
    b'{"Timestamp": 1777636801000000000, "Type": "app.error", "Logger": "svc", '
    b'"Hostname": "web-1", "EnvVersion": "2.0", "Severity": 3, "Pid": 7, '
    b'"Fields": {"msg": "boom", "traceback": "Traceback (most recent call last):\\n  '
    b'File \\"x.py\\", line 1\\nZeroDivisionError: division by zero"}}',
]
ECS = [
    b'{"@timestamp":"2026-05-01T12:00:00.123Z","log.level":"info","message":"listening",'
    b'"ecs.version":"1.6.0","log":{"logger":"app","origin":{"function":"serve"}}}',
    b'{"@timestamp":"2026-05-01T12:00:01.000Z","log":{"level":"error","logger":"app"},'
    b'"message":"failed","ecs.version":"1.6.0","error":{"type":"ZeroDivisionError",'
    b'"message":"division by zero","stack_trace":"  File \\"x.py\\", line 1"}}',
]
GCP = [
    b'{"severity": "DEFAULT", "message": "started", '
    b'"timestamp": {"seconds": 1777636800, "nanos": 123000000}}',
    b'{"severity": "ERROR", "message": "failed", "time": "2026-05-01T12:00:01.5Z", '
    b'"logging.googleapis.com/labels": {"svc": "web"}, "stack_trace": "Traceback (most '
    b'recent call last):\\n  File \\"x.py\\", line 1\\nKeyError: 1"}',
    b'{"severity": "NOTICE", "message": "tick", "timestampSeconds": 1777636802, '
    b'"timestampNanos": 0}',
]


@pytest.mark.parametrize(("preset", "lines", "keys", "origin"), [
    ("mozlog", MOZLOG, "Type, Severity, Timestamp", "; from svc (2)"),
    ("ecs", ECS, "message, log.level, @timestamp", "; from app (2)"),
    ("gcp", GCP, "message, severity, time/timestamp/timestampSeconds", ""),
])
def test_presets_accept_their_schemas(preset: str, lines: list[bytes], keys: str,
                                      origin: str) -> None:
    cfg = parse({"logs": {"preset": preset}}).logs
    assert cfg == LogsConfig.from_preset(preset)
    got = results(lines, cfg)
    assert {k: r.status for k, r in got.items()} == dict.fromkeys(CHECKS, Status.PASSED), {
        k: r.summary for k, r in got.items()}
    n = len(lines)
    # The logger each schema names (MozLog's Logger, ECS's log.logger); GCP's has none.
    assert got["SR502"].summary == (f"{n} lines with event, level and timestamp "
                                    f"(keys: {keys}){origin}")
    scheme = "names or syslog 0-7" if preset == "mozlog" else "names"
    when = {"mozlog": "epoch", "ecs": "ISO 8601", "gcp": "ISO 8601 or epoch"}[preset]
    assert got["SR503"].summary == (f"{n} levels ({scheme}) and {n} timestamps ({when}) "
                                    f"valid in {n} lines{origin}")
    assert got["SR504"].summary.startswith("1 exception logged inside structured lines")


def test_without_the_preset_each_schema_fails_and_the_hint_names_it() -> None:
    # The aliases are found by default (Severity, Timestamp, log.level, @timestamp) ...
    got = results(MOZLOG)
    assert got["SR503"].status == Status.FAILED
    assert got["SR503"].findings[0].message.startswith(
        "level 6 is a number, not a level name; timestamp 1777636800123456789 is a number, "
        "not an ISO 8601 string (from svc): ")
    assert 'numeric_levels = "syslog"' in got["SR503"].findings[0].hint
    assert 'preset = "mozlog"' in got["SR503"].findings[0].hint
    assert "no event key (event/message/msg)" in got["SR502"].findings[0].message
    assert results(ECS)["SR502"].status == Status.PASSED  # dotted and nested log.level
    # ... and GCP's DEFAULT level and {seconds, nanos} need the preset.
    gcp = results(GCP)["SR503"]
    assert gcp.status == Status.FAILED
    assert "level 'DEFAULT' is not a level name; timestamp {'seconds': 1777636800" in \
        gcp.findings[0].message


def test_numeric_levels_are_syslog_severities_only_when_configured() -> None:
    syslog = LogsConfig(numeric_levels="syslog")
    got = results([line(level=7), line(level=0), line(level=8), line(level=True),
                   line(level="info")], syslog)["SR503"]
    assert got.status == Status.FAILED
    assert [(f.line, f.message.split(":")[0]) for f in got.findings] == [
        (3, "level 8 is not a syslog severity (0-7)"),
        (4, "level True is not a level name")]
    assert results([line(level=7)])["SR503"].status == Status.FAILED


def test_explicit_keys_override_the_preset_and_a_bad_preset_is_named() -> None:
    cfg = parse({"logs": {"preset": "ecs", "level_keys": ["lvl"],
                          "timestamps": "any"}}).logs
    assert (cfg.event_keys, cfg.level_keys, cfg.timestamp_keys, cfg.timestamps) == (
        ("message",), ("lvl",), ("@timestamp",), "any")
    # Given explicitly with the default value, a key still wins over the preset.
    cfg = parse({"logs": {"preset": "gcp", "levels": list(LogsConfig().levels)}}).logs
    assert cfg.levels == LogsConfig().levels and cfg.level_keys == ("severity",)
    assert parse({"logs": {}}).logs == LogsConfig()
    with pytest.raises(ConfigError, match=r"^p\.toml: tool\.shipready\.logs\.preset = "
                       r"'elk': must be one of '', 'mozlog', 'ecs', 'gcp'$"):
        parse({"logs": {"preset": "elk"}}, "p.toml")
    with pytest.raises(ConfigError, match=r"preset = 'elk': must be one of"):
        LogsConfig.from_preset("elk")


# --- no vacuous PASS: what each check verified, or why there was nothing to verify ----


def test_pass_summaries_say_what_was_verified() -> None:
    env = {"DB_PASSWORD": "pg-8c1f0e3b", "API_TOKEN": "tok-5d41402abc4b"}
    got = results([line(), line(level="warning"), line(level="error", exception=TRACEBACK)],
                  env=env)
    assert {k: r.status for k, r in got.items()} == dict.fromkeys(CHECKS, Status.PASSED)
    assert got["SR501"].summary == "3 lines, all JSON objects"
    assert got["SR502"].summary == ("3 lines with event, level and timestamp "
                                    "(keys: event, level, timestamp)")
    assert got["SR503"].summary == ("3 levels (names) and 3 timestamps (ISO 8601) valid in "
                                    "3 lines")
    assert got["SR504"].summary == ("1 exception logged inside structured lines, no raw "
                                    "tracebacks in 3 lines")
    assert got["SR505"].summary == ("3 lines free of secrets (the 2 secret env values of "
                                    "$API_TOKEN, $DB_PASSWORD; 6 common secret shapes)")
    assert results([line()])["SR505"].summary == (
        "1 line free of secrets (6 common secret shapes; no secret env values to look for)")


def test_levels_without_timestamps_pass_saying_so() -> None:
    got = results([line(timestamp=...), line(timestamp=...)])["SR503"]
    assert got.status == Status.PASSED
    assert got.summary == ("2 levels (names) valid in 2 lines; no line has a timestamp key "
                           "(timestamp/time/ts/@timestamp/Timestamp)")


@pytest.mark.parametrize(("check_id", "lines", "config", "reason", "key"), [
    ("SR502", [b"plain text"], LogsConfig(), "no line of the container log parsed as JSON",
     "[tool.shipready.logs] format"),
    ("SR503", [b'{"event": "a"}', b'{"msg": "b", "lvl": 3}'], LogsConfig(),
     "none of the 2 parsed lines of the container log has a level key "
     "(level/severity/levelname/Severity/log.level) or a timestamp key", "level_keys"),
    ("SR504", [line(), line(level="error")], LogsConfig(),
     "no exception was logged in the 2 lines of the container log",
     "[tool.shipready.logs] requests"),
    ("SR504", [], LogsConfig(), "the container log is empty, so no exception was logged",
     "[tool.shipready.logs] requests"),
    ("SR505", [line()], LogsConfig(secret_shapes=False),
     "nothing to look for in the container log: no environment variable's name matches",
     "secret_shapes = true"),
])
def test_nothing_to_verify_is_a_skip_naming_the_key(
    check_id: str, lines: list[bytes], config: LogsConfig, reason: str, key: str
) -> None:
    got = results(lines, config)[check_id]
    assert got.status == Status.SKIPPED, got
    assert reason in got.summary
    assert key in got.summary


def test_exceptions_are_counted_once_per_logged_exception() -> None:
    chained = [{"exc_type": "KeyError", "frames": []}, {"exc_type": "ValueError",
                                                        "frames": []}]
    got = results([line(exception=chained), line(exception=TRACEBACK, level="error"),
                   line(error={"type": "E", "stack_trace": "  File x"})])["SR504"]
    assert got.summary.startswith("3 exceptions logged inside structured lines")
    got = results([line(error="not found")])["SR504"]  # a message, not an exception
    assert got.status == Status.SKIPPED


# --- SR501 names the format the lines are in -----------------------------------------------


def test_logfmt_output_with_json_configured_hints_at_the_format() -> None:
    lines = [rendered("logfmt"), rendered("logfmt", user="bob")]
    got = results(lines)["SR501"]
    assert got.status == Status.FAILED
    assert got.summary == ("2 of 2 lines checked are not JSON objects; 2 of them are "
                           'logfmt (key=value): if that is your format, set '
                           '[tool.shipready.logs] format = "logfmt"')
    assert got.findings[0].hint.startswith('2 of them are logfmt (key=value): if that is '
                                           'your format, set [tool.shipready.logs] format')
    assert results(lines, LogsConfig(format="logfmt"))["SR501"].status == Status.PASSED
    # JSON in a logfmt project: the other way round.
    got = results([line()], LogsConfig(format="logfmt"))["SR501"]
    assert got.summary.endswith('1 of them is JSON objects: if that is your format, set '
                                '[tool.shipready.logs] format = "json"')


@pytest.mark.parametrize("lines", [
    [b"Listening at: http://0.0.0.0:8000 (1)", b"level=info msg=ok"],  # one is prose
    [b"Booting worker with pid 7"],
    [b"level=info"],  # a single pair is too little to tell
])
def test_prose_gets_no_format_hint(lines: list[bytes]) -> None:
    got = results(lines)["SR501"]
    assert got.status == Status.FAILED
    assert "format =" not in got.summary


# --- hypothesis: no input crashes the validators ------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
event_dicts = st.dictionaries(
    st.sampled_from(["event", "level", "timestamp", "msg", "password", "exception", "x",
                     "log", "Severity", "Timestamp", "stack_trace", "exc_type"])
    | st.text(max_size=10), json_values, max_size=6)
lines_strategy = st.lists(
    st.binary(max_size=200)
    | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass"))
    | event_dicts.map(lambda d: json.dumps(d).encode())
    | st.text(alphabet="=\"' \\{}[]()<>abc:-\n\r\t", max_size=80).map(str.encode),
    max_size=12,
)
configs = st.builds(
    LogsConfig,
    format=st.sampled_from(["json", "logfmt", "keyvalue"]),
    timestamps=st.sampled_from(["iso", "epoch", "any"]),
    threshold=st.floats(0, 1),
    dict_tracebacks=st.booleans(),
    show_lines=st.integers(0, 3),
    numeric_levels=st.sampled_from(["none", "syslog"]),
    secret_shapes=st.booleans(),
)
envs = st.dictionaries(st.sampled_from(["DB_PASSWORD", "API_TOKEN", "HOME", "AWS_KEY"]),
                       st.text(max_size=20), max_size=3)


@settings(max_examples=300, deadline=None)
@given(lines=lines_strategy, config=configs, env=envs)
def test_no_input_crashes_the_validators(lines: list[bytes], config: LogsConfig,
                                         env: dict[str, str]) -> None:
    got = check_all(lines, config, env)
    assert [r.check_id for r in got] == list(CHECKS)
    for r in got:
        assert r.status in (Status.PASSED, Status.FAILED, Status.SKIPPED)
        assert r.summary
        CheckResult.from_json(json.loads(json.dumps(r.to_json())))  # serialisable
        # The values of secret-looking names (HOME="0000" is no secret: an escaped
        # "\x00" + "00" may spell it).
        for value in secret_env_values(env, config.secret_env).values():
            for f in r.findings:
                assert value not in f.message or value in REDACTED + BOILERPLATE


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(
    st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
    st.none() | st.booleans() | st.integers() | st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20),
    max_size=5), fmt=st.sampled_from(["json", "logfmt", "keyvalue"]))
def test_every_structlog_rendering_parses(fields: dict[str, Any], fmt: str) -> None:
    raw = rendered(fmt, **fields)
    analysis = analyse([raw], LogsConfig(format=fmt))  # type: ignore[arg-type]
    assert analysis.lines[0].fields is not None, (raw, analysis.lines[0].parse_error)
    assert analysis.lines[0].fields["event"] == "user logged in"


secret_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",),
                                      exclude_characters="\r\n"),
                        min_size=6, max_size=16).filter(
    lambda v: v.strip() == v and v.lower() not in ("redacted", "[redacted]"))
templates = st.sampled_from([
    '{{"event": "x", "level": {s}, "timestamp": "2026"}}',
    '{{"event": "x", "level": "info", "timestamp": {s}}}',
    "{r}=1 level=info",
    "event=x level={r} timestamp={r}",
    "event='x' level='info' timestamp={s}",
    "Traceback (most recent call last): {r}",
    "{r}",
    "plain text then {r} and more " + "x" * 200,
])


# What reports say anyway: a "secret" that is a piece of it cannot be told apart.
BOILERPLATE = json.dumps([r.to_json() for fmt in ("json", "logfmt", "keyvalue")
                         for r in check_all(
    [b"x", b'{"level": "x", "timestamp": "x"}', b"Traceback (most recent call last):",
     b"password=hunter22", b"level=x timestamp=x"],
    LogsConfig(dict_tracebacks=True, format=fmt))] + [  # type: ignore[arg-type]
    r.to_json() for r in check_all([]) + check_all([line()])], ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(secret=secret_values, template=templates,
       fmt=st.sampled_from(["json", "logfmt", "keyvalue"]),
       extra=st.lists(st.binary(max_size=40), max_size=3))
def test_env_secrets_never_appear_in_any_report(secret: str, template: str, fmt: str,
                                                extra: list[bytes]) -> None:
    # A "secret" that is part of the report's fixed wording cannot be told apart from it.
    # (The format's own name is such wording: "set format if ... (now 'keyvalue')".)
    assume(secret not in BOILERPLATE and secret not in "container log"
           and secret not in f"'{fmt}'")
    text = template.format(s=json.dumps(secret), r=secret)
    lines = [*extra, text.encode("utf-8")]
    got = check_all(lines, LogsConfig(format=fmt, timestamps="any"),  # type: ignore[arg-type]
                    {"APP_SECRET": secret}, source="container log")
    assert got[-1].status == Status.FAILED  # SR505 finds it
    report = json.dumps([r.to_json() for r in got], ensure_ascii=False)
    assert secret not in report.replace(REDACTED, "")
    assert json.dumps(secret)[1:-1] not in report.replace(REDACTED, "")


def test_stdlib_logging_module_is_untouched() -> None:
    # The validators are pure: analysing lines configures nothing.
    before = list(logging.getLogger().handlers)
    check_all([line()])
    assert logging.getLogger().handlers == before


# --- where the lines came from (SR501-SR503) ------------------------------------------------

GUNICORN_PLAIN = [
    b"[2026-05-01 12:00:00 +0000] [1] [INFO] Starting gunicorn 23.0.0",
    b"[2026-05-01 12:00:00 +0000] [7] [INFO] Booting worker with pid: 7",
    b'172.17.0.1 - - [01/May/2026:12:00:01 +0000] "GET /health HTTP/1.1" 200 2 "-" '
    b'"python-urllib/3.11"',
]
UVICORN_PLAIN = [b"INFO:     Started server process [1]",
                 b'INFO:     172.17.0.1:40412 - "GET /health HTTP/1.1" 200 OK']


def test_passes_name_the_loggers_their_lines_came_from() -> None:
    lines = [line(logger="gunicorn.error"), line(logger="gunicorn.access"),
             line(logger="gunicorn.access"), line(logger="app.views"), line()]
    got = results(lines)
    origin = "gunicorn.access (2), app.views (1), gunicorn.error (1), no logger named (1)"
    assert got["SR501"].summary == f"5 lines, all JSON objects; from {origin}"
    assert got["SR502"].summary.endswith(f"(keys: event, level, timestamp); from {origin}")
    assert got["SR503"].summary.endswith(f"valid in 5 lines; from {origin}")
    # No line names its logger: nothing is claimed about where they came from.
    assert results([line(), line()])["SR501"].summary == "2 lines, all JSON objects"


@pytest.mark.parametrize("logger_key", ["logger", "logger_name", "name", "log.logger"])
def test_only_server_lines_pass_saying_the_apps_own_log_was_not_seen(logger_key: str) -> None:
    def named(name: str, event: str) -> bytes:
        if logger_key == "log.logger":
            return line(event=event, log={"logger": name})
        return line(event=event, **{logger_key: name})

    lines = [named("gunicorn.error", "Starting gunicorn 23.0.0"),
             named("gunicorn.access", '172.17.0.1 - - "GET /health HTTP/1.1" 200 2'),
             named("uvicorn.error", "Application startup complete.")]
    got = results(lines)
    assert all(r.status == Status.PASSED for k, r in got.items() if k != "SR504")
    assert got["SR501"].summary == (
        "3 lines, all JSON objects; but every line came from the server (its startup and "
        "access lines: gunicorn.access (1), gunicorn.error (1), uvicorn.error (1)), none "
        "from the app's own loggers, so how the app's own log calls render was not seen: "
        "make the smoke run reach a path where the app logs ([tool.shipready.logs] "
        "requests); SR510 checks the app's logging setup")
    for check_id in ("SR502", "SR503"):
        assert got[check_id].summary.endswith(
            "but every line came from the server (its startup and access lines: "
            "gunicorn.access (1), gunicorn.error (1), uvicorn.error (1)), none from the "
            "app's own loggers (see SR501)")
    # One line of the app's own logger: an ordinary PASS.
    mixed = results([*lines, named("app", "order placed")])["SR501"].summary
    assert mixed.startswith("4 lines, all JSON objects; from app (1), ")


def test_server_lines_without_a_logger_name_are_told_by_what_they_say() -> None:
    # A structlog chain that drops the logger name: uvicorn's and gunicorn's own
    # messages still show where they came from.
    lines = [line(event="Started server process [1]"), line(event="Uvicorn running on "
             "http://0.0.0.0:8000 (Press CTRL+C to quit)"),
             line(event='127.0.0.1:5000 - "GET /health HTTP/1.1" 200')]
    summary = results(lines)["SR501"].summary
    assert "but every line came from the server (its startup and access lines: uvicorn (2)" \
        ", access log (1))" in summary, summary
    assert "; but every line" not in results([*lines, line(event="order placed")]
                                              )["SR501"].summary


def test_failures_say_which_server_or_logger_wrote_each_plain_line() -> None:
    lines = [*GUNICORN_PLAIN, *UVICORN_PLAIN, b"WARNING:app.db:slow query",
             b"plain words", line(logger="app")]
    got = results(lines, LogsConfig(show_lines=10))["SR501"]
    assert got.status == Status.FAILED
    assert got.summary == ("7 of 8 lines checked are not JSON objects; failing lines from "
                           "gunicorn (2), uvicorn (2), access log (1), app.db (1), no "
                           "logger named (1)")
    messages = [f.message for f in got.findings]
    assert messages[0].startswith("not a JSON object (from gunicorn): [2026-05-01 ")
    assert messages[2].startswith("not a JSON object (from access log): 172.17.0.1 - - ")
    assert messages[3].startswith("not a JSON object (from uvicorn): INFO:     Started")
    assert messages[5].startswith("not a JSON object (from app.db): WARNING:app.db:")
    assert messages[6].startswith("not a JSON object: plain words")


def test_two_formats_in_one_log_are_said_not_a_format_switch() -> None:
    # Django-Styleguide-Example (fourth validation pass): gunicorn's logconfig renders
    # logfmt, django-structlog renders JSON. The hint "if that is your format, set format =
    # logfmt" would have failed the JSON lines instead.
    lines = [rendered("logfmt"), rendered("logfmt", user="bob"), line()]
    got = results(lines)["SR501"]
    assert got.status == Status.FAILED
    assert got.summary == ("2 of 3 lines checked are not JSON objects; 2 of them are "
                           "logfmt (key=value) and the other 1 JSON objects: the log mixes "
                           "two formats, which no [tool.shipready.logs] format accepts; "
                           "render both through one renderer")
    assert "set [tool.shipready.logs] format" not in got.findings[0].hint
