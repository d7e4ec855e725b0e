"""Workflow API: create/read/version/status, 422 with every problem, workspace scoping."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.engine.workflows import digest, minimal


@pytest.fixture
def client(admin_headers: dict[str, str]) -> TestClient:
    return TestClient(create_app(get_settings()), headers=admin_headers)


def test_create_read_and_version(client: TestClient) -> None:
    created = client.post("/v1/workflows", json=digest())
    assert created.status_code == 201, created.text
    wf_id = created.json()["id"]
    assert created.json()["definition"] == digest()
    changed = digest()
    changed["nodes"][4]["config"]["message"] = "changed"
    assert client.put(f"/v1/workflows/{wf_id}", json=changed).json()["current_version"] == 2
    assert [v["version"] for v in client.get(f"/v1/workflows/{wf_id}/versions").json()] == [1, 2]
    assert client.get(f"/v1/workflows/{wf_id}", params={"version": 1}).json()["definition"] == digest()
    assert client.post(f"/v1/workflows/{wf_id}/status", json={"status": "inactive"}).json()["status"] == "inactive"


def test_invalid_workflow_is_422_with_every_problem(client: TestClient) -> None:
    wf = minimal()
    wf["nodes"][1]["config"] = {}
    wf["edges"].append({"source": "say", "target": "ghost"})
    response = client.post("/v1/workflows", json=wf)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "workflow_invalid"
    assert {(p["code"], p["path"]) for p in error["details"]["problems"]} == {
        ("config_missing_field", "$.nodes[1].config.message"), ("dangling_edge", "$.edges[1].target")}
    assert client.post("/v1/workflows/validate", json=wf).json()["valid"] is False


def test_not_json_object_is_a_4xx(client: TestClient) -> None:
    response = client.post("/v1/workflows", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request_invalid"


def test_workspaces_are_isolated(client: TestClient, api_key: Any) -> None:
    wf_id = client.post("/v1/workflows", json=minimal(), headers=api_key("team-a")).json()["id"]
    team_b = api_key("team-b")
    assert client.get(f"/v1/workflows/{wf_id}", headers=team_b).status_code == 404
    assert client.get("/v1/workflows", headers=team_b).json() == []
    # the workspace label no longer selects anything: the key decides
    assert client.get("/v1/workflows", headers={**team_b, "X-Workspace": "team-a"}).json() == []
    assert client.get("/v1/workflows", headers=team_b, params={"workspace": "team-a"}).json() == []


def test_duplicate_name_conflicts(client: TestClient) -> None:
    assert client.post("/v1/workflows", json=minimal()).status_code == 201
    assert client.post("/v1/workflows", json=minimal()).status_code == 409


def test_catalog(client: TestClient) -> None:
    names = {c["name"] for c in client.get("/v1/connectors").json()}
    assert "core" in names


def _runs(name: str, target: str) -> dict[str, object]:
    return {"name": name, "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "sub", "type": "action", "connector": "core", "operation": "run_workflow",
         "config": {"workflow_id": target}}], "edges": [{"source": "start", "target": "sub"}]}


def test_sub_workflow_calls_are_checked_against_the_workspace_with_the_cycle_path(client: TestClient,
                                                                                 api_key: Any) -> None:
    unknown = client.post("/v1/workflows", json=_runs("caller", "wf_nowhere"))
    assert unknown.status_code == 422
    assert [(p["code"], p["path"]) for p in unknown.json()["error"]["details"]["problems"]] == [
        ("subworkflow_not_found", "$.nodes[1].config.workflow_id")]
    checked = client.post("/v1/workflows/validate", json=_runs("caller", "wf_nowhere")).json()
    assert checked["valid"] is False and checked["problems"][0]["code"] == "subworkflow_not_found"

    a = client.post("/v1/workflows", json=minimal()).json()["id"]
    b = client.post("/v1/workflows", json=_runs("B", a)).json()["id"]
    cycle = client.put(f"/v1/workflows/{a}", json=_runs(minimal()["name"], b))
    assert cycle.status_code == 422
    problem = cycle.json()["error"]["details"]["problems"][0]
    assert problem["code"] == "subworkflow_cycle" and problem["cycle"] == [a, b, a]
    assert problem["path"] == "$.nodes[1].config.workflow_id" and f"B ({b})" in problem["message"]
    as_version = client.post("/v1/workflows/validate", params={"workflow_id": a}, json=_runs("A", b)).json()
    assert [p["code"] for p in as_version["problems"]] == ["subworkflow_cycle"]
    assert client.post("/v1/workflows/validate", json=_runs("A", b)).json()["valid"] is True  # as a new workflow
    other = client.post("/v1/workflows", json=_runs("elsewhere", a), headers=api_key("other"))
    assert other.status_code == 422  # another workspace's workflow is not there
    assert client.post("/v1/workflows/validate", params={"workflow_id": "wf_nope"}, json=_runs("A", b)).status_code == 404
