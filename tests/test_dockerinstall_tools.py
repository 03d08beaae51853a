"""SR205 recognises Poetry and uv installs (issue 5) besides pip."""

from __future__ import annotations

import pytest

from pytest_shipready.checks import Status
from pytest_shipready.dockerfile import hygiene, parser

POETRY = [hygiene.KnownLock("poetry.lock", True)]
UV = [hygiene.KnownLock("uv.lock", True)]


def check(body: str, locks: list[hygiene.KnownLock]) -> tuple[Status, list[str]]:
    df = parser.parse("FROM python:3.11-slim\nCOPY . /app\n" + body + "USER app\n")
    result = hygiene.check_lock_used(df, locks)
    return result.status, [f"{f.line}: {f.message}" for f in result.findings]


@pytest.mark.parametrize("body", [
    "RUN pip install poetry==1.8.5 && poetry install --only main --no-root\n",
    "RUN poetry install --sync\n",
    "RUN poetry export -f requirements.txt -o /tmp/req.txt && "
    "pip install --no-deps -r /tmp/req.txt\n",
])
def test_poetry_installs_from_the_lock(body: str) -> None:
    # Installing the installer itself (pip install poetry) is not outside the lock.
    assert check(body, POETRY) == (Status.PASSED, [])


def test_poetry_export_without_hashes_needs_require_hashes() -> None:
    status, findings = check(
        "RUN poetry export --without-hashes -o req.txt && pip install -r req.txt\n", POETRY)
    assert status == Status.FAILED
    # poetry.lock has hashes: the export dropping them is the gap, and it is named.
    assert findings == ["3: `pip install -r req.txt` installs req.txt, which `poetry export "
                        "--without-hashes -o req.txt` (line 3) writes without hashes, so "
                        "pip checks none of poetry.lock's hashes"]


def test_poetry_add_installs_outside_the_lock() -> None:
    status, findings = check("RUN poetry install && poetry add requests\n", POETRY)
    assert status == Status.FAILED
    assert any("installs requests outside the lock" in f for f in findings), findings


@pytest.mark.parametrize("flag", ["--locked", "--frozen"])
def test_uv_sync_locked_or_frozen_passes(flag: str) -> None:
    assert check(f"RUN uv sync {flag} --no-dev\n", UV) == (Status.PASSED, [])


def test_plain_uv_sync_may_relock() -> None:
    status, findings = check("RUN uv sync --no-dev\n", UV)
    assert status == Status.FAILED
    assert findings == ["3: `uv sync` without --locked or --frozen (or UV_LOCKED=1 / "
                        "UV_FROZEN=1) may update uv.lock during the build"]


def test_uv_export_and_uv_pip() -> None:
    ok = check("RUN uv export --frozen -o req.txt && uv pip install --system -r req.txt\n", UV)
    assert ok == (Status.PASSED, [])
    status, findings = check("RUN uv sync --locked && uv pip install --system httpx\n", UV)
    assert status == Status.FAILED
    assert any("installs httpx outside the lock" in f for f in findings), findings


@pytest.mark.parametrize(("locks", "hint"), [
    (UV, "Add it with `uv add httpx` (which relocks) and drop this install"),
    (POETRY, "Add it with `poetry add httpx` (which relocks) and drop this install"),
    ([hygiene.KnownLock("requirements.txt", True)],
     "Add httpx to the lock's input (requirements.in or pyproject.toml), re-compile and "
     "drop this install"),
])
def test_outside_the_lock_hint_names_the_projects_tool(locks: list[hygiene.KnownLock],
                                                       hint: str) -> None:
    df = parser.parse("FROM python:3.11-slim\nRUN pip install httpx\nUSER app\n")
    result = hygiene.check_lock_used(df, locks)
    assert any(f.hint.startswith(hint) for f in result.findings), result.findings
