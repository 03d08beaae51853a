"""The service's own tests: they run with and without --shipready."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from app.server import make_server


@pytest.fixture
def base_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_health(base_url: str) -> None:
    with urllib.request.urlopen(f"{base_url}/health", timeout=5) as response:
        assert response.status == 200
        assert json.load(response) == {"status": "ok"}


def test_unknown_path_is_404(base_url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{base_url}/nope", timeout=5)
    assert info.value.code == 404
