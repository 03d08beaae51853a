"""Installs under shell conditions (issue 21, item 4): `if [ "$DEVEL" = "yes" ]; then pip
install -r dev.txt; fi` with `ARG DEVEL=no` is not in the image, and SR205 / SR402 say
which condition kept it out, with the value it took. Unit tests of the evaluation, the
static SR205 item through pytester, and SR402 against the real image."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready.dockerfile import installs, parser

FIXTURES = Path(__file__).parent / "fixtures"


def steps(text: str, **build_args: str) -> dict[str, installs.InstallStep]:
    df = parser.parse(text, build_args=build_args)
    return {s.text: s for s in installs.install_steps(df, [df.stages[-1]])}


HEAD = "FROM python:3.11-slim\nARG DEVEL=no\nARG DEBUG_TOOLS\nARG EXTRAS=base\n"


def test_if_with_an_arg_default_does_not_run() -> None:
    found = steps(HEAD + 'RUN if [ "$DEVEL" = "yes" ]; then pip install -r dev.txt; '
                  "else pip install -r prod.txt; fi\n")
    dev, prod = found["pip install -r dev.txt"], found["pip install -r prod.txt"]
    assert dev.runs is False
    assert dev.condition == ('`[ "$DEVEL" = "yes" ]` (line 5) is false: DEVEL=no (ARG '
                             "default, line 2)")
    assert prod.runs is True


def test_a_build_arg_decides_it() -> None:
    found = steps(HEAD + 'RUN if [ "$DEVEL" = "yes" ]; then pip install -r dev.txt; '
                  "else pip install -r prod.txt; fi\n", DEVEL="yes")
    assert found["pip install -r dev.txt"].runs is True
    assert found["pip install -r prod.txt"].runs is False
    assert "DEVEL=yes (build arg)" in found["pip install -r prod.txt"].condition


@pytest.mark.parametrize(("run", "expected"), [
    # an ARG without a default and not passed is unset: the default word applies
    ('[ "${DEBUG_TOOLS:-no}" = "yes" ] && pip install ipdb || true', False),
    ('test -n "$DEBUG_TOOLS" && pip install ipdb', False),
    ('test -z "$DEBUG_TOOLS" || pip install ipdb', False),
    ('[ "$EXTRAS" != base ] && pip install ipdb', False),
    ('[ "$EXTRAS" = base ] && pip install ipdb', True),
    ('case "$EXTRAS" in full|all) pip install ipdb ;; esac', False),
    ('case "$EXTRAS" in \\\n  b*) pip install ipdb ;; \\\n  *) ;; \\\nesac', True),
    ('<<EOF\ncase "$EXTRAS" in\n  b*) pip install ipdb ;;\n  *) ;;\nesac\nEOF', True),
    ('case "$EXTRAS" in full) ;; *) pip install ipdb ;; esac', True),
    ('if ! [ "$EXTRAS" = base ]; then pip install ipdb; fi', False),
    ('if [ "$EXTRAS" = x ]; then :; elif [ "$DEVEL" = no ]; then pip install ipdb; fi', True),
    ('export MODE=prod && if [ "$MODE" = dev ]; then pip install ipdb; fi', False),
    ('sh -c \'if [ "$DEVEL" = yes ]; then pip install ipdb; fi\'', False),
    ('[ "$DEVEL" = yes ] && (pip install ipdb; pip install ipdb)', False),
    ('if [ "$DEVEL" = yes -o "$EXTRAS" = base ]; then pip install ipdb; fi', True),
    ('pip install -r a.txt || pip install ipdb', True),  # no test: counted, as before
])
def test_conditions_decided(run: str, expected: bool) -> None:
    found = steps(HEAD + f"RUN {run}\n")
    assert [s.runs for s in found.values() if "ipdb" in s.packages] == \
        [expected] * len([s for s in found.values() if "ipdb" in s.packages]), found
    assert any("ipdb" in s.packages for s in found.values())


@pytest.mark.parametrize(("run", "why"), [
    ('if [ "$HOST_ENV" = dev ]; then pip install ipdb; fi', "HOST_ENV is not set by the "
     "Dockerfile"),
    ("if [ -f requirements/dev.txt ]; then pip install ipdb; fi", "tests the image's files"),
    ('if [ "$(uname -m)" = x86_64 ]; then pip install ipdb; fi', "command substitution"),
    ('if [[ "$EXTRAS" == b* ]]; then pip install ipdb; fi', "`[[` is bash's"),
])
def test_undecidable_conditions_say_so(run: str, why: str) -> None:
    (step,) = steps(HEAD + f"RUN {run}\n").values()
    assert step.runs is None
    assert "cannot be decided from the Dockerfile" in step.condition and why in step.condition


def test_double_brackets_under_bash() -> None:
    text = HEAD + 'SHELL ["/bin/bash", "-c"]\nRUN if [[ "$EXTRAS" == b* && -z "$DEBUG_TOOLS" ]];' \
        " then pip install ipdb; fi\n"
    (step,) = steps(text).values()
    assert step.runs is True, step.condition


def test_secret_values_are_not_told() -> None:
    (step,) = steps("FROM python:3.11-slim\nARG API_TOKEN=s3cr3t-value\n"
                    'RUN [ "$API_TOKEN" = x ] && pip install ipdb\n').values()
    assert step.runs is False
    assert "s3cr3t-value" not in step.condition and "API_TOKEN=" in step.condition


# --- SR205 as users run it -------------------------------------------------------------


def sample(tmp_path: Path, name: str = "conditional-installs") -> Path:
    target = tmp_path / name.replace("-", "")
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc", "pyproject.toml"))
    shutil.copytree(FIXTURES / name, target, dirs_exist_ok=True)
    return target


def test_lock_used_passes_and_names_the_installs_not_run(pytester: pytest.Pytester,
                                                        tmp_path: Path) -> None:
    project = sample(tmp_path)
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR205", "-rA",
                                "-p", "no:cacheprovider", "-p", "no:randomly", "-v")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()  # (brackets: not fnmatch patterns)
    assert (
        "SR205  Dockerfile › lock-used  PASSED   pip installs requirements.txt with hashes "
        "(line 15); not "
        "run in this build: `pip install --no-cache-dir --no-deps --require-hashes -r "
        'requirements-dev.txt` (line 17), as `[ "$DEVEL" = "yes" ]` (line 16) is false: '
        "DEVEL=no (ARG default, line 7); `pip install --no-cache-dir ipdb` (line 19), as "
        '`[ "${DEBUG_TOOLS:-no}" = "yes" ]` (line 19) is false: DEBUG_TOOLS unset (ARG '
        "without a default, not passed as a build arg); `pip install --no-cache-dir "
        'debugpy` (line 21), as `case "$DEVEL" in yes|true)` (line 20) is false: DEVEL=no '
        "(ARG default, line 7)\n") in out, out


def test_lock_used_with_the_build_arg_judges_what_then_runs(pytester: pytest.Pytester,
                                                           tmp_path: Path) -> None:
    project = sample(tmp_path)
    with (project / "pyproject.toml").open("a") as f:
        f.write('\n[tool.shipready.image]\nbuild_args = { DEVEL = "yes" }\n')
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                f"--shipready-project={project}", "-k", "SR205",
                                "-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert ("SR205 lock-used: 1 package installed outside the lock; not run in this build: "
            "`pip install --no-cache-dir ipdb` (line 19)") in out, out
    assert ("Dockerfile:21: `pip install --no-cache-dir debugpy` installs debugpy outside "
            "the lock") in out, out


# --- SR402 against the image -----------------------------------------------------------


@pytest.mark.docker
def test_parity_does_not_expect_the_development_lock(tmp_path: Path) -> None:
    from test_validation_shapes import readiness

    project = sample(tmp_path)
    proc, results = readiness(project, "-k", "SR205 or SR402")
    packages = results["parity::packages"]
    assert packages["status"] == "passed", (packages, proc.stdout[-3000:])
    summary = str(packages["summary"])
    assert summary.startswith("1 locked package installed at the locked versions"), summary
    assert ("not run in this build: `pip install --no-cache-dir --no-deps --require-hashes "
            '-r requirements-dev.txt` (line 17), as `[ "$DEVEL" = "yes" ]` (line 16) is '
            "false: DEVEL=no (ARG default, line 7)") in summary
    assert results["dockerfile::Dockerfile::lock-used"]["status"] == "passed"
    assert proc.returncode == 0, proc.stdout[-3000:]
