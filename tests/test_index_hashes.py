"""SR106 hashes-match-index: hashes in the lock are those the index publishes."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pytest_shipready.checks import Status
from pytest_shipready.locks import discover, indexhashes, pipcompile
from pytest_shipready.locks.indexhashes import Pinned, Unreachable

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SIX_SDIST = "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926"
SIX_WHEEL = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"
SIX_FILES = {"six-1.16.0.tar.gz": SIX_SDIST, "six-1.16.0-py2.py3-none-any.whl": SIX_WHEEL}
EDITED = "0" * 64


def no_line(_: str) -> int | None:
    return None


# --- the pure comparison ---------------------------------------------------------------


def test_named_file_with_another_hash_is_a_finding() -> None:
    pinned = Pinned("six", "1.16.0", 12, (("six-1.16.0.tar.gz", f"sha256:{EDITED}"),
                                           ("six-1.16.0-py2.py3-none-any.whl",
                                            f"sha256:{SIX_WHEEL}")))
    found = indexhashes.compare(pinned, SIX_FILES, "uv.lock",
                                lambda d: 40 if d == EDITED else None)
    assert [(f.message, f.line) for f in found] == [
        (f"six 1.16.0: six-1.16.0.tar.gz has sha256:{EDITED} in the lock, but PyPI "
         f"publishes sha256:{SIX_SDIST}", 40)]


def test_hash_for_a_file_the_index_does_not_publish() -> None:
    pinned = Pinned("six", "1.16.0", 7, (("six-1.16.0-py3-none-any.whl", f"sha256:{EDITED}"),))
    (finding,) = indexhashes.compare(pinned, SIX_FILES, "poetry.lock", no_line)
    assert finding.message == (f"six 1.16.0: the lock pins sha256:{EDITED} for "
                               "six-1.16.0-py3-none-any.whl, a file PyPI does not publish "
                               "for this version")
    assert finding.line == 7  # no line of its own: the package's


def test_unnamed_hashes_match_any_published_file() -> None:
    ok = Pinned("six", "1.16.0", 3, ((None, f"sha256:{SIX_WHEEL.upper()}"),
                                     (None, f"sha256:{SIX_SDIST}")))
    assert indexhashes.compare(ok, SIX_FILES, "requirements.txt", no_line) == []
    bad = Pinned("six", "1.16.0", 3, ((None, f"sha256:{SIX_SDIST}"), (None, f"sha256:{EDITED}"),
                                      (None, "md5:abc")))
    (finding,) = indexhashes.compare(bad, SIX_FILES, "requirements.txt", no_line)
    assert finding.message == (f"six 1.16.0: sha256:{EDITED} is not the hash of any of the "
                               "2 files PyPI publishes for it")
    assert indexhashes.unverifiable(bad) == 1


def test_version_without_files_on_the_index() -> None:
    pinned = Pinned("six", "9.9.9", 3, ((None, f"sha256:{SIX_SDIST}"),))
    (finding,) = indexhashes.compare(pinned, None, "requirements.txt", no_line)
    assert finding.message == ("six 9.9.9: PyPI publishes no files for this version, but the "
                               "lock pins hashes for it")


def test_release_files_of_a_simple_index_page() -> None:
    files = [
        {"filename": "six-1.16.0.tar.gz", "hashes": {"sha256": SIX_SDIST}},
        {"filename": "six-1.16.0-py2.py3-none-any.whl", "hashes": {"sha256": SIX_WHEEL}},
        {"filename": "six-1.17.0.tar.gz", "hashes": {"sha256": EDITED}},
        {"filename": "six-1.16.0.exe", "hashes": {"sha256": EDITED}},
        {"filename": "six-1.16.0.zip", "hashes": {}},
    ]
    assert indexhashes.release_files(files, "six", "1.16") == SIX_FILES


def test_check_skips_offline_unreachable_and_without_hashes() -> None:
    pinned = [Pinned("six", "1.16.0", 1, ((None, f"sha256:{SIX_SDIST}"),))]

    def unreachable(name: str, version: str) -> indexhashes.Published:
        raise Unreachable("https://pypi.org/pypi/six/1.16.0/json: timed out")

    offline = indexhashes.check("r.txt", Path("r.txt"), pinned, [], None, offline=True)
    assert (offline.status, offline.summary) == (
        Status.SKIPPED, "needs the package index (PyPI); --shipready-offline was given")
    down = indexhashes.check("r.txt", Path("r.txt"), pinned, [], None, offline=False,
                             fetch=unreachable)
    assert (down.status, down.summary) == (
        Status.SKIPPED, "cannot reach PyPI to compare hashes: "
        "https://pypi.org/pypi/six/1.16.0/json: timed out")
    empty = indexhashes.check("r.txt", Path("r.txt"), [], ["note"], None, offline=False)
    assert empty.summary == "r.txt pins no hashes of packages from PyPI to compare (note)"


def test_check_asks_the_first_package_alone_then_a_bounded_pool() -> None:
    pinned = [Pinned(f"p{i}", "1.0", i, ((f"p{i}-1.0.tar.gz", f"sha256:{i:064x}"),))
              for i in range(20)]
    asked: list[str] = []
    threads: set[int] = set()
    lock = threading.Lock()

    def fetch(name: str, version: str) -> indexhashes.Published:
        with lock:
            asked.append(name)
            threads.add(threading.get_ident())
        i = int(name[1:])
        return {f"{name}-1.0.tar.gz": f"{(i if i != 7 else 99):064x}"}

    result = indexhashes.check("uv.lock", Path("uv.lock"), pinned, [], None,
                               offline=False, fetch=fetch, workers=3)
    assert asked[0] == "p0" and sorted(asked) == sorted(p.name for p in pinned)
    assert len(threads) <= 4  # this thread for the first, then at most 3 workers
    assert result.status is Status.FAILED
    assert result.summary == "1 pinned hash not published by PyPI"
    assert [f.line for f in result.findings] == [7]


def test_lock_from_another_index_is_skipped_or_noted(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"--index-url https://pypi.example.com/simple\n"
                    f"six==1.16.0 --hash=sha256:{SIX_SDIST}\n")
    _, _, skip = indexhashes.pinned_of_piplock(pipcompile.load(lock, tmp_path))
    assert skip == ("requirements.txt installs from https://pypi.example.com/simple "
                    "(--index-url, line 1), not PyPI: SR106 compares with PyPI only")
    uv_lock = tmp_path / "uv.lock"
    text = (FIXTURES / "uv-groups" / "uv.lock").read_text()
    uv_lock.write_text(text.replace(
        'name = "tomli-w"\nversion = "1.0.0"\nsource = { registry = "https://pypi.org/simple" }',
        'name = "tomli-w"\nversion = "1.0.0"\nsource = { registry = "https://pkgs.example"'
        ' }'))
    pinned, notes, skip = indexhashes.pinned_of_toollock(discover.load(uv_lock, tmp_path))
    assert skip is None
    assert [p.name for p in pinned] == ["iniconfig", "six"]
    assert notes == ["not compared, from another index: tomli-w (https://pkgs.example)"]


class FakeIndex(BaseHTTPRequestHandler):
    """PyPI's two APIs for six: the release JSON for 1.16.0 only, the simple page for all;
    anything under /broken/ answers 503."""

    def do_GET(self) -> None:
        pages = {
            "/pypi/six/1.16.0/json": {"urls": [
                {"filename": n, "digests": {"sha256": h}} for n, h in SIX_FILES.items()]},
            "/simple/six/": {"files": [
                {"filename": "six-1.17.0.tar.gz", "hashes": {"sha256": EDITED}},
                *({"filename": n, "hashes": {"sha256": h}} for n, h in SIX_FILES.items())]},
        }
        if self.path.startswith("/broken/"):
            self.send_response(503)
            self.end_headers()
            return
        body = pages.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        if body is not None:
            self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeIndex)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_reads_the_release_json_then_the_simple_index(index: str) -> None:
    assert indexhashes.fetch_pypi("six", "1.16.0", base=index) == SIX_FILES
    # No release JSON for 1.17.0 here (as on some mirrors): the simple page answers.
    assert indexhashes.fetch_pypi("six", "1.17.0", base=index) == {
        "six-1.17.0.tar.gz": EDITED}
    assert indexhashes.fetch_pypi("six", "9.0", base=index) is None
    assert indexhashes.fetch_pypi("nothere", "1.0", base=index) is None
    with pytest.raises(Unreachable, match="answered HTTP 503"):
        indexhashes.fetch_pypi("six", "1.16.0", base=f"{index}/broken")
    with pytest.raises(Unreachable, match=r"127\.0\.0\.1:9"):
        indexhashes.fetch_pypi("six", "1.16.0", base="http://127.0.0.1:9", timeout=2)


# --- against PyPI, on real locks -------------------------------------------------------


def copy(pytester: pytest.Pytester, fixture: str) -> Path:
    shutil.copytree(FIXTURES / fixture, pytester.path, dirs_exist_ok=True)
    return pytester.path


def run(pytester: pytest.Pytester) -> pytest.RunResult:
    return pytester.runpytest("--shipready", "-v", "-m", "shipready",
                              "-k", "hashes-match-index", "-p", "no:randomly")


def edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` once; the line it is on."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text[:text.index(old)].count("\n") + 1


@pytest.mark.network
def test_requirements_hashes_match_pypi_until_one_is_edited(pytester: pytest.Pytester
                                                            ) -> None:
    root = copy(pytester, "pip-platform")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "shipready::lockfile::requirements.txt::hashes-match-index PASSED (2 hashes of "
        "1 package match the files PyPI publishes)*"])
    line = edit(root / "requirements.txt", SIX_WHEEL, EDITED)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*SR106 hashes-match-index: 1 pinned hash not published by PyPI",
        f"*requirements.txt:{line}: six 1.16.0: sha256:{EDITED} is not the hash of any of "
        "the 2 files PyPI publishes for it",
        "*fix: Do not edit hashes by hand*",
    ])


@pytest.mark.network
def test_uv_lock_with_an_edited_hash_fails(pytester: pytest.Pytester) -> None:
    root = copy(pytester, "uv-groups")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*uv.lock::hashes-match-index PASSED (6 hashes of 3 packages match the files PyPI "
        "publishes)*"])
    line = edit(root / "uv.lock", f'hash = "sha256:{SIX_WHEEL}"', f'hash = "sha256:{EDITED}"')
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"*uv.lock:{line}: six 1.16.0: six-1.16.0-py2.py3-none-any.whl has sha256:{EDITED} "
        f"in the lock, but PyPI publishes sha256:{SIX_WHEEL}",
    ])


@pytest.mark.network
def test_poetry_lock_with_an_edited_hash_fails(pytester: pytest.Pytester) -> None:
    root = copy(pytester, "poetry-app")
    idna = "a7db850025b95ded1eae8a46181a1a6c56c92c96f0e2b005d9ff8dc0210cab44"
    line = edit(root / "poetry.lock", idna, EDITED)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*SR106 hashes-match-index: 1 pinned hash not published by PyPI",
        f"*poetry.lock:{line}: idna 3.20: idna-3.20.tar.gz has sha256:{EDITED} in the "
        f"lock, but PyPI publishes sha256:{idna}",
    ])
