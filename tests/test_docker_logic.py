"""Pure logic of the image, smoke and parity areas (no engine), and the no-engine run."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLE
from pytest_shipready.checks import Status
from pytest_shipready.container.build import image as build
from pytest_shipready.container.inspect import parity
from pytest_shipready.container.run import smoke
from pytest_shipready.dockerfile import context as dockerfile
from pytest_shipready.locks import pipcompile

# --- dockerfile ------------------------------------------------------------------------


def test_instructions_join_continuations_and_skip_comments() -> None:
    text = "# c\nFROM python:3.11-slim\n\nRUN a \\\n  # inner\n  && b\nUSER app\n"
    found = dockerfile.instructions(text)
    assert [(i.line, i.keyword) for i in found] == [(2, "FROM"), (4, "RUN"), (7, "USER")]
    assert found[1].text == "RUN a && b"


@pytest.mark.parametrize(("text", "why"), [
    ("FROM x\nRUN --mount=type=cache,target=/root/.cache pip install -r r.txt\n",
     "line 2: RUN --mount type=cache"),
    ("FROM x\nRUN --network=none \\\n  --mount=type=secret,id=t true\n",
     "line 2: RUN --mount type=secret"),
    ("# syntax=docker/dockerfile:1\nFROM x\n", "line 1: # syntax=docker/dockerfile:1"),
    ("FROM x\nRUN <<EOF\necho hi\nEOF\n", "line 2: RUN heredoc <<EOF"),
    ("FROM x\nCOPY --link a b\n", "line 2: COPY --link"),
])
def test_needs_buildkit(text: str, why: str) -> None:
    found = dockerfile.needs_buildkit(text)
    assert found == why


def test_classic_dockerfile_needs_no_buildkit() -> None:
    assert dockerfile.needs_buildkit((EXAMPLE / "Dockerfile").read_text()) is None


def test_failing_step_maps_classic_step_to_its_line() -> None:
    text = "FROM x\n# c\nRUN ok\nRUN \\\n  bad\n"
    log = ["Step 1/3 : FROM x", " ---> abc", "Step 3/3 : RUN bad", "boom"]
    assert dockerfile.failing_step(log, text) == ("RUN bad", 4)
    assert dockerfile.step_output(log, "") == ["boom"]


def test_failing_step_from_buildkit_excerpt() -> None:
    log = ["#7 [3/4] RUN false", "------", "   3 |     RUN ok", "   4 | >>> RUN false",
           "ERROR: failed to solve: process did not complete successfully: exit code: 1"]
    assert dockerfile.failing_step(log, "FROM x\nRUN ok\n\nRUN false\n") == ("RUN false", 4)


def test_content_hash_follows_content_and_dockerignore(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "a")
    df = tmp_path / "a" / "Dockerfile"
    first = dockerfile.content_hash(tmp_path / "a", df, "", {})
    (tmp_path / "a" / ".venv").mkdir()
    (tmp_path / "a" / ".venv" / "x").write_text("ignored")
    assert dockerfile.content_hash(tmp_path / "a", df, "", {}) == first
    assert dockerfile.content_hash(tmp_path / "a", df, "", {"A": "1"}) != first
    (tmp_path / "a" / "app" / "new.py").write_text("x = 1\n")
    second = dockerfile.content_hash(tmp_path / "a", df, "", {})
    assert second != first
    (tmp_path / "a" / ".dockerignore").write_text("app/new.py\n")
    third = dockerfile.content_hash(tmp_path / "a", df, "", {})
    # app/new.py left out again: the build uses what it used at first (the ignore file
    # itself is sent, but no COPY takes it)
    assert third == first
    (tmp_path / "a" / "app" / "new.py").write_text("x = 2\n")
    assert dockerfile.content_hash(tmp_path / "a", df, "", {}) == third


# --- smoke verdicts --------------------------------------------------------------------


def test_shutdown_verdicts() -> None:
    ok = smoke.shutdown_verdict(0, 0.3, 10, (0,), "SIGTERM", b"")
    assert ok.status == Status.PASSED
    killed = smoke.shutdown_verdict(137, 10.2, 10, (0,), "SIGTERM", b"a\nb\n")
    assert killed.status == Status.FAILED
    assert killed.summary == "ignored SIGTERM, killed after the 10 s grace period"
    assert "exit code 137" in killed.findings[0].message
    other = smoke.shutdown_verdict(143, 0.1, 10, (0,), "SIGTERM", b"")
    assert other.status == Status.FAILED and "signal 15" in other.summary
    assert smoke.shutdown_verdict(143, 0.1, 10, (0, 143), "SIGTERM", b"").status \
        == Status.PASSED


def test_uid_from_proc_status() -> None:
    status = "Name:\tpython\nUid:\t0\t10001\t10001\t10001\nGid:\t0\t0\t0\t0\n"
    assert smoke.uid_from_status(status) == "10001"
    assert smoke.uid_from_status("Name: x\n") == ""


def test_uid_verdicts() -> None:
    assert smoke.uid_verdict("10001\n", "app").status == Status.PASSED
    assert smoke.uid_verdict("0\n", "").status == Status.FAILED
    assert smoke.uid_verdict("", "root").status == Status.FAILED
    # No way to read the running uid: not verified, so not a pass.
    assert smoke.uid_verdict("", "app").status == Status.SKIPPED


def test_log_tail_keeps_the_last_lines() -> None:
    text = smoke.tail(b"\n".join(b"line %d" % i for i in range(50)), 5)
    assert text.startswith("last 5 of 50 log lines:") and text.endswith("line 49")


def test_command_verdicts_name_the_failing_command() -> None:
    result = smoke.command_verdicts([
        (["app", "--version"], 0, 0, r"\d+\.\d+", b"app 1.2\n"),
        (["app", "migrate"], 0, 1, "", b"no database\n"),
        (["app", "--help"], 0, 0, "usage", b"nothing\n"),
    ])
    assert result.status == Status.FAILED and result.summary.startswith("2 of 3")
    assert "`app migrate` exited 1" in result.findings[0].message
    assert "does not match /usage/" in result.findings[1].message


# --- parity ----------------------------------------------------------------------------


def facts(dists: dict[str, str], python: str = "3.11.2") -> parity.ImageFacts:
    output = json.dumps({"python": python, "dists": [[n, v] for n, v in dists.items()],
                         "env": {"PORT": "8000"}, "markers": {}})
    return parity.parse_probe("a warning first\n" + output)


# The marker environment of a python:3.11 image on x86_64 Linux, as the probe reports it.
LINUX = {"implementation_name": "cpython", "implementation_version": "3.11.2",
         "os_name": "posix", "platform_machine": "x86_64", "platform_release": "6.1.0",
         "platform_system": "Linux", "platform_version": "#1 SMP",
         "python_full_version": "3.11.2", "platform_python_implementation": "CPython",
         "python_version": "3.11", "sys_platform": "linux"}


def lock_of(tmp_path: Path, text: str) -> pipcompile.PipLock:
    path = tmp_path / "requirements.txt"
    path.write_text("#\n# This file is autogenerated by pip-compile with Python 3.11\n"
                    "# by the following command:\n#\n#    pip-compile requirements.in\n#\n"
                    + text)
    return pipcompile.load(path, tmp_path)


def test_packages_name_missing_extra_and_mismatched(tmp_path: Path) -> None:
    lock = lock_of(tmp_path, "structlog==26.1.0\nsix==1.16.0\nattrs==23.1.0\n"
                   "pywin32==306 ; sys_platform == 'win32'\n")
    result = parity.check_packages(
        facts({"structlog": "26.1.0", "Six": "1.17.0", "requests": "2.31.0", "pip": "23.0.1",
               "setuptools": "66.1.1"}),
        parity.expected_from_piplock(lock, LINUX), ("pip", "setuptools", "wheel"))
    assert result.status == Status.FAILED
    messages = [f.message for f in result.findings]
    assert messages == [
        "attrs==23.1.0 is locked but not installed in the image",
        "six: the image has 1.17.0, the lock pins 1.16.0",
        "requests==2.31.0 is installed in the image but not in requirements.txt",
    ]
    assert result.findings[0].line == 9


def test_packages_pass_when_equal(tmp_path: Path) -> None:
    lock = lock_of(tmp_path, "Structlog==26.1.0\n")
    result = parity.check_packages(facts({"structlog": "26.1.0", "wheel": "0.38"}),
                                   parity.expected_from_piplock(lock, LINUX),
                                   ("pip", "setuptools", "wheel"))
    assert result.status == Status.PASSED, result


def test_python_parity() -> None:
    assert parity.check_python("3.11.2", "3.11", "r.txt", None).status == Status.PASSED
    bad = parity.check_python("3.12.1", "3.11", "r.txt", None)
    assert bad.status == Status.FAILED
    assert "compiled with Python 3.11" in bad.findings[0].message
    assert parity.check_python("3.11.2", None, "", None).status == Status.SKIPPED
    assert parity.check_python("3.11.2", None, "", "3.12").status == Status.FAILED


def test_environment_parity() -> None:
    result = parity.check_environment(("PORT", "DATABASE_URL"), {"PORT": "8000"})
    assert result.status == Status.FAILED and result.summary.endswith("DATABASE_URL")
    assert parity.check_environment((), {}).status == Status.SKIPPED


def test_probe_runs_here() -> None:
    import subprocess

    out = subprocess.run([sys.executable, "-c", parity.PROBE], capture_output=True,
                         text=True, check=True).stdout
    got = parity.parse_probe(out)
    assert got.python.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    assert "pytest" in got.dists
    assert got.markers["python_version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"


# --- no engine -------------------------------------------------------------------------


def test_no_engine_skips_docker_items_with_one_reason(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = pytester.runpytest_subprocess("--shipready", "--shipready-offline", "-rs",
                                           "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, outcomes
    out = result.stdout.str()
    reason = "cannot reach a Docker engine at unix:///nonexistent/docker.sock (from DOCKER_HOST)"
    assert reason in out, out
    assert "no Docker engine (see shipready::image::build)" in out
    assert "Traceback" not in out


def test_no_dockerfile_no_docker_items(pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    (pytester.path / "Dockerfile").unlink()
    result = pytester.runpytest_subprocess("--shipready", "--shipready-offline",
                                           "--collect-only", "-q", "-p", "no:cacheprovider")
    assert "shipready::image" not in result.stdout.str()
    assert "shipready::lockfile" in result.stdout.str()


# --- tests in both places --------------------------------------------------------------


def _junit(cases: str) -> str:
    return f'<?xml version="1.0"?><testsuites><testsuite>{cases}</testsuite></testsuites>'


def test_parity_outcomes_compare() -> None:
    from pytest_shipready.container.inspect import testparity

    host = testparity.parse_junit(_junit(
        '<testcase classname="tests.t" name="a"/>'
        '<testcase classname="tests.t" name="b"/>'
        '<testcase classname="tests.t" name="c"><skipped message="no"/></testcase>'))
    inside = testparity.parse_junit(_junit(
        '<testcase classname="tests.t" name="a"/>'
        '<testcase classname="tests.t" name="b"><failure message="assert 1 == 2"/></testcase>'
        '<testcase classname="tests.t" name="c"><skipped message="no"/></testcase>'))
    result = testparity.compare(host, inside)
    assert result.status == Status.FAILED and result.summary.startswith("1 test differs")
    assert result.findings[0].message == (
        "tests.t::b: passed on the host, failed in the container\n"
        "in the container: assert 1 == 2")


def test_parity_shows_the_full_explanation_and_whose_it_is() -> None:
    from pytest_shipready.container.inspect import testparity

    # pytest cuts the message attribute short; the report text has the E lines in full.
    text = ("def test_file():\n>       assert Path('/srv/x').is_file()\n"
            "E       AssertionError: assert False\n"
            "E        +  where False = is_file()\n"
            "E        +    where is_file = PosixPath('/srv/x').is_file\n\n"
            "tests/t.py:5: AssertionError")
    inside = testparity.parse_junit(_junit(
        '<testcase classname="tests.t" name="f"><failure message="AssertionError: '
        f'assert False&#10;+  where False = ...">{text}</failure></testcase>'
        '<testcase classname="tests.t" name="s"/>'))
    host = testparity.parse_junit(_junit(
        '<testcase classname="tests.t" name="f"/>'
        '<testcase classname="tests.t" name="s"><skipped message="no PORT"/></testcase>'))
    assert inside["tests.t::f"] == ("failed", "AssertionError: assert False\n"
                                    "+  where False = is_file()\n"
                                    "+    where is_file = PosixPath('/srv/x').is_file\n"
                                    "tests/t.py:5: AssertionError")
    messages = [f.message for f in testparity.compare(host, inside).findings]
    assert messages[0].startswith("tests.t::f: passed on the host, failed in the container\n"
                                  "in the container: AssertionError: assert False\n"
                                  "    +  where False = is_file()")
    assert messages[1] == ("tests.t::s: skipped on the host, passed in the container\n"
                           "on the host: no PORT")
    assert testparity.compare(host, host).status == Status.PASSED
    assert testparity.compare({}, {}).status == Status.SKIPPED


def test_parity_bundle_brings_pytest(tmp_path: Path) -> None:
    import io
    import tarfile

    from pytest_shipready.container.inspect import testparity

    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_x(): pass\n")
    data = testparity.bundle([tmp_path / "tests"], tmp_path, "p")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert "p/tests/test_x.py" in names
    for top in ("p/lib/_pytest", "p/lib/pytest", "p/lib/pluggy", "p/lib/iniconfig"):
        assert top in names, top
    assert not any(n.endswith(".pyc") for n in names)


def test_reaping_removes_dead_and_ownerless_old_workdirs(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    import os
    import subprocess
    import tempfile
    import time

    from pytest_shipready.container.session import SessionId, current, owner_record

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    me = current(is_worker=False)
    gone_pid = subprocess.Popen(["true"])  # its pid is gone once waited for
    gone_pid.wait()
    dirs = {name: tmp_path / f"pytest-shipready-{name}"
            for name in ("dead", "alive", "old-orphan", "new-orphan", "other-ns",
                         "other-ns-old")}
    for d in dirs.values():
        d.mkdir()
    def owner(pid: int, pidns: str = me.pidns) -> str:
        return owner_record(SessionId("x", pid, me.host, pidns, me.boot))

    (dirs["dead"] / "owner").write_text(owner(gone_pid.pid))
    (dirs["alive"] / "owner").write_text(owner(os.getpid()))
    # Another PID namespace (a CI job in a container): its pid means nothing here.
    (dirs["other-ns"] / "owner").write_text(owner(gone_pid.pid, "pid:[1]"))
    (dirs["other-ns-old"] / "owner").write_text(owner(gone_pid.pid, "pid:[1]"))
    very_old = time.time() - 3 * 3600
    os.utime(dirs["other-ns-old"], (very_old, very_old))
    old = time.time() - build.ORPHAN_AGE - 60
    os.utime(dirs["old-orphan"], (old, old))
    build._reap_workdirs(me)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pytest-shipready-alive", "pytest-shipready-new-orphan", "pytest-shipready-other-ns"]


def test_a_dead_runs_build_record_waits_for_a_tag_the_engine_has_not_made_yet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run gave up on a stalled build; the engine tags it seconds later. A reap in
    between (another run on the host) finds no tag: the record stays for the reap that
    finds it, and goes once the tag was removed (or the record is old)."""
    import os
    import subprocess
    import tempfile
    import time
    from collections.abc import Callable

    from pytest_shipready.container.session import SessionId, current, owner_record

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    me = current(is_worker=False)
    gone = subprocess.Popen(["true"])
    gone.wait()
    record = build.builds_dir() / "dead-run"
    record.parent.mkdir()
    record.write_text(owner_record(SessionId("dead-run", gone.pid, me.host, me.pidns,
                                             me.boot)) + "\nrepo:build-dead-run\n")
    asked: list[str] = []

    def untag(answer: str) -> Callable[[str], str]:
        return lambda tag: asked.append(tag) or answer

    build._reap_builds(me, untag("absent"))  # not tagged yet
    assert record.exists() and asked == ["repo:build-dead-run"]
    build._reap_builds(me, untag("refused"))  # in use
    assert record.exists()
    build._reap_builds(me, untag("removed"))
    assert not record.exists()
    record.write_text(owner_record(SessionId("dead-run", gone.pid, me.host, me.pidns,
                                             me.boot)) + "\nrepo:build-dead-run\n")
    old = time.time() - 3 * 24 * 3600
    os.utime(record, (old, old))
    build._reap_builds(me, untag("absent"))  # never came: given up
    assert not record.exists()


# --- reaping: only what is provably dead ---------------------------------------------------


def _labels(sid: str, pid: int, host: str = "ci", pidns: str = "pid:[1]",
            boot: str = "b1") -> dict[str, str]:
    from pytest_shipready.container.session import SessionId

    return SessionId(sid, pid, host, pidns, boot).labels()


def test_stale_sessions_judge_pids_only_in_the_same_namespace_and_boot() -> None:
    from pytest_shipready.container.session import STALE_AGE, SessionId, stale_sessions

    me = SessionId("me", 1, "ci", "pid:[1]", "b1")
    now = 1_000_000.0
    dead = {4242}
    found = [
        (_labels("gone", 4242), now - 60),                    # same ns, pid gone: dead
        (_labels("alive", 7), now - 60),                      # same ns, pid alive
        (_labels("other-ns", 4242, pidns="pid:[2]"), now - 60),  # another job's container
        (_labels("other-boot", 4242, boot="b0"), now - 60),
        (_labels("other-ns-old", 4242, pidns="pid:[2]"), now - STALE_AGE - 1),
        ({"io.pytest-shipready.session": "unlabelled", "io.pytest-shipready.pid": "4242",
          "io.pytest-shipready.host": "ci"}, now - 60),     # an older plugin: no ns label
        (_labels("me", 4242), now - 60),                      # never this run
    ]
    stale = stale_sessions(found, me, now, alive=lambda pid: pid not in dead)
    assert sorted(stale) == ["gone", "other-ns-old"]
    assert "pid 4242" in stale["gone"] and "h ago" in stale["other-ns-old"]


BUILDKIT_CANCELED = Path(__file__).parent / "fixtures" / "buildkit-canceled"


def test_buildkit_failure_names_the_errored_step_not_the_canceled_one() -> None:
    # A real `docker build --progress=plain` (BuildKit, docker 20.10) of a Dockerfile
    # whose stage "bad" fails while stage "slow" runs: BuildKit cancels "slow", and the
    # log ends with its "#5 CANCELED", after the "#7 ERROR".
    text = (BUILDKIT_CANCELED / "Dockerfile").read_text()
    log = [ln for ln in (BUILDKIT_CANCELED / "build.log").read_text().splitlines()
           if ln.strip()]
    assert any(ln == "#5 CANCELED" for ln in log)
    step, line = dockerfile.failing_step(log, text)
    assert step.startswith("RUN --mount=type=cache,target=/c sleep 2 && python -c")
    assert line == 5
    assert text.splitlines()[line - 1].startswith("RUN --mount=type=cache,target=/c sleep 2")
    # The tool's output, line by line, without "#7 2.343" prefixes or the other step.
    assert dockerfile.step_output(log, "") == [
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "  error: subprocess-exited-with-error", "",
        "  x Getting requirements to build wheel did not run successfully.",
        "  | exit code: 1"]


def test_buildkit_excerpt_of_a_continued_run_gives_its_first_line() -> None:
    log = ["#9 [2/2] RUN pip install nosuchpkg", "#9 0.512 ERROR: No matching distribution",
           "#9 ERROR: process \"/bin/sh -c pip install nosuchpkg\" did not complete",
           "#8 [other 2/2] RUN sleep 9", "#8 CANCELED", "------", "Dockerfile:3",
           "--------------------", "   2 |     FROM python:3.11-slim",
           "   3 | >>> RUN pip install \\", "   4 | >>>     nosuchpkg",
           "--------------------"]
    step, line = dockerfile.failing_step(log, "FROM x\nFROM python:3.11-slim\nRUN pip install"
                                         " \\\n    nosuchpkg\n")
    assert (step, line) == ("RUN pip install nosuchpkg", 3)
    assert dockerfile.step_output(log, "") == ["ERROR: No matching distribution"]


def test_buildkit_error_and_step_belong_together() -> None:
    """Two steps fail at once: the message is the first ERRORED step's, the one named."""
    from pytest_shipready.dockerfile import context

    log = ["#5 [2/4] RUN pip install uv", "#6 [3/4] COPY ./backend/app /app/app",
           '#6 ERROR: "/backend/app" not found',
           "#5 CANCELED",
           "#7 [4/4] RUN --mount=type=bind,source=uv.lock,target=uv.lock uv sync",
           '#7 ERROR: "/uv.lock" not found']
    assert context.failing_error(log) == '"/backend/app" not found'
    assert context.failing_error(["Step 1/2 : RUN false", "error"]) is None


def test_hardened_failures_name_what_broke() -> None:
    from pytest_shipready.container.run.hardened import causes

    log = ("sh: 1: cannot create /srv/app.pid: Read-only file system\n"
           "PermissionError: [Errno 13] Permission denied: '/app/settings.ini'\n"
           "OSError: [Errno 30] Read-only file system: '/app/cache/x'\n")
    assert causes(log, 1000680000) == [
        "it writes to /srv/app.pid on the read-only root filesystem",
        "uid 1000680000 (gid 0) cannot access /app/settings.ini"]
    assert causes("socket.bind: Permission denied (port 80)", 0) == [
        "an operation needs a capability that was dropped (a port below 1024, chown, ...)"]
    assert causes("getpwuid(): uid not found: 1000680000", 1000680000) == [
        "the app looks its user up in /etc/passwd, where uid 1000680000 has no entry"]
    # uv-docker-example (`uv run` wants its cache) and telescope (`poetry run` looks for
    # the virtualenv Poetry made in the build user's home): HOME=/ for the arbitrary uid.
    uv = ("error: Failed to initialize cache at `/.cache/uv`\n  cause: failed to create "
          "directory `/.cache/uv`: Read-only file system (os error 30)\n")
    assert causes(uv, 1000680000) == [
        "it writes to /.cache/uv on the read-only root filesystem",
        "its HOME is / (as for a uid without an /etc/passwd entry), so it looks for "
        "/.cache/uv, not in the build user's home"]
    poetry = ("Creating virtualenv svc-9TtSrW0h-py3.13 in /.cache/pypoetry/virtualenvs\n"
              "virtualenv: error: argument dest: the destination . is not write-able at /\n")
    assert causes(poetry, 1000680000) == [
        "its HOME is / (as for a uid without an /etc/passwd entry), so it looks for "
        "/.cache/pypoetry/virtualenvs, not in the build user's home"]
    # taiga-back's entrypoint (fourth validation pass) chowns the app at every start: the
    # fix is at build time, not a tmpfs over the app
    taiga = ("Give permission to taiga:taiga\n"
             "chown: changing ownership of '/taiga-back/taiga/urls.py': Read-only file "
             "system\nchown: changing ownership of '/taiga-back': Read-only file system\n")
    assert causes(taiga, 1000680000) == [
        "its start command changes the owner of /taiga-back/taiga/urls.py (`chown`), "
        "which needs root and a writable root filesystem: give the files their owner at "
        "build time (`COPY --chown=...`, or `RUN chown` in the Dockerfile) and drop the "
        "chown from the start",
        "it writes to a path on the read-only root filesystem"]
    # the image's own user, with a home: only the read-only filesystem is to blame
    assert causes(uv.replace("`/.cache", "`/home/app/.cache"), 0) == [
        "it writes to /home/app/.cache/uv on the read-only root filesystem"]
