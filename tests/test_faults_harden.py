"""Faults of issue 20 against a real engine: a log whose lines are too long to keep
(judged by their start, never passed over), secrets at rest in pytest's cache and in the
`-v` build lines, a hand-made layers entry in the cache. Same invariants as
tests/test_faults.py: a verdict in time, no traceback, nothing left, files intact."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_faults import GOOD_APP, GOOD_DOCKERFILE, VERDICT_BUDGET, Faults, pyproject

pytestmark = pytest.mark.docker

LOG_CHECKS_ON = (
    'SR501 = "the fault samples print plain text; log checks have their own tests"\n'
    'SR502 = "see SR501"\nSR503 = "see SR501"\nSR504 = "see SR501"\nSR505 = "see SR501"\n')


@pytest.fixture
def faults(tmp_path: Path) -> Iterator[Faults]:
    f = Faults(tmp_path)
    yield f
    f.close()


def _json_line(event: str) -> str:
    return json.dumps({"event": event, "level": "info",
                       "timestamp": "2024-05-01T12:00:00Z"})


# --- no PASS over lines never read ------------------------------------------------------


LONG_FIRST_LINE_APP = '''\
import json, sys
# A first line longer than the cap: plain text, with a password in it.
sys.stdout.write("startup password=hunter2-MARKER " + "x" * 1_500_000 + "\\n")
for i in range(50):
    sys.stdout.write(JSON_LINE + "\\n")
# After the cap: a text line longer than 16 KB.
sys.stdout.write("plain text " + "y" * 40_000 + "\\n")
sys.stdout.flush()
''' + GOOD_APP.replace('print("listening on 8000", flush=True)\n', "")


def test_lines_too_long_to_keep_are_judged_by_their_start(faults: Faults) -> None:
    """The cap is 1 MB here (the same path as 16 MB, in a second): the first line is
    longer; before, it was neither kept nor sampled, and SR501/SR505 passed ("all JSON
    objects", "free of secrets") over the 50 JSON lines after it."""
    marker = uuid.uuid4().hex[:10]
    toml = pyproject(extra="[tool.shipready.logs]\nmax_log_mb = 1\n").replace(
        LOG_CHECKS_ON, "")
    app = LONG_FIRST_LINE_APP.replace("MARKER", marker).replace(
        "JSON_LINE", repr(_json_line("tick")))
    project = faults.project(toml=toml, files={"app.py": app})
    outcome = faults.run(project)
    structured, secrets = outcome.summary("logs::structured"), \
        outcome.summary("logs::no-secrets")
    assert outcome.status("logs::structured") == "failed", structured
    assert "2 of 52 lines checked are not JSON objects" in structured, structured
    assert "2 lines longer than 16 KB: 2 judged by their first 16 KB only" in structured
    assert outcome.status("logs::no-secrets") == "failed", secrets
    assert f"hunter2-{marker}" not in outcome.output
    # The keys of the lines read whole are still checked, and say what was not.
    assert outcome.status("logs::required-keys") == "passed"
    assert "not their keys, levels or exceptions" in outcome.summary("logs::required-keys")
    assert outcome.seconds < VERDICT_BUDGET


# --- secrets at rest and in -v build lines ------------------------------------------------


def test_build_arg_and_env_values_are_never_written_nor_shown(faults: Faults) -> None:
    token = "tok" + uuid.uuid4().hex
    url_password = "urlpw" + uuid.uuid4().hex[:10]
    api_key = "key" + uuid.uuid4().hex
    dockerfile = GOOD_DOCKERFILE.replace(
        "COPY app.py", f"ARG NOTE\nARG SETUP_TOKEN\nENV API_KEY={api_key}\n"
        'RUN echo "$NOTE $SETUP_TOKEN" > /step\nCOPY app.py')
    toml = pyproject(extra=(
        "[tool.shipready.image]\nbuild_args = { NOTE = "
        f'"https://bob:{url_password}@pypi.example/simple", SETUP_TOKEN = "{token}" }}\n'))
    project = faults.project(dockerfile=dockerfile, toml=toml)
    outcome = faults.run(project, "-v", "-o", f"cache_dir={project}/.pytest_cache",
                         "-p", "cacheprovider")
    assert outcome.status("image::contents-secrets") == "passed", outcome.output[-3000:]
    # shown masked where the builder prints them: the legacy builder's ENV step, BuildKit's
    # RUN step with the build arguments expanded
    assert ("ENV API_KEY=***" in outcome.output
            or 'RUN echo "https://bob:***@pypi.example/simple ***"' in outcome.output), \
        outcome.output[:5000]
    kept = "\n".join(p.read_text() for p in
                     (project / ".pytest_cache").rglob("*") if p.is_file())
    assert "contents" in kept and "SETUP_TOKEN=***" in kept, kept[:2000]
    for value in (token, url_password, api_key):
        assert value not in outcome.output
        assert value not in kept


# --- a hand-made layers entry is no verdict -----------------------------------------------


def test_a_hand_made_layers_entry_is_not_trusted(faults: Faults) -> None:
    """An entry with the right key and one empty layer: before, SR220 passed from it ("no
    private keys ... in the 1 layers") while the image holds a .env file."""
    dockerfile = GOOD_DOCKERFILE.replace(
        "COPY app.py", 'RUN echo "TOKEN=abc123" > /srv.env && mv /srv.env /.env\nCOPY app.py')
    project = faults.project(dockerfile=dockerfile)
    cache = ("-o", f"cache_dir={project}/.pytest_cache", "-p", "cacheprovider")
    first = faults.run(project, *cache)
    assert first.status("image::contents-secrets") == "failed", first.output[-3000:]
    (entry,) = (project / ".pytest_cache" / "v" / "shipready" / "contents").iterdir()
    data = json.loads(entry.read_text())
    data["contents"] = {"layers": [{"secrets": [], "caches": {}, "compilers": [],
                                    "files": {}, "deleted": [], "git_dirs": [],
                                    "pycache": 0}], "created_by": [""]}
    entry.write_text(json.dumps(data))
    again = faults.run(project, *cache)
    summary = again.summary("image::contents-secrets")
    assert again.status("image::contents-secrets") == "failed", summary
    assert "read from the cache" not in summary
