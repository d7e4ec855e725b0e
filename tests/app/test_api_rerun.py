"""Re-running an execution through the API: same input on the current (edited) version, from the
start or from a node, reusing what ran upstream of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.app.keys import issue_headers


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def doubling(last: str) -> dict[str, Any]:
    return {"name": "doubler", "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "double", "type": "action", "connector": "core", "operation": "transform",
         "config": {"expression": "trigger.n * 2"}},
        {"id": "finish", "type": "action", "connector": "core", "operation": "transform", "config": {"expression": last}},
    ], "edges": [{"source": "start", "target": "double"}, {"source": "double", "target": "finish"}]}


def step(result: dict[str, Any], node: str) -> dict[str, Any]:
    return next(s for s in result["steps"] if s["node_id"] == node)


def test_rerun_on_the_edited_version_from_a_node(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=doubling("$error('off by one')")).json()["id"]
    first = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {"n": 20}}).json()
    assert first["status"] == "failed"
    assert client.put(f"/v1/workflows/{wf_id}", json=doubling("nodes.double.value + 1")).status_code == 200

    forked = client.post(f"/v1/executions/{first['id']}/rerun", params={"wait": "true"}, json={"from_node": "finish"})
    assert forked.status_code == 202, forked.text
    body = forked.json()
    assert (body["status"], body["rerun_of"], body["from_node"]) == ("completed", first["id"], "finish")
    assert step(body, "finish")["output"] == {"value": 41}
    assert step(body, "double")["started_at"] == step(first, "double")["started_at"]  # reused, not run again
    listed = client.get("/v1/executions", params={"workflow_id": wf_id}).json()
    assert listed[0]["id"] == body["id"] and listed[0]["workflow_version"] == 2

    again = client.post(f"/v1/executions/{first['id']}/rerun", params={"wait": "true"}).json()  # from the start
    assert again["status"] == "completed" and step(again, "finish")["output"] == {"value": 41}
    assert step(again, "double")["started_at"] != step(first, "double")["started_at"]
    old = client.post(f"/v1/executions/{first['id']}/rerun", params={"wait": "true"}, json={"version": 1}).json()
    assert old["status"] == "failed"  # the version it ran, on request


def test_rerun_refusals(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=doubling("1")).json()["id"]
    done = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {"n": 1}}).json()
    ghost = client.post(f"/v1/executions/{done['id']}/rerun", json={"from_node": "ghost"})
    assert ghost.status_code == 404 and ghost.json()["error"]["details"]["field"] == "from_node"
    assert client.post(f"/v1/executions/{done['id']}/rerun", json={"version": 9}).status_code == 404
    assert client.post(f"/v1/executions/{done['id']}/rerun", headers=issue_headers("other")).status_code == 404
    guard = {"name": "asks", "nodes": [{"id": "start", "type": "trigger", "kind": "manual"},
                                       {"id": "ask", "type": "guardrail", "kind": "approval", "config": {"message": "ok?"}}],
             "edges": [{"source": "start", "target": "ask"}]}
    asks = client.post("/v1/workflows", json=guard).json()["id"]
    waiting = client.post(f"/v1/workflows/{asks}/run", params={"wait": "true"}, json={}).json()
    assert waiting["status"] == "waiting"
    busy = client.post(f"/v1/executions/{waiting['id']}/rerun")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "illegal_transition"
