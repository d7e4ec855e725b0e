"""Guardrails on versions saved through the API: a POST or PUT gets the copilot's guardrail passes
(issue 11: "a PUT that removes an approval before a destructive step is accepted and runs"), and
``"guardrails": "manual"`` opts out for admin keys only, recorded in the version."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings

Headers = Callable[..., dict[str, str]]


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def _one_step(name: str, step: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": "1", "name": name,
            "nodes": [{"id": "start", "type": "trigger", "kind": "manual"}, step],
            "edges": [{"source": "start", "target": step["id"]}]}


def purge() -> dict[str, Any]:
    """Delete every order: a destructive step, which the approval pass guards."""
    return _one_step("Purge orders", {"id": "purge", "type": "action", "connector": "datastore",
                                      "operation": "delete", "config": {"table": "orders", "all": True}})


def _run(client: TestClient, wf: dict[str, Any]) -> dict[str, Any]:
    created = client.post("/v1/workflows", json=wf)
    assert created.status_code == 201, created.text
    ran = client.post(f"/v1/workflows/{created.json()['id']}/run", params={"wait": "true"})
    assert ran.status_code == 202, ran.text
    result: dict[str, Any] = ran.json()
    return result


def _order_count(client: TestClient) -> int:
    """How many orders are stored, read by a workflow through the datastore (a fresh name each time)."""
    _order_count.calls += 1  # type: ignore[attr-defined]
    ex = _run(client, _one_step(f"Count orders {_order_count.calls}",  # type: ignore[attr-defined]
                                {"id": "count", "type": "action", "connector": "datastore", "operation": "query",
                                 "config": {"table": "orders"}}))
    assert ex["status"] == "completed", ex
    described = client.get(f"/v1/executions/{ex['id']}").json()
    step = next(s for s in described["steps"] if s["node_id"] == "count")
    return int(step["output"]["total"])


_order_count.calls = 0  # type: ignore[attr-defined]


def _without_approvals(definition: dict[str, Any]) -> dict[str, Any]:
    """What a hand edit that deletes the approval step sends: the node gone, its edges joined."""
    doc = copy.deepcopy(definition)
    doc["nodes"] = [n for n in doc["nodes"] if n.get("kind") != "approval"]
    doc["edges"] = [{"source": "start", "target": "purge"}]
    return doc


def test_a_put_that_removes_the_approval_is_reguarded_and_the_run_waits(client: TestClient) -> None:
    seeded = _run(client, _one_step("Seed orders", {
        "id": "seed", "type": "action", "connector": "datastore", "operation": "insert",
        "config": {"table": "orders", "rows": [{"n": 1}, {"n": 2}, {"n": 3}]}}))
    assert seeded["status"] == "completed", seeded

    created = client.post("/v1/workflows", json=purge())
    assert created.status_code == 201, created.text
    body = created.json()
    assert [(c["pass"], c["action"], c["kind"]) for c in body["guardrails_applied"]] == [
        ("approval", "inserted", "approval")]
    approval_id = body["guardrails_applied"][0]["node_id"]
    assert "purge" in body["guardrails_applied"][0]["reason"]
    guard = next(n for n in body["definition"]["nodes"] if n["id"] == approval_id)
    assert guard["origin"] == "guardrail" and {"source": approval_id, "target": "purge"} in body["definition"]["edges"]

    # the finding: a PUT without the approval was stored as sent and purged without asking
    edited = client.put(f"/v1/workflows/{body['id']}", json=_without_approvals(body["definition"]))
    assert edited.status_code == 200, edited.text
    assert [c["node_id"] for c in edited.json()["guardrails_applied"]] == [approval_id]
    assert edited.json()["definition"] == body["definition"]  # re-guarded to what v1 was: no new version
    assert edited.json()["current_version"] == 1
    assert any(n.get("kind") == "approval" for n in edited.json()["definition"]["nodes"])

    ex = client.post(f"/v1/workflows/{body['id']}/run", params={"wait": "true"}).json()
    assert ex["status"] == "waiting", ex
    assert [(a["execution_id"], a["node_id"]) for a in client.get("/v1/approvals").json()] == [(ex["id"], approval_id)]
    assert _order_count(client) == 3  # nothing deleted while the approval waits
    decided = client.post(f"/v1/executions/{ex['id']}/approvals/{approval_id}/approve", json={})
    assert decided.status_code == 200, decided.text
    assert client.get(f"/v1/executions/{ex['id']}").json()["status"] == "completed"
    assert _order_count(client) == 0


def test_saving_a_guarded_version_again_changes_nothing(client: TestClient) -> None:
    created = client.post("/v1/workflows", json=purge()).json()
    again = client.put(f"/v1/workflows/{created['id']}", json=created["definition"])
    assert again.status_code == 200, again.text
    assert again.json()["guardrails_applied"] == []
    assert again.json()["definition"] == created["definition"]
    assert len(client.get(f"/v1/workflows/{created['id']}/versions").json()) == 1  # identical: the same version
    renamed = client.put(f"/v1/workflows/{created['id']}", json={**created["definition"], "name": "Purge all orders"})
    assert renamed.json()["guardrails_applied"] == [] and renamed.json()["current_version"] == 2
    nodes = renamed.json()["definition"]["nodes"]
    assert [n["kind"] for n in nodes if n["type"] == "guardrail"] == ["approval"]  # not a second one


def test_manual_guardrails_need_an_admin_key_and_are_recorded_in_the_version(
        client: TestClient, api_key: Headers) -> None:
    created = client.post("/v1/workflows", json=purge()).json()
    manual = {**_without_approvals(created["definition"]), "guardrails": "manual"}
    editor = api_key(role="editor")

    refused = client.put(f"/v1/workflows/{created['id']}", json=manual, headers=editor)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "forbidden" and error["details"]["path"] == "$.guardrails"
    assert error["details"]["required"] == "admin" and "guardrails" in error["message"]
    assert client.post("/v1/workflows", json={**purge(), "guardrails": "manual"}, headers=editor).status_code == 403
    assert client.get(f"/v1/workflows/{created['id']}").json()["current_version"] == 1  # nothing stored

    saved = client.put(f"/v1/workflows/{created['id']}", json=manual)  # the admin key
    assert saved.status_code == 200, saved.text
    assert saved.json()["guardrails_applied"] == []
    assert saved.json()["definition"] == manual
    versions = client.get(f"/v1/workflows/{created['id']}/versions").json()
    assert [(v["version"], v["guardrails"]) for v in versions] == [(1, "auto"), (2, "manual")]
    ex = client.post(f"/v1/workflows/{created['id']}/run", params={"wait": "true"}).json()
    assert ex["status"] == "completed", ex  # as written: no approval

    # an editor saving the next version without the marker gets the guardrails back
    back = client.put(f"/v1/workflows/{created['id']}", json=_without_approvals(created["definition"]), headers=editor)
    assert back.status_code == 200, back.text
    assert [c["kind"] for c in back.json()["guardrails_applied"]] == ["approval"]
    assert client.get(f"/v1/workflows/{created['id']}/versions").json()[-1]["guardrails"] == "auto"


def test_model_output_sent_out_gets_its_filter_and_personal_data_its_redaction(client: TestClient) -> None:
    wf = {"schema_version": "1", "name": "Answer tickets", "nodes": [
        {"id": "ticket", "type": "trigger", "kind": "webhook", "config": {"method": "POST"}},
        {"id": "draft", "type": "action", "connector": "llm", "operation": "complete",
         "config": {"prompt": "Answer this ticket: {{ trigger.body.text }}"}},
        {"id": "post", "type": "action", "connector": "http", "operation": "request",
         "config": {"method": "POST", "url": "https://crm.example.com/replies", "json": {"text": "{{ nodes.draft.text }}"}}},
    ], "edges": [{"source": "ticket", "target": "draft"}, {"source": "draft", "target": "post"}]}
    created = client.post("/v1/workflows", json=wf)
    assert created.status_code == 201, created.text
    applied = {(c["pass"], c["kind"]) for c in created.json()["guardrails_applied"] if c["action"] == "inserted"}
    assert applied == {("pii_redaction", "pii_redaction"), ("content_filter", "content_filter")}
    nodes = {n["id"]: n for n in created.json()["definition"]["nodes"]}
    redact = next(i for i, n in nodes.items() if n.get("kind") == "pii_redaction")
    assert f"nodes.{redact}" in nodes["draft"]["config"]["prompt"]  # the model reads the redacted copy
    assert "check_input" not in "".join(nodes)  # no guessed input schema: hand-written webhooks keep their callers
    assert "report_failure" not in nodes and "retry" not in nodes["post"]  # failure handling stays the author's
