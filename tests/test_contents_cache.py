"""SR220/SR221's read of the layers: kept in pytest's cache per image ID, read in the
background from the build on. The key and the kept form (pure), then the real engine:
a second run reads nothing, a changed image is read again, a failed or over-budget read
in the background ends in the items' verdicts."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_contents import KEY, saved

from conftest import REPO, remove_kept_image
from pytest_shipready.checks import CheckResult, Status
from pytest_shipready.container.inspect import contents, contentscache

FIXTURE = REPO / "tests" / "fixtures" / "layers-cache"
IMAGE_ID = "sha256:" + "1a2b3c4d5e6f" + "0" * 52


class JsonCache:
    """pytest's cache as the plugin sees it (checks.ResultCache), in memory."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any) -> Any:
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key: str, value: Any) -> None:
        self.data[key] = json.dumps(value)  # what pytest's cache does: JSON or nothing


def leaky() -> contents.ImageContents:
    return contents.scan(saved([
        ("/bin/sh -c #(nop) ADD file:base in /", {"usr/bin/gcc": b"base gcc",
                                                   "usr/lib/x.so": b"l" * 500}),
        ("/bin/sh -c #(nop) COPY dir:def in /srv", {
            "srv/.env": b"TOKEN=s3cr3t\n", "srv/certs/server.key": KEY,
            "srv/keep.txt": b"k" * 700, "srv/.git/HEAD": b"ref: refs/heads/main\n",
            "srv/app/__pycache__/m.cpython-311.pyc": b"q" * 2000}),
        ("/bin/sh -c pip install -r requirements.txt", {
            "root/.cache/pip/http/a": b"c" * 2_000_000, "srv/blob": b"b" * 3_000_000}),
        ("/bin/sh -c rm -rf /srv/blob /srv/certs", {"srv/.wh.blob": b"",
                                                      "srv/.wh.certs": b""}),
        ("/bin/sh -c cp /bin/true /usr/bin/gcc", {"usr/bin/gcc": b"y"}),
    ]))


def test_the_kept_scan_gives_the_same_verdicts_and_only_the_files_deleted_later() -> None:
    scanned = leaky()
    data = contents.to_json(scanned)
    back = contents.from_json(json.loads(json.dumps(data)))
    assert contents.check_secrets(back) == contents.check_secrets(scanned)
    for budget, multi in ((50, False), (4, False), (50, True), (0.001, True)):
        assert contents.check_waste(back, budget, multi, 1) == \
            contents.check_waste(scanned, budget, multi, 1)
    assert contents.check_secrets(back).status == Status.FAILED  # something was kept
    assert contents.check_waste(back, 4, False, 1).summary == \
        "5.0 MB wasted, over the 4 MB budget"
    # Of the files, only those a later layer deletes (the judgement reads no others).
    kept_files = [sorted(layer["files"]) for layer in data["layers"]]  # type: ignore[index]
    assert kept_files == [[], ["srv/certs/server.key"], ["srv/blob"], [], []]


def test_a_kept_scan_that_is_not_one_is_refused() -> None:
    for bad in (None, [], {"layers": "x", "created_by": []}, {"layers": [{}]},
                {"layers": [], "created_by": None}):
        with pytest.raises(ValueError, match="not a kept scan"):
            contents.from_json(bad)


def test_the_key_is_the_image_the_scan_rules_and_the_plugin_version() -> None:
    key = contentscache.cache_key(IMAGE_ID, "1.2.3")
    assert key == f"{IMAGE_ID} scan-{contents.SCAN_VERSION} pytest-shipready-1.2.3"
    assert contentscache.cache_key(IMAGE_ID, "1.2.4") != key
    assert contentscache.cache_key("sha256:" + "f" * 64, "1.2.3") != key
    assert contentscache.cache_key(IMAGE_ID).startswith(f"{IMAGE_ID} scan-")
    # One entry per Dockerfile and target: a new image replaces the old one.
    assert contentscache.slot("Dockerfile", "") == contentscache.slot("Dockerfile", "")
    assert contentscache.slot("Dockerfile", "") != contentscache.slot("Dockerfile", "prod")
    assert contentscache.slot("a/Dockerfile", "").startswith("shipready/contents/")


def test_store_and_lookup_through_a_json_cache() -> None:
    cache = JsonCache()
    where = contentscache.slot("Dockerfile", "")
    key = contentscache.cache_key(IMAGE_ID, "1.2.3")
    assert contentscache.lookup(cache, where, key) is None
    contentscache.store(cache, where, key, leaky())
    found = contentscache.lookup(cache, where, key)
    assert found is not None
    assert contents.check_secrets(found) == contents.check_secrets(leaky())
    assert contentscache.lookup(cache, where, key.replace("1.2.3", "1.2.4")) is None
    assert contentscache.lookup(cache, contentscache.slot("Dockerfile", "x"), key) is None
    assert contentscache.lookup(None, where, key) is None
    cache.set(where, {"key": key, "contents": {"layers": 3}})  # damaged: read again
    assert contentscache.lookup(cache, where, key) is None


def test_a_verdict_from_the_cache_says_so_and_for_which_image() -> None:
    passed = CheckResult.passed("SR220", "no private keys ... in the 5 layers", layers=5)
    marked = contentscache.mark_cached(passed, IMAGE_ID)
    assert marked.status == Status.PASSED
    assert marked.summary == ("no private keys ... in the 5 layers; layers read from the "
                              "cache for image 1a2b3c4d5e6f (--cache-clear reads them again)")
    assert marked.figures == {"layers": 5, "cached_image": "1a2b3c4d5e6f"}
    failed = CheckResult.failed("SR221", "3.0 MB wasted", [])
    assert "read from the cache for image 1a2b3c4d5e6f" in \
        contentscache.mark_cached(failed, IMAGE_ID).summary
    skipped = CheckResult.skipped("SR220", "the image has no layers to read")
    assert contentscache.mark_cached(skipped, IMAGE_ID) == skipped


# --- the real engine ------------------------------------------------------------------


@pytest.fixture
def sample(pytester: pytest.Pytester) -> Iterator[Path]:
    """A copy of tests/fixtures/layers-cache with a unique name (its image's tag)."""
    target = pytester.path / f"layers{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURE, target)
    yield target
    remove_kept_image(target)


def readiness(pytester: pytest.Pytester, project: Path, *args: str
              ) -> dict[str, dict[str, Any]]:
    """The build and layer items of ``pytest --shipready`` with pytest's cache on (in
    ``project/.pytest_cache``, which the sample's .dockerignore leaves out of the image);
    the results by node id."""
    report = project.parent / "report.json"  # outside the build context
    result = pytester.runpytest_subprocess(
        "--shipready-only", "--shipready-offline", "-p", "no:randomly",
        "-k", "SR210 or SR220 or SR221", f"--rootdir={project}",
        f"--shipready-project={project}", "-c", str(project / "pyproject.toml"),
        f"--shipready-report={report}", *args, timeout=300)
    assert report.is_file(), result.stdout.str()[-3000:]
    doc = json.loads(report.read_text())
    results = {r["nodeid"].removeprefix("shipready::"): r for r in doc["results"]}
    # The image's ID now: the next build of the project prunes it (keep = true).
    tag = results["image::build"]["figures"]["tag"]
    results["image"] = {"id": subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", tag], capture_output=True, text=True,
        check=True, timeout=60).stdout.strip()}
    return results


LAYERS = ("image::contents-secrets", "image::contents-waste")


def image_id(results: dict[str, dict[str, Any]]) -> str:
    return str(results["image"]["id"])


def verdict(result: dict[str, Any]) -> tuple[str, list[str], float]:
    return (result["status"], [f["message"] for f in result["findings"]],
            result["figures"].get("wasted_mb", -1))


@pytest.mark.docker
def test_a_second_run_takes_the_layers_from_the_cache(pytester: pytest.Pytester,
                                                      sample: Path) -> None:
    first = readiness(pytester, sample)
    second = readiness(pytester, sample)
    short = image_id(first).removeprefix("sha256:")[:12]
    assert image_id(second).removeprefix("sha256:")[:12] == short
    # The first run read the layers in the background, from the build on.
    assert first["image::contents-secrets"]["phases"]["layers"] > 0
    assert "layers" not in second["image::contents-secrets"].get("phases", {})
    for node in LAYERS:
        assert "cache" not in first[node]["summary"], first[node]
        assert verdict(second[node]) == verdict(first[node])
        assert second[node]["summary"] == (
            f"{first[node]['summary']}; layers read from the cache for image {short} "
            "(--cache-clear reads them again)")
        assert second[node]["figures"]["cached_image"] == short
    # Both verdicts have findings: the kept scan keeps what failed them.
    status, found, _ = verdict(first["image::contents-secrets"])
    assert status == "failed" and len(found) == 1
    assert found[0].startswith("/srv/deploy/.pypirc looks like a secret (PyPI credentials), "
                               "in layer ")
    assert first["image::contents-waste"]["status"] == "failed"
    assert "2.0 MB of layer" in verdict(first["image::contents-waste"])[1][0]
    assert first["image::contents-waste"]["figures"]["wasted_mb"] == 2.0
    # A file the Dockerfile never copies does not change the content hash (nor the
    # image); a build argument the Dockerfile never uses does: new labels and a new
    # image ID, but the same layers: still read from the cache.
    (sample / "NOTES.md").write_text("not in the image\n")
    assert image_id(readiness(pytester, sample)) == image_id(first)
    toml = sample / "pyproject.toml"
    toml.write_text(toml.read_text().replace(
        "[tool.shipready.image]\n",
        '[tool.shipready.image]\nbuild_args = {UNUSED_BY_THE_DOCKERFILE = "1"}\n'))
    third = readiness(pytester, sample)
    assert image_id(third) != image_id(first)
    assert "layers" not in third["image::contents-secrets"].get("phases", {})
    for node in LAYERS:
        assert verdict(third[node]) == verdict(first[node])
        assert "layers read from the cache for image" in third[node]["summary"]


@pytest.mark.docker
def test_a_changed_image_cache_clear_and_no_cacheprovider_read_the_layers_again(
        pytester: pytest.Pytester, sample: Path) -> None:
    first = readiness(pytester, sample)
    uncached = readiness(pytester, sample, "-p", "no:cacheprovider")
    (sample / "app.txt").write_text("version 2\n")  # a new image
    changed = readiness(pytester, sample)
    assert image_id(changed) != image_id(first)
    cleared = readiness(pytester, sample, "--cache-clear")
    for node in LAYERS:
        for run in (uncached, changed, cleared):
            assert "cache" not in run[node]["summary"], run[node]
            assert verdict(run[node]) == verdict(first[node])
    again = readiness(pytester, sample)  # what --cache-clear read was kept again
    assert "read from the cache for image" in again["image::contents-secrets"]["summary"]


def _docker_run(tmp_path: Path, ref: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A DockerRun whose image is ``ref`` (as if built), with a real engine client."""
    from pytest_shipready.checks import RunContext
    from pytest_shipready.config import Settings, ShipreadyConfig
    from pytest_shipready.container.build.image import BuiltImage, DockerRun
    from pytest_shipready.container.session import ENV_VAR, current

    monkeypatch.delenv(ENV_VAR, raising=False)  # current() sets it; restored after
    run = DockerRun(Settings(tmp_path, None, ShipreadyConfig()), RunContext(),
                    current(is_worker=False))
    run._image = BuiltImage(CheckResult.passed("SR210"), ref, True)
    assert run.client() is not None, run.unavailable
    return run


@pytest.mark.docker
def test_a_read_that_fails_in_the_background_fails_both_items(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_shipready.container.inspect.contentsrun import ContentsRun

    missing = f"pytest-shipready-test/no-such-image:{uuid.uuid4().hex[:8]}"
    run = _docker_run(tmp_path, missing, monkeypatch)
    layers = ContentsRun(run)
    layers.prefetch()
    layers.begin()
    assert layers._thread is not None  # read in the background
    secrets, waste = layers.secrets(), layers.waste()
    for check_id, result in (("SR220", secrets), ("SR221", waste)):
        assert (result.check_id, result.status, result.summary) == (
            check_id, Status.FAILED, "cannot read the image's layers")
        assert missing in result.findings[0].message
    assert run.context.close() == []
    assert not layers._thread.is_alive()


@pytest.mark.docker
def test_a_read_past_the_run_budget_fails_and_is_stopped_by_the_cleanups(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_shipready.container.inspect.contentsrun import ContentsRun

    run = _docker_run(tmp_path, "python:3.11-slim", monkeypatch)
    run.context.budget, run.context.spent = 60.0, 60.0  # nothing left to wait with
    layers = ContentsRun(run)
    layers.prefetch()
    layers.begin()
    thread = layers._thread
    assert thread is not None
    result = layers.secrets()
    assert (result.status, result.summary) == (Status.FAILED,
                                               "cannot read the image's layers")
    assert "did not finish within what was left of the run's budget" in \
        result.findings[0].message
    assert layers.waste().summary == "cannot read the image's layers"  # read once
    assert run.context.close() == []
    assert not thread.is_alive()  # the cleanup stopped the read and joined it
