"""Scheduled insight reports: the setting becomes an active workflow; the scheduler fires it at
its time and the report arrives by SMTP (aiosmtpd on loopback) with its PDF; bad settings are 422s
naming the field; another workspace sees none of it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api.server import create_app
from app.cli.main import app as cli
from app.insights.schedule import NAME, ReportSchedule, definition
from app.settings import get_settings
from tests.app.insights.history import realistic, seed
from tests.app.keys import issue_headers


class Inbox:
    """What the loopback SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 Message accepted"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str],
           inbox: tuple[Inbox, int]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")  # the test drives the scheduler's clock
    monkeypatch.setenv("FLOWWRIGHT_HTTP_ALLOW_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        seed(c.app.state.container.db, realistic(0.1), now=datetime.now(UTC), days=7)  # type: ignore[attr-defined]
        smtp = {"host": "127.0.0.1", "port": inbox[1], "security": "none", "from": "flowwright@example.com"}
        assert c.put("/v1/credentials/mail", json={"type": "smtp", "secret": smtp}).status_code in (200, 201)
        yield c


def finished(client: TestClient, execution_id: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = client.get(f"/v1/executions/{execution_id}").json()
        if body["status"] not in ("pending", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_the_scheduler_sends_the_weekly_report(client: TestClient, inbox: tuple[Inbox, int]) -> None:
    box, _ = inbox
    assert client.get("/v1/insights/schedule").json()["enabled"] is False
    put = client.put("/v1/insights/schedule", json={"to": ["Alice <alice@example.com>", "bob@example.com"],
                                                    "credential": "mail", "cron": "0 8 * * 1",
                                                    "timezone": "Europe/Berlin"})
    assert put.status_code == 200, put.text
    setting = put.json()
    assert setting["enabled"] and setting["schedule"]["to"] == ["Alice <alice@example.com>", "bob@example.com"]
    first = datetime.fromisoformat(setting["fires"]["next"][0]["utc"])
    assert first.weekday() == 0 and first.astimezone().tzinfo is not None
    workflow = client.get(f"/v1/workflows/{setting['workflow_id']}").json()
    assert workflow["name"] == NAME and workflow["status"] == "active"  # a workflow the person can see

    container = client.app.state.container  # type: ignore[attr-defined]
    assert client.portal.call(container.scheduler.tick, datetime.now(UTC)) == []  # arms the schedule
    [execution_id] = client.portal.call(container.scheduler.tick, first + timedelta(seconds=5))
    run = finished(client, execution_id)
    assert run["status"] == "completed", run

    [message] = box.messages
    assert message["Subject"].startswith("Flowwright insights for default: ")
    assert message["To"] == "Alice <alice@example.com>, bob@example.com"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and text.get_content().startswith("# Flowwright insights — default")
    [pdf] = list(message.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename().startswith("flowwright-insights-default-")
    assert pdf.get_content().startswith(b"%PDF-")

    # once per window: the same time again fires nothing
    assert client.portal.call(container.scheduler.tick, first + timedelta(seconds=30)) == []


def test_changing_and_stopping_the_schedule(client: TestClient) -> None:
    first = client.put("/v1/insights/schedule", json={"to": "ops@example.com", "credential": "mail"}).json()
    again = client.put("/v1/insights/schedule", json={"to": "ops@example.com", "credential": "mail",
                                                      "days": 30, "attach": "html"}).json()
    assert again["workflow_id"] == first["workflow_id"] and again["version"] == first["version"] + 1
    assert (again["schedule"]["days"], again["schedule"]["attach"]) == (30, "html")
    off = client.delete("/v1/insights/schedule")
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert client.get(f"/v1/workflows/{first['workflow_id']}").json()["status"] == "inactive"
    # another workspace has none, and a viewer may read but not set it
    other = issue_headers("other", role="viewer")
    assert client.get("/v1/insights/schedule", headers=other).json()["workflow_id"] is None
    assert client.put("/v1/insights/schedule", headers=other,
                      json={"to": "x@example.com", "credential": "mail"}).status_code == 403
    assert client.delete("/v1/insights/schedule", headers=issue_headers("other")).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"to": "not an address", "credential": "mail"}, "to"),
    ({"to": "a@example.com", "credential": "mail", "cron": "every monday"}, "cron"),
    ({"to": "a@example.com", "credential": "mail", "timezone": "Mars/Olympus"}, "timezone"),
    ({"to": "a@example.com", "credential": "mail", "days": 0}, "days"),
    ({"to": "a@example.com"}, "credential"),
])
def test_a_bad_setting_is_a_422_naming_its_field(client: TestClient, body: dict[str, Any], field: str) -> None:
    answer = client.put("/v1/insights/schedule", json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.text


def test_an_unknown_credential_is_refused(client: TestClient) -> None:
    answer = client.put("/v1/insights/schedule", json={"to": "a@example.com", "credential": "nope"})
    assert answer.status_code == 422
    [problem] = answer.json()["error"]["details"]["problems"]
    assert problem["path"] == "$.credential" and "mail" in problem["message"]


def test_the_cli_sets_shows_and_stops_it(client: TestClient) -> None:
    runner = CliRunner()
    set_ = runner.invoke(cli, ["insights", "schedule", "set", "--to", "ops@example.com", "--credential", "mail",
                               "--cron", "30 7 * * 1-5"])
    assert set_.exit_code == 0, set_.output
    assert "scheduled insight report: on" in set_.output and "next: " in set_.output
    shown = runner.invoke(cli, ["insights", "schedule", "show", "--json"])
    assert '"cron": "30 7 * * 1-5"' in shown.output
    bad = runner.invoke(cli, ["insights", "schedule", "set", "--to", "ops@example.com", "--credential", "mail",
                              "--cron", "soon"])
    assert bad.exit_code == 2 and "--cron" in bad.output and "Traceback" not in bad.output
    assert "scheduled insight report: off" in runner.invoke(cli, ["insights", "schedule", "off"]).output
    # `flowwright insights` itself still writes a report
    assert runner.invoke(cli, ["insights", "--since", "1d", "--format", "csv"]).output.startswith("id,type")


def test_the_definition_is_a_valid_workflow_of_three_steps() -> None:
    data = definition(ReportSchedule(to=["a@example.com"], credential="mail", attach="none"))
    assert [n["id"] for n in data["nodes"]] == ["every_week", "build_report", "send_report"]
    assert "attachments" not in data["nodes"][2]["config"]
