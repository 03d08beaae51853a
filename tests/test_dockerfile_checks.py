"""The hygiene rules SR201-SR206 on small Dockerfiles (pure, no pytest plugin, no engine)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_shipready.checks import CheckResult, Status
from pytest_shipready.dockerfile import hygiene, ignore, installs
from pytest_shipready.dockerfile import parser as d
from pytest_shipready.secrets import secret_reason

LOCK = [hygiene.KnownLock("requirements.txt", hashed=True)]


def parse(text: str) -> d.Dockerfile:
    return d.parse(dedent(text).lstrip("\n"))


def messages(result: CheckResult) -> list[str]:
    return [f"{f.where()}: {f.message}" for f in result.findings]


# --- SR201 base-pinned -------------------------------------------------------------------


@pytest.mark.parametrize("base", [
    "python:3.11-slim", "python@sha256:abcd", "localhost:5000/base:1.0", "scratch",
])
def test_pinned_bases_pass(base: str) -> None:
    assert hygiene.check_base_pinned(parse(f"FROM {base}\n")).status is Status.PASSED


@pytest.mark.parametrize(("base", "says"), [
    ("python", "has no tag, which means python:latest"),
    ("python:latest", "uses :latest"),
    ("localhost:5000/base", "has no tag"),
])
def test_unpinned_bases_fail(base: str, says: str) -> None:
    result = hygiene.check_base_pinned(parse(f"FROM {base}\n"))
    assert result.status is Status.FAILED
    assert says in messages(result)[0]
    assert messages(result)[0].startswith("Dockerfile:1:")


def test_stages_and_copy_from_images() -> None:
    df = parse("""
        FROM python:3.11 AS build
        FROM build AS test
        FROM scratch
        COPY --from=build /a /a
        COPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/uv
        COPY --from=0 /b /b
        """)
    result = hygiene.check_base_pinned(df)
    assert messages(result) == [
        "Dockerfile:5: COPY --from ghcr.io/astral-sh/uv:latest uses :latest, which moves to "
        "a new image without notice"]


def test_arg_in_from() -> None:
    ok = parse("ARG PY=3.11\nFROM python:${PY}-slim\n")
    assert hygiene.check_base_pinned(ok).status is Status.PASSED
    latest = parse("ARG TAG=latest\nFROM python:$TAG\n")
    assert "uses :latest" in messages(hygiene.check_base_pinned(latest))[0]
    unset = parse("ARG BASE\nFROM $BASE\n")
    assert "BASE has no default value" in messages(hygiene.check_base_pinned(unset))[0]


def test_digest_strictness() -> None:
    df = parse("FROM python:3.11-slim\nFROM python:3.11@sha256:00ff\n")
    assert hygiene.check_base_pinned(df, "tag").summary == (
        "2 base images pinned by tag (a digest would pin them fully)")
    result = hygiene.check_base_pinned(df, "digest")
    assert messages(result) == [
        'Dockerfile:1: FROM python:3.11-slim is pinned by tag only; '
        '[tool.shipready.dockerfile] pin = "digest" asks for a digest']


# --- SR202 non-root-user -----------------------------------------------------------------


@pytest.mark.parametrize("user", ["app", "10001", "app:app", "10001:0", "nobody"])
def test_non_root_users_pass(user: str) -> None:
    result = hygiene.check_non_root(parse(f"FROM python:3.11\nUSER {user}\n"))
    assert result.status is Status.PASSED
    assert user in result.summary


@pytest.mark.parametrize("user", ["root", "0", "0:0", "root:root", "root:app", "$NOPE"])
def test_root_users_fail(user: str) -> None:
    result = hygiene.check_non_root(parse(f"FROM python:3.11\nUSER {user}\n"))
    assert result.status is Status.FAILED
    message = messages(result)[0]
    assert message.startswith("Dockerfile:2:")
    assert "the last USER wins" in message
    # "root, which is root" says nothing: only a USER that does not name root explains.
    assert ("which means root (uid 0)" in message) == (user.split(":")[0] not in ("root",
                                                                                  "0"))


def test_last_user_wins() -> None:
    assert hygiene.check_non_root(parse("""
        FROM python:3.11
        USER root
        RUN apt-get update
        USER app
        """)).status is Status.PASSED
    result = hygiene.check_non_root(parse("""
        FROM python:3.11
        USER app
        USER root
        """))
    assert result.status is Status.FAILED
    assert messages(result)[0].startswith("Dockerfile:3:")


def test_no_user_fails_naming_the_base() -> None:
    result = hygiene.check_non_root(parse("FROM python:3.11-slim\nRUN true\n"))
    assert result.summary == "no USER in the final stage: it runs as root"
    assert "python:3.11-slim's default user" in messages(result)[0]


def test_user_of_builder_stage_does_not_count_but_inherited_does() -> None:
    df = parse("""
        FROM python:3.11 AS build
        USER app
        FROM python:3.11-slim AS final
        FROM build AS debug
        """)
    assert hygiene.check_non_root(df, "final").status is Status.FAILED
    assert "target stage 'final'" in hygiene.check_non_root(df, "final").summary
    inherited = hygiene.check_non_root(df)
    assert inherited.status is Status.PASSED
    assert inherited.summary == "USER app (line 2, from stage 'build')"


def test_user_from_arg() -> None:
    df = parse("FROM python:3.11\nARG UID=10001\nUSER ${UID}\n")
    assert hygiene.check_non_root(df).summary == "USER 10001 (line 3)"


# --- SR203 healthcheck -------------------------------------------------------------------


def test_healthcheck_shell_and_exec_form() -> None:
    shell = hygiene.check_healthcheck(parse("FROM x:1\nHEALTHCHECK CMD curl -f localhost\n"))
    assert shell.summary == "HEALTHCHECK curl -f localhost (line 2)"
    inherited = parse('FROM x:1 AS a\nHEALTHCHECK CMD ["true"]\nFROM a\n')
    assert hygiene.check_healthcheck(inherited).status is Status.PASSED


def test_missing_healthcheck_fails_and_says_the_base_cannot_be_seen() -> None:
    result = hygiene.check_healthcheck(parse("FROM python:3.11\n"))
    assert result.status is Status.FAILED
    assert "cannot be seen without pulling it" in messages(result)[0]
    assert "healthcheck_optional" in result.findings[0].hint


def test_healthcheck_none_fails() -> None:
    result = hygiene.check_healthcheck(parse("FROM python:3.11\nHEALTHCHECK NONE\n"))
    assert result.status is Status.FAILED
    assert messages(result)[0].startswith("Dockerfile:2:")


def test_healthcheck_optional_or_probe() -> None:
    df = parse("FROM python:3.11\n")
    optional = hygiene.check_healthcheck(df, optional=True)
    assert optional.status is Status.PASSED
    assert "healthcheck_optional" in optional.summary
    probe = hygiene.check_healthcheck(df, probe="HTTP GET /health")
    assert probe.status is Status.PASSED
    assert "HTTP GET /health" in probe.summary


def test_healthcheck_of_a_builder_stage_does_not_count() -> None:
    df = parse('FROM x:1 AS build\nHEALTHCHECK CMD ["true"]\nFROM x:1\n')
    assert hygiene.check_healthcheck(df).status is Status.FAILED


# --- SR204 no-secrets --------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "PASSWORD", "DB_PASSWORD", "POSTGRES_PASSWD", "API_TOKEN", "NPM_TOKEN", "GITHUB_PAT",
    "SECRET", "CLIENT_SECRET", "SECRET_KEY_BASE", "API_KEY", "STRIPE_KEY", "PRIVATE_KEY",
    "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS",
    "DB_PASS", "apikey", "ghToken",
])
def test_secret_names(name: str) -> None:
    assert secret_reason(name) is not None


@pytest.mark.parametrize("name", [
    "PORT", "PYTHONUNBUFFERED", "PWD", "GPG_KEY", "PASSWORD_FILE", "SSH_PRIVATE_KEY_PATH",
    "TOKENIZERS_PARALLELISM", "KEYBOARD", "PUBLIC_KEY", "PATH", "BYPASS_CACHE",
])
def test_harmless_names(name: str) -> None:
    assert secret_reason(name) is None


def test_secrets_named_never_their_values() -> None:
    df = parse("""
        ARG NPM_TOKEN
        FROM python:3.11
        ENV PORT=8000 API_TOKEN=abc-very-secret
        ENV DB_PASSWORD hunter2
        ARG STRIPE_KEY=sk_live_123
        """)
    result = hygiene.check_no_secrets(df)
    text = repr(result.to_json())
    for value in ("abc-very-secret", "hunter2", "sk_live_123"):
        assert value not in text
    assert [m.split(" looks")[0] for m in messages(result)] == [
        "Dockerfile:1: ARG NPM_TOKEN", "Dockerfile:3: ENV API_TOKEN",
        "Dockerfile:4: ENV DB_PASSWORD", "Dockerfile:5: ARG STRIPE_KEY"]
    assert "RUN --mount=type=secret" in result.findings[0].hint


def test_secret_allow_list_is_case_insensitive() -> None:
    df = parse("FROM python:3.11\nENV SORT_KEY=name\n")
    assert hygiene.check_no_secrets(df).status is Status.FAILED
    assert hygiene.check_no_secrets(df, ["sort_key"]).status is Status.PASSED


# --- SR205 lock-used ---------------------------------------------------------------------


def lock_used(text: str, locks: list[hygiene.KnownLock] = LOCK, **kw: object) -> CheckResult:
    return hygiene.check_lock_used(parse(text), locks, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("run", [
    "RUN pip install --no-deps --require-hashes -r requirements.txt",
    "RUN python -m pip install -r ./requirements.txt && pip install --no-deps .",
    "RUN python3.11 -m pip install --requirement=/srv/requirements.txt -e .",
    'RUN ["pip3", "install", "-rrequirements.txt"]',
    "RUN --mount=type=bind,source=requirements.txt,target=/tmp/r.txt pip install -r /tmp/r.txt",
    "RUN <<EOF\nset -e\npip install -r requirements.txt\nEOF",
    "RUN pip install --upgrade-strategy eager -r requirements.txt",
])
def test_lock_installs_pass(run: str) -> None:
    result = lock_used(f"FROM python:3.11\nCOPY requirements.txt .\n{run}\n")
    assert result.status is Status.PASSED, messages(result)


def test_lock_copied_under_another_name() -> None:
    result = lock_used("FROM python:3.11\nCOPY requirements.txt /tmp/deps.txt\n"
                       "RUN pip install -r /tmp/deps.txt\n")
    assert result.status is Status.PASSED


def test_extra_package_is_named_with_its_line() -> None:
    result = lock_used("""
        FROM python:3.11
        RUN pip install -r requirements.txt && \\
            pip install 'Requests>=2' gunicorn
        """)
    assert result.summary == "2 packages installed outside the lock"
    assert messages(result) == [
        "Dockerfile:3: `pip install 'Requests>=2' gunicorn` installs requests outside the lock",
        "Dockerfile:3: `pip install 'Requests>=2' gunicorn` installs gunicorn outside the lock"]


def test_allowed_installs() -> None:
    text = "FROM python:3.11\nRUN pip install -U gunicorn && pip install -r requirements.txt\n"
    assert lock_used(text).status is Status.FAILED
    assert lock_used(text, allowed=["GUNICORN"]).status is Status.PASSED


def test_installers_themselves_may_be_installed_by_name() -> None:
    text = ("FROM python:3.11\nRUN pip install -U pip poetry uv && "
            "pip install -r requirements.txt\n")
    assert lock_used(text).status is Status.PASSED


def test_install_in_builder_stage_counts_only_when_needed() -> None:
    builder = """
        FROM python:3.11 AS build
        RUN pip install --prefix=/install -r requirements.txt
        FROM python:3.11-slim AS unused
        RUN pip install flask
        FROM python:3.11-slim
        COPY --from=build /install /usr/local
        """
    assert lock_used(builder).status is Status.PASSED
    assert lock_used(builder, target="unused").status is Status.FAILED


def test_no_lock_install_fails() -> None:
    result = lock_used("FROM python:3.11\nRUN pip install .\n")
    assert result.summary == "the lockfile is not installed"
    assert "1 install command found, none from the lockfile (requirements.txt)" in (
        messages(result)[0])


def test_unknown_requirements_file() -> None:
    result = lock_used("FROM python:3.11\nRUN pip install -r requirements.txt "
                       "-r requirements-dev.in\n")
    assert "installs from requirements-dev.in, which is not a known lockfile" in (
        messages(result)[0])


def test_hashes_enforced() -> None:
    unhashed = [hygiene.KnownLock("requirements.txt", hashed=False)]
    text = "FROM python:3.11\nRUN pip install -r requirements.txt\n"
    assert "does not enforce hashes" in messages(lock_used(text, unhashed))[0]
    assert lock_used(text.replace("-r", "--require-hashes -r"), unhashed).status is (
        Status.PASSED)
    env = "FROM python:3.11\nENV PIP_REQUIRE_HASHES=1\nRUN pip install -r requirements.txt\n"
    assert lock_used(env, unhashed).status is Status.PASSED


def test_no_known_lock_skips() -> None:
    result = lock_used("FROM python:3.11\n", [])
    assert result.status is Status.SKIPPED
    assert "SR100" in result.summary


def test_lock_in_a_subdirectory() -> None:
    locks = [hygiene.KnownLock("requirements/prod.txt", True),
             hygiene.KnownLock("requirements/dev.txt", True)]
    ok = lock_used("FROM python:3.11\nRUN pip install -r /app/requirements/prod.txt\n", locks)
    assert ok.status is Status.PASSED


def test_recogniser_extension_point(monkeypatch: pytest.MonkeyPatch) -> None:
    def uv_sync(command: installs.Command) -> installs.InstallStep | None:
        if command.words[:2] == ("uv", "sync") and "--frozen" in command.words:
            return installs.InstallStep("uv", command.line, command.text,
                                             files=("uv.lock",), hashes_enforced=True)
        return None

    monkeypatch.setattr(installs, "RECOGNISERS", [*installs.RECOGNISERS, uv_sync])
    result = lock_used("FROM python:3.11\nRUN uv sync --frozen\n",
                       [hygiene.KnownLock("uv.lock", hashed=True)])
    assert result.summary == "uv installs uv.lock with hashes (line 2)"


@pytest.mark.parametrize(("command", "files", "packages", "local"), [
    ("pip install -r a.txt -c c.txt x==1", ("a.txt",), ("x==1",), ()),
    ("sudo -E env X=1 pip3 install --user ./dist/app.whl", (), (), ("./dist/app.whl",)),
    ("pip --no-cache-dir install -i https://x/simple y", (), ("y",), ()),
    ("/venv/bin/python -m pip install --target /deps -e .", (), (), (".",)),
    ("pip install --no-index /wheels/*", (), (), ("/wheels/*",)),
    ("pip wheel -r a.txt -w /wheels", ("a.txt",), (), ()),
    ("pip install '.[prod]'", (), (), (".[prod]",)),
])
def test_pip_recogniser(command: str, files: tuple[str, ...], packages: tuple[str, ...],
                        local: tuple[str, ...]) -> None:
    (cmd,) = installs.split_commands(command)
    step = installs.recognise_pip(cmd)
    assert step is not None
    assert (step.files, step.packages, step.local) == (files, packages, local)


@pytest.mark.parametrize("command", ["pip --version", "pip list", "echo pip install x",
                                     "python -c 'import pip'", "pipx install black"])
def test_not_an_install(command: str) -> None:
    (cmd,) = installs.split_commands(command)
    assert installs.recognise_pip(cmd) is None


# --- SR206 dockerignore ------------------------------------------------------------------


@pytest.mark.parametrize(("patterns", "path", "out"), [
    (".git", ".git/HEAD", True),
    ("/.git/", ".git", True),
    (".venv", "sub/.venv", False),
    ("**/.venv", "sub/deep/.venv/bin/python", True),
    ("*", ".git", True),
    ("*\n!.git", ".git/HEAD", False),
    ("**\n!src/**", "src/a.py", False),
    ("*.py[co]", "a.pyc", True),
    ("*.py[co]", "sub/a.pyc", False),
    ("ven?", "venv", True),
    ("# .git\n.gi\\t", ".git", True),
    ("  ./venv/  ", "venv", True),
])
def test_dockerignore_patterns(patterns: str, path: str, out: bool) -> None:
    assert ignore.excluded(ignore.parse(patterns), path)[0] is out


def test_dockerignore_check(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    missing = hygiene.check_dockerignore(tmp_path, dockerfile, [".git", ".venv"])
    assert missing.status is Status.FAILED
    assert "has no .dockerignore" in messages(missing)[0]
    (tmp_path / ".dockerignore").write_text(".git\n.venv\n")
    ok = hygiene.check_dockerignore(tmp_path, dockerfile, [".git", ".venv"])
    assert ok.summary == "leaves out .git, .venv"
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    found = hygiene.check_dockerignore(tmp_path, dockerfile, [".git", ".venv"])
    assert messages(found) == [".dockerignore: env is not left out: no pattern matches it"]
    (tmp_path / ".dockerignore").write_text("**\n!.git/config\n!env\n")
    result = hygiene.check_dockerignore(tmp_path, dockerfile, [".git", ".venv"])
    assert messages(result) == [
        ".dockerignore:2: .git/config is sent to the builder: `!.git/config` re-includes it",
        ".dockerignore:3: env is sent to the builder: `!env` re-includes it"]


def test_dockerfile_specific_ignore_file(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.dockerignore").write_text(".git\n.venv\n")
    result = hygiene.check_dockerignore(tmp_path, tmp_path / "Dockerfile", [".git", ".venv"])
    assert result.status is Status.PASSED
    assert "BuildKit only" in result.summary


# --- problems and robustness -------------------------------------------------------------


def test_problems_include_a_missing_target() -> None:
    df = parse("FROM python:3.11 AS build\nFROM python:3.11-slim AS final\n")
    assert hygiene.problems(df, None) == []
    (finding,) = hygiene.problems(df, "prod")
    assert finding.message == ("target stage 'prod' is not in the Dockerfile (named stages: "
                               "'build', 'final')")


def test_load_unreadable(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_bytes(b"FROM python:3.11\n\xff\n")
    (finding,) = hygiene.problems(hygiene.load(bad, "Dockerfile"), None)
    assert "not UTF-8" in finding.message
    (missing,) = hygiene.problems(hygiene.load(tmp_path / "nope", "nope"), None)
    assert "cannot read" in missing.message


_LINES = st.sampled_from([
    "FROM python:3.11 AS a", "FROM a", "FROM python", "FROM scratch", "USER root", "USER app",
    "USER $X", "HEALTHCHECK NONE", "HEALTHCHECK CMD true", "ENV TOKEN=1", "ARG X",
    "RUN pip install -r requirements.txt", "RUN pip install x", "COPY --from=a / /",
    "COPY --from=python /x /x", "RUN --mount=type=bind,from=a,target=/t true",
    "RUN <<EOF", "EOF", "ENV A=\"b", "EXPOSE 80", "STOPSIGNAL 9", "RUN \\",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINES, min_size=1, max_size=12).map("\n".join))
def test_checks_never_crash_on_parsable_files(text: str) -> None:
    df = d.parse(text)
    if hygiene.problems(df, None):
        return
    for result in (
        hygiene.check_base_pinned(df), hygiene.check_non_root(df),
        hygiene.check_healthcheck(df), hygiene.check_no_secrets(df),
        hygiene.check_lock_used(df, LOCK),
    ):
        assert result.status in (Status.PASSED, Status.FAILED)
        assert result.status is Status.PASSED or result.findings


# --- configuration -----------------------------------------------------------------------


def test_config_section() -> None:
    from pytest_shipready.config import ConfigError, ShipreadyConfig, parse

    assert ShipreadyConfig().image.dockerfile == "Dockerfile"
    both = parse({"dockerfile": {"pin": "digest", "allowed_installs": ["pip"]},
                  "image": {"target": "prod"}})
    cfg = both.dockerfile
    assert (both.image.target, cfg.pin, cfg.allowed_installs) == ("prod", "digest", ("pip",))
    with pytest.raises(ConfigError, match=r"dockerfile.pin = 'sha': must be one of"):
        parse({"dockerfile": {"pin": "sha"}})
    with pytest.raises(ConfigError, match=r"dockerfile.required = 'yes': must be true or"):
        parse({"dockerfile": {"required": "yes"}})


def test_uses_buildkit() -> None:
    assert not parse("FROM python:3.11\nRUN pip install -r r.txt\n").uses_buildkit()
    assert parse("FROM python:3.11\nRUN --mount=type=secret,id=t true\n").uses_buildkit()
    assert parse("FROM python:3.11\nCOPY --link a b\n").uses_buildkit()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="*?[]!\\/.#ab \n^-&|~", max_size=40),
       st.text(alphabet="ab./", max_size=10))
def test_dockerignore_never_crashes_or_warns(text: str, path: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ignore.excluded(ignore.parse(text), path)
