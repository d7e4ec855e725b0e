"""Credentials in generated workflows: the workspace's own are attached and named in the reply; a
missing one comes with the exact CLI command and API call that add it — and those work as given."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.copilot.credentials import add_commands, bind_credentials
from connectors.contract import AuthType
from connectors.registry import default_registry
from connectors.vault import Keyring, Vault, new_master_key
from engine.db import make_engine
from tests.app.copilot.scripted import copilot, fake, reply, weekly_sales

__all__ = ["fake"]  # the fixture
REGISTRY = default_registry(plugins=False)


@dataclass(frozen=True)
class Ref:
    name: str
    type: str


def _doc(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": [{"id": "trigger", "type": "trigger", "kind": "manual"}, *nodes], "edges": []}


def _slack(node_id: str = "tell", **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "action", "connector": "slack", "operation": "post_message",
            "config": {"channel": "#ops", "text": "hi"}, **extra}


def _http(url: str, node_id: str = "call") -> dict[str, Any]:
    return {"id": node_id, "type": "action", "connector": "http", "operation": "request", "config": {"url": url}}


def test_the_one_credential_that_fits_is_attached_and_said() -> None:
    doc = _doc(_slack())
    notes = bind_credentials(doc, REGISTRY, [Ref("ops-webhook", "url"), Ref("db", "url"), Ref("login", "basic")])
    # slack reads api_key or url: two fit and neither names slack, so none is picked by luck
    assert [n.status for n in notes] == ["ambiguous"] and "`ops-webhook` (url)" in notes[0].message
    assert "credential" not in doc["nodes"][1]
    doc = _doc(_slack())
    notes = bind_credentials(doc, REGISTRY, [Ref("ops-webhook", "url"), Ref("login", "basic")])
    assert doc["nodes"][1]["credential"] == "ops-webhook"
    assert notes[0].to_dict() == {"node_id": "tell", "status": "attached", "credential": "ops-webhook",
                                  "message": "Step `tell` uses the workspace's credential `ops-webhook` (url)."}


def test_among_several_the_one_named_after_the_connector_wins() -> None:
    doc = _doc(_slack())
    bind_credentials(doc, REGISTRY, [Ref("openai", "api_key"), Ref("slack-bot", "api_key")])
    assert doc["nodes"][1]["credential"] == "slack-bot"


def test_http_gets_a_credential_only_when_one_is_named_after_the_host() -> None:
    available = [Ref("github", "api_key"), Ref("stripe", "api_key")]
    doc = _doc(_http("https://api.github.com/repos/acme/app/issues"), _http("https://example.com/health", "ping"),
               _http("{{ trigger.body.url }}", "dynamic"))
    notes = bind_credentials(doc, REGISTRY, available)
    assert doc["nodes"][1]["credential"] == "github"
    assert "credential" not in doc["nodes"][2] and "credential" not in doc["nodes"][3]
    assert [n.node_id for n in notes] == ["call"]  # an optional credential that nobody has: nothing to say


def test_a_missing_credential_names_the_step_and_gives_the_exact_commands() -> None:
    doc = _doc({"id": "each", "type": "loop", "config": {"items": "{{ [1, 2] }}"},
                "body": {"nodes": [_slack("tell_each")], "edges": []}})
    notes = bind_credentials(doc, REGISTRY, [Ref("slack", "basic")], workspace_id="acme")
    assert doc["nodes"][1]["body"]["nodes"][0]["credential"] == "slack-2"  # 'slack' is taken by another type
    (note,) = notes
    assert note.status == "missing" and note.credential == "slack-2"
    assert note.add["cli"] == "echo '<api key>' | flowwright credentials set slack-2 --type api_key -w acme"
    assert note.add["api"] == 'PUT /v1/credentials/slack-2 {"type": "api_key", "secret": "<api key>"}'
    assert note.add["cli"] in note.message and "api_key or url" in note.message


def test_a_named_credential_that_is_missing_or_of_the_wrong_type_is_reported() -> None:
    doc = _doc(_slack("a", credential="gone"), _slack("b", credential="login"), _slack("c", credential="hook"))
    notes = {n.node_id: n for n in bind_credentials(doc, REGISTRY, [Ref("login", "basic"), Ref("hook", "url")])}
    assert notes["a"].status == "missing" and "`gone`" in notes["a"].message and notes["a"].add
    assert notes["b"].status == "wrong_type" and "reads api_key or url" in notes["b"].message
    assert notes["c"].status == "attached"
    assert [n["credential"] for n in doc["nodes"][1:]] == ["gone", "login", "hook"]  # never silently replaced


def test_connectors_without_credentials_are_left_alone() -> None:
    doc = _doc({"id": "note", "type": "action", "connector": "core", "operation": "log", "config": {"message": "x"}},
               {"id": "odd", "type": "action", "connector": "nope", "operation": "x", "config": {}})
    assert bind_credentials(doc, REGISTRY, [Ref("slack", "api_key")]) == []
    assert all("credential" not in n for n in doc["nodes"])


@pytest.mark.parametrize(("kind", "secret"), [
    (AuthType.API_KEY, "xoxb-123"),
    (AuthType.SMTP, {"host": "smtp.example.com", "port": 587, "from": "bot@example.com"}),
    (AuthType.URL, "sqlite:///x.db"),
])
def test_the_cli_command_given_stores_the_credential(kind: AuthType, secret: Any, _isolated_data_dir: Path) -> None:
    from typer.testing import CliRunner

    from app.cli.main import app
    from app.settings import get_settings

    command = add_commands("svc", kind, "acme")["cli"]
    echoed, cli = command.split(" | ")
    assert echoed.startswith("echo '") and cli.startswith("flowwright ")
    get_settings.cache_clear()
    stdin = secret if isinstance(secret, str) else json.dumps(secret)
    result = CliRunner().invoke(app, shlex.split(cli)[1:], input=stdin)
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(app, ["credentials", "list", "--json", "-w", "acme"])
    assert [(c["name"], c["type"]) for c in json.loads(listed.stdout)] == [("svc", kind.value)]


# --- through the copilot --------------------------------------------------------------------------


def _vault(tmp_path: Path, *items: tuple[str, str, Any], workspace: str = "default") -> Vault:
    vault = Vault(make_engine(f"sqlite:///{tmp_path / 'vault.db'}"), Keyring.of(new_master_key()))
    for name, kind, secret in items:
        vault.set(workspace, name, kind, secret)
    return vault


def test_the_copilot_attaches_the_workspace_smtp_credential_and_offers_it_to_the_model(
        tmp_path: Path, fake: Any) -> None:
    secret = "pw-Very-Secret-42"
    vault = _vault(tmp_path, ("mail", "smtp", {"host": "smtp.example.com", "password": secret}))
    vault.set("elsewhere", "theirs", "smtp", {"host": "y"})
    fake.enqueue(weekly_sales())
    turn = copilot(tmp_path, credentials=vault).generate("every monday email the sales total to alice@example.com")
    assert turn.kind == "workflow" and turn.valid, turn.problems
    assert [(c["status"], c["credential"]) for c in turn.credentials] == [("attached", "mail")]
    assert "Step `email_total` uses the workspace's credential `mail` (smtp)." in turn.message
    email = next(n for n in turn.workflow.nodes if getattr(n, "connector", None) == "email")
    assert email.credential == "mail"
    context = next(m["content"] for m in fake.requests[0].messages if "## Catalog" in str(m["content"]))
    assert "## Credentials in this workspace" in context and "- `mail` (smtp) — for email" in context
    assert "theirs" not in context
    assert all(secret not in json.dumps(r.messages) for r in fake.requests)  # names and types only


def test_the_copilot_names_the_missing_credential_and_the_step_uses_it_once_added(tmp_path: Path, fake: Any) -> None:
    vault = _vault(tmp_path)
    service = copilot(tmp_path, credentials=vault)
    fake.enqueue(weekly_sales())
    turn = service.generate("every monday email the sales total to alice@example.com")
    (note,) = turn.credentials
    assert note["status"] == "missing" and note["credential"] == "email"
    assert "flowwright credentials set email --type smtp" in turn.message
    email = next(n for n in turn.workflow.nodes if getattr(n, "connector", None) == "email")
    assert email.credential == "email"

    vault.set("default", "email", "smtp", {"host": "smtp.example.com"})
    fake.enqueue(reply("edit", explanation="Also to bob.", edits=[
        {"op": "update_step", "id": "email_total", "append": {"to": ["bob@example.com"]}}]))
    again = service.send(turn.conversation_id, "also send it to bob@example.com")
    assert again.kind == "workflow" and again.credentials == []  # attached before, now it exists: nothing to say
    assert "credentials set" not in again.message


def test_without_a_vault_nothing_is_attached(tmp_path: Path, fake: Any) -> None:
    fake.enqueue(weekly_sales())
    turn = copilot(tmp_path).generate("every monday email the sales total to alice@example.com")
    assert turn.credentials == []
    assert all(getattr(n, "credential", None) is None for n in turn.workflow.nodes)


def test_the_chat_api_attaches_the_credential_added_through_the_api_call_it_gave(admin_headers: dict[str, str]) -> None:
    from app.api.server import create_app
    from app.settings import get_settings

    with TestClient(create_app(get_settings()), headers=admin_headers) as client:
        first = client.post("/v1/conversations", json={"message": "every monday at 9am post 'standup time' to #team"})
        assert first.status_code == 201, first.text
        (note,) = first.json()["credentials"]
        assert note["status"] == "missing"
        method, path, body = note["add"]["api"].split(" ", 2)
        secret = json.loads(body)
        secret["secret"] = "xoxb-test-token"
        assert client.request(method, path, json=secret).status_code == 200
        second = client.post("/v1/conversations", json={"message": "every monday at 9am post 'standup time' to #team"})
        (note,) = second.json()["credentials"]
        assert note["status"] == "attached" and note["credential"] == "slack"
        assert "xoxb-test-token" not in second.text
        nodes = {n["id"]: n for n in second.json()["workflow"]["nodes"]}
        assert any(n.get("credential") == "slack" for n in nodes.values())
