"""The service's own tests (Flask's test client)."""

from __future__ import annotations

import pytest
from app.wsgi import create_app


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    return create_app().test_client()


def test_health(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/health").get_json() == {"status": "ok"}


@pytest.mark.parametrize("order_id", [1, 7, 42])
def test_order(client, order_id: int) -> None:  # type: ignore[no-untyped-def]
    body = client.get(f"/orders/{order_id}").get_json()
    assert body == {"id": order_id, "region": "eu-west-1"}


def test_unknown_path_is_404(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/nope").status_code == 404
