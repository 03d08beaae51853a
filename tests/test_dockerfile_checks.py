"""The hygiene rules SR201-SR206 on small Dockerfiles (pure, no pytest plugin, no engine)."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_shipready.checks import CheckResult, Status
from pytest_shipready.dockerfile import hygiene, ignore, installs
from pytest_shipready.dockerfile import parser as d
from pytest_shipready.locks import selection as lockselect
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
    assert optional.status is Status.SKIPPED  # nothing verified: not a pass
    assert "healthcheck_optional" in optional.summary
    probe = hygiene.check_healthcheck(df, probe="HTTP GET /health")
    assert probe.status is Status.SKIPPED
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


def _context(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "Dockerfile"


def test_dockerignore_check(tmp_path: Path) -> None:
    dockerfile = _context(tmp_path, {".git/HEAD": "ref: main\n", ".git/config": "",
                                     ".venv/pyvenv.cfg": "home = /usr\n"})
    missing = hygiene.check_dockerignore(tmp_path, dockerfile, [".git", ".venv"])
    assert missing.status is Status.FAILED
    assert "has no .dockerignore" in messages(missing)[0]
    assert "Create .dockerignore with at least:\n  .git\n  .venv" in missing.findings[0].hint
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
        ".dockerignore:3: env/pyvenv.cfg is sent to the builder: `!env` re-includes it"]


def test_dockerignore_requires_only_what_exists(tmp_path: Path) -> None:
    dockerfile = _context(tmp_path, {".git/HEAD": "ref: main\n", "app.py": ""})
    (tmp_path / ".dockerignore").write_text(".git\n")
    result = hygiene.check_dockerignore(tmp_path, dockerfile, [".git", ".venv", "venv"])
    assert result.status is Status.PASSED
    assert result.summary == "leaves out .git; .venv, venv not in the context"
    (tmp_path / ".dockerignore").unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    bare = hygiene.check_dockerignore(empty, empty / "Dockerfile", [".git", ".venv"])
    assert bare.status is Status.PASSED
    assert bare.summary == ("no .dockerignore, and none is needed: .git, .venv not in "
                            "the context")


@pytest.mark.parametrize("line", [".git/*", ".git/", "/.git/**", ".git/**"])
def test_dockerignore_git_contents_leave_git_out(tmp_path: Path, line: str) -> None:
    dockerfile = _context(tmp_path, {".git/HEAD": "", ".git/objects/ab/cd": ""})
    (tmp_path / ".dockerignore").write_text(line + "\n")
    result = hygiene.check_dockerignore(tmp_path, dockerfile, [".git"])
    assert (result.status, result.summary) == (Status.PASSED, "leaves out .git"), line


def test_dockerignore_names_pytest_cache_copied_into_the_image(tmp_path: Path) -> None:
    """pytest rewrites .pytest_cache on every run: copied, every build is a new image."""
    dockerfile = _context(tmp_path, {".pytest_cache/v/cache/nodeids": "[]", "app.py": ""})
    (tmp_path / ".dockerignore").write_text(".git\n")
    copies = d.parse("FROM python:3.11-slim\nWORKDIR /srv\nCOPY . .\n")
    result = hygiene.check_dockerignore(tmp_path, dockerfile, [".git"], df=copies)
    assert result.status is Status.FAILED
    assert messages(result) == [
        ".dockerignore: .pytest_cache is sent to the builder and `COPY . .` (line 3) copies "
        "it into the image: pytest rewrites it on every run, so every build makes a new "
        "layer and a new image (and the image ships it)"]
    assert result.findings[0].hint == "Add a line `.pytest_cache` to .dockerignore."
    # Only the app is copied, or the cache is left out: nothing to say.
    narrow = d.parse("FROM python:3.11-slim\nCOPY app.py /srv/\n")
    assert hygiene.check_dockerignore(tmp_path, dockerfile, [".git"],
                                      df=narrow).status is Status.PASSED
    (tmp_path / ".dockerignore").write_text(".git\n.pytest_cache\n")
    assert hygiene.check_dockerignore(tmp_path, dockerfile, [".git"],
                                      df=copies).status is Status.PASSED


def test_dockerignore_names_the_runs_own_report_when_copied(tmp_path: Path) -> None:
    """The report this run writes (not there yet on a first run) would be copied."""
    dockerfile = _context(tmp_path, {"app.py": ""})
    (tmp_path / ".dockerignore").write_text(".git\nreport.json\n")
    copies = d.parse("FROM python:3.11-slim\nWORKDIR /srv\nCOPY . .\n")
    written = [("report.json", "--shipready-report"),
               ("report.cdx.json", "--shipready-report's SBOM"), ("out/junit.xml", "--junitxml")]
    result = hygiene.check_dockerignore(tmp_path, dockerfile, [".git"], df=copies,
                                        written=written)
    assert result.status is Status.FAILED
    assert messages(result) == [
        ".dockerignore: report.cdx.json (--shipready-report's SBOM) is written into the build "
        "context and `COPY . .` (line 3) copies it into the image: it changes on every run, "
        "so every build makes a new layer and a new image",
        ".dockerignore: out/junit.xml (--junitxml) is written into the build context and "
        "`COPY . .` (line 3) copies it into the image: it changes on every run, so every "
        "build makes a new layer and a new image"]
    assert result.findings[0].hint == ("Add a line `report.cdx.json` to .dockerignore, or "
                                       "write it outside the build context.")
    narrow = d.parse("FROM python:3.11-slim\nCOPY app.py /srv/\n")
    assert hygiene.check_dockerignore(tmp_path, dockerfile, [".git"], df=narrow,
                                      written=written).status is Status.PASSED


def test_dockerignore_fails_on_copied_secret_files(tmp_path: Path) -> None:
    dockerfile = _context(tmp_path, {
        ".env": "TOKEN=x\n", "certs/server.pem": "", "deploy/id_rsa": "",
        ".npmrc": "//registry.npmjs.org/:_authToken=npm_abc\n",
        ".pypirc": "[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc\n",
        "web/.npmrc": "engine-strict=true\n",  # settings only: not a secret
        ".env.example": "TOKEN=\n", "app.py": ""})
    (tmp_path / ".dockerignore").write_text(".npmrc\n")
    copies = d.parse("FROM python:3.11-slim\nWORKDIR /srv\nCOPY . .\n")
    result = hygiene.check_dockerignore(tmp_path, dockerfile, [".git"], df=copies)
    assert result.status is Status.FAILED
    assert result.summary == "4 paths not left out of the build context"
    assert messages(result) == [
        ".dockerignore: .env looks like a secret (a dotenv file) and is sent to the builder; "
        "`COPY . .` (line 3) copies it into the image",
        ".dockerignore: .pypirc looks like a secret (PyPI credentials) and is sent to the "
        "builder; `COPY . .` (line 3) copies it into the image",
        ".dockerignore: certs/server.pem looks like a secret (a PEM key or certificate) and "
        "is sent to the builder; `COPY . .` (line 3) copies it into the image",
        ".dockerignore: deploy/id_rsa looks like a secret (an SSH private key) and is sent "
        "to the builder; `COPY . .` (line 3) copies it into the image"]
    assert "Add a line `.env` (or `**/.env`) to .dockerignore" in result.findings[0].hint
    # Copying only app code: the secrets are sent but never reach the image.
    narrow = d.parse("FROM python:3.11-slim\nCOPY app.py /srv/\n")
    ok = hygiene.check_dockerignore(tmp_path, dockerfile, [".git"], df=narrow)
    assert ok.status is Status.PASSED
    assert ok.summary == ".git not in the context; 4 secret-looking files sent but not copied"
    (tmp_path / ".dockerignore").write_text("**/.env\n**/*.pem\n**/id_rsa\n.npmrc\n.pypirc\n")
    clean = hygiene.check_dockerignore(tmp_path, dockerfile, [".git"], df=copies)
    assert clean.status is Status.PASSED, messages(clean)
    assert clean.summary == ".git not in the context; no secret-looking file copied"
    # A directory source copies what is below it; an exception re-including a key fails.
    (tmp_path / ".dockerignore").write_text("**/.env\n**/*.pem\n!certs/server.pem\n")
    certs = d.parse("FROM python:3.11-slim\nCOPY certs/ /etc/certs/\n")
    back = hygiene.check_dockerignore(tmp_path, dockerfile, [], df=certs)
    assert messages(back) == [
        ".dockerignore:3: certs/server.pem looks like a secret (a PEM key or certificate) "
        "and is sent to the builder: `!certs/server.pem` re-includes it; "
        "`COPY certs/ /etc/certs/` (line 2) copies it into the image"]


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
        assert result.status in (Status.PASSED, Status.FAILED, Status.SKIPPED)
        assert result.status is not Status.FAILED or result.findings


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


# --- .dockerignore matching: Docker's semantics, in linear time --------------------------


def _reference_regex(pattern: str) -> re.Pattern[str]:
    """moby/patternmatcher's translation to a regular expression (what Go's linear-time
    regexp runs), for comparing results on small inputs."""
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                if pattern[i + 1:i + 2] == "/":
                    i += 1
                    out.append("(.*/)?")
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + "$")


def _reference_excluded(patterns: list[ignore.Pattern], path: str) -> bool:
    parts = path.split("/")
    out = False
    for p in patterns:
        rx = _reference_regex(p.text)
        if any(rx.match("/".join(parts[:k])) for k in range(1, len(parts) + 1)):
            out = p.exclude
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet="ab*?/.!", min_size=1, max_size=8), min_size=1,
                max_size=3).map("\n".join),
       st.text(alphabet="ab./", min_size=1, max_size=12))
def test_dockerignore_matcher_agrees_with_dockers_regex(text: str, path: str) -> None:
    import posixpath

    path = posixpath.normpath(path).lstrip("/")
    if path in ("", ".", "..") or path.startswith("../"):
        return
    patterns = ignore.parse(text)
    assert ignore.excluded(patterns, path)[0] is _reference_excluded(patterns, path)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=5, max_value=30), st.integers(min_value=200, max_value=3000),
       st.sampled_from(["a", "aa/", "a/"]))
def test_dockerignore_matching_is_linear(stars: int, length: int, unit: str) -> None:
    # The shape that took SR206 57 s with a backtracking regex: **a**a**a...**b against
    # a long name that almost matches. Bounded by pattern x path length, whatever it is.
    import time

    text = "\n".join(["**" + "a**" * stars + "b"] * 4)
    path = (unit * (length // len(unit)))[:length].rstrip("/") + "/c"
    patterns = ignore.parse(text)
    started = time.process_time()
    assert ignore.excluded(patterns, path) == (False, None)
    elapsed = time.process_time() - started
    # ~1 µs per (pattern token x path character) leaves a wide margin on a busy machine.
    assert elapsed < 4 * len(text) * len(path) * 2e-6 + 0.5, elapsed


def test_content_hash_uses_dockers_matcher(tmp_path: Path) -> None:
    # `*.md` leaves out README.md at the root, not docs/a.md (Docker anchors patterns).
    from pytest_shipready.dockerfile import context

    root = tmp_path / "ctx"
    _context(root, {"Dockerfile": "FROM python:3.11-slim\nCOPY . /app\n", "README.md": "x",
                    "docs/a.md": "x", ".dockerignore": "*.md\n"})
    first = context.content_hash(root, root / "Dockerfile", "", {})
    (root / "README.md").write_text("changed")
    assert context.content_hash(root, root / "Dockerfile", "", {}) == first
    (root / "docs" / "a.md").write_text("changed")
    assert context.content_hash(root, root / "Dockerfile", "", {}) != first


# --- install analysis: the Dockerfile's environment and shell forms --------------------


def steps_of(text: str) -> list[installs.InstallStep]:
    df = parse(text)
    return installs.install_steps(df, df.needed(df.stages[-1]))


UV_LOCK = [hygiene.KnownLock("uv.lock", hashed=True)]
POETRY_LOCK = [hygiene.KnownLock("poetry.lock", hashed=True)]


@pytest.mark.parametrize("run", [
    "RUN if [ -f requirements.txt ]; then pip install -r requirements.txt; fi",
    "RUN for f in requirements.txt; do pip install --no-deps -r $f; done",
    "RUN sh -c \"pip install -r requirements.txt\"",
    "RUN set -eux && apt-get update && bash -lc 'pip install -r requirements.txt' && true",
    "RUN ! pip install -r requirements.txt || { echo failed; exit 1; }",
])
def test_installs_in_shell_forms_are_found(run: str) -> None:
    text = f"FROM python:3.11\nCOPY requirements.txt .\n{run}\n"
    found = [s for s in steps_of(text) if s.files]
    assert [(s.tool, s.files[0] in ("requirements.txt", "$f")) for s in found] == [
        ("pip", True)], run
    if "$f" not in run:
        assert lock_used(text).status is Status.PASSED, messages(lock_used(text))


def test_shell_form_install_outside_the_lock_is_named() -> None:
    result = lock_used("FROM python:3.11\nRUN pip install -r requirements.txt && "
                       "if true; then sh -c 'pip install gunicorn'; fi\n")
    assert messages(result) == ["Dockerfile:2: `pip install gunicorn` installs gunicorn "
                                "outside the lock"]


def test_arg_and_env_values_are_expanded_in_run_lines() -> None:
    # An ARG with a default and an ENV: the pip exemption and allowed_installs see the
    # names the shell will see.
    text = """
        FROM python:3.11-slim
        ARG PIP_MIN=24.0
        ENV SERVER=gunicorn
        RUN pip install "pip>=${PIP_MIN}" && pip install --no-deps -r requirements.txt
        RUN pip install "$SERVER==23.0"
        """
    (pip_step, _, server) = steps_of(text)
    assert pip_step.packages == ("pip>=24.0",)
    assert server.packages == ("gunicorn==23.0",)
    result = lock_used(text)
    assert messages(result) == ['Dockerfile:5: `pip install "$SERVER==23.0"` installs '
                                "gunicorn outside the lock"]
    assert lock_used(text, allowed=["gunicorn"]).status is Status.PASSED
    # Without a value the name is still read; single quotes are left alone by the shell.
    bare = lock_used("FROM python:3.11\nARG PIP_MIN\nRUN pip install 'pip>=$PIP_MIN' "
                     "&& pip install -r requirements.txt\n")
    assert bare.status is Status.PASSED, messages(bare)
    # A variable exported earlier in the same RUN.
    (_, exported) = steps_of("FROM python:3.11\nRUN export PKG=flask && pip install -r "
                             "requirements.txt && pip install $PKG\n")
    assert exported.packages == ("flask",)


def test_uv_variables_count_as_the_options_they_stand_for() -> None:
    text = """
        FROM python:3.11-slim
        ENV UV_NO_DEV=1 UV_LOCKED=1 UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1
        RUN uv sync
        """
    (step,) = steps_of(text)
    assert step.options == ("--no-dev", "--locked", "sync")
    assert step.settings == ("UV_NO_DEV=1", "UV_LOCKED=1")
    assert step.environment == "/opt/venv" and step.root
    assert step.described == "uv sync` with `UV_NO_DEV=1 UV_LOCKED=1"
    assert step.problem == ""
    result = lock_used(text, UV_LOCK)
    assert result.status is Status.PASSED, messages(result)
    sel = lockselect.from_command("uv", step.verb, step.options,
                                  {"dependency-groups": {"dev": []}}, "here")
    assert sel.groups == frozenset()
    # The same variables given on the command line, and false values, which uv ignores.
    (inline,) = steps_of("FROM python:3.11\nRUN UV_FROZEN=true uv sync --no-install-project\n")
    assert (inline.problem, inline.root) == ("", False)
    off = lock_used("FROM python:3.11\nENV UV_LOCKED=0\nRUN uv sync\n", UV_LOCK)
    assert messages(off) == [
        "Dockerfile:3: `uv sync` without --locked or --frozen (or UV_LOCKED=1 / "
        "UV_FROZEN=1) may update uv.lock during the build"]


def test_poetry_root_and_environment_settings() -> None:
    (step,) = steps_of("FROM python:3.11\nENV POETRY_VIRTUALENVS_CREATE=false\n"
                       "ARG WITHOUT=dev\nRUN poetry install --without ${WITHOUT}\n")
    assert step.root and step.environment == "the system interpreter"
    assert step.options == ("install", "--without", "dev")
    (no_root,) = steps_of("FROM python:3.11\nRUN poetry install --no-root --only main\n")
    assert not no_root.root


def test_poetry_export_without_hashes_is_the_gap_named() -> None:
    text = """
        FROM python:3.11-slim
        RUN pip install poetry poetry-plugin-export
        COPY pyproject.toml poetry.lock ./
        RUN poetry export --without-hashes -f requirements.txt > requirements.txt
        RUN pip wheel --no-deps -r requirements.txt -w /wheels && \\
            pip install --no-index --find-links /wheels -r requirements.txt
        """
    result = lock_used(text, POETRY_LOCK)
    assert result.status is Status.FAILED
    assert messages(result) == [
        "Dockerfile:5: `pip wheel --no-deps -r requirements.txt -w /wheels` fetches "
        "requirements.txt, which `poetry export --without-hashes -f requirements.txt > "
        "requirements.txt` (line 4) writes without hashes, so pip checks none of "
        "poetry.lock's hashes",
        "Dockerfile:6: `pip install --no-index --find-links /wheels -r requirements.txt` "
        "installs requirements.txt, which `poetry export --without-hashes -f "
        "requirements.txt > requirements.txt` (line 4) writes without hashes, so pip "
        "checks none of poetry.lock's hashes"]
    assert "neither --require-hashes nor hashes in poetry.lock" not in repr(result)
    hashed = lock_used(text.replace("--without-hashes ", ""), POETRY_LOCK)
    assert hashed.status is Status.PASSED, messages(hashed)


def test_bootstrap_of_the_packaging_tools_is_allowed() -> None:
    # One verdict with SR402 (installs.BOOTSTRAP): pip, setuptools and wheel by name are
    # not installs outside the lock.
    text = ("FROM python:3.11-slim\nRUN pip install --upgrade pip setuptools wheel && "
            "pip install --no-deps -r requirements.txt\n")
    result = lock_used(text)
    assert result.status is Status.PASSED, messages(result)
    from pytest_shipready.container.inspect import parity
    assert set(installs.BOOTSTRAP) <= parity.ALWAYS_ALLOWED
