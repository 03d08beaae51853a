"""The image build as production builds it: BuildKit by default, the classic builder as
the fallback, only the shipped stage, nothing left behind, build secrets, engines shared
by concurrent runs, a stalled engine, a hostile .dockerignore.

The docker tests run ``pytest --shipready`` in a subprocess on small sample projects
(each with a unique directory name, so its labels are this test's alone).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from faultutil import (
    ForwarderProcess,
    docker,
    leftovers,
    make_project,
    project_key,
    remove_leftovers,
    run_shipready,
    running_containers,
    start_shipready,
    wait_for,
    wait_no_leftovers,
)

from conftest import EngineEvents
from pytest_shipready.container.build import buildkit, stages
from pytest_shipready.dockerfile import context, ignore

FIXTURES = Path(__file__).parent / "fixtures"
TEST_LABEL = "io.pytest-shipready.test-run"

# --- the classic builder's Dockerfile: only the stages the target needs ----------------

MULTI = """\
ARG BASE=python:3.11-slim
FROM ${BASE} AS builder
RUN echo build > /out

FROM builder AS dev
RUN false \\
    && echo never

FROM ${BASE} AS other
RUN echo other > /other

FROM ${BASE}
COPY --from=builder /out /out
COPY --from=2 /other /other
"""


def test_classic_dockerfile_blanks_the_stages_the_target_does_not_need() -> None:
    trimmed = stages.classic_dockerfile(MULTI, "")
    assert trimmed is not None
    lines = trimmed.split("\n")
    assert len(lines) == len(MULTI.split("\n"))  # line numbers hold
    assert "RUN false \\" not in trimmed and "    && echo never" not in trimmed
    assert lines[1] == "FROM ${BASE} AS builder" and lines[0] == "ARG BASE=python:3.11-slim"
    # stage 2 ("other") is stage 1 once "dev" is gone
    assert "COPY --from=1 /other /other" in trimmed
    assert "COPY --from=builder /out /out" in trimmed


def test_classic_dockerfile_unchanged_when_every_stage_is_needed() -> None:
    assert stages.classic_dockerfile("FROM a AS b\nRUN x\nFROM b\nRUN y\n", "") is None
    # a target before the unused stage: the builder stops there anyway
    assert stages.classic_dockerfile(MULTI, "builder") is None


def test_step_images_never_count_the_cache() -> None:
    steps = stages.StepImages()
    for line in ["Step 1/3 : FROM x", " ---> 1111aaaa2222", "Step 2/3 : RUN a",
                 " ---> Using cache", " ---> 3333bbbb4444", "Step 3/3 : RUN b",
                 " ---> Running in 5555cccc6666", " ---> 7777dddd8888"]:
        steps.feed(line)
    assert steps.made == ["1111aaaa2222", "7777dddd8888"]
    assert steps.cached == ["3333bbbb4444"]
    assert steps.containers == ["5555cccc6666"]
    assert steps.leftovers("sha256:7777dddd8888" + "0" * 52) == ["1111aaaa2222"]


# --- the context: matched once, bounded, and the tag covers what the build uses ---------


def test_dockerignore_matching_does_not_grow_with_the_number_of_paths(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The automaton is built once per pattern: matching 5,000 paths against 30 hostile
    patterns computes a bounded number of position sets (it was one per character of
    every path, for every pattern: minutes on such a .dockerignore)."""
    calls = 0
    original = ignore._step

    def counted(*args: object) -> set[int]:
        nonlocal calls
        calls += 1
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ignore, "_step", counted)
    ignore._MACHINES.clear()
    patterns = ignore.parse("\n".join(f"**/**/**/**/*a*b*c*d*{i % 3}" for i in range(30)))
    matcher = ignore.Matcher(patterns)
    for i in range(5000):
        matcher.excluded(f"pkg{i % 50}/abcabc{i % 7}/abcab{i % 3}/abcabcabcabcabc{i}.py")
    assert calls < 5000, calls
    # the same answers as the plain per-pattern matcher
    for path in ("a/b/c/d/xaybzcwd1", "abcd", "x/abc.py", "q/aXbXcXdX2"):
        assert matcher.excluded(path) == ignore.excluded(patterns, path)[0], path


def test_the_context_walk_is_bounded(tmp_path: Path) -> None:
    for i in range(200):
        (tmp_path / f"f{i}.txt").write_text("x")
    with pytest.raises(ignore.ContextTooSlowError):
        context.walk(tmp_path, tmp_path / "Dockerfile", deadline=time.monotonic() - 1)


def test_the_tag_covers_only_what_the_build_uses(tmp_path: Path) -> None:
    """A report (or any file) no COPY/ADD takes does not change the content hash (it
    did on every run: the run's own report.json changed it)."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print(1)\n")
    (tmp_path / "requirements.txt").write_text("flask==3.0.0\n")
    df = tmp_path / "Dockerfile"
    df.write_text("FROM python:3.11-slim AS build\nCOPY requirements.txt /r.txt\n"
                  "FROM build AS dev\nCOPY notes/ /notes/\n"
                  "FROM python:3.11-slim\nCOPY --from=build /r.txt /r.txt\n"
                  "COPY app/ /app/\n")
    first = context.content_hash(tmp_path, df, "", {})
    (tmp_path / "report.json").write_text('{"run": 1}')
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("only the dev stage takes it")
    assert context.content_hash(tmp_path, df, "", {}) == first
    assert context.content_hash(tmp_path, df, "dev", {}) != first
    (tmp_path / "app" / "main.py").write_text("print(2)\n")
    second = context.content_hash(tmp_path, df, "", {})
    assert second != first
    (tmp_path / "requirements.txt").write_text("flask==3.0.1\n")
    assert context.content_hash(tmp_path, df, "", {}) != second


def test_a_git_directory_the_build_takes_counts_by_its_commit(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text("a" * 40 + "\n")
    (git / "index").write_bytes(b"index 1")
    df = tmp_path / "Dockerfile"
    df.write_text("FROM python:3.11-slim\nCOPY . /src\n")
    first = context.content_hash(tmp_path, df, "", {})
    (git / "index").write_bytes(b"index 2")  # `git status` rewrites it
    assert context.content_hash(tmp_path, df, "", {}) == first
    (git / "refs" / "heads" / "main").write_text("b" * 40 + "\n")  # a new commit
    second = context.content_hash(tmp_path, df, "", {})
    assert second != first
    (tmp_path / ".dockerignore").write_text(".git\n")  # not sent: not counted
    third = context.content_hash(tmp_path, df, "", {})
    (git / "refs" / "heads" / "main").write_text("c" * 40 + "\n")
    assert context.content_hash(tmp_path, df, "", {}) == third


# --- finding a BuildKit CLI ----------------------------------------------------------------


def test_no_docker_cli_on_path_means_the_classic_builder(tmp_path: Path) -> None:
    cli, why = buildkit.find_cli(str(tmp_path))
    assert cli is None and why == "no docker CLI on PATH"


@pytest.mark.skipif(not os.access("/usr/bin/docker", os.X_OK), reason="no /usr/bin/docker")
def test_a_docker_cli_before_23_has_buildkit_built_in(tmp_path: Path) -> None:
    version = subprocess.run(["/usr/bin/docker", "--version"], capture_output=True,
                             text=True).stdout
    if not version.startswith("Docker version 20."):
        pytest.skip(f"/usr/bin/docker is {version.strip()}")
    cli, _ = buildkit.find_cli("/usr/bin")
    assert cli is not None and cli.path == "/usr/bin/docker" and not cli.buildx
    assert "(built-in BuildKit)" in cli.description


# --- the runs, against the engine ---------------------------------------------------------


def git_project(parent: Path, name: str = "msgit") -> Path:
    """A copy of the multistage-git fixture as a git repository, each stage labelled
    with a token of this test (so that images its builds leave can be told from other
    runs' on a shared engine)."""
    project = parent / f"{name}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURES / "multistage-git", project)
    token = uuid.uuid4().hex
    df = project / "Dockerfile"
    lines = []
    for line in df.read_text().splitlines():
        lines.append(line)
        if line.startswith("FROM "):
            lines.append(f"LABEL {TEST_LABEL}={token}")
    df.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"],
                 ["git", "commit", "-qm", "initial"]):
        subprocess.run(argv, cwd=project, check=True, env=env, capture_output=True)
    return project


def token_of(project: Path) -> str:
    text = (project / "Dockerfile").read_text()
    return text.split(f"{TEST_LABEL}=", 1)[1].split()[0]


def dangling_of(token: str) -> list[str]:
    """Dangling images with this test's label (the classic builder keeps the last image
    of each stage it does not ship: it carries the stage's LABEL)."""
    return docker("images", "-q", "--no-trunc", "--filter", "dangling=true", "--filter",
                  f"label={TEST_LABEL}={token}").split()


def untagged_of(token: str) -> list[str]:
    """Every image of this test's builds without a tag that no other image builds on
    (`docker images` without -a): stage images, and kept images whose tag moved."""
    out = docker("images", "--no-trunc", "--filter", f"label={TEST_LABEL}={token}",
                 "--format", "{{.ID}} {{.Tag}}").splitlines()
    return [line for line in out if line.endswith("<none>")]


def failed(outcome: object) -> dict[str, str]:
    results = outcome.results  # type: ignore[attr-defined]
    return {n: json.dumps(r) for n, r in results.items() if r["status"] in ("failed", "error")}


def assert_ready(outcome: object) -> None:
    """READY with zero config: no item failed. The `.git` only the builder stage takes is
    a note of SR206 (it costs context transfer), never a failure."""
    bad = failed(outcome)
    assert not bad, "\n".join(bad.values()) + outcome.output[-3000:]  # type: ignore[attr-defined]
    assert "READY:" in outcome.output and "NOT READY" not in outcome.output  # type: ignore[attr-defined]
    sr206 = outcome.results["dockerfile::Dockerfile::dockerignore"]  # type: ignore[attr-defined]
    assert sr206["status"] == "passed" and ".git" in json.dumps(sr206), sr206


@pytest.mark.docker
def test_multistage_git_service_builds_with_buildkit_and_leaves_nothing(tmp_path: Path
                                                                        ) -> None:
    project = git_project(tmp_path)
    token = token_of(project)
    try:
        for round_ in (1, 2):
            outcome = run_shipready(project, tmp_path / f"out{round_}", timeout=600)
            assert outcome.status("image::build") == "passed", outcome.output[-3000:]
            summary = outcome.summary("image::build")
            assert "(BuildKit via " in summary, summary
            assert_ready(outcome)
            assert "Traceback" not in outcome.output
            # nothing but the kept image; no stage image, dangling or not
            assert wait_no_leftovers(project) == []
            assert dangling_of(token) == [] and untagged_of(token) == []
        # the unused dev stage never ran, and the version came from .git
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project,
                                capture_output=True, text=True).stdout.strip()
        kept = docker("images", "-q", "--filter", f"label={TEST_LABEL}={token}").split()
        assert len(kept) == 1
        version = docker("run", "--rm", "--label", f"{TEST_LABEL}={token}", kept[0], "cat",
                         "/srv/VERSION").strip()
        assert version == f"0.1.dev0+g{commit[:7]}"
    finally:
        remove_leftovers(project)


@pytest.mark.docker
def test_multistage_git_service_on_the_classic_fallback(tmp_path: Path) -> None:
    """No docker CLI on PATH: the classic builder, given only the stages the target
    needs (it builds every stage before the target: the dev stage failed the build),
    and the stage images it made removed."""
    project = git_project(tmp_path, "msclassic")
    token = token_of(project)
    empty = tmp_path / "no-docker-here"
    empty.mkdir()
    try:
        for round_ in (1, 2):
            outcome = run_shipready(project, tmp_path / f"out{round_}",
                                    env={"PATH": str(empty)}, timeout=600)
            summary = outcome.summary("image::build")
            assert outcome.status("image::build") == "passed", outcome.output[-3000:]
            assert "(classic builder: no docker CLI with BuildKit here (no docker CLI on " \
                "PATH); BuildKit builds as `docker build` does: install the buildx " \
                "plugin" in summary, summary
            assert_ready(outcome)
            assert wait_no_leftovers(project) == []
            assert dangling_of(token) == [] and untagged_of(token) == [], \
                docker("images", "-a", "--filter", f"label={TEST_LABEL}={token}")
    finally:
        remove_leftovers(project)


SECRET_APP = '''\
import http.server, signal, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
'''
QUIET = """
[tool.shipready.smoke]
ready_timeout = 10
settle = 0.5
grace_period = 1

[tool.shipready.disable]
SR100 = "no dependencies"
SR203 = "readiness over HTTP"
SR205 = "no dependencies"
SR206 = "nothing to leave out"
SR501 = "the sample logs nothing"
SR502 = "see SR501"
SR503 = "see SR501"
SR504 = "see SR501"
SR505 = "see SR501"
"""


def secret_project(parent: Path, failing: bool = False) -> Path:
    text = (FIXTURES / "build-secret" / "Dockerfile").read_text()
    if failing:
        text = text.replace("    && python -c", "    && false && python -c")
    toml = (FIXTURES / "build-secret" / "pyproject.toml").read_text() + QUIET
    return make_project(parent, text, toml, {"app.py": SECRET_APP}, name="secret")


def holds(path: Path, needle: bytes, piece: int = 1 << 20) -> bool:
    """Whether the file holds ``needle``, read a piece at a time (overlapping by its
    length, so that one across two pieces is found)."""
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(piece):
            window = tail + chunk
            if needle in window:
                return True
            tail = window[max(0, len(window) - len(needle) + 1):]
    return False


@pytest.mark.docker
def test_a_build_secret_builds_and_is_never_shown_nor_kept(tmp_path: Path) -> None:
    value = f"shipready-secret-{uuid.uuid4().hex}"
    env = {"SHIPREADY_TEST_INDEX_TOKEN": value}
    project = secret_project(tmp_path)
    try:
        outcome = run_shipready(project, tmp_path / "out", "-v", env=env, timeout=300)
        assert outcome.status("image::build") == "passed", outcome.output[-3000:]
        assert not failed(outcome), failed(outcome)
        assert value not in outcome.output
        for name, text in outcome.reports().items():
            assert value not in text, name
        # no layer holds it (the step wrote only its hash)
        kept = docker("images", "-q", "--filter",
                      f"label=io.pytest-shipready.project={project_key(project)}").split()
        assert len(kept) == 1
        # To a file, read in pieces: held whole (twice, by communicate()) the 200 MB image
        # took this process, the suite's own in CI, to a peak over 400 MB.
        saved = tmp_path / "image.tar"
        subprocess.run(["docker", "save", "-o", str(saved), kept[0]], check=True,
                       timeout=300)
        assert saved.stat().st_size > 1_000_000
        assert not holds(saved, value.encode())
        with tarfile.open(saved) as tar:
            for member in tar.getmembers():
                if member.name.endswith("layer.tar"):
                    data = tar.extractfile(member)
                    assert data is not None
                    with tarfile.open(fileobj=data) as layer:
                        for entry in layer.getmembers():
                            if entry.isfile():
                                body = layer.extractfile(entry)
                                assert body is not None
                                assert value.encode() not in body.read(), entry.name
        # a step that fails after printing it: the failure shows the step, masked
        broken = secret_project(tmp_path, failing=True)
        try:
            outcome = run_shipready(broken, tmp_path / "out2", env=env, timeout=300)
            assert outcome.status("image::build") == "failed"
            text = outcome.text("image::build")
            assert "using token ***" in text, text
            assert value not in outcome.output
            for name, report in outcome.reports().items():
                assert value not in report, name
        finally:
            remove_leftovers(broken)
    finally:
        remove_leftovers(project)


@pytest.mark.docker
def test_a_build_secret_without_buildkit_fails_saying_why(tmp_path: Path) -> None:
    project = secret_project(tmp_path)
    empty = tmp_path / "no-docker-here"
    empty.mkdir()
    try:
        outcome = run_shipready(project, tmp_path / "out",
                                env={"PATH": str(empty), "SHIPREADY_TEST_INDEX_TOKEN": "x" * 8},
                                timeout=120)
        assert outcome.status("image::build") == "failed"
        text = outcome.text("image::build")
        assert "needs BuildKit, which cannot run here" in text
        assert "no docker CLI on PATH" in text and "buildx" in text
        assert wait_no_leftovers(project) == []
    finally:
        remove_leftovers(project)


# --- engines shared by concurrent runs ------------------------------------------------------


SHARED_APP = SECRET_APP.replace('b"ok"', 'b"{variant}"').replace('"2"', '"{length}"')


@pytest.mark.docker
def test_checkouts_with_one_name_run_at_once_without_colliding(tmp_path: Path) -> None:
    """Three checkouts named alike, different contents, run at once on one engine, twice:
    each passes and keeps its own image (one run pruned another's kept image, and
    docker-py then tried to pull pytest-shipready/<dir>:<hash> from a registry)."""
    projects = []
    for n in range(3):
        parent = tmp_path / f"checkout{n}"
        parent.mkdir()
        app = SHARED_APP.replace("{variant}", f"v{n}").replace("{length}", "2")
        dockerfile = ("FROM python:3.11-slim\nCOPY app.py /srv/app.py\nUSER 10001\n"
                      "EXPOSE 8000\nCMD [\"python\", \"/srv/app.py\"]\n")
        project = parent / "svc-shared-name"
        project.mkdir()
        (project / "Dockerfile").write_text(dockerfile)
        (project / "app.py").write_text(app)
        (project / "pyproject.toml").write_text(QUIET)
        projects.append(project)
    key = project_key(projects[0])
    assert all(project_key(p) == key for p in projects)
    try:
        for round_ in (1, 2):
            outcomes: dict[int, object] = {}

            def one(n: int, round_: int = round_,
                    outcomes: dict[int, object] = outcomes) -> None:
                outcomes[n] = run_shipready(projects[n], tmp_path / f"out{round_}-{n}",
                                            timeout=300)

            threads = [threading.Thread(target=one, args=(n,)) for n in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for n in range(3):
                outcome = outcomes[n]
                assert not failed(outcome), failed(outcome)
                assert "pull" not in outcome.output.lower()  # type: ignore[attr-defined]
            kept = docker("images", "--filter", f"label=io.pytest-shipready.project={key}",
                          "--filter", "label=io.pytest-shipready.keep=true", "--format",
                          "{{.Tag}}").split()
            checkouts = {t.split("-")[0] for t in kept}
            assert len(checkouts) == 3, kept  # one kept image per checkout
            assert len(kept) == 3, kept
    finally:
        remove_leftovers(projects[0])


@pytest.mark.docker
def test_a_kept_image_is_held_until_its_run_ends(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """From its build on, the run's kept image cannot be pruned by another run (its
    pruning refuses images in use): a created container of it holds it."""
    from pytest_shipready.checks import RunContext
    from pytest_shipready.config import load
    from pytest_shipready.container import engine
    from pytest_shipready.container.build.image import docker_run
    from pytest_shipready.container.session import LABEL_KEEP, LABEL_PROJECT, final_sweep

    project = make_project(tmp_path, "FROM python:3.11-slim\nCOPY app.py /app.py\n",
                           QUIET, {"app.py": "print(1)\n"}, name="held")
    monkeypatch.setenv("PYTEST_SHIPREADY_SESSION", "")
    ctx = RunContext()
    run = docker_run(load(project), ctx)
    try:
        built = run.image()
        assert built.ref is not None and built.ref.startswith("sha256:"), built.result
        client = run.client()
        # another run of the project prunes every kept image but its own
        engine.prune_kept(client, [f"{LABEL_PROJECT}={project_key(project)}",
                                   f"{LABEL_KEEP}=true"], "sha256:other")
        assert engine.image_exists(client, built.ref)
        final_sweep(ctx, run.session, 30)  # the run ends: its holder goes
        engine.prune_kept(client, [f"{LABEL_PROJECT}={project_key(project)}",
                                   f"{LABEL_KEEP}=true"], "sha256:other")
        assert not engine.image_exists(client, built.ref)
    finally:
        remove_leftovers(project)


# --- a stalled engine ---------------------------------------------------------------------


STALL_APP = SECRET_APP
SLOW_STEP = """\
FROM python:3.11-slim
RUN echo {token}-started && sleep 12 && echo {token}-done > /done
COPY app.py /srv/app.py
USER 10001
EXPOSE 8000
CMD ["python", "/srv/app.py"]
"""


@pytest.mark.docker
@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_an_engine_stalled_during_the_build(tmp_path: Path, builder: str) -> None:
    """The engine stalls mid-build: SR210 says the engine stalled (not the step) within
    engine_timeout plus a ping, not build_timeout; the image the engine finishes later
    under the run's build tag is removed by the next run."""
    token = f"stall-{uuid.uuid4().hex[:8]}"
    extra = '[tool.shipready.image]\nbuildkit = "never"\n' if builder == "classic" else ""
    project = make_project(tmp_path, SLOW_STEP.format(token=token),
                           "[tool.shipready]\nengine_timeout = 3\n" + QUIET + extra,
                           {"app.py": STALL_APP}, name="stallbuild")
    out = tmp_path / "out"
    key = f"label=io.pytest-shipready.project={project_key(project)}"
    tags = EngineEvents("type=image", "event=tag", fmt="{{.Actor.Attributes.name}}")
    try:
        with tags, ForwarderProcess() as forwarder:
            proc = start_shipready(project, out, "-v", env={"DOCKER_HOST": forwarder.url})
            assert proc.stdout is not None
            seen = []
            for line in proc.stdout:  # the slow step's line (-v shows build steps)
                seen.append(line)
                if f"echo {token}-started" in line:
                    break
            else:
                raise AssertionError("the slow step never started:\n" + "".join(seen))
            time.sleep(1)
            forwarder.stall()
            stalled = time.monotonic()
            rest, _ = proc.communicate(timeout=120)
            took = time.monotonic() - stalled
            output = "".join(seen) + rest
            # The engine itself never stalled (its forwarder did, keeping the build's
            # connection open): it finishes the build.
            time.sleep(max(0.0, 25 - took))
        from faultutil import read_results

        results = read_results(out)
        build = results["image::build"]
        assert build["status"] == "failed", output[-3000:]
        assert "the engine stalled" in build["summary"], build["summary"]
        assert "step `" not in json.dumps(build)
        assert "Traceback" not in output
        # engine_timeout (3 s) of silence, a ping (3 s), the cleanup's attempt (3 s)
        assert took < 25, (took, output[-2000:])
        for node in ("smoke::ready", "smoke::graceful-shutdown"):
            assert results[node]["status"] in ("failed", "skipped")
        # (another run on this host may already have removed it: its owner is gone)
        made = [t for t in tags.lines if t.startswith(project_key(project) + ":build-")]
        assert made, "the engine did not finish the abandoned build: the test tests nothing"
        before = docker("images", "-a", "--no-trunc", "--filter", key, "--format",
                        "{{.ID}} {{.Tag}} {{.CreatedAt}}")
        outcome = run_shipready(project, tmp_path / "out2", timeout=120)
        assert outcome.status("image::build") == "passed", outcome.output[-3000:]
        assert wait_no_leftovers(project) == [], (before, outcome.output[-3000:])
        tags = docker("images", "--filter",
                      f"label=io.pytest-shipready.project={project_key(project)}",
                      "--format", "{{.Tag}}").split()
        assert not [t for t in tags if t.startswith("build-")], tags
    finally:
        remove_leftovers(project)


LOG_APP = '''\
import http.server, json, signal, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(json.dumps({"event": "listening", "level": "info",
                  "timestamp": "2024-05-01T12:00:00Z"}), flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
'''


@pytest.mark.docker
def test_a_stall_during_the_smoke_ends_each_item_in_one_line_in_time(tmp_path: Path
                                                                    ) -> None:
    """Stalled soon after the container started: the verdict comes within engine_timeout
    and a ping (the read of the layers was unbounded: the run hung for minutes), and
    the log items (SR501-SR505) fail with the same one line as every docker item (each
    was an error with hundreds of lines of traceback)."""
    toml = "[tool.shipready]\nengine_timeout = 3\n" + QUIET.replace(
        'SR501 = "the sample logs nothing"\nSR502 = "see SR501"\nSR503 = "see SR501"\n'
        'SR504 = "see SR501"\nSR505 = "see SR501"\n', "").replace("settle = 0.5",
                                                                  "settle = 20")
    assert "SR501" not in toml
    project = make_project(tmp_path, "FROM python:3.11-slim\nCOPY app.py /srv/app.py\n"
                           "USER 10001\nEXPOSE 8000\nCMD [\"python\", \"/srv/app.py\"]\n",
                           toml, {"app.py": LOG_APP}, name="stallsmoke")
    out = tmp_path / "out"
    try:
        with ForwarderProcess() as forwarder:
            proc = start_shipready(project, out, env={"DOCKER_HOST": forwarder.url})
            wait_for(lambda: running_containers(project), proc, 120, "the container")
            time.sleep(1)
            forwarder.stall()
            stalled = time.monotonic()
            output, _ = proc.communicate(timeout=200)
            took = time.monotonic() - stalled
        from faultutil import read_results

        results = read_results(out)
        assert took < 20, (took, output[-3000:])
        lost = [r["summary"] for r in results.values()
                if str(r["summary"]).startswith("lost the Docker engine at ")]
        assert lost, output[-3000:]
        line = lost[0]
        for node in ("logs::structured", "logs::required-keys", "logs::levels-and-timestamps",
                     "logs::exceptions-structured", "logs::no-secrets"):
            assert results[node]["status"] == "failed", (node, results[node])
            assert results[node]["summary"] == line
        assert "Traceback" not in output and "urllib3" not in output
        assert len(output.splitlines()) < 400, len(output.splitlines())
    finally:
        remove_leftovers(project)
        assert leftovers(project) == []


# --- a hostile .dockerignore ----------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_a_hostile_dockerignore_is_matched_in_bounded_time(tmp_path: Path,
                                                           builder: str) -> None:
    """30 lines of `**/**/**/**/*a*b*c*d*` over 3,000 files: docker-py's own matcher
    took minutes (the classic build's context is now made with the project's matcher,
    once, which also serves the content hash)."""
    extra = '[tool.shipready.image]\nbuildkit = "never"\n' if builder == "classic" else ""
    project = make_project(tmp_path, "FROM python:3.11-slim\nCOPY app.py /srv/app.py\n"
                           "COPY pkg/ /srv/pkg/\nUSER 10001\nEXPOSE 8000\n"
                           "CMD [\"python\", \"/srv/app.py\"]\n", QUIET + extra,
                           {"app.py": SECRET_APP}, name="hostileignore")
    for i in range(3000):
        d = project / "pkg" / f"abcabc{i % 7}" / f"abcab{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"abcabcabcabcabcabc{i}.py").write_text("x = 1\n")
    (project / ".dockerignore").write_text("\n".join(["**/**/**/**/*a*b*c*d*"] * 30) + "\n")
    try:
        outcome = run_shipready(project, tmp_path / "out", timeout=300)
        assert outcome.status("image::build") == "passed", outcome.output[-3000:]
        assert outcome.seconds < 120, outcome.seconds
        assert wait_no_leftovers(project) == []
    finally:
        remove_leftovers(project)


def test_the_classic_build_never_uses_docker_pys_context_walk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The classic builder gets a tar made from the project's own walk, so docker-py's
    exclude_paths (minutes on a hostile .dockerignore) is never called."""
    import docker.utils.build  # type: ignore[import-untyped]

    from pytest_shipready.container.build import contexttar

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("docker-py's exclude_paths was called")

    monkeypatch.setattr(docker.utils.build, "exclude_paths", refuse)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.py").write_text("x")
    (tmp_path / "skip.txt").write_text("x")
    (tmp_path / ".dockerignore").write_text("skip.txt\n")
    walked = context.walk(tmp_path, tmp_path / "Dockerfile", classic=True, full=True)
    assert walked.files == (".dockerignore", "a/x.py")
    with contexttar.context_tar(tmp_path, walked.files, {"Dockerfile": b"FROM x\n"}) as fh, \
            tarfile.open(fileobj=fh) as tar:
        assert sorted(tar.getnames()) == [".dockerignore", "Dockerfile", "a", "a/x.py"]


@pytest.mark.docker
def test_the_classic_context_holds_an_ignored_dockerfile(tmp_path: Path) -> None:
    """A .dockerignore that leaves out the Dockerfile and itself: the docker CLI sends
    both anyway (the engine keeps them out of COPY); so does the classic fallback."""
    project = make_project(tmp_path, "FROM python:3.11-slim\nCOPY . /srv/\nUSER 10001\n"
                           "EXPOSE 8000\nCMD [\"python\", \"/srv/app.py\"]\n",
                           QUIET + '[tool.shipready.image]\nbuildkit = "never"\n',
                           {"app.py": SECRET_APP, ".dockerignore": "Dockerfile\n.dockerignore\n"
                            "pyproject.toml\n"}, name="ignoredfile")
    try:
        outcome = run_shipready(project, tmp_path / "out", "-k", "build", timeout=300)
        assert outcome.status("image::build") == "passed", outcome.output[-3000:]
        kept = docker("images", "-q", "--filter",
                      f"label=io.pytest-shipready.project={project_key(project)}").split()
        listing = docker("run", "--rm", kept[0], "ls", "-a", "/srv").split()
        assert sorted(listing) == [".", "..", "app.py"], listing
    finally:
        remove_leftovers(project)


# --- the build speaks -------------------------------------------------------------------------


@pytest.mark.docker
def test_buildkit_steps_feed_the_progress_output(tmp_path: Path) -> None:
    project = make_project(tmp_path, "FROM python:3.11-slim AS b\nRUN echo one > /one\n"
                           "FROM python:3.11-slim\nCOPY --from=b /one /one\n"
                           "COPY app.py /srv/app.py\nUSER 10001\nEXPOSE 8000\n"
                           "CMD [\"python\", \"/srv/app.py\"]\n", QUIET,
                           {"app.py": SECRET_APP}, name="speaks")
    try:
        outcome = run_shipready(project, tmp_path / "out", "-v", "-k", "build",
                                timeout=300)
        assert outcome.status("image::build") == "passed"
        steps = [ln for ln in outcome.output.splitlines() if ln.strip().startswith("build: #")]
        assert any("[stage-1 2/3] COPY --from=b /one /one" in s for s in steps), \
            outcome.output[-3000:]
    finally:
        remove_leftovers(project)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


# --- configuration of build secrets ---------------------------------------------------------


@pytest.mark.parametrize(("secrets", "says"), [
    ({"tok": "PIP_TOKEN"}, 'must be "env:NAME" (an environment variable) or "file:PATH"'),
    ({"tok": "env:"}, 'must be "env:NAME"'),
    ({"tok": "env:NOT A NAME"}, "is not an environment variable name"),
    ({"bad id!": "env:X"}, "id 'bad id!'"),
])
def test_secrets_config_is_validated(tmp_path: Path, secrets: dict[str, str], says: str
                                     ) -> None:
    from pytest_shipready.config import ConfigError, load

    body = ", ".join(f'"{k}" = "{v}"' for k, v in secrets.items())
    (tmp_path / "pyproject.toml").write_text(f"[tool.shipready.image]\nsecrets = {{{body}}}\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    assert says in str(info.value) and "pyproject.toml" in str(info.value)


def test_build_secret_values_are_masked_whole_and_by_line(tmp_path: Path) -> None:
    from pytest_shipready.secrets import build_secret_values, redact_text

    (tmp_path / "netrc").write_text("machine index login bot password s3cr3t-pass\n")
    values = build_secret_values({"a": "env:TOKEN_X", "b": "file:netrc", "c": "file:none"},
                                 tmp_path, {"TOKEN_X": "tok-123456"})
    text = redact_text("token tok-123456; machine index login bot password s3cr3t-pass",
                       values)
    assert "tok-123456" not in text and "s3cr3t-pass" not in text
