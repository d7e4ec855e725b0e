"""Credentials API: set/list/delete, secrets never echoed, bad input is a 422, workspace-scoped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings


@pytest.fixture
def client(admin_headers: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def test_set_list_delete_and_never_echo(client: TestClient, _isolated_data_dir: Path, api_key: Any) -> None:
    secret = "sk-live-7c1e9f0d2b"
    response = client.put("/v1/credentials/stripe", json={"type": "api_key", "secret": secret})
    assert response.status_code == 200, response.text
    assert secret not in response.text
    listed = client.get("/v1/credentials")
    assert [c["name"] for c in listed.json()] == ["stripe"] and secret not in listed.text
    other = api_key("other")
    assert client.get("/v1/credentials", headers=other).json() == []
    assert client.delete("/v1/credentials/stripe", headers=other).status_code == 404
    for f in _isolated_data_dir.rglob("*"):  # the database, its WAL, keys: the secret is nowhere
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    assert client.delete("/v1/credentials/stripe").status_code == 204
    assert client.get("/v1/credentials").json() == []


def test_bad_credentials_are_422(client: TestClient) -> None:
    bad_type = client.put("/v1/credentials/x", json={"type": "magic", "secret": "s"})
    assert bad_type.status_code == 422 and bad_type.json()["error"]["code"] == "credential_type_invalid"
    missing = client.put("/v1/credentials/x", json={"type": "basic", "secret": {"username": "u"}})
    assert missing.status_code == 422 and "password" in missing.json()["error"]["message"]
    bad_name = client.put("/v1/credentials/bad%20name", json={"type": "api_key", "secret": "s"})
    assert bad_name.status_code == 422 and bad_name.json()["error"]["code"] == "credential_name_invalid"


def test_each_credential_lists_the_workflows_using_it(client: TestClient, api_key: Any) -> None:
    def workflow(name: str, credential: str) -> dict[str, Any]:
        return {"schema_version": "1", "name": name,
                "nodes": [{"id": "start", "type": "trigger", "kind": "manual"},
                          {"id": "post", "type": "action", "connector": "slack", "operation": "post_message",
                           "credential": credential, "config": {"channel": "#ops", "text": "hi"}}],
                "edges": [{"source": "start", "target": "post"}]}

    assert client.put("/v1/credentials/slack", json={"type": "url", "secret": "https://hooks.example.com/x"}).status_code == 200
    assert client.put("/v1/credentials/spare", json={"type": "api_key", "secret": "k"}).status_code == 200
    first = client.post("/v1/workflows", json=workflow("Ops ping", "slack")).json()["id"]
    moved = client.post("/v1/workflows", json=workflow("Moves on", "slack")).json()["id"]
    assert client.post(f"/v1/workflows/{moved}/activate").status_code == 200
    # its draft moves to another credential; the active version still uses slack
    assert client.put(f"/v1/workflows/{moved}", json=workflow("Moves on", "spare")).status_code == 200
    other = client.post("/v1/workflows", json=workflow("Elsewhere", "slack"), headers=api_key("other", "editor"))
    assert other.status_code == 201
    listed = {c["name"]: c["used_by"] for c in client.get("/v1/credentials").json()}
    assert [(u["workflow_id"], u["nodes"]) for u in listed["slack"]] == [(first, ["post"]), (moved, ["post"])]
    assert [(u["workflow_id"], u["status"]) for u in listed["spare"]] == [(moved, "active")]
