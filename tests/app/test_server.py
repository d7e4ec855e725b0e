"""The service answers /health and serves its OpenAPI page."""

from __future__ import annotations

import re

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


def test_docs_pages_load_their_assets_from_the_service_not_a_cdn() -> None:
    client = TestClient(create_app(get_settings()))
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "https://" not in html and "http://" not in html
        for asset in re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', html):
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000, asset
    assert 'src="/docs-assets/swagger-ui-bundle.js"' in client.get("/docs").text
