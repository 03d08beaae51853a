"""SR230 declared-facts and SR405-SR407 (in-image integrity): the pure verdicts, and the
in-image scripts run for real with this interpreter and this machine's `stat`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_shipready.checks import Status
from pytest_shipready.config import ConfigError, DeclaredFile, ImageConfig, parse
from pytest_shipready.container.inspect import declared, integrity
from pytest_shipready.container.inspect.parity import PROBE, ImageFacts, parse_probe

MARKERS = {"python_version": "3.11", "python_full_version": "3.11.2", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def facts(dists: dict[str, str], requires: dict[str, tuple[str, ...]] | None = None,
          installs: tuple[tuple[str, str, str], ...] = ()) -> ImageFacts:
    return ImageFacts("3.11.2", "/usr/local/bin/python",
                      {n.lower(): (n, v) for n, v in dists.items()}, {}, MARKERS, installs,
                      requires or {})


# --- SR405 ---------------------------------------------------------------------------


def test_pip_check_names_missing_and_conflicting_requirements() -> None:
    result = integrity.check_requirements(facts(
        {"flask": "3.0.0", "werkzeug": "2.3.8", "jinja2": "3.1.4"},
        {"flask": ("Werkzeug>=3.0.0", "Jinja2>=3.1.2", "itsdangerous>=2.1.2",
                   "click>=8.1.3", "asgiref>=3.2; extra == 'async'",
                   "importlib-metadata>=3.6; python_version < '3.10'")}))
    assert result.status == Status.FAILED
    assert [f.message for f in result.findings] == [
        "flask 3.0.0 requires Werkzeug>=3.0.0, but the image has werkzeug 2.3.8",
        "flask 3.0.0 requires itsdangerous>=2.1.2, which is not installed",
        "flask 3.0.0 requires click>=8.1.3, which is not installed",
    ]  # the extra and the marker false for Python 3.11 are not required, as in pip check
    assert result.summary == "3 broken requirements in /usr/local/bin/python"


def test_pip_check_passes_and_says_how_much_it_judged() -> None:
    result = integrity.check_requirements(facts(
        {"flask": "3.0.0", "werkzeug": "3.1.0rc1", "pip": "24.0"},
        {"flask": ("werkzeug>=3.0.0",), "pip": (), "werkzeug": ("MarkupSafe>=2.1.1; "
                                                                 "sys_platform == 'win32'",)}))
    # a pre-release satisfies the range (pip check allows pre-releases)
    assert result.status == Status.PASSED, result
    assert result.summary == ("no broken requirement among 3 distributions (1 requirement "
                              "applies in the image, as `pip check`)")


def test_pip_check_ignore_skips_requirer_and_required() -> None:
    image = facts({"requests": "2.32.3", "app": "1"},
                  {"requests": ("idna<4,>=2.5",), "app": ("click",)})
    assert integrity.check_requirements(image).status == Status.FAILED
    result = integrity.check_requirements(image, ["Requests", "click"])
    assert result.status == Status.PASSED
    assert result.figures["distributions"] == 1


# --- SR407 ---------------------------------------------------------------------------


def test_single_install_names_every_copy_and_the_one_imported() -> None:
    image = facts({"six": "1.16.0", "structlog": "26.1.0"}, installs=(
        ("six", "1.16.0", "/opt/vendor/six-1.16.0.dist-info"),
        ("structlog", "26.1.0", "/usr/local/lib/python3.11/site-packages/structlog-26.1.0"
         ".dist-info"),
        ("six", "1.17.0", "/usr/local/lib/python3.11/site-packages/six-1.17.0.dist-info"),
    ))
    result = integrity.check_single_install(image)
    assert result.status == Status.FAILED
    assert [f.message for f in result.findings] == [
        "six is installed 2 times: 1.16.0 in /opt/vendor (imported); 1.17.0 in "
        "/usr/local/lib/python3.11/site-packages"]
    assert integrity.check_single_install(image, ["six"]).status == Status.PASSED


def test_single_install_counts_a_directory_reached_twice_once() -> None:
    path = "/usr/local/lib/python3.11/site-packages/six-1.17.0.dist-info"
    result = integrity.check_single_install(facts({"six": "1.17.0"}, installs=(
        ("six", "1.17.0", path), ("six", "1.17.0", path))))
    assert result.status == Status.PASSED
    assert result.summary == ("1 distribution installed once each, in "
                              "/usr/local/lib/python3.11/site-packages")
    assert integrity.check_single_install(facts({})).status == Status.SKIPPED


def test_a_packaging_tool_upgraded_over_the_base_images_copy_is_not_a_second_install(
        ) -> None:
    """antenna's shape: Debian's Python with python3-pip, then `pip install -U pip`: the
    new pip goes to /usr/local/lib/python3.11/dist-packages, ahead of Debian's copy,
    which pip cannot remove. The upgrade is what runs: noted, not failed."""
    debian = "/usr/lib/python3/dist-packages"
    local = "/usr/local/lib/python3.11/dist-packages"
    image = facts({"pip": "26.3", "falcon": "3.1.3"}, installs=(
        ("pip", "26.3", f"{local}/pip-26.3.dist-info"),
        ("falcon", "3.1.3", f"{local}/falcon-3.1.3.dist-info"),
        ("pip", "23.0.1", f"{debian}/pip-23.0.1.dist-info"),
    ))
    result = integrity.check_single_install(image)
    assert result.status == Status.PASSED, result.findings
    assert result.summary == (
        f"1 distribution installed once each, in {debian}, {local}; packaging tools "
        f"upgraded over the base image's copy: pip 26.3 shadows 23.0.1 in {debian}")
    # an older packaging tool ahead of a newer one is what the lock did not ask for
    older_first = facts({"setuptools": "40.0"}, installs=(
        ("setuptools", "40.0", "/opt/vendor/setuptools-40.0.dist-info"),
        ("setuptools", "66.1.1", f"{debian}/setuptools-66.1.1.egg-info")))
    assert integrity.check_single_install(older_first).status == Status.FAILED
    # the app's own dependencies twice still fail, newest first or not
    twice = facts({"six": "1.17.0"}, installs=(
        ("six", "1.17.0", f"{local}/six-1.17.0.dist-info"),
        ("six", "1.16.0", f"{debian}/six-1.16.0.egg-info")))
    assert integrity.check_single_install(twice).status == Status.FAILED


def test_own_distributions_come_from_pyproject_and_the_locks_source_trees() -> None:
    """full-stack-fastapi-template's shape: a virtual workspace root (no [project]) whose
    member `app` is locked as `source = { editable = "backend" }`: the member is the
    project's own distribution (SR402 says so too), so SR406 imports it."""
    from pytest_shipready.locks import discover

    fixtures = Path(__file__).parent / "fixtures"
    workspace = discover.load(fixtures / "uv-workspace" / "uv.lock", fixtures / "uv-workspace")
    assert integrity.own_distributions([], [workspace]) == ["app", "worker"]
    uv_app = discover.load(fixtures / "uv-app" / "uv.lock", fixtures / "uv-app")
    assert integrity.own_distributions(["uv-app"], [uv_app]) == ["helper", "uv-app"]
    assert integrity.own_distributions(["My_Service"], []) == ["my-service"]


def test_the_probe_lists_every_copy_and_the_requirements() -> None:
    """The parity probe, run for real, with a second copy of a distribution on
    PYTHONPATH (what SR407 must see) and its requirements (what SR405 reads)."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(
                             Path(__file__).parent / "fixtures" / "integrity-probe" / "vendor")})
    found = parse_probe(out.stdout)
    copies = [i for i in found.installs if i[0] == "packaging"]
    assert len(copies) == 2, copies
    assert copies[0][1] == "0.1.dev0"  # PYTHONPATH comes first: that copy is imported
    assert found.dists["packaging"][1] == "0.1.dev0"
    assert found.requires["packaging"] == ("shipready-missing-dep>=1",)
    result = integrity.check_requirements(found)
    assert "packaging 0.1.dev0 requires shipready-missing-dep>=1, which is not installed" in [
        f.message for f in result.findings]
    assert integrity.check_single_install(found).status == Status.FAILED


# --- SR406 ---------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "targets"), [
    (["python", "-m", "app"], ["app"]),
    (["/opt/venv/bin/python3.11", "-u", "-m", "app.server"], ["app"]),
    (["gunicorn", "-b", "0.0.0.0:8000", "app.wsgi:application"], ["app.wsgi:application"]),
    (["/bin/sh", "-c", "exec uvicorn --host 0.0.0.0 'app.main:create_app()' --factory"],
     ["app.main:create_app"]),
    (["python", "-m", "gunicorn", "svc:app"], ["gunicorn", "svc:app"]),
    (["sh", "-c", "python manage.py migrate && gunicorn mysite.wsgi:application"],
     ["mysite.wsgi:application"]),
    (["/srv/start.sh"], []),
    (["python", "app.py"], []),
])
def test_command_targets(command: list[str], targets: list[str]) -> None:
    assert integrity.command_targets(command) == targets


def test_imports_script_imports_resolves_and_reports_where_it_failed(tmp_path: Path) -> None:
    """IMPORTS, run for real in a directory (as in the container's WORKDIR)."""
    (tmp_path / "good.py").write_text("VALUE = 1\nprint('noise on stdout')\n")
    (tmp_path / "bad.py").write_text("import json\nimport shipready_not_installed\n")
    spec = json.dumps({"dists": ["packaging"], "targets": [
        ["good:VALUE", "the image's command"], ["bad", "the image's command"],
        ["good:MISSING", "configured"], ["good", "configured"]]})
    out = subprocess.run([sys.executable, "-c", integrity.IMPORTS, spec], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    run = integrity.parse_imports(out.stdout)
    assert run.found == ("packaging",)
    by_target = {r.target: r for r in run.results}
    assert by_target["good:VALUE"].ok and by_target["good"].ok
    assert by_target["bad"].error == ("ModuleNotFoundError: No module named "
                                      "'shipready_not_installed'")
    assert by_target["bad"].where == f"{tmp_path / 'bad.py'}:2"
    assert not by_target["good:MISSING"].ok
    assert by_target["packaging"].origin.startswith("top-level module of packaging ")
    result = integrity.check_imports(run, sys.executable)
    assert result.status == Status.FAILED
    assert result.summary == f"2 imports failed in {sys.executable}"


def test_an_import_that_hangs_is_named() -> None:
    output = (f"{integrity.MARK}{json.dumps({'found': [], 'cwd': '/srv'})}\n"
              f"{integrity.MARK}{json.dumps({'start': 'app'})}\n"
              f"{integrity.MARK}{json.dumps({'target': 'app', 'origin': 'x', 'ok': True})}\n"
              f"{integrity.MARK}{json.dumps({'start': 'app.server'})}\n")
    run = integrity.parse_imports(output)
    assert run.hung == "app.server"
    result = integrity.check_imports(run, "python3", timeout=5.0, code=None)
    assert result.status == Status.FAILED
    assert result.findings[0].message == "importing app.server did not finish within 5 s"


def test_an_interpreter_that_does_not_run_fails_with_its_output() -> None:
    run = integrity.parse_imports("exec: python9: not found")
    result = integrity.check_imports(run, "python9", code=127,
                                     output="exec: python9: not found")
    assert result.status == Status.FAILED
    assert "python9 could not run the imports: exit code 127" in result.findings[0].message
    assert integrity.check_imports(integrity.ImportRun((), ()), "py").status == Status.SKIPPED


# --- SR230 ---------------------------------------------------------------------------


def test_declared_facts_pass_and_say_what_was_verified() -> None:
    cfg = ImageConfig(labels={"org.opencontainers.image.source": "https://x.invalid/a",
                              "org.opencontainers.image.revision": ""},
                      ports=(8000,), workdir="/srv/",
                      files=(DeclaredFile("/srv/start.sh", "0755", "app", "10001"),))
    stat = declared.FileStat("/srv/start.sh", 0o755, "app", 10001, "app", 10001,
                             "regular file")
    result = declared.check_declared(
        cfg, {"org.opencontainers.image.source": "https://x.invalid/a",
              "org.opencontainers.image.revision": "0123abc"}, ("8000/tcp",), "/srv",
        {"/srv/start.sh": stat}, "Dockerfile")
    assert result.status == Status.PASSED, result
    assert result.summary == "2 labels, port 8000, WORKDIR /srv/, 1 file as declared"


def test_declared_facts_fail_with_each_difference() -> None:
    cfg = ImageConfig(labels={"a": "1", "b": "", "c": ""}, ports=(9000,), workdir="/app",
                      files=(DeclaredFile("/srv/start.sh", "0750", "app"),
                             DeclaredFile("/srv/gone")))
    stat = declared.FileStat("/srv/start.sh", 0o755, "root", 0, "root", 0, "regular file")
    result = declared.check_declared(cfg, {"a": "2", "c": ""}, ("8000/tcp",), "",
                                     {"/srv/start.sh": stat}, "Dockerfile")
    assert result.status == Status.FAILED
    assert [f.message for f in result.findings] == [
        "label a is '2', declared '1'", "label b is not set", "label c is empty",
        "port 9000/tcp is not exposed (exposed: 8000/tcp)",
        "the working directory is /, declared /app",
        "/srv/start.sh has mode 0755, declared 0750",
        "/srv/start.sh is owned by root (uid 0), declared app",
        "/srv/gone does not exist in the image"]


def test_declared_facts_skip_with_the_key_or_the_reason() -> None:
    nothing = declared.check_declared(ImageConfig(), {}, (), "", None, "Dockerfile")
    assert nothing.status == Status.SKIPPED
    assert "[tool.shipready.image] labels, ports, workdir, files" in nothing.summary
    cfg = ImageConfig(workdir="/srv", files=(DeclaredFile("/srv/x"),))
    unseen = declared.check_declared(cfg, {}, (), "/srv", None, "Dockerfile",
                                     "the container did not become ready")
    assert unseen.status == Status.SKIPPED
    assert unseen.summary == ("WORKDIR /srv as declared; the declared files were not looked "
                              "at: the container did not become ready")
    wrong = declared.check_declared(cfg, {}, (), "/app", None, "Dockerfile", "no container")
    assert wrong.status == Status.FAILED and len(wrong.findings) == 2


@pytest.mark.parametrize("how", ["stat", "python"])
def test_stat_output_is_read_back(tmp_path: Path, how: str) -> None:
    script = tmp_path / "start.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o4750)
    odd = tmp_path / "a|b c"
    odd.write_text("")
    odd.chmod(0o600)
    paths = [str(script), str(odd), str(tmp_path / "missing")]
    argv = (["stat", "-L", "-c", declared.STAT_FORMAT, "--", *paths] if how == "stat"
            else [sys.executable, "-c", declared.STAT_PY, *paths])
    out = subprocess.run(argv, capture_output=True, text=True)
    found = declared.parse_stat(out.stdout + out.stderr)
    assert set(found) == {str(script), str(odd)}
    assert found[str(script)].mode == 0o4750
    assert found[str(script)].uid == os.getuid()
    assert found[str(script)].kind == "regular file"
    assert found[str(odd)].mode == 0o600


def test_declared_files_are_validated_where_they_are_written() -> None:
    config = parse({"image": {"files": [{"path": "/a", "mode": "0755", "owner": "app"}]}})
    assert config.image.files == (DeclaredFile("/a", "0755", "app"),)
    with pytest.raises(ConfigError, match=r"path = 'start\.sh': must be an absolute path"):
        parse({"image": {"files": [{"path": "start.sh"}]}})
    with pytest.raises(ConfigError, match=r"mode = '0855': must be octal"):
        parse({"image": {"files": [{"path": "/a", "mode": "0855"}]}})
    with pytest.raises(ConfigError, match=r"unknown key 'perm'"):
        parse({"image": {"files": [{"path": "/a", "perm": "0755"}]}})
    with pytest.raises(ConfigError, match=r"integrity\] unknown key 'ignored'"):
        parse({"integrity": {"ignored": ["six"]}})


def test_a_lost_stat_line_is_not_a_missing_file() -> None:
    """The engine can lose a short exec's output: only a path that stat names in an error
    line is missing; one it says nothing about is asked again."""
    from pytest_shipready.container.inspect.declared import parse_stat, unanswered

    paths = ["/srv/start.sh", "/srv/missing.txt"]
    full = ("stat: cannot statx '/srv/missing.txt': No such file or directory\n"
            "755|root|0|root|0|regular file|/srv/start.sh\n")
    assert unanswered(full, paths, parse_stat(full)) == []
    lost = "stat: cannot statx '/srv/missing.txt': No such file or directory\n"
    assert unanswered(lost, paths, parse_stat(lost)) == ["/srv/start.sh"]
    assert unanswered("", paths, {}) == paths
    localised = "stat: cannot statx ‘/srv/missing.txt’: No such file or directory\n"
    assert unanswered(localised, paths[1:], {}) == []
