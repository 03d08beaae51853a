"""SR221 counts what apt leaves in the image's own layers (issue 21, item 11):
/var/lib/apt/lists after `apt-get update`, /var/cache/apt after `apt-get install`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_contents import saved

from conftest import EXAMPLE
from pytest_shipready.checks import Status
from pytest_shipready.container.inspect import contents

FIXTURES = Path(__file__).parent / "fixtures"


def test_apt_lists_and_cache_in_the_images_own_layers() -> None:
    image = contents.scan(saved([
        ("/bin/sh -c #(nop) ADD file:base in /", {  # the base image's: not judged
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease": b"b" * 500_000}),
        ("/bin/sh -c apt-get update && apt-get install -y tini", {
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages":
                b"p" * 3_000_000,
            "var/lib/apt/lists/lock": b"",
            "var/cache/apt/pkgcache.bin": b"c" * 2_000_000,
            "usr/bin/tini": b"t" * 1000}),
    ]))
    result = contents.check_waste(image, 4, multi_stage=False, own_from=1)
    assert result.status == Status.FAILED, result
    assert result.summary == "5.0 MB wasted, over the 4 MB budget"
    assert [f.message for f in result.findings] == [
        "apt's cache: 2.0 MB in layer 2 (`RUN apt-get update && apt-get install -y tini`)",
        "apt's package lists: 3.0 MB in layer 2 (`RUN apt-get update && apt-get install -y "
        "tini`)"]
    assert "rm -rf /var/lib/apt/lists/*" in result.findings[0].hint
    # removed in the same RUN: nothing lands in the layer
    clean = contents.scan(saved([("/bin/sh -c apt-get update && ... && rm -rf "
                                  "/var/lib/apt/lists/*", {"usr/bin/tini": b"t"})]))
    assert contents.check_waste(clean, 4, False, 0).status == Status.PASSED


@pytest.mark.docker
def test_apt_left_in_the_image_against_the_engine(tmp_path: Path) -> None:
    from test_validation_shapes import readiness

    project = tmp_path / "aptlists"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "*.pyc", "pyproject.toml"))
    shutil.copytree(FIXTURES / "apt-lists", project, dirs_exist_ok=True)
    proc, results = readiness(project, "-k", "SR221")
    waste = results["image::contents-waste"]
    assert waste["status"] == "failed", (waste, proc.stdout[-3000:])
    messages = [f["message"] for f in waste["findings"]]  # type: ignore[union-attr]
    assert any(m.startswith("apt's package lists: ") and "(`RUN apt-get update && apt-get "
               "install -y --no-install-recommends tini`)" in m for m in messages), messages
