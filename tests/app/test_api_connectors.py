"""Imported connectors over HTTP: import, list, use in a workflow, delete — per workspace; a bad
document is a 422 listing each problem with its JSON path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings

PETSTORE = (Path(__file__).parents[1] / "data" / "openapi" / "petstore.yaml").read_bytes()


@pytest.fixture
def client(admin_headers: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def workflow(connector: str) -> dict[str, object]:
    return {"schema_version": "1", "name": "pets", "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "find", "type": "action", "connector": connector, "operation": "get_pet_by_id", "config": {"petId": 1}}],
        "edges": [{"source": "start", "target": "find"}]}


def test_import_list_use_delete(client: TestClient, api_key: Callable[..., dict[str, str]]) -> None:
    acme = api_key("acme", role="editor")
    assert client.post("/v1/connectors/import?name=pets", content=PETSTORE,
                       headers=api_key("acme", role="viewer")).status_code == 403
    created = client.post("/v1/connectors/import?name=pets", content=PETSTORE, headers=acme)
    assert created.status_code == 201, created.text
    assert created.json()["operations"][0] == "add_pet"
    assert [c["name"] for c in client.get("/v1/connectors/imported", headers=acme).json()] == ["pets"]
    assert client.get("/v1/connectors/imported").json() == []
    assert "pets" in {c["name"] for c in client.get("/v1/connectors", headers=acme).json()}
    assert "pets" not in {c["name"] for c in client.get("/v1/connectors").json()}
    assert client.post("/v1/workflows/validate", json=workflow("pets"), headers=acme).json()["valid"] is True
    assert client.post("/v1/workflows/validate", json=workflow("pets")).json()["valid"] is False
    assert client.post("/v1/workflows", json=workflow("pets"), headers=acme).status_code == 201
    again = client.post("/v1/connectors/import?name=pets", content=PETSTORE, headers=acme)
    assert again.status_code == 422 and "already has" in again.text
    assert client.delete("/v1/connectors/pets").status_code == 404
    assert client.delete("/v1/connectors/pets", headers=acme).status_code == 204


def test_bad_documents_are_422_with_paths(client: TestClient) -> None:
    bad = client.post("/v1/connectors/import", content=b'{"openapi": "3.0.0", "info": {"title": "x"}, '
                      b'"servers": [{"url": "https://x.example"}], "paths": {"/a": {"get": {"operationId": "a", '
                      b'"parameters": [{"name": "q"}], "responses": {}}}}}')
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "openapi_invalid"
    assert error["details"]["problems"][0]["path"] == "$.paths['/a'].get.parameters[0]"
    big = client.post("/v1/connectors/import", content=b"#" * (get_settings().openapi_max_bytes + 1))
    assert big.status_code == 413 and "FLOWWRIGHT_OPENAPI_MAX_BYTES" in big.text  # app.api.request_limits
    yaml_error = client.post("/v1/connectors/import", content=b"openapi: [")
    assert yaml_error.status_code == 422 and "not valid YAML" in yaml_error.text
