"""What is shipped, written down: the CycloneDX SBOM (against a subset of the CycloneDX 1.5
JSON schema), the report's image section, and --shipready-compare."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_shipready import report, sbom
from pytest_shipready.config import Settings, ShipreadyConfig

FIXTURES = Path(__file__).parent / "fixtures" / "shipped"
REPORT_SCHEMA = json.loads(report.SCHEMA_FILE.read_text())

# The part of https://cyclonedx.org/schema/bom-1.5.schema.json that the SBOM uses, with
# the same constraints (component types, hash algorithms and contents, no other keys).
_HASH = {"type": "object", "required": ["alg", "content"], "additionalProperties": False,
         "properties": {
             "alg": {"enum": ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512", "SHA3-256",
                              "SHA3-384", "SHA3-512", "BLAKE2b-256", "BLAKE2b-384",
                              "BLAKE2b-512", "BLAKE3"]},
             "content": {"type": "string", "pattern": "^([a-fA-F0-9]{32}|[a-fA-F0-9]{40}|"
                         "[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$"}}}
_PROPERTY = {"type": "object", "required": ["name"], "additionalProperties": False,
             "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}
_COMPONENT = {
    "type": "object", "required": ["type", "name"], "additionalProperties": False,
    "properties": {
        "type": {"enum": ["application", "framework", "library", "container", "platform",
                          "operating-system", "device", "device-driver", "firmware", "file",
                          "machine-learning-model", "data"]},
        "bom-ref": {"type": "string"}, "name": {"type": "string"},
        "version": {"type": "string"}, "purl": {"type": "string"},
        "hashes": {"type": "array", "items": _HASH},
        "properties": {"type": "array", "items": _PROPERTY},
    }}
CYCLONEDX_15_SUBSET = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object", "required": ["bomFormat", "specVersion"],
    "properties": {
        "$schema": {"type": "string"},
        "bomFormat": {"const": "CycloneDX"}, "specVersion": {"const": "1.5"},
        "serialNumber": {"type": "string", "pattern": "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-"
                         "[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"},
        "version": {"type": "integer", "minimum": 1},
        "metadata": {"type": "object", "additionalProperties": False, "properties": {
            "timestamp": {"type": "string", "format": "date-time"},
            "tools": {"type": "object", "additionalProperties": False, "properties": {
                "components": {"type": "array", "items": _COMPONENT}}},
            "component": _COMPONENT}},
        "components": {"type": "array", "items": _COMPONENT},
        "dependencies": {"type": "array", "items": {
            "type": "object", "required": ["ref"], "additionalProperties": False,
            "properties": {"ref": {"type": "string"},
                           "dependsOn": {"type": "array", "items": {"type": "string"}}}}},
    },
}

IMAGE: dict[str, Any] = {
    "ref": "pytest-shipready/svc:0123456789ab", "id": "sha256:" + "a" * 64,
    "repo_digests": [], "size": 150_000_000,
    "base": {"name": "python:3.11-slim", "id": "sha256:" + "b" * 64, "repo_digests": []},
    "python": "3.11.2", "interpreter": "/usr/local/bin/python", "lock": "requirements.txt",
    "packages": [
        {"name": "structlog", "version": "26.1.0", "hashes": ["sha256:" + "c" * 64,
                                                               "sha256:" + "d" * 64]},
        {"name": "Typing_Extensions", "version": "4.12.2+local", "hashes": []},
        {"name": "pip", "version": "24.0", "hashes": []},
    ],
}


def check_sbom(bom: dict[str, Any]) -> None:
    jsonschema.validate(bom, CYCLONEDX_15_SUBSET)
    refs = [c["bom-ref"] for c in bom["components"]] + [bom["metadata"]["component"]["bom-ref"]]
    assert len(refs) == len(set(refs)), "bom-refs are unique"
    for dep in bom["dependencies"]:
        assert {dep["ref"], *dep["dependsOn"]} <= set(refs), "every ref names a component"


def test_sbom_is_cyclonedx_15_with_purls_hashes_and_the_image() -> None:
    bom = sbom.cyclonedx(IMAGE, serial="urn:uuid:12345678-1234-1234-1234-123456789abc",
                         timestamp="2026-12-01T12:00:00+00:00", tool_version="0.1.0")
    check_sbom(bom)
    subject = bom["metadata"]["component"]
    assert subject["type"] == "container"
    assert subject["name"] == "pytest-shipready/svc"
    assert subject["version"] == IMAGE["id"]
    assert subject["hashes"] == [{"alg": "SHA-256", "content": "a" * 64}]
    libraries = {c["name"]: c for c in bom["components"] if c["type"] == "library"}
    assert libraries["structlog"]["purl"] == "pkg:pypi/structlog@26.1.0"
    assert [h["content"] for h in libraries["structlog"]["hashes"]] == ["c" * 64, "d" * 64]
    assert libraries["Typing_Extensions"]["purl"] == "pkg:pypi/typing-extensions@4.12.2%2Blocal"
    assert "hashes" not in libraries["pip"]  # nothing from the lock: no hashes made up
    base = next(c for c in bom["components"] if c["type"] == "container")
    assert (base["name"], base["version"]) == ("python", "3.11-slim")
    with pytest.raises(jsonschema.ValidationError):  # the subset does reject bad shapes
        jsonschema.validate({**bom, "specVersion": "1.4"}, CYCLONEDX_15_SUBSET)


def test_sbom_beside_the_report() -> None:
    assert sbom.sbom_path(Path("out/report.json")) == Path("out/report.cdx.json")
    assert sbom.sbom_path(Path("out/report.md")) == Path("out/report.cdx.json")
    assert sbom.sbom_path(Path("report")) == Path("report.cdx.json")


def test_report_carries_the_image_section(tmp_path: Path) -> None:
    doc = report.build(Settings(tmp_path, None, ShipreadyConfig()), [], image=IMAGE)
    jsonschema.validate(doc, REPORT_SCHEMA)
    assert doc["image"] == IMAGE
    assert "image" not in report.build(Settings(tmp_path, None, ShipreadyConfig()), [])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "image": {**IMAGE, "packages": [{"name": "x"}]}},
                            REPORT_SCHEMA)


def test_compare_names_what_changed() -> None:
    previous = json.loads((FIXTURES / "previous-report.json").read_text())
    jsonschema.validate(previous, REPORT_SCHEMA)
    old = previous["image"]
    changes = sbom.compare(old, IMAGE)
    assert changes.added == (("Typing_Extensions", "4.12.2+local"),)
    assert changes.removed == (("requests", "2.31.0"),)
    assert changes.upgraded == (("structlog", "25.4.0", "26.1.0"),)
    assert changes.downgraded == (("pip", "24.2", "24.0"),)
    lines = sbom.describe(changes)
    assert lines[0] == f"image: sha256:{'0' * 12} -> sha256:{'a' * 12}"
    assert lines[1] == "size: 140.0 MB -> 150.0 MB (+10.0 MB)"
    assert lines[2].startswith("base image: python:3.11-slim (sha256:") and "->" in lines[2]
    assert lines[3] == ("packages: 1 added, 1 removed, 1 upgraded, 1 downgraded, "
                        "0 unchanged")
    assert lines[4:] == ["  + Typing_Extensions 4.12.2+local", "  - requests 2.31.0",
                         "  ^ structlog 25.4.0 -> 26.1.0", "  v pip 24.2 -> 24.0"]
    same = sbom.describe(sbom.compare(IMAGE, IMAGE))
    assert same[0].startswith("image: unchanged") and "(+0.0 MB)" in same[1]


def test_compare_reads_an_earlier_sbom_too(tmp_path: Path) -> None:
    bom = sbom.cyclonedx(IMAGE, serial="urn:uuid:12345678-1234-1234-1234-123456789abc",
                         timestamp="2026-12-01T12:00:00+00:00", tool_version="0.1.0")
    path = tmp_path / "report.cdx.json"
    path.write_text(json.dumps(bom))
    back = sbom.previous(path)
    assert back["id"] == IMAGE["id"] and back["size"] == IMAGE["size"]
    changes = sbom.compare(back, IMAGE)
    assert (changes.added, changes.removed, changes.upgraded, changes.unchanged) == \
        ((), (), (), 3)
    assert changes.base[0] == changes.base[1]


def test_compare_with_a_file_that_is_not_a_report_says_what_it_is(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read .*missing\.json: No such file"):
        sbom.previous(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="neither a pytest-shipready JSON report nor a "
                       "CycloneDX SBOM"):
        sbom.previous(FIXTURES / "not-a-report.json")
    (tmp_path / "r.md").write_text("## Ship readiness\n")
    with pytest.raises(ValueError, match=re.escape("is not JSON")):
        sbom.previous(tmp_path / "r.md")
    without = tmp_path / "old.json"
    data = json.loads((FIXTURES / "previous-report.json").read_text())
    del data["image"]
    without.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="has no image section"):
        sbom.previous(without)


def test_compare_option_rejects_a_bad_file_before_the_run(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURES / "not-a-report.json", pytester.path / "old.json")
    result = pytester.runpytest("--shipready", "--shipready-compare=old.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--shipready-compare: *old.json is neither a "
                                 "pytest-shipready JSON report nor a CycloneDX SBOM*"])


def test_no_image_no_sbom_and_the_compare_says_so(pytester: pytest.Pytester) -> None:
    """A project whose build is disabled: the report is written, no SBOM, and the
    comparison says there is nothing to compare (no engine needed)."""
    pytester.makepyprojecttoml('[tool.shipready.disable]\nSR210 = "built elsewhere"\n')
    (pytester.path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    shutil.copy(FIXTURES / "previous-report.json", pytester.path / "old.json")
    result = pytester.runpytest("--shipready", "--shipready-offline",
                                "--shipready-report=out/report.json",
                                "--shipready-compare=old.json", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["no SBOM written: the image was not built",
                                 "*shipped since old.json*",
                                 "nothing to compare: this run built no image"])
    assert (pytester.path / "out" / "report.json").is_file()
    assert not (pytester.path / "out" / "report.cdx.json").exists()
    assert "image" not in json.loads((pytester.path / "out" / "report.json").read_text())
