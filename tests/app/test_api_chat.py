"""The copilot over HTTP with the built-in local model: generate, refine, undo, scoping."""

from __future__ import annotations

from collections.abc import Iterator

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
