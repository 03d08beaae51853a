"""The docs describe what exists: every check has a page, the config reference is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_shipready import config_reference
from pytest_shipready.catalog import CHECKS, CheckSpec

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_every_check_has_a_page(check: CheckSpec) -> None:
    page = DOCS / "checks" / f"{check.id}.md"
    assert page.is_file(), f"missing {page}"
    text = page.read_text()
    assert text.startswith(f"# {check.id} {check.name}"), text.splitlines()[0]
    for section in ("## What", "## Why", "## How to fix", "## How to disable"):
        assert section in text, f"{page.name} lacks {section}"


def test_configuration_reference_matches_the_schema() -> None:
    page = (DOCS / "configuration.md").read_text()
    assert config_reference.splice(page) == page, (
        "docs/configuration.md is out of date: run "
        "python -m pytest_shipready.config_reference docs/configuration.md")


def test_failures_link_the_projects_documentation_url() -> None:
    import tomllib

    from pytest_shipready.catalog import DOCS_URL

    urls = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())[
        "project"]["urls"]
    assert urls["Documentation"] == DOCS_URL
    assert CHECKS[0].url == f"{DOCS_URL}/{CHECKS[0].docs.removeprefix('docs/')}"
