"""Keys, roles and workspace isolation, generated from the service's route table: every /v1 route
needs a key, a key of another workspace finds nothing, and a role below the route's gets 403."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.engine.workflows import minimal

# The least role each route needs. A route missing here fails test_every_route_has_a_declared_role.
ROLES: dict[tuple[str, str], str] = {
    ("POST", "/v1/workflows/validate"): "viewer",
    ("POST", "/v1/workflows"): "editor",
    ("GET", "/v1/workflows"): "viewer",
    ("GET", "/v1/workflows/{workflow_id}"): "viewer",
    ("PUT", "/v1/workflows/{workflow_id}"): "editor",
    ("GET", "/v1/workflows/{workflow_id}/versions"): "viewer",
    ("POST", "/v1/workflows/{workflow_id}/status"): "editor",
    ("GET", "/v1/workflows/{workflow_id}/diff"): "viewer",
    ("GET", "/v1/workflows/{workflow_id}/preview"): "viewer",
    ("POST", "/v1/workflows/{workflow_id}/activate"): "editor",
    ("POST", "/v1/workflows/{workflow_id}/deactivate"): "editor",
    ("POST", "/v1/workflows/{workflow_id}/rollback"): "editor",
    ("DELETE", "/v1/workflows/{workflow_id}"): "editor",
    ("POST", "/v1/workflows/{workflow_id}/restore"): "editor",
    ("GET", "/v1/workflows/{workflow_id}/stats"): "viewer",
    ("POST", "/v1/executions/{execution_id}/rerun"): "editor",
    ("GET", "/v1/insights/report.csv"): "viewer",
    ("POST", "/v1/insights/proposals/{proposal_id}/accept"): "editor",
    ("GET", "/v1/connectors"): "viewer",
    ("POST", "/v1/workflows/{workflow_id}/run"): "editor",
    ("GET", "/v1/executions"): "viewer",
    ("GET", "/v1/executions/{execution_id}"): "viewer",
    ("POST", "/v1/executions/{execution_id}/{action}"): "editor",
    ("GET", "/v1/executions/{execution_id}/events"): "viewer",
    ("GET", "/v1/executions/{execution_id}/events/poll"): "viewer",
    ("GET", "/v1/dead-letters"): "viewer",
    ("GET", "/v1/dead-letters/{execution_id}"): "viewer",
    ("POST", "/v1/dead-letters/{execution_id}/replay"): "editor",
    ("DELETE", "/v1/dead-letters/{execution_id}"): "editor",
    ("GET", "/v1/circuits"): "viewer",
    ("DELETE", "/v1/circuits/{key}"): "editor",
    ("GET", "/v1/approvals"): "viewer",
    ("POST", "/v1/executions/{execution_id}/approvals/{node_id}/{decision}"): "editor",
    ("GET", "/v1/credentials"): "editor",
    ("PUT", "/v1/credentials/{name}"): "admin",
    ("DELETE", "/v1/credentials/{name}"): "admin",
    ("POST", "/v1/credentials/{name}/connect"): "admin",
    ("GET", "/v1/credentials/{name}/oauth"): "editor",
    ("POST", "/v1/credentials/{name}/refresh"): "editor",
    ("GET", "/v1/oauth/providers"): "viewer",
    ("POST", "/v1/connectors/import"): "editor",
    ("GET", "/v1/connectors/imported"): "viewer",
    ("DELETE", "/v1/connectors/{name}"): "editor",
    ("GET", "/v1/insights"): "viewer",
    ("GET", "/v1/insights/report.md"): "viewer",
    ("GET", "/v1/insights/report.html"): "viewer",
    ("GET", "/v1/insights/report.pdf"): "viewer",
    ("GET", "/v1/insights/schedule"): "viewer",
    ("PUT", "/v1/insights/schedule"): "admin",
    ("DELETE", "/v1/insights/schedule"): "admin",
    ("POST", "/v1/conversations"): "editor",
    ("POST", "/v1/conversations/{conversation_id}/messages"): "editor",
    ("POST", "/v1/conversations/{conversation_id}/undo"): "editor",
    ("GET", "/v1/conversations/{conversation_id}"): "viewer",
    ("GET", "/v1/me"): "viewer",
    ("GET", "/v1/api-keys"): "admin",
    ("POST", "/v1/api-keys"): "admin",
    ("DELETE", "/v1/api-keys/{key_id}"): "admin",
    ("GET", "/v1/audit"): "admin",
}
# Reachable without a key, each for its own reason: webhooks are capability URLs; the OAuth
# provider's redirect back carries a single-use state parameter instead.
OPEN = ("/v1/hooks", "/v1/oauth/callback")
# Routes that, given a name, make the caller's own object of that name (not another workspace's).
MAKES_ITS_OWN = {("PUT", "/v1/credentials/{name}"), ("POST", "/v1/credentials/{name}/connect")}
PETSTORE = (Path(__file__).parents[1] / "data" / "openapi" / "petstore.yaml").read_bytes()
BELOW = {"viewer": [], "editor": ["viewer"], "admin": ["viewer", "editor"]}
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/v1/workflows/{workflow_id}"): minimal(),
    ("POST", "/v1/workflows/{workflow_id}/status"): {"status": "inactive"},
    ("POST", "/v1/workflows/{workflow_id}/rollback"): {"version": 1},
    ("POST", "/v1/conversations/{conversation_id}/messages"): {"message": "and log it too"},
    ("PUT", "/v1/credentials/{name}"): {"type": "api_key", "secret": "sk-b"},
    ("PUT", "/v1/insights/schedule"): {"to": "ops@example.com", "credential": "mail"},
}


def keyed_routes() -> list[tuple[str, str]]:
    """Every (method, path) of /v1 but the open ones, from the application's route table (as its
    OpenAPI document lists it: included routers are not flat in ``app.routes``)."""
    paths = create_app(get_settings()).openapi()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item
            if path.startswith("/v1") and not path.startswith(OPEN)]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(get_settings())) as c:
        yield c


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_route_has_a_declared_role() -> None:
    assert sorted(keyed_routes()) == sorted(ROLES)


@pytest.mark.parametrize("authorization", [None, "Bearer garbage", "Basic Zm9vOmJhcg==",
                                           "Bearer fw_000000000000_" + "A" * 43])
def test_every_route_needs_a_valid_key(client: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in keyed_routes():
        response = client.request(method, fill(path, dict.fromkeys(re.findall(r"\{(\w+)\}", path), "x")),
                                  headers={**headers, "X-Workspace": "default"})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/health").status_code == 200  # /health stays open
    # the OAuth callback answers without a key, and only for a state it handed out
    callback = client.get("/v1/oauth/callback?state=made-up&code=c", headers=headers)
    assert callback.status_code == 400 and "pending connection" in callback.text


def test_revoked_and_expired_keys_stop_working(client: TestClient, api_key: Any) -> None:
    headers = api_key()
    me = client.get("/v1/me", headers=headers).json()
    assert me == {"workspace": "default", "role": "admin", "user": "admin", "key": me["key"]}
    made = client.post("/v1/api-keys", json={"role": "viewer", "name": "ci"}, headers=headers)
    assert made.status_code == 201 and made.json()["token"].startswith("fw_")
    viewer = {"Authorization": f"Bearer {made.json()['token']}"}
    assert client.get("/v1/workflows", headers=viewer).status_code == 200
    listed = client.get("/v1/api-keys", headers=headers)
    assert made.json()["token"] not in listed.text and {k["name"] for k in listed.json()} >= {"ci"}
    assert client.delete(f"/v1/api-keys/{made.json()['id']}", headers=headers).json()["state"] == "revoked"
    revoked = client.get("/v1/workflows", headers=viewer)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


def test_a_role_below_the_routes_is_403_and_at_it_passes(client: TestClient, api_key: Any) -> None:
    keys = {role: api_key(role=role) for role in ("viewer", "editor", "admin")}
    ids = {"workflow_id": "wf_missing", "execution_id": "ex_missing", "conversation_id": "conv_missing", "proposal_id": "prop_missing",
           "name": "missing", "key_id": "000000000000", "action": "retry", "node_id": "n", "decision": "approve",
           "key": "http:nowhere"}
    for (method, path), role in ROLES.items():
        url = fill(path, ids)
        for lower in BELOW[role]:
            response = client.request(method, url, headers=keys[lower], json=BODIES.get((method, path)))
            assert response.status_code == 403, (method, path, lower, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        if method == "GET" and path.endswith("/events"):
            continue  # a missing execution is a 404 before the stream opens; covered below
        response = client.request(method, url, headers=keys[role], json=BODIES.get((method, path)))
        assert response.status_code not in (401, 403), (method, path, role, response.text)


def test_another_workspace_finds_nothing(client: TestClient, api_key: Any) -> None:
    a, b = api_key("team-a"), api_key("team-b")
    wf = minimal()
    wf["nodes"].insert(1, {"id": "ok_to_go", "type": "guardrail", "kind": "approval", "origin": "guardrail",
                           "config": {"message": "Send it?"}})
    wf["edges"] = [{"source": "start", "target": "ok_to_go"}, {"source": "ok_to_go", "target": "say"}]
    wf["name"] = "team a secret plan"
    wf_id = client.post("/v1/workflows", json=wf, headers=a).json()["id"]
    assert client.post(f"/v1/workflows/{wf_id}/activate", headers=a).status_code == 200  # b cannot deactivate it
    ex = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {}}, headers=a).json()
    assert ex["status"] == "waiting"
    conv = client.post("/v1/conversations", json={"message": "every monday at 9am log 'hello'"}, headers=a).json()
    assert client.put("/v1/credentials/stripe", json={"type": "api_key", "secret": "sk-a"}, headers=a).status_code == 200
    assert client.post("/v1/connectors/import?name=stripe", content=PETSTORE, headers=a).status_code == 201
    key_id = client.get("/v1/api-keys", headers=a).json()[0]["id"]
    ids = {"workflow_id": wf_id, "execution_id": ex["id"], "conversation_id": conv["conversation_id"], "proposal_id": "prop_missing",
           "name": "stripe", "key_id": key_id, "action": "cancel", "node_id": "ok_to_go", "decision": "approve",
           "key": "http:127.0.0.1"}
    foreign = [wf_id, ex["id"], conv["conversation_id"], key_id, "stripe", "team a secret plan", "team-a"]
    for method, path in keyed_routes():
        url = fill(path, ids)
        if "{" in path:
            if (method, path) in MAKES_ITS_OWN:
                continue  # names are per workspace: this makes team-b's own 'stripe' (checked below)
            response = client.request(method, url, headers=b, json=BODIES.get((method, path)))
            assert response.status_code == 404, (method, path, response.text)
        elif method == "GET":
            response = client.get(url, headers=b)
            assert response.status_code == 200, (method, path, response.text)
            assert not [f for f in foreign if f in response.text], (path, response.text)
    # team-a's objects are untouched by all of that
    assert client.get(f"/v1/executions/{ex['id']}", headers=a).json()["status"] == "waiting"
    assert client.get(f"/v1/workflows/{wf_id}", headers=a).json()["status"] == "active"
    assert client.get("/v1/me", headers=a).status_code == 200
    assert [c["name"] for c in client.get("/v1/credentials", headers=a).json()] == ["stripe"]
    assert [c["name"] for c in client.get("/v1/connectors/imported", headers=a).json()] == ["stripe"]
    listed = client.get("/v1/executions", headers=a).json()
    assert json.dumps(listed).count(ex["id"]) == 1
