"""Drafts and activation through the API: a draft never fires; activating validates and shows what
will fire; edits stay drafts until activated; rollback, diff, soft delete and restore."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.engine.workflows import digest, minimal


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")  # the tests tick it by hand
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def every_minute(message: str = "hi") -> dict[str, Any]:
    wf = minimal()
    wf["nodes"][0] = {"id": "start", "type": "trigger", "kind": "schedule", "config": {"cron": "* * * * *"}}
    wf["nodes"][1]["config"]["message"] = message
    return wf


def webhook() -> dict[str, Any]:
    wf = minimal()
    wf["name"] = "Hook"
    wf["nodes"][0] = {"id": "start", "type": "trigger", "kind": "webhook", "config": {"path": "orders"}}
    return wf


def tick(client: TestClient, moment: datetime) -> list[str]:
    scheduler = client.app.state.container.scheduler  # type: ignore[attr-defined]
    fired: list[str] = client.portal.call(scheduler.tick, moment)  # type: ignore[union-attr]
    return fired


def test_a_draft_never_fires_and_activation_shows_what_will(client: TestClient) -> None:
    created = client.post("/v1/workflows", json=every_minute()).json()
    assert (created["status"], created["current_version"], created["active_version"]) == ("inactive", 1, None)
    wf_id = created["id"]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert tick(client, now) == [] and tick(client, now + timedelta(minutes=3)) == []  # a draft: nothing
    assert client.get("/v1/executions").json() == []

    activated = client.post(f"/v1/workflows/{wf_id}/activate")
    assert activated.status_code == 200, activated.text
    body = activated.json()
    assert (body["status"], body["active_version"]) == ("active", 1)
    fires = body["fires"]
    assert fires["kind"] == "schedule" and fires["description"] == "Every minute (UTC)"
    assert len(fires["next"]) == 5
    times = [datetime.fromisoformat(t["utc"]) for t in fires["next"]]
    assert all(b - a == timedelta(minutes=1) for a, b in zip(times, times[1:], strict=False))
    assert fires["next"][0]["words"].endswith(" UTC")
    assert tick(client, now + timedelta(minutes=3)) == []  # arms
    assert len(tick(client, now + timedelta(minutes=4, seconds=1))) == 1

    assert client.post(f"/v1/workflows/{wf_id}/deactivate").json()["status"] == "inactive"
    assert tick(client, now + timedelta(minutes=6, seconds=1)) == []


def test_the_schedule_in_words_and_utc(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=digest()).json()["id"]  # Mondays 09:00 Europe/Berlin
    preview = client.get(f"/v1/workflows/{wf_id}/preview").json()["fires"]
    assert preview["description"] == "At 09:00, only on Monday (Europe/Berlin)"
    first = preview["next"][0]
    assert first["words"].startswith("Monday ") and first["words"].endswith("09:00 Europe/Berlin")
    utc = datetime.fromisoformat(first["utc"])
    assert utc.weekday() == 0 and utc.hour in (7, 8)  # 09:00 Berlin is 08:00 UTC in winter, 07:00 in summer
    assert client.get(f"/v1/workflows/{wf_id}").json()["status"] == "inactive"  # preview changes nothing


def test_webhook_activation_gives_the_url_and_a_draft_hook_is_404(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=webhook()).json()["id"]
    assert client.post(f"/v1/hooks/{wf_id}/orders", json={}).status_code == 404  # a draft
    fires = client.post(f"/v1/workflows/{wf_id}/activate").json()["fires"]
    assert fires["method"] == "POST"
    assert fires["url"] == f"http://testserver/v1/hooks/{wf_id}/orders"
    assert client.post(f"/v1/hooks/{wf_id}/orders", json={}).status_code == 202


def test_an_edit_stays_a_draft_until_activated_and_rollback(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=every_minute("one")).json()["id"]
    client.post(f"/v1/workflows/{wf_id}/activate")
    edited = client.put(f"/v1/workflows/{wf_id}", json=every_minute("two")).json()
    assert (edited["current_version"], edited["active_version"], edited["status"]) == (2, 1, "active")
    marks = [(v["version"], v["current"], v["active"]) for v in client.get(f"/v1/workflows/{wf_id}/versions").json()]
    assert marks == [(1, False, True), (2, True, False)]
    diff = client.get(f"/v1/workflows/{wf_id}/diff").json()  # default: active → draft
    assert (diff["from"], diff["to"], diff["changed"]) == (1, 2, {"say": ["config"]})
    assert '-        "message": "one"' in diff["lines"] and '+        "message": "two"' in diff["lines"]
    assert client.get(f"/v1/workflows/{wf_id}/diff", params={"from": 0}).status_code == 422
    assert client.get(f"/v1/workflows/{wf_id}/diff", params={"from": 9}).status_code == 404

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    tick(client, now)
    [ex_id] = tick(client, now + timedelta(minutes=1, seconds=1))
    ran = client.get(f"/v1/executions/{ex_id}").json()
    assert ran["workflow_version"] == 1  # triggers run the active version, not the draft

    assert client.post(f"/v1/workflows/{wf_id}/activate").json()["active_version"] == 2
    back = client.post(f"/v1/workflows/{wf_id}/rollback", json={"version": 1}).json()
    assert (back["current_version"], back["active_version"], back["fires"]["kind"]) == (1, 1, "schedule")
    assert client.post(f"/v1/workflows/{wf_id}/rollback", json={"version": 7}).status_code == 404


def test_an_invalid_draft_is_refused_with_every_problem(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=every_minute()).json()["id"]
    # A draft stored when its connector existed; the catalog no longer has that operation.
    from sqlmodel import Session, select

    from engine.workflow_store import WorkflowVersionRow

    db = client.app.state.container.db  # type: ignore[attr-defined]
    with Session(db) as session:
        row = session.exec(select(WorkflowVersionRow).where(WorkflowVersionRow.workflow_id == wf_id)).one()
        row.definition = row.definition.replace('"operation": "log"', '"operation": "shout"')
        session.add(row)
        session.commit()
    refused = client.post(f"/v1/workflows/{wf_id}/activate")
    assert refused.status_code == 422
    problems = refused.json()["error"]["details"]["problems"]
    assert [(p["code"], p["path"]) for p in problems] == [("unknown_operation", "$.nodes[1].operation")]
    assert client.get(f"/v1/workflows/{wf_id}").json()["status"] == "inactive"  # nothing changed
    assert client.post(f"/v1/workflows/{wf_id}/status", json={"status": "active"}).status_code == 422


def test_soft_delete_and_restore(client: TestClient, api_key: Any) -> None:
    wf_id = client.post("/v1/workflows", json=webhook()).json()["id"]
    client.post(f"/v1/workflows/{wf_id}/activate")
    assert client.delete(f"/v1/workflows/{wf_id}").json()["deleted"] is True
    assert client.get(f"/v1/workflows/{wf_id}").status_code == 404
    assert client.get("/v1/workflows").json() == []
    assert [w["id"] for w in client.get("/v1/workflows", params={"deleted": True}).json()] == [wf_id]
    assert client.post(f"/v1/hooks/{wf_id}/orders", json={}).status_code == 404  # never fires once deleted
    assert client.post(f"/v1/workflows/{wf_id}/restore", headers=api_key("other")).status_code == 404
    restored = client.post(f"/v1/workflows/{wf_id}/restore").json()
    assert (restored["deleted"], restored["status"]) == (False, "inactive")
    assert client.post(f"/v1/hooks/{wf_id}/orders", json={}).status_code == 404  # until activated again


def test_a_poll_trigger_through_the_service(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> None:
    from tests.connectors.conftest import LoopbackServer

    listed: list[dict[str, Any]] = [{"id": 1, "title": "old"}]
    status = [200]
    server = LoopbackServer()
    server.routes["/items"] = lambda rec: (status[0], {}, list(listed) if status[0] == 200 else {"error": "down"})
    server.start()
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    monkeypatch.setenv("FLOWWRIGHT_HTTP_ALLOW_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    wf = minimal()
    wf["schema_version"] = "1.1"
    wf["nodes"][0] = {"id": "start", "type": "trigger", "kind": "poll", "connector": "http", "operation": "new_items",
                      "config": {"interval_s": 1, "input": {"url": f"{server.url}/items"}}}
    try:
        with TestClient(create_app(get_settings()), headers=admin_headers) as client:
            poller = client.app.state.container.poll_scheduler  # type: ignore[attr-defined]
            wf_id = client.post("/v1/workflows", json=wf).json()["id"]
            fires = client.post(f"/v1/workflows/{wf_id}/activate").json()["fires"]
            assert fires["description"] == "polls http.new_items every 1 s: one run per new item " \
                                           "(only items that appear from now on)"
            assert client.get(f"/v1/workflows/{wf_id}/preview").json()["fires"]["polling"] is None  # not yet polled
            later = datetime.now(UTC)
            assert client.portal.call(poller.tick, later) == []  # type: ignore[union-attr]  # arms
            listed.append({"id": 2, "title": "new"})
            [started] = client.portal.call(poller.tick, later + timedelta(seconds=2))  # type: ignore[union-attr]
            runs = client.get("/v1/executions", params={"trigger": "poll"}).json()
            assert [r["id"] for r in runs] == [started]
            status[0] = 500
            assert client.portal.call(poller.tick, later + timedelta(seconds=4)) == []  # type: ignore[union-attr]
            polling = client.get(f"/v1/workflows/{wf_id}/preview").json()["fires"]["polling"]
            assert (polling["armed"], polling["items_started"], polling["executions_started"]) == (True, 1, 1)
            assert polling["failures"] == 1 and "answered 500" in polling["last_error"]
            assert not [f for f in client.get("/v1/insights").json()["findings"] if "polling trigger" in f["title"]]
            for k in (6, 8):  # three failed polls in a row: insights say so
                client.portal.call(poller.tick, later + timedelta(seconds=k))  # type: ignore[union-attr]
            [finding] = [f for f in client.get("/v1/insights").json()["findings"] if "polling trigger" in f["title"]]
            assert finding["severity"] == "high" and finding["workflow_id"] == wf_id
            assert "3 polls in a row failed" in finding["detail"] and "answered 500" in finding["detail"]
    finally:
        server.stop()
