"""The Dockerfile parser: continuations, directives, heredocs, forms, stages, variables."""

from __future__ import annotations

from textwrap import dedent

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_shipready.dockerfile import parser as d
from pytest_shipready.dockerfile.installs import split_commands
from tests.conftest import EXAMPLE


def parse(text: str, **kwargs: object) -> d.Dockerfile:
    return d.parse(dedent(text).lstrip("\n"), **kwargs)  # type: ignore[arg-type]


def test_example_dockerfile() -> None:
    df = d.parse((EXAMPLE / "Dockerfile").read_text())
    assert df.problems == ()
    stage = df.target()
    assert stage is not None
    assert stage.base == "python:3.11-slim"
    assert stage.external
    user = df.user(stage)
    assert user is not None
    assert (user.value, user.line) == ("app", 14)
    assert df.exposed(stage) == [(8000, "tcp")]
    hc = df.healthcheck(stage)
    assert hc is not None
    assert not hc.none
    assert hc.command == ("python", "-m", "app.healthcheck")
    assert dict(hc.options)["interval"] == "2s"
    entry, cmd = df.command(stage)
    assert entry is None
    assert cmd is not None
    assert cmd.exec_form == ("python", "-m", "app")
    assert df.buildkit_features() == []


def test_continuations_comments_and_line_numbers() -> None:
    df = parse("""
        FROM debian:bookworm-slim
        RUN apt-get update && \\
        # a comment inside the continuation is dropped

            apt-get install -y curl
        run echo lower-case keyword
        """)
    assert df.problems == ()
    run, lower = df.stages[0].of("RUN")
    assert (run.line, run.end_line) == (2, 5)
    assert run.rest == "apt-get update &&     apt-get install -y curl"
    assert run.line_at(run.rest.index("apt-get install")) == 5
    assert lower.keyword == "RUN"
    assert lower.line == 6


def test_trailing_whitespace_after_the_escape_still_continues() -> None:
    df = parse("FROM scratch\nRUN a \\  \n  b\n")
    assert df.stages[0].of("RUN")[0].rest == "a   b"


def test_escape_directive_backtick() -> None:
    df = parse("""
        # escape=`
        FROM mcr.microsoft.com/windows/servercore:ltsc2022
        RUN dir c:\\ `
            && echo done
        """)
    assert df.escape == "`"
    assert df.problems == ()
    (run,) = df.stages[0].of("RUN")
    assert "&& echo done" in run.rest
    assert run.rest.startswith("dir c:\\")


def test_directives_only_at_the_top() -> None:
    df = parse("""
        # syntax=docker/dockerfile:1.7
        # check=skip=all

        # escape=`
        FROM scratch
        """)
    assert dict(df.directives) == {"syntax": "docker/dockerfile:1.7", "check": "skip=all"}
    assert df.escape == "\\"
    assert df.buildkit_features() == [("# syntax=docker/dockerfile:1.7", 1)]


def test_bad_escape_directive_is_a_problem() -> None:
    df = parse("# escape=x\nFROM scratch\n")
    assert [p.message for p in df.problems] == [
        "invalid escape directive 'x': must be a backslash or a backtick"]


def test_heredocs() -> None:
    df = parse("""
        FROM python:3.11-slim
        RUN <<EOF
        pip install -r requirements.txt
        EOF
        COPY <<-"CONF" /etc/app.conf
        \tkey = value
        \tCONF
        RUN python3 <<PY > /out
        print("hi")
        PY
        USER app
        """)
    assert df.problems == ()
    stage = df.stages[0]
    first, second = stage.of("RUN")
    assert first.heredocs[0].name == "EOF"
    assert first.heredocs[0].body == "pip install -r requirements.txt\n"
    assert first.heredocs[0].line == 3
    (copy,) = stage.of("COPY")
    assert copy.heredocs[0].body == "key = value\n"
    assert copy.heredocs[0].strip_tabs
    assert second.heredocs[0].name == "PY"
    assert [i.keyword for i in stage.instructions][-1] == "USER"
    assert ("RUN heredoc <<EOF", 2) in df.buildkit_features()


def test_unclosed_heredoc_is_a_problem_not_a_crash() -> None:
    df = parse("FROM scratch\nRUN <<EOF\necho hi\n")
    assert [p.line for p in df.problems] == [2]
    assert "not closed" in df.problems[0].message


def test_json_and_shell_forms() -> None:
    df = parse("""
        FROM scratch
        CMD ["python", "-m", "app"]
        ENTRYPOINT python -m app
        RUN [not json
        """)
    stage = df.stages[0]
    assert stage.of("CMD")[0].exec_form == ("python", "-m", "app")
    assert stage.of("ENTRYPOINT")[0].exec_form is None
    assert stage.of("RUN")[0].exec_form is None  # Docker runs it as shell form


def test_flags() -> None:
    df = parse("""
        FROM --platform=$BUILDPLATFORM python:3.11 AS build
        RUN --mount=type=secret,id=npm --mount=type=cache,target=/root/.cache pip --version
        COPY --from=build --chown=app:app /a /b
        """)
    stage = df.stages[0]
    assert stage.platform == "$BUILDPLATFORM"
    assert stage.name == "build"
    run = stage.of("RUN")[0]
    assert run.flag_values("mount") == ["type=secret,id=npm", "type=cache,target=/root/.cache"]
    assert run.rest == "pip --version"
    assert stage.of("COPY")[0].flag("from") == "build"
    assert ("RUN --mount type=secret", 2) in df.buildkit_features()
    assert d.mount_options("type=secret,id=npm,required") == {
        "type": "secret", "id": "npm", "required": ""}


def test_multi_stage_chain_target_and_inheritance() -> None:
    df = parse("""
        ARG PY=3.11
        FROM python:${PY}-slim AS base
        USER app
        EXPOSE 8000
        HEALTHCHECK CMD true
        STOPSIGNAL SIGINT
        CMD ["serve"]
        FROM base AS test
        USER root
        FROM base AS final
        ENTRYPOINT ["tini", "--"]
        """)
    assert df.problems == ()
    base, test, final = df.stages
    assert base.base == "python:3.11-slim"
    assert base.base_raw == "python:${PY}-slim"
    assert test.parent == 0
    assert final.parent == 0
    assert not final.external
    assert df.target() is final
    assert df.target("test") is test
    assert df.target("nope") is None
    assert [s.index for s in df.chain(final)] == [0, 2]
    user = df.user(final)
    assert user is not None
    assert user.value == "app"
    assert user.stage is base
    test_user = df.user(test)
    assert test_user is not None
    assert test_user.value == "root"
    assert df.exposed(final) == [(8000, "tcp")]
    stop = df.stopsignal(final)
    assert stop is not None
    assert stop.value == "SIGINT"
    entry, cmd = df.command(final)
    # An ENTRYPOINT resets a CMD inherited from an earlier stage.
    assert entry is not None
    assert cmd is None


def test_needed_stages_follow_copy_from_and_mounts() -> None:
    df = parse("""
        FROM python:3.11 AS deps
        FROM python:3.11 AS unused
        FROM python:3.11 AS tools
        FROM python:3.11-slim
        COPY --from=deps /venv /venv
        RUN --mount=type=bind,from=tools,target=/t true
        """)
    assert [s.name for s in df.needed(df.stages[-1])] == ["deps", "tools", None]


def test_variables_follow_docker_scoping() -> None:
    df = parse("""
        ARG UID=10001
        FROM python:3.11-slim AS a
        ARG UID
        ENV HOME_UID=$UID
        USER ${UID}:${GID:-0}
        FROM a
        USER $UID
        """)
    a, b = df.stages
    user_a = df.user(a)
    assert user_a is not None
    assert user_a.value == "10001:0"
    # ARG does not carry into a stage built on another; ENV does.
    user_b = df.user(b)
    assert user_b is not None
    assert user_b.value == ""
    assert df.variables(b)["HOME_UID"] == "10001"


def test_build_args_override_defaults() -> None:
    df = parse("ARG BASE=python:3.11\nFROM $BASE\n", build_args={"BASE": "debian:bookworm"})
    assert df.stages[0].base == "debian:bookworm"


@pytest.mark.parametrize(("text", "values", "expected"), [
    ("$A-${B}", {"A": "1", "B": "2"}, ("1-2", ())),
    ("${A:-x}${B:+y}", {"B": "v"}, ("xy", ())),
    ("${A:-x}", {"A": ""}, ("x", ())),
    ("${A-x}", {"A": ""}, ("", ())),
    ("$MISSING!", {}, ("!", ("MISSING",))),
    ("\\$A", {"A": "1"}, ("$A", ())),
])
def test_expand(text: str, values: dict[str, str], expected: tuple[str, tuple[str, ...]]
                ) -> None:
    assert d.expand(text, values) == expected


@pytest.mark.parametrize(("ref", "repository", "tag", "digest"), [
    ("python", "python", None, None),
    ("python:3.11-slim", "python", "3.11-slim", None),
    ("localhost:5000/app", "localhost:5000/app", None, None),
    ("localhost:5000/app:1.2", "localhost:5000/app", "1.2", None),
    ("python@sha256:abc", "python", None, "sha256:abc"),
    ("ghcr.io/a/b:1@sha256:abc", "ghcr.io/a/b", "1", "sha256:abc"),
])
def test_parse_image(ref: str, repository: str, tag: str | None, digest: str | None) -> None:
    image = d.parse_image(ref)
    assert (image.repository, image.tag, image.digest) == (repository, tag, digest)


def test_env_and_arg_forms() -> None:
    df = parse("""
        FROM scratch
        ENV A=1 B="two words" C=three\\ words
        ENV LEGACY some value here
        ARG X Y=2
        """)
    env1, env2 = df.stages[0].of("ENV")
    assert d.env_pairs(env1) == [("A", "1"), ("B", "two words"), ("C", "three words")]
    assert d.env_pairs(env2) == [("LEGACY", "some value here")]
    assert d.arg_pairs(df.stages[0].of("ARG")[0]) == [("X", None), ("Y", "2")]


@pytest.mark.parametrize(("text", "message"), [
    ("", "no FROM instruction"),
    ("# only a comment\n", "no FROM instruction"),
    ("RUN echo\nFROM scratch\n", "RUN before the first FROM"),
    ("FROM scratch\nFORM x\n", "unknown instruction 'FORM'"),
    ("FROM\n", "FROM without an image"),
    ("FROM a AS x\nFROM b AS x\n", "stage name 'x' is used twice"),
    ("FROM a b c d\n", "FROM takes an image"),
    ("# syntax=a\n# syntax=b\nFROM scratch\n", "'syntax' is given twice"),
])
def test_problems(text: str, message: str) -> None:
    df = d.parse(text)
    assert any(message in p.message for p in df.problems), df.problems


def test_split_commands_lines_and_quotes() -> None:
    commands = split_commands("a 'b c' && d \"e\\\"f\" ; g | h # i && j\nk\\\n l", 10)
    assert [c.words for c in commands] == [
        ("a", "b c"), ("d", 'e"f'), ("g",), ("h",), ("k", "l")]
    assert [c.line for c in commands] == [10, 10, 10, 10, 11]


# --- never a crash ---------------------------------------------------------------------

_PIECES = st.sampled_from([
    "FROM ", "from ", "python:3.11", " AS ", "build", "RUN ", "USER ", "ENV ", "ARG ",
    "COPY ", "--from=", "--mount=type=secret,id=x ", "HEALTHCHECK ", "NONE", "CMD ",
    "EXPOSE ", "8000/udp", "1-70000", "<<EOF", "<<-X", "EOF", "X", "\\", "`", "\n", "\n",
    "\r\n", " ", "\t", "#", "# escape=`\n", "# syntax=x\n", "${A:-b}", "$", "{", "}", "=",
    '"', "'", "[", "]", '["a"]', "pip install -r r.txt", "&&", ";", "|", "(", ")",
    "\ufeff", "\x00", "é",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES | st.text(max_size=5), max_size=40).map("".join))
def test_parser_never_crashes(text: str) -> None:
    df = d.parse(text)
    n_lines = text.count("\n") + 1
    for problem in df.problems:
        assert problem.message
        assert problem.line is None or 1 <= problem.line <= n_lines
    for ins in df.instructions:
        assert 1 <= ins.line <= ins.end_line <= n_lines
    for stage in df.stages:
        df.user(stage)
        df.healthcheck(stage)
        df.exposed(stage)
        df.command(stage)
        df.stopsignal(stage)
        df.needed(stage)
    df.buildkit_features()
