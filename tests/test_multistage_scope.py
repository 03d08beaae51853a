"""Multi-stage scope (issue 21, item 5): SR205, SR206 and SR220 judge what reaches the
stage that ships. A `.git` that a builder stage reads for the version, PEM test fixtures
and a build tool installed in the builder are not "copied into the image": SR206 and
SR205 say so in a note, never a FAIL whose fix (.dockerignore) would break the builder;
when the image does take them, the fix narrows its own `COPY . .`, and SR206 names that
instruction, not the first COPY of the file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready.checks import Status
from pytest_shipready.dockerfile import hygiene, parser, scope

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n"


def sample(tmp_path: Path) -> Path:
    target = tmp_path / "multistagescm"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc", "pyproject.toml", ".dockerignore"))
    shutil.copytree(FIXTURES / "multistage-scm", target, dirs_exist_ok=True)
    (target / "tests" / "fixtures").mkdir(parents=True)
    (target / "tests" / "fixtures" / "server.key").write_text(KEY)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=target, check=True)
    subprocess.run([*git, "add", "-A"], cwd=target, check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], cwd=target, check=True)
    return target


BUILDER = """\
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip install build setuptools_scm && python -m build --wheel -o /wheels
FROM python:3.11-slim AS test
COPY . /t
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-deps --require-hashes -r requirements.txt
COPY --from=build /wheels /wheels
"""


def test_what_reaches_the_shipped_stage() -> None:
    df = parser.parse(BUILDER)
    took = scope.taken(df, None, ".git")
    assert not took.shipped
    # every stage that takes it from the context, also one the target does not need
    assert took.builders_told() == ("stage 'build' (`COPY . .` (line 3)), stage 'test' "
                                    "(`COPY . /t` (line 6))")
    assert [c.told for c in scope.taken(df, None, "requirements.txt").shipped] == \
        ["`COPY requirements.txt .` (line 9)"]
    # the image takes the builder's whole tree: .git reaches it
    whole = parser.parse(BUILDER + "COPY --from=build /src /app/src\n")
    assert [c.told for c in scope.taken(whole, None, ".git").shipped] == \
        ["`COPY . .` (line 3)"]
    # as the target, the test stage ships
    assert [c.stage.name for c in scope.taken(df, "test", ".git").shipped] == ["test"]


def test_build_tools_installed_only_in_a_builder_are_a_note() -> None:
    df = parser.parse(BUILDER)
    lock = [hygiene.KnownLock("requirements.txt", True)]
    result = hygiene.check_lock_used(df, lock)
    assert result.status == Status.PASSED, result
    assert result.summary.endswith(
        "; installed by name only in a stage the image does not copy them from: build "
        "(stage 'build', line 4), setuptools-scm (stage 'build', line 4)")
    # a virtualenv the image copies over carries what the builder installs into it
    venv = parser.parse(BUILDER.replace(
        "RUN pip install build", "RUN python -m venv /opt/venv && /opt/venv/bin/pip "
        "install gunicorn && pip install build") + "COPY --from=build /opt/venv /opt/venv\n")
    failed = hygiene.check_lock_used(venv, lock)
    assert failed.status == Status.FAILED
    assert [f.message for f in failed.findings] == [
        "`/opt/venv/bin/pip install gunicorn` installs gunicorn outside the lock"]


def test_dockerignore_notes_what_only_a_builder_takes(pytester: pytest.Pytester,
                                                     tmp_path: Path) -> None:
    project = sample(tmp_path)
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR205 or SR206",
                                "-p", "no:cacheprovider", "-p", "no:randomly", "-rA")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert ("note: .git is sent to the builder and taken only by stage 'build' (`COPY . .` "
            "(line 8)), not into the image that ships (a cost in context transfer; leave "
            "it if that stage needs it); 1 secret-looking file taken only by a stage that "
            "does not ship: tests/fixtures/server.key (stage 'build' (`COPY . .` (line 8)))"
            ) in out, out
    assert ("; installed by name only in a stage the image does not copy them from: "
            "iniconfig (stage 'build', line 9)") in out, out


def test_the_image_copying_the_context_names_its_own_copy(pytester: pytest.Pytester,
                                                         tmp_path: Path) -> None:
    project = sample(tmp_path)
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("COPY app/ app/", "COPY . ."))
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR206",
                                "-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    line = dockerfile.read_text().splitlines().index("COPY . .", 10) + 1
    assert (f".git is not left out: no pattern matches it; `COPY . .` (line {line}) copies "
            "it into the image") in out, out
    assert (f"copy only what the image needs instead of `COPY . .` (line {line})") in out
    assert (f"tests/fixtures/server.key looks like a secret (a private key) and is sent to "
            f"the builder; `COPY . .` (line {line}) copies it into the image") in out, out


@pytest.mark.docker
def test_against_the_engine(tmp_path: Path) -> None:
    from test_validation_shapes import readiness

    project = sample(tmp_path)
    proc, results = readiness(project, "-k", "SR205 or SR206 or SR210 or SR220")
    assert results["image::build"]["status"] == "passed", proc.stdout[-3000:]
    for node in ("dockerfile::Dockerfile::lock-used", "dockerfile::Dockerfile::dockerignore",
                 "image::contents-secrets"):
        assert results[node]["status"] == "passed", (node, results[node])
    assert "note: .git is sent to the builder" in str(
        results["dockerfile::Dockerfile::dockerignore"]["summary"])
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.docker
def test_git_in_the_image_gets_a_fix_that_keeps_the_builder(tmp_path: Path) -> None:
    from test_validation_shapes import readiness

    project = sample(tmp_path)
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("COPY app/ app/", "COPY . ."))
    proc, results = readiness(project, "-k", "SR220")
    secrets = results["image::contents-secrets"]
    assert secrets["status"] == "failed", (secrets, proc.stdout[-3000:])
    hints = {f["message"].split(" ")[0]: f["hint"] for f in secrets["findings"]}  # type: ignore[union-attr]
    assert set(hints) == {"/srv/.git", "/srv/tests/fixtures/server.key"}, hints
    for hint in hints.values():
        assert ("If stage 'build' (`COPY . .` (line 8)) needs it from the build context"
                in hint), hint
