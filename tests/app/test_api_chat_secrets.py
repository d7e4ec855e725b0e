"""Secrets pasted into the chat, through the API with the local model: the token never reaches the
database, the semantic cache, the log or the workflow, and the reply offers to store it as a
credential (issue 11: "secrets pasted into chat are stored in plaintext and in the semantic cache")."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.app.keys import issue_headers

TOKEN = "xoxb-2048901234-7712345678901-Qw3rTyUiOpAsDfGhJkLz"
PASSWORD = "Wint3r-2026!hunter"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chat-secrets")


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    mp = pytest.MonkeyPatch()
    mp.setenv("FLOWWRIGHT_DATA_DIR", str(data_dir))
    mp.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=issue_headers()) as c:
        yield c
    mp.undo()
    get_settings.cache_clear()


def _files_holding(root: Path, needle: str) -> list[str]:
    """Every file under ``root`` (the database, its WAL, the cache's files...) that holds ``needle``
    as typed, base64-encoded or JSON-escaped."""
    forms = {needle.encode(), base64.b64encode(needle.encode()), json.dumps(needle)[1:-1].encode()}
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and any(f in p.read_bytes() for f in forms)]


def test_a_pasted_token_is_offered_as_a_credential_and_stored_nowhere(
        client: TestClient, data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    message = f"Every weekday at 8am post 'standup time' to #team on Slack, the bot token is {TOKEN}"
    answered = client.post("/v1/conversations", json={"message": message})
    assert answered.status_code == 201, answered.text
    turn = answered.json()
    assert turn["kind"] == "workflow", turn
    assert [(s["kind"], s["credential_type"], s["suggested_name"]) for s in turn["secrets"]] == [
        ("slack_token", "api_key", "slack")]
    assert "Store it as a credential" in turn["message"]
    assert "flowwright credentials set slack --type api_key" in turn["message"]
    assert TOKEN not in json.dumps(turn)  # not in the workflow, the explanation or the reply
    assert any(n.get("connector") == "slack" for n in turn["workflow"]["nodes"])

    again = client.post(f"/v1/conversations/{turn['conversation_id']}/messages",
                        json={"message": f"and use password {PASSWORD} for it"})
    assert again.status_code == 200, again.text
    assert [s["kind"] for s in again.json()["secrets"]] == ["password"]

    conversation = client.get(f"/v1/conversations/{turn['conversation_id']}").json()
    said = [m["content"] for m in conversation["messages"] if m["role"] == "user"]
    assert said == [message.replace(TOKEN, "***"), "and use password *** for it"]
    assert TOKEN not in conversation["title"]

    assert _files_holding(data_dir, "standup time")  # the message did reach the database and the cache...
    assert _files_holding(data_dir, TOKEN) == []  # ...without the token
    assert _files_holding(data_dir, PASSWORD) == []
    assert TOKEN not in caplog.text and PASSWORD not in caplog.text


def test_a_message_of_nothing_but_a_secret_plans_nothing(client: TestClient, data_dir: Path) -> None:
    key = "sk-proj-9XkL2mQv7RtY4pW1sZ8nB3cV6xH0jF5gZ"
    turn = client.post("/v1/conversations", json={"message": f"  {key}  "}).json()
    assert turn["kind"] == "question" and turn["workflow_id"] is None, turn
    assert [s["kind"] for s in turn["secrets"]] == ["openai_api_key"]
    assert "flowwright credentials set openai --type api_key" in turn["question"]
    assert _files_holding(data_dir, key) == []
