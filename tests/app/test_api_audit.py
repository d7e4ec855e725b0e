"""The audit log through the API: what editors and admins do is recorded under their key's user,
admins read it (filtered, paged), nobody else does, and it never carries a secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.app.test_api_executions import create, two_steps


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def actions(client: TestClient, **params: Any) -> list[tuple[str, str, str]]:
    response = client.get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    return [(e["action"], e["user"], e["target"]["id"]) for e in response.json()]


def test_who_did_what_is_recorded_and_read_by_admins(client: TestClient, api_key: Any) -> None:
    alice = api_key(role="editor", user="alice")
    wf = two_steps()
    wf["nodes"].insert(1, {"id": "ok_to_go", "type": "guardrail", "kind": "approval", "origin": "guardrail",
                           "config": {"message": "Send it?"}})
    wf["edges"] = [{"source": "start", "target": "ok_to_go"}, {"source": "ok_to_go", "target": "say"},
                   {"source": "say", "target": "double"}]
    wf_id = create(client, wf, activate=True, **alice)
    assert client.put(f"/v1/workflows/{wf_id}", json=wf, headers=alice).status_code == 200  # the same: nothing new
    wf["name"] = "Renamed"
    assert client.put(f"/v1/workflows/{wf_id}", json=wf, headers=alice).status_code == 200
    ex = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {"n": 2}},
                     headers=alice).json()
    assert ex["status"] == "waiting"
    bob = api_key(role="editor", user="bob")
    assert client.post(f"/v1/executions/{ex['id']}/approvals/ok_to_go/approve", headers=bob).status_code == 200
    assert client.post(f"/v1/workflows/{wf_id}/deactivate", headers=bob).status_code == 200
    assert client.delete(f"/v1/workflows/{wf_id}", headers=bob).status_code == 200
    assert client.put("/v1/credentials/crm", json={"type": "api_key", "secret": {"api_key": "s3cr3t-value"}}
                      ).status_code == 200
    log = actions(client)
    assert log == [
        ("credential.set", "admin", "crm"),
        ("workflow.deleted", "bob", wf_id), ("workflow.deactivated", "bob", wf_id),
        ("approval.approved", "bob", ex["id"]),
        ("execution.started", "alice", ex["id"]),
        ("workflow.changed", "alice", wf_id), ("workflow.activated", "alice", wf_id),
        ("workflow.created", "alice", wf_id)]
    full = client.get("/v1/audit").json()
    assert "s3cr3t" not in str(full)
    started = next(e for e in full if e["action"] == "execution.started")
    assert started["via"] == "api" and started["key_id"] and started["details"] == {"workflow_id": wf_id, "version": 2}
    assert next(e for e in full if e["action"] == "approval.approved")["details"] == {"node_id": "ok_to_go"}
    # filters: a kind of action, a user, a target
    assert [a for a, _, _ in actions(client, action="workflow.")] == [
        "workflow.deleted", "workflow.deactivated", "workflow.changed", "workflow.activated", "workflow.created"]
    assert next(e for e in full if e["action"] == "workflow.changed")["details"] == {"version": 2}
    assert {u for _, u, _ in actions(client, user="bob")} == {"bob"}
    assert [a for a, _, _ in actions(client, target=ex["id"])] == ["approval.approved", "execution.started"]
    # only admins read it; another workspace sees nothing of this one
    assert client.get("/v1/audit", headers=alice).status_code == 403
    assert client.get("/v1/audit", headers=api_key(role="viewer")).status_code == 403
    assert client.get("/v1/audit", headers=api_key("elsewhere")).json() == []


def test_a_refused_act_is_not_recorded_and_pages_link_on(client: TestClient) -> None:
    assert client.post("/v1/workflows/wf_nope/activate").status_code == 404
    assert client.get("/v1/audit").json() == []
    ids = [create(client, {**two_steps(), "name": f"Flow {i}"}) for i in range(3)]
    first = client.get("/v1/audit", params={"limit": 2})
    assert [e["target"]["id"] for e in first.json()] == ids[::-1][:2]
    assert 'rel="next"' in first.headers["Link"]
    rest = client.get("/v1/audit", params={"limit": 2, "cursor": first.headers["X-Next-Cursor"]})
    assert [e["target"]["id"] for e in rest.json()] == [ids[0]] and "X-Next-Cursor" not in rest.headers


@pytest.mark.parametrize(("params", "field"), [({"since": "yesterday"}, "since"), ({"cursor": "x1"}, "cursor")])
def test_a_bad_filter_is_a_400_naming_it(client: TestClient, params: dict[str, str], field: str) -> None:
    response = client.get("/v1/audit", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "query_invalid"
    assert response.json()["error"]["details"]["field"] == field
