"""The web page in a real browser (Debian's headless Chromium, driven by Playwright) against the
real service: chat → workflow with its inserted guardrails → dry run followed live over SSE →
undo; a failing run reaches ``failed``; the page fits 400 px; ``/docs`` works offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.app.web.conftest import NARROW, Service

FAILING = {
    "schema_version": "1", "name": "Always fails",
    "nodes": [{"id": "start", "type": "trigger", "kind": "manual"},
              {"id": "boom", "type": "action", "connector": "core", "operation": "fail",
               "config": {"message": "broken on purpose"}, "on_error": "fail"}],
    "edges": [{"source": "start", "target": "boom"}],
}


def send(page: Any, message: str) -> None:
    page.fill("#prompt", message)
    page.click("#send")


def texts(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_text_contents()]


def test_chat_shows_the_guarded_workflow_and_runs_it_live(open_page: Any, shots: Path) -> None:
    page = open_page()
    send(page, "Every day at 8:00 fetch https://api.example.com/status and post the result to #ops")
    page.locator("#messages li.assistant").first.wait_for()
    assert len(page.locator("#nodes > li").all()) >= 3
    kinds = page.text_content("#nodes") or ""
    assert "schedule trigger · 0 8 * * *" in kinds and "http.request" in kinds and "slack.post_message" in kinds
    assert page.locator("#nodes li.guardrail").count() >= 1
    assert "inserted guardrail" in (page.text_content("#wf-meta") or "")

    page.click("#dry-run")
    page.wait_for_function("document.getElementById('exec-status').className === 'completed'")
    events = texts(page, "#events li")
    assert events[0].startswith("#1 execution.started")
    assert any("node.completed" in e for e in events) and events[-1].endswith("execution.completed")
    assert page.locator("#nodes li.done").count() >= 2

    send(page, "also email it to bob@example.com")
    page.wait_for_function("document.querySelectorAll('#messages li.assistant').length === 2")
    assert "email.send" in (page.text_content("#nodes") or "")
    page.screenshot(path=str(shots / "chat-1400.png"), full_page=True)
    page.click("#undo")
    page.wait_for_function("document.querySelectorAll('#messages li.assistant').length === 3")
    assert "email.send" not in (page.text_content("#nodes") or "")


def test_a_failing_run_reaches_failed_on_the_page(open_page: Any, service: Service, workspace: str) -> None:
    workflow_id = service.call("POST", "/v1/workflows", FAILING, workspace=workspace)["id"]
    execution_id = service.call("POST", f"/v1/workflows/{workflow_id}/run", {}, workspace=workspace)["id"]
    page = open_page()
    page.evaluate("([id]) => follow(id, false)", [execution_id])
    page.wait_for_function("document.getElementById('exec-status').className === 'failed'")
    status = page.text_content("#exec-status") or ""
    assert status == f"{execution_id}: failed"
    events = texts(page, "#events li")
    assert any("node.failed boom — broken on purpose" in e for e in events)
    assert events[-1].startswith(f"#{len(events)} execution.failed")
    # The stream was closed on the terminal event: EventSource does not reconnect.
    assert page.evaluate("state.source.readyState") == 2


def test_a_question_and_an_error_are_shown_as_such(open_page: Any) -> None:
    page = open_page()
    send(page, "send the report to the team")
    page.locator("#messages li.question").first.wait_for()
    page.fill("#workspace", "bad workspace!")
    send(page, "every day at 9 log hello")
    assert "invalid X-Workspace" in (page.locator("#messages li.error").first.text_content() or "")


def test_the_page_fits_400_px_with_the_json_open(open_page: Any, shots: Path) -> None:
    page = open_page(viewport=NARROW)
    send(page, "Every day at 8:00 fetch https://api.example.com/status and post the result to #ops")
    page.locator("#messages li.assistant").first.wait_for()
    page.click("#workflow summary")
    assert page.locator("#wf-json").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page is {width} px wide at a 400 px viewport"
    box = page.locator("#workflow").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 400
    page.screenshot(path=str(shots / "chat-400.png"), full_page=True)


def test_docs_work_offline(open_page: Any) -> None:
    page = open_page("/docs")  # the fixture fails the test on any request leaving the service
    page.get_by_text("/v1/workflows/{workflow_id}/run").first.wait_for()
    assert page.locator(".swagger-ui .info .title").first.text_content().startswith("Flowwright")
