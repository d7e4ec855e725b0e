"""The copilot over HTTP with the built-in local model: generate, refine, undo, scoping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.app.keys import issue_headers

OTHER_WORKSPACE: dict[str, str] = {}
"""Headers carrying a key of another workspace, issued into the module's data dir."""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    mp = pytest.MonkeyPatch()
    mp.setenv("FLOWWRIGHT_DATA_DIR", str(tmp_path_factory.mktemp("chat-api")))
    mp.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=issue_headers()) as c:
        OTHER_WORKSPACE.update(issue_headers("someone-else"))
        yield c
    mp.undo()
    get_settings.cache_clear()


def test_generate_refine_undo(client: TestClient) -> None:
    first = client.post("/v1/conversations", json={
        "message": "Every Monday at 9am fetch https://api.example.com/sales and email a summary to alice@example.com"})
    assert first.status_code == 201, first.text
    turn = first.json()
    assert turn["kind"] == "workflow", turn
    assert turn["valid"] is True and turn["version"] == 1
    nodes = turn["workflow"]["nodes"]
    assert nodes[0]["kind"] == "schedule" and nodes[0]["config"]["cron"] == "0 9 * * 1"
    assert any(n.get("connector") == "email" for n in nodes)
    conversation = turn["conversation_id"]

    refined = client.post(f"/v1/conversations/{conversation}/messages", json={"message": "also post it to #sales"})
    assert refined.status_code == 200, refined.text
    second = refined.json()
    assert second["version"] == 2
    assert any(n.get("connector") == "slack" for n in second["workflow"]["nodes"])
    assert second["diff"]["added"]

    undone = client.post(f"/v1/conversations/{conversation}/undo")
    assert undone.status_code == 200 and undone.json()["version"] == 1
    wf = client.get(f"/v1/workflows/{turn['workflow_id']}").json()
    assert wf["current_version"] == 1

    history = client.get(f"/v1/conversations/{conversation}").json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "user", "assistant", "assistant"]


def test_ambiguous_request_gets_a_question(client: TestClient) -> None:
    turn = client.post("/v1/conversations", json={"message": "send the report to the team"}).json()
    assert turn["kind"] == "question" and turn["question"]


def test_bad_input_and_scoping(client: TestClient) -> None:
    assert client.post("/v1/conversations", json={"message": ""}).status_code == 422
    turn = client.post("/v1/conversations", json={"message": "every day at 8:00 log 'hello'"}).json()
    other = OTHER_WORKSPACE
    conversation = turn["conversation_id"]
    assert client.get(f"/v1/conversations/{conversation}", headers=other).status_code == 404
    assert client.post(f"/v1/conversations/{conversation}/messages", json={"message": "x"},
                       headers=other).status_code == 404
    assert client.post(f"/v1/conversations/{conversation}/undo").status_code == 409


def read_turn_stream(client: TestClient, path: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The ``(event, data)`` pairs of a streamed turn."""
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("POST", path, json=body, headers={"accept": "text/event-stream"}) as response:
        assert response.status_code in (200, 201), response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        name, data = "message", ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line == "" and data:
                events.append((name, json.loads(data)))
                name, data = "message", ""
    return events


def test_a_turn_streams_its_stages_then_the_turn(client: TestClient) -> None:
    events = read_turn_stream(client, "/v1/conversations", {"message": "every day at 8:00 log 'hello'"})
    names = [name for name, _ in events]
    assert names[-1] == "turn" and set(names[:-1]) == {"stage"} and "error" not in names
    stages = [(d["stage"], d["state"]) for _, d in events[:-1]]
    assert stages[:3] == [("context", "started"), ("context", "done"), ("model", "started")]
    for stage in ("context", "model", "repair", "passes", "validate", "store"):
        assert stages.index((stage, "started")) < stages.index((stage, "done")), stage
    assert ("check", "done") in stages
    turn = events[-1][1]
    assert turn["kind"] == "workflow" and turn["version"] == 1 and turn["valid"] is True
    store = next(d for _, d in events if d.get("stage") == "store" and d["state"] == "done")
    assert store["detail"] == {"version": 1} and turn["timings"]["store_ms"] == store["ms"]
    # the same conversation goes on, streamed or not
    refined = read_turn_stream(client, f"/v1/conversations/{turn['conversation_id']}/messages",
                               {"message": "also email it to bob@example.com"})
    assert refined[-1][0] == "turn" and refined[-1][1]["version"] == 2
    plain = client.post(f"/v1/conversations/{turn['conversation_id']}/messages", json={"message": "log 'bye' too"})
    assert plain.status_code == 200 and plain.json()["version"] == 3


def test_a_streamed_turn_that_fails_ends_with_a_failed_event(client: TestClient) -> None:
    wf = {"schema_version": "1.1", "name": "Polls items", "nodes": [
        {"id": "start", "type": "trigger", "kind": "poll", "connector": "http", "operation": "new_items",
         "config": {"interval_s": 60, "input": {"url": "https://api.example.com/items"}}},
        {"id": "say", "type": "action", "connector": "core", "operation": "log", "config": {"message": "new"}}],
        "edges": [{"source": "start", "target": "say"}]}
    created = client.post("/v1/workflows", json=wf)
    assert created.status_code == 201, created.text
    events = read_turn_stream(client, "/v1/conversations",
                              {"message": "log it twice", "workflow_id": created.json()["id"]})
    assert [name for name, _ in events] == ["failed"]
    failed = events[0][1]
    assert failed["status"] == 422 and failed["error"]["code"] == "copilot_failed"
    assert "edit its JSON instead" in failed["error"]["message"]
    # errors found before the stream starts are plain JSON answers
    missing = client.post("/v1/conversations/conv_nope/messages", json={"message": "x"},
                          headers={"accept": "text/event-stream"})
    assert missing.status_code == 404 and missing.json()["error"]["code"]
