"""The service end to end: runs, SSE with Last-Event-ID, webhooks, approvals, the scheduler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.engine.workflows import minimal


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")  # the tests tick it by hand
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def two_steps() -> dict[str, Any]:
    wf = minimal()
    wf["nodes"].append({"id": "double", "type": "action", "connector": "core", "operation": "transform",
                        "config": {"expression": "trigger.n * 2"}})
    wf["edges"].append({"source": "say", "target": "double"})
    return wf


def create(client: TestClient, wf: dict[str, Any], *, activate: bool = False, **headers: str) -> str:
    """Create a workflow (a draft) and, with ``activate``, make its triggers fire."""
    response = client.post("/v1/workflows", json=wf, headers=headers)
    assert response.status_code == 201, response.text
    if activate:
        activated = client.post(f"/v1/workflows/{response.json()['id']}/activate", headers=headers)
        assert activated.status_code == 200, activated.text
    return str(response.json()["id"])


def read_sse(client: TestClient, url: str, **headers: str) -> list[dict[str, Any]]:
    events = []
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, Any] = {}
        for line in response.iter_lines():
            if line.startswith("id:"):
                current["id"] = int(line[3:].strip())
            elif line.startswith("event:"):
                current["event"] = line[6:].strip()
            elif line.startswith("data:"):
                current["data"] = json.loads(line[5:].strip())
            elif line == "" and current:
                events.append(current)
                current = {}
    return events


def test_manual_run_and_read_back(client: TestClient) -> None:
    wf_id = create(client, two_steps())
    done = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {"n": 21}}).json()
    assert done["status"] == "completed"
    assert {s["node_id"]: s["output"] for s in done["steps"]}["double"] == {"value": 42}
    listed = client.get("/v1/executions", params={"status": "completed"}).json()
    assert [e["id"] for e in listed] == [done["id"]]
    assert listed[0]["workflow_id"] == wf_id and listed[0]["trigger"] == "manual"
    assert client.get(f"/v1/executions/{done['id']}").json()["status"] == "completed"
    assert client.get("/v1/executions", params={"status": "nope"}).status_code == 400


def test_sse_replays_then_resumes_from_last_event_id(client: TestClient) -> None:
    wf_id = create(client, two_steps())
    started = client.post(f"/v1/workflows/{wf_id}/run", json={"input": {"n": 1}})
    assert started.status_code == 202
    ex_id = started.json()["id"]
    events = read_sse(client, f"/v1/executions/{ex_id}/events")
    seqs = [e["id"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert events[0]["event"] == "execution.started"
    assert events[-1]["event"] == "execution.completed"
    assert {"node.started", "node.completed"} <= {e["event"] for e in events}
    again = read_sse(client, f"/v1/executions/{ex_id}/events", **{"Last-Event-ID": "3"})
    assert [e["id"] for e in again] == seqs[3:]
    assert again == events[3:]
    bad = client.get(f"/v1/executions/{ex_id}/events", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


def test_failed_node_streams_failure_events_never_named_error(client: TestClient) -> None:
    wf = minimal()
    wf["nodes"][1] = {"id": "say", "type": "action", "connector": "core", "operation": "fail",
                      "config": {"message": "boom"}}
    wf_id = create(client, wf)
    ex_id = client.post(f"/v1/workflows/{wf_id}/run").json()["id"]
    events = read_sse(client, f"/v1/executions/{ex_id}/events")
    names = [e["event"] for e in events]
    assert "error" not in names  # EventSource reserves that name for its own connection errors
    assert "node.failed" in names and names[-1] == "execution.failed"
    assert all(e["event"] == e["data"]["type"] for e in events)


def test_executions_are_scoped_to_their_workspace(client: TestClient, api_key: Any) -> None:
    a, b = api_key("a"), api_key("b")
    wf_id = create(client, two_steps(), **a)
    ex = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {"n": 1}},
                     headers=a).json()
    assert client.get(f"/v1/executions/{ex['id']}", headers=b).status_code == 404
    assert client.get(f"/v1/executions/{ex['id']}/events", headers=b).status_code == 404
    assert client.post(f"/v1/executions/{ex['id']}/cancel", headers=b).status_code == 404
    assert client.get("/v1/executions", headers=b).json() == []
    assert client.post(f"/v1/workflows/{wf_id}/run", headers=b).status_code == 404


def test_illegal_control_is_409(client: TestClient) -> None:
    wf_id = create(client, two_steps())
    ex = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {"n": 1}}).json()
    response = client.post(f"/v1/executions/{ex['id']}/pause")
    assert response.status_code == 409
    assert client.post(f"/v1/executions/{ex['id']}/explode").status_code == 422
    client.post(f"/v1/workflows/{wf_id}/status", json={"status": "archived"})
    archived = client.post(f"/v1/workflows/{wf_id}/run")
    assert archived.status_code == 409 and archived.json()["error"]["code"] == "conflict"


def webhook_workflow() -> dict[str, Any]:
    return {
        "schema_version": "1", "name": "Signup hook",
        "nodes": [
            {"id": "hook", "type": "trigger", "kind": "webhook",
             "config": {"method": "POST", "input_schema": {"type": "object", "required": ["email"],
                                                           "properties": {"email": {"type": "string"}}}}},
            {"id": "greet", "type": "action", "connector": "core", "operation": "transform",
             "config": {"expression": "'hello ' & trigger.body.email"}},
        ],
        "edges": [{"source": "hook", "target": "greet"}],
    }


def test_webhook_runs_with_the_request_envelope(client: TestClient) -> None:
    wf_id = create(client, webhook_workflow(), activate=True)
    done = client.post(f"/v1/hooks/{wf_id}?wait=true&tag=a&tag=b", json={"email": "a@example.com"},
                       headers={"Authorization": "Bearer secret-token", "X-Gitlab-Token": "gl-secret-777"})
    assert done.status_code == 202, done.text
    result = done.json()
    assert result["status"] == "completed" and result["outcome"] == "completed"
    assert result["output"] == {"value": "hello a@example.com"}
    assert "steps" not in result and "hook" not in done.text  # the caller gets the output, not each step's
    ex = client.get("/v1/executions").json()[0]
    assert ex["trigger"] == "webhook"
    stored = json.dumps(client.get(f"/v1/executions/{ex['id']}").json())
    assert "secret-token" not in stored and "gl-secret-777" not in stored
    trigger_step = client.get(f"/v1/executions/{ex['id']}").json()["steps"][0]
    assert trigger_step["output"]["query"] == {"tag": ["a", "b"]}


def test_webhook_errors_are_clear_4xx(client: TestClient) -> None:
    wf_id = create(client, webhook_workflow(), activate=True)
    bad = client.post(f"/v1/hooks/{wf_id}", json={"mail": "x"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "input_invalid"
    assert "$.body" in bad.json()["error"]["message"]
    assert client.get(f"/v1/hooks/{wf_id}").status_code == 405
    not_json = client.post(f"/v1/hooks/{wf_id}", content=b"{oops", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "webhook_invalid"
    assert client.post("/v1/hooks/wf_doesnotexist", json={}).status_code == 404
    client.post(f"/v1/workflows/{wf_id}/status", json={"status": "inactive"})
    assert client.post(f"/v1/hooks/{wf_id}", json={"email": "a@example.com"}).status_code == 404


def test_approval_waits_for_a_person(client: TestClient, api_key: Any) -> None:
    wf = two_steps()
    wf["nodes"].insert(1, {"id": "ok_to_go", "type": "guardrail", "kind": "approval", "origin": "guardrail",
                           "config": {"message": "Send it?"}})
    wf["edges"] = [{"source": "start", "target": "ok_to_go"}, {"source": "ok_to_go", "target": "say"},
                   {"source": "say", "target": "double"}]
    wf_id = create(client, wf)
    ex = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {"n": 2}}).json()
    assert ex["status"] == "waiting"
    pending = client.get("/v1/approvals").json()
    assert [(p["execution_id"], p["node_id"]) for p in pending] == [(ex["id"], "ok_to_go")]
    assert client.get("/v1/approvals", headers=api_key("other")).json() == []
    # the approver is the key's user, whatever name the body carries
    decided = client.post(f"/v1/executions/{ex['id']}/approvals/ok_to_go/approve", json={"by": "mallory"},
                          headers=api_key(role="editor", user="alice"))
    assert decided.status_code == 200, decided.text
    from sqlalchemy import create_engine, text

    engine = create_engine(get_settings().resolved_database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT decided_by FROM execution_approvals")).scalars().all() == ["alice"]
    engine.dispose()
    events = read_sse(client, f"/v1/executions/{ex['id']}/events")
    assert events[-1]["event"] == "execution.completed"
    assert client.get(f"/v1/executions/{ex['id']}").json()["status"] == "completed"


def test_scheduler_starts_runs_of_scheduled_workflows(client: TestClient) -> None:
    wf = two_steps()
    wf["nodes"][0] = {"id": "start", "type": "trigger", "kind": "schedule", "config": {"cron": "* * * * *"}}
    wf["nodes"][2]["config"]["expression"] = "$exists(trigger.scheduled_at)"
    wf_id = create(client, wf, activate=True)
    scheduler = client.app.state.container.scheduler  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    assert client.portal.call(scheduler.tick, now) == []  # arms the schedule  # type: ignore[union-attr]
    [ex_id] = client.portal.call(scheduler.tick, now + timedelta(minutes=1, seconds=1))  # type: ignore[union-attr]
    events = read_sse(client, f"/v1/executions/{ex_id}/events")
    assert events[-1]["event"] == "execution.completed"
    result = client.get(f"/v1/executions/{ex_id}").json()
    assert result["steps"][-1]["output"] == {"value": True}
    assert client.get("/v1/executions").json()[0]["workflow_id"] == wf_id


def test_a_parents_tree_streams_as_one_sse_and_reads_back_nested(client: TestClient) -> None:
    child_id = create(client, two_steps() | {"name": "child"})
    parent = {"name": "parent", "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "sub", "type": "action", "connector": "core", "operation": "run_workflow",
         "config": {"workflow_id": child_id, "input": {"n": 4}}}], "edges": [{"source": "start", "target": "sub"}]}
    parent_id = create(client, parent)
    done = client.post(f"/v1/workflows/{parent_id}/run", params={"wait": "true"}, json={"input": {}}).json()
    assert done["status"] == "completed", done
    (child,) = done["children"]
    assert (child["workflow_id"], child["workflow_name"], child["node_id"], child["status"]) == \
        (child_id, "child", "sub", "completed")

    own = read_sse(client, f"/v1/executions/{done['id']}/events")
    tree = read_sse(client, f"/v1/executions/{done['id']}/events?tree=true")
    mine = [e for e in tree if e["data"]["execution_id"] == done["id"]]
    theirs = [e for e in tree if e["data"]["execution_id"] == child["id"]]
    assert mine == own  # the parent's own events, ids and all, as without tree
    assert [e["event"] for e in theirs][0] == "execution.started" and theirs[-1]["event"] == "execution.completed"
    assert all("id" not in e for e in theirs)  # a child's seq is not a resumable position of this stream
    assert {"node.completed"} <= {e["event"] for e in theirs}
    assert len(tree) == len(own) + len(theirs)
    assert client.get(f"/v1/executions/{child['id']}").json()["parent_execution_id"] == done["id"]


def test_a_manual_run_of_a_webhook_workflow_gets_the_envelope(client: TestClient) -> None:
    """The input of /run is the body, as a real call sends it: ``trigger.body.email`` reads it."""
    wf_id = create(client, webhook_workflow())
    done = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {"email": "a@example.com"}})
    assert done.status_code == 202, done.text
    assert done.json()["output"] == {"value": "hello a@example.com"}
    envelope = client.get(f"/v1/executions/{done.json()['id']}").json()["steps"][0]["output"]
    assert envelope == {"body": {"email": "a@example.com"}, "headers": {}, "query": {}, "method": "POST", "path": ""}
    # an envelope stays as it is; the input_schema still checks the body, naming the path
    given = {"body": {"email": "b@example.com"}, "headers": {"x-source": "test"}, "query": {}, "method": "POST", "path": ""}
    again = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": given})
    assert again.json()["output"] == {"value": "hello b@example.com"}
    bad = client.post(f"/v1/workflows/{wf_id}/run", json={"input": {"mail": "x"}})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["problems"][0]["path"] == "$.body"
