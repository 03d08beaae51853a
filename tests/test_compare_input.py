"""--shipready-compare reads a file the user names: whatever it holds (JSON nested too
deeply, a report or SBOM edited into another shape, a huge file) is a usage error that
names it, before the run, never an INTERNALERROR or a crash in the terminal summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_shipready import sbom

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "shipped"
REPORT = "pytest-shipready/report"
BAD = {
    "deep-list.json": "[" * 100_000 + "]" * 100_000,
    "deep-image.json": f'{{"schema": "{REPORT}", "image": ' + '{"a": ' * 50_000 + "1"
                       + "}" * 50_000 + "}",
    "packages-not-objects.json": json.dumps({"schema": REPORT, "image": {"packages": [1]}}),
    "package-without-version.json": json.dumps(
        {"schema": REPORT, "image": {"packages": [{"name": "six"}]}}),
    "packages-not-a-list.json": json.dumps({"schema": REPORT, "image": {"packages": "six"}}),
    "size-not-bytes.json": json.dumps({"schema": REPORT, "image": {"size": "big"}}),
    "base-not-an-object.json": json.dumps({"schema": REPORT, "image": {"base": ["x"]}}),
    "sbom-metadata-list.json": json.dumps({"bomFormat": "CycloneDX", "metadata": ["x"]}),
    "sbom-components-junk.json": json.dumps({"bomFormat": "CycloneDX", "components": [1]}),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_malformed_previous_report_is_a_value_error_naming_it(tmp_path: Path,
                                                                name: str) -> None:
    path = tmp_path / name
    path.write_text(BAD[name])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        sbom.previous(path)


def test_a_huge_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:
        fh.truncate(65 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(ValueError, match="is over 64 MB: not a report"):
        sbom.previous(path)


@pytest.mark.parametrize("name", ["deep-list.json", "packages-not-objects.json",
                                  "sbom-components-junk.json"])
def test_the_option_turns_them_into_a_usage_error(pytester: pytest.Pytester,
                                                  name: str) -> None:
    (pytester.path / "old.json").write_text(BAD[name])
    result = pytester.runpytest_subprocess("--shipready", "--shipready-compare=old.json",
                                           "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines(["*--shipready-compare: *old.json*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_report_as_written_is_still_read() -> None:
    image = sbom.previous(FIXTURES / "previous-report.json")
    assert isinstance(image["packages"], list) and image["packages"]
