"""`pytest --shipready` on the example service and broken copies: the dockerfile items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NODES = [
    "shipready::dockerfile::Dockerfile::base-pinned",
    "shipready::dockerfile::Dockerfile::non-root-user",
    "shipready::dockerfile::Dockerfile::healthcheck",
    "shipready::dockerfile::Dockerfile::no-secrets",
    "shipready::dockerfile::Dockerfile::lock-used",
    "shipready::dockerfile::Dockerfile::dockerignore",
    "shipready::dockerfile::Dockerfile::start-command",
    "shipready::dockerfile::Dockerfile::production-server",
    "shipready::dockerfile::Dockerfile::no-migrate-on-start",
]


def run(pytester: pytest.Pytester, project: Path, *args: str, subprocess: bool = False
        ) -> pytest.RunResult:
    runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    return runner(
        "--shipready", "--shipready-offline", f"--shipready-project={project}",
        "-k", "dockerfile", "-p", "no:cacheprovider", "-p", "no:randomly", "-rfs", *args,
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_example_passes_every_item(pytester: pytest.Pytester, example: Path) -> None:
    result = run(pytester, example, "-v")
    result.assert_outcomes(passed=9)
    for node in NODES:
        result.stdout.fnmatch_lines([f"{node} PASSED*"])
    result.stdout.fnmatch_lines([
        "*SR202*non-root-user*PASSED*USER app (line 14)",
        "*SR205*lock-used*PASSED*pip installs requirements.txt with hashes (line 10)",
    ])


def test_user_line_removed_fails_sr202(pytester: pytest.Pytester, example: Path) -> None:
    edit(example / "Dockerfile", "USER app\n", "")
    result = run(pytester, example)
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines([
        "*SR202 non-root-user: no USER in the final stage: it runs as root",
        "*Dockerfile:1: the final stage (stage 0, built on python:3.11-slim) never sets USER, "
        "so the container runs as python:3.11-slim's default user: root*",
        "*fix: Add `RUN useradd --system --uid 10001 app` and `USER app`*",
        "FAILED shipready::dockerfile::Dockerfile::non-root-user*",
    ])


def test_extra_pip_install_fails_sr205(pytester: pytest.Pytester, example: Path) -> None:
    dockerfile = example / "Dockerfile"
    edit(dockerfile, "COPY app/ app/\n", "COPY app/ app/\nRUN pip install requests\n")
    line = dockerfile.read_text().splitlines().index("RUN pip install requests") + 1
    result = run(pytester, example)
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines([
        "*SR205 lock-used: 1 package installed outside the lock",
        f"*Dockerfile:{line}: `pip install requests` installs requests outside the lock",
    ])


def test_latest_base_fails_sr201(pytester: pytest.Pytester, example: Path) -> None:
    edit(example / "Dockerfile", "FROM python:3.11-slim", "FROM python:latest")
    result = run(pytester, example)
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines([
        "*SR201 base-pinned: 1 of 1 base image not pinned",
        "*Dockerfile:1: FROM python:latest uses :latest*",
    ])


def test_secret_env_fails_sr204_without_its_value(pytester: pytest.Pytester, example: Path
                                                   ) -> None:
    edit(example / "Dockerfile", "WORKDIR /srv\n", "WORKDIR /srv\nENV API_TOKEN=abc\n")
    report = pytester.path / "report.json"
    result = run(pytester, example, f"--shipready-report={report}")
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines([
        "*SR204 no-secrets: 1 secret-looking name in ARG/ENV",
        "*Dockerfile:8: ENV API_TOKEN looks like a secret (TOKEN)*",
        "*RUN --mount=type=secret*",
    ])
    assert "abc" not in result.stdout.str()
    assert "abc" not in report.read_text()


def test_no_dockerfile_skips_with_the_reason(pytester: pytest.Pytester, example: Path) -> None:
    (example / "Dockerfile").unlink()
    result = run(pytester, example)
    result.assert_outcomes(skipped=9)
    result.stdout.fnmatch_lines([
        "SKIPPED *no Dockerfile at Dockerfile: the project does not seem to ship a container "
        "image*",
    ])


def test_required_dockerfile_missing_fails_once(pytester: pytest.Pytester, example: Path
                                                ) -> None:
    (example / "Dockerfile").unlink()
    with (example / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.shipready.dockerfile]\nrequired = true\n'
                 '[tool.shipready.image]\ndockerfile = "docker/Dockerfile"\n')
    result = run(pytester, example)
    result.assert_outcomes(failed=1, skipped=8)
    result.stdout.fnmatch_lines([
        "*SR201 base-pinned: no Dockerfile",
        f"*looked for {example / 'docker' / 'Dockerfile'}*",
    ])


def test_config_digest_and_target(pytester: pytest.Pytester, example: Path) -> None:
    with (example / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.shipready.dockerfile]\npin = "digest"\n'
                 '[tool.shipready.image]\ntarget = "prod"\n')
    result = run(pytester, example)
    result.assert_outcomes(failed=1, skipped=8)
    result.stdout.fnmatch_lines(["*target stage 'prod' is not in the Dockerfile*"])
    edit(example / "Dockerfile", "FROM python:3.11-slim", "FROM python:3.11-slim AS prod")
    result = run(pytester, example)
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines(['*FROM python:3.11-slim is pinned by tag only*'])


def test_unknown_config_key_is_a_usage_error(pytester: pytest.Pytester, example: Path
                                             ) -> None:
    with (example / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.shipready.dockerfile]\npinned = "tag"\n')
    result = run(pytester, example, subprocess=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert ("[tool.shipready.dockerfile] unknown key 'pinned' (did you mean 'pin'?)"
            in result.stderr.str())


def test_unparsable_dockerfile_fails_base_pinned_only(pytester: pytest.Pytester,
                                                      example: Path) -> None:
    edit(example / "Dockerfile", "WORKDIR /srv", "WORKDIRR /srv")
    result = run(pytester, example)
    result.assert_outcomes(failed=1, skipped=8)
    result.stdout.fnmatch_lines([
        "*SR201 base-pinned: Dockerfile cannot be used as it is",
        "*Dockerfile:7: unknown instruction 'WORKDIRR'*",
    ])


def test_report_has_the_dockerfile_results(pytester: pytest.Pytester, example: Path) -> None:
    report = pytester.path / "r.json"
    run(pytester, example, f"--shipready-report={report}").assert_outcomes(passed=9)
    data = json.loads(report.read_text())
    ours = [r for r in data["results"] if r["area"] == "dockerfile"]
    assert [r["check_id"] for r in ours] == [
        "SR201", "SR202", "SR203", "SR204", "SR205", "SR206", "SR207", "SR208", "SR209"]


MULTI_STAGE = """\
# syntax=docker/dockerfile:1.4
ARG PYTHON=python:3.11-slim
FROM ${PYTHON} AS build
COPY requirements.txt /tmp/deps.txt
RUN --mount=type=cache,target=/root/.cache/pip <<EOF
set -e
python -m venv /venv
/venv/bin/pip install --require-hashes -r /tmp/deps.txt
EOF

FROM build AS test
RUN /venv/bin/pip install pytest

FROM ${PYTHON} AS final
COPY --from=build /venv /venv
COPY app/ /srv/app/
WORKDIR /srv
RUN useradd --system --uid 10001 app
USER 10001:10001
HEALTHCHECK CMD ["/venv/bin/python", "-m", "app.healthcheck"]
CMD ["/venv/bin/python", "-m", "app"]
"""


def test_multi_stage_buildkit_dockerfile(pytester: pytest.Pytester, example: Path) -> None:
    (example / "Dockerfile").write_text(MULTI_STAGE)
    run(pytester, example).assert_outcomes(passed=9)
    # The test stage installs pytest outside the lock and runs as root: as the target, it
    # fails both.
    with (example / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.shipready.image]\ntarget = "test"\n')
    result = run(pytester, example)
    # It has no CMD either (SR207), so there is no start command for SR208/SR209 to check.
    result.assert_outcomes(passed=3, failed=4, skipped=2)
    result.stdout.fnmatch_lines([
        "*SR207 start-command: no CMD or ENTRYPOINT in target stage 'test': it runs "
        "python:3.11-slim's"])
    result.stdout.fnmatch_lines([
        "*SR202 non-root-user: no USER in target stage 'test': it runs as root",
        "*SR203 healthcheck: no HEALTHCHECK in target stage 'test'",
        "*Dockerfile:12: `/venv/bin/pip install pytest` installs pytest outside the lock",
    ])


def test_parse_is_shared_with_other_areas(example: Path) -> None:
    from pytest_shipready.checks import Options, RunContext
    from pytest_shipready.config import load
    from pytest_shipready.dockerfile import area

    context = RunContext()
    area.plan(load(example), Options(offline=True), context)
    parsed = context.shared[area.SHARED_KEY]()  # type: ignore[operator]
    stage = parsed.target()
    assert parsed.exposed(stage) == [(8000, "tcp")]
    assert not parsed.uses_buildkit()


def test_dockerignore_judges_the_context_as_it_is(pytester: pytest.Pytester,
                                                   example: Path) -> None:
    # A Dockerfile that copies the whole context, a .env and a key next to the code, and
    # `.git/*` (which leaves .git's contents out). No venv/: no line needed for it.
    edit(example / "Dockerfile", "COPY app/ app/\n", "COPY . .\n")
    (example / ".dockerignore").write_text(".git/*\n__pycache__\n")
    (example / ".git").mkdir()
    (example / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (example / ".env").write_text("API_TOKEN=not-for-the-image\n")
    (example / "deploy").mkdir()
    (example / "deploy" / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    result = run(pytester, example)
    result.assert_outcomes(passed=8, failed=1)
    line = (example / "Dockerfile").read_text().splitlines().index("COPY . .") + 1
    result.stdout.fnmatch_lines([
        "*SR206 dockerignore: 2 paths not left out of the build context",
        f"*.dockerignore: .env looks like a secret (a dotenv file) and is sent to the "
        f"builder; `COPY . .` (line {line}) copies it into the image",
        f"*.dockerignore: deploy/server.pem looks like a secret (a PEM key or certificate) "
        f"and is sent to the builder; `COPY . .` (line {line}) copies it into the image",
    ])
    assert "not-for-the-image" not in result.stdout.str()
    assert ".git is not left out" not in result.stdout.str()
    assert "venv" not in result.stdout.str().split("SR206", 1)[1].split("\n")[0]
    (example / ".dockerignore").write_text(".git/\n**/.env\n**/*.pem\n")
    fixed = run(pytester, example, "-v")
    fixed.assert_outcomes(passed=9)
    fixed.stdout.fnmatch_lines(["*dockerignore PASSED*leaves out .git; .venv, venv not in "
                                "the context; no secret-looking file copied*"])


def test_dockerignore_names_the_runs_own_report_in_the_context(pytester: pytest.Pytester,
                                                                example: Path) -> None:
    """--shipready-report into a context that `COPY . .` copies: every run's report (and
    SBOM) would make a new image; said on the first run already."""
    edit(example / "Dockerfile", "COPY app/ app/\n", "COPY . .\n")
    result = run(pytester, example, f"--shipready-report={example / 'out' / 'report.json'}")
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines([
        "*SR206 dockerignore: 2 paths not left out of the build context",
        "*.dockerignore: out/report.json (--shipready-report) is written into the build "
        "context and `COPY . .` (line *) copies it into the image*",
        "*.dockerignore: out/report.cdx.json (--shipready-report's SBOM) is written*"])
    outside = run(pytester, example, f"--shipready-report={pytester.path / 'report.json'}")
    outside.assert_outcomes(passed=9)
