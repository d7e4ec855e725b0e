"""The service answers /health and serves its OpenAPI page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings


def test_health_and_openapi() -> None:
    client = TestClient(create_app(get_settings()))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert client.get("/openapi.json").json()["info"]["title"] == "Flowwright"
    assert client.get("/docs").status_code == 200
