"""The chat page in a real browser (Debian's headless Chromium, driven by Playwright) against
the real service: chat → the workflow as a graph with its inserted guardrails → dry run followed
live → refine → undo → reload keeps the conversation; 400 px; ``/docs`` offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.app.web.conftest import NARROW

# The first test of a run also starts the service and its copilot (see conftest.py).
pytestmark = pytest.mark.timeout(300)

REQUEST = "Every day at 8:00 fetch https://api.example.com/status and post the result to #ops"


def send(page: Any, message: str) -> None:
    page.fill("#prompt", message)
    page.click("#send")


def node_ids(page: Any) -> list[str]:
    return [n.get_attribute("data-node-id") for n in page.locator("svg.graph g.node").all()]


def wait_status(page: Any, status: str) -> None:
    """Until the live view has received the run's terminal event, shows ``status`` and its steps
    table has been redrawn from the finished execution (that redraw is a fetch of its own)."""
    page.locator(f"#events li.execution-{status}").wait_for()
    page.wait_for_function(f"document.querySelector('#exec-status')?.dataset.status === {status!r}")
    page.wait_for_function(f"document.querySelector('#steps tbody')?.dataset.status === {status!r}")


def test_chat_draws_the_guarded_workflow_as_a_graph_and_runs_it_live(open_page: Any, shots: Path) -> None:
    page = open_page()
    send(page, REQUEST)
    page.locator("#messages li.assistant").first.wait_for()
    assert page.url.split("#")[1].startswith("/chat/conv_")
    stages = page.locator("#messages li.assistant .stages li").all_text_contents()  # what the turn went through
    assert stages and stages[0].startswith("retrieved context (") and any("called the model" in s for s in stages)
    assert page.locator("#messages li.working").count() == 0  # the working notice is gone
    ids = node_ids(page)
    assert "trigger" in ids and len(ids) >= 4
    graph = page.locator("svg.graph")
    assert graph.locator("g.node.type-trigger .kind").first.text_content() == "schedule · 0 8 * * *"
    kinds = graph.locator("g.node .kind").all_text_contents()
    assert "http.request" in kinds and "slack.post_message" in kinds
    # The inserted failure handler is marked, with its reason, on the graph and in the list.
    inserted = graph.locator("g.node.inserted")
    assert inserted.count() >= 1
    assert "inserted guardrail: Reports failures" in (inserted.first.get_attribute("aria-label") or "")
    assert "Reports failures of" in (page.locator("#inserted li .reason").first.text_content() or "")
    # Error routes are edges labelled with their branch.
    assert "error" in graph.locator("g.edge.error .edge-label").all_text_contents()
    page.screenshot(path=str(shots / "chat-1400.png"), full_page=True)

    page.click("#dry-run")
    wait_status(page, "completed")
    assert page.url.split("#")[1].startswith("/executions/ex_")
    events = [t.strip() for t in page.locator("#events li").all_text_contents()]
    assert events[0] == "#1 execution.started" and events[-1] == f"#{len(events)} execution.completed"
    states = {n.get_attribute("data-node-id"): n.get_attribute("data-state") for n in page.locator("svg.graph g.node").all()}
    assert states["trigger"] == "completed" and list(states.values()).count("completed") >= 3
    assert "skipped" in states.values()  # the failure handler never ran
    page.screenshot(path=str(shots / "dry-run-1400.png"), full_page=True)

    page.go_back()
    page.locator("#messages li.assistant").first.wait_for()
    send(page, "also email it to bob@example.com")
    page.wait_for_function("document.querySelectorAll('#messages li.assistant').length === 2")
    assert "email.send" in page.locator("svg.graph g.node .kind").all_text_contents()
    page.click("#undo")
    page.wait_for_function("document.querySelectorAll('#messages li.assistant').length === 3")
    assert "email.send" not in page.locator("svg.graph g.node .kind").all_text_contents()

    page.reload()  # the conversation and its workflow come back from the address
    page.wait_for_function("document.querySelectorAll('#messages li.assistant').length >= 2"
                           " && document.querySelector('svg.graph')")
    assert page.locator("#messages li.user").first.text_content() == REQUEST
    assert "email.send" not in page.locator("svg.graph g.node .kind").all_text_contents()
    assert "http.request" in page.locator("svg.graph g.node .kind").all_text_contents()


def test_a_question_and_an_error_are_shown_as_such(open_page: Any, service: Any, workspace: str) -> None:
    page = open_page()
    send(page, "send the report to the team")
    page.locator("#messages li.question").first.wait_for()
    assert page.locator("#who").text_content() == f"tester-{workspace} (editor) · {workspace}"
    page.click("#sign-out")
    page.locator("#sign-in").wait_for()
    assert page.evaluate("sessionStorage.getItem('flowwright.key')") is None
    page.fill("#api-key", "fw_000000000000_" + "A" * 43)
    page.click("#sign-in button")
    page.wait_for_function("document.querySelector('#sign-in-problem')?.textContent.includes('not valid')")
    page.fill("#api-key", service.key(workspace))
    page.click("#sign-in button")
    page.locator("#prompt").wait_for()
    # a key revoked while the page is open: the next request is refused and the page asks again
    page.evaluate("sessionStorage.setItem('flowwright.key', 'fw_000000000000_' + 'B'.repeat(43))")
    send(page, "every day at 9 log hello")
    page.wait_for_function("document.querySelector('#sign-in-problem')?.textContent.includes('not valid')")


def test_every_view_fits_400_px(open_page: Any, shots: Path) -> None:
    page = open_page(viewport=NARROW)
    send(page, REQUEST)
    page.locator("#messages li.assistant").first.wait_for()
    page.click("details.json summary")
    assert page.locator("#wf-json").is_visible()
    box = page.locator("svg.graph").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 400
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the chat is {width} px wide at a 400 px viewport"
    page.screenshot(path=str(shots / "chat-400.png"), full_page=True)

    page.click("#dry-run")
    wait_status(page, "completed")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    page.screenshot(path=str(shots / "execution-400.png"), full_page=True)
    for view, table in (("#/workflows", "#workflows"), ("#/executions", "#executions")):
        page.goto(f"/{view}")
        page.locator(f"{table} tbody tr").first.wait_for()
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate("[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 401)"
                             ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)")
        assert width <= 400, f"{view} is {width} px wide at a 400 px viewport: {wide}"


def test_docs_work_offline(open_page: Any) -> None:
    page = open_page("/docs")  # the fixture fails the test on any request leaving the service
    page.get_by_text("/v1/workflows/{workflow_id}/run").first.wait_for()
    assert (page.locator(".swagger-ui .info .title").first.text_content() or "").startswith("Flowwright")


def test_the_page_works_under_its_content_security_policy(chromium: Any, service: Any, workspace: str) -> None:
    """The page signs in, chats and draws a graph with the CSP enforced (no bypass), and breaks none of it."""
    import json

    context = chromium.new_context(base_url=service.base)
    try:
        context.add_init_script(f"sessionStorage.setItem('flowwright.key', {json.dumps(service.key(workspace))});")
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto("/")
        send(page, "every day at 8:00 log 'hello'")
        page.locator("#messages li.assistant").first.wait_for(timeout=60_000)
        page.locator("svg.graph g.node").first.wait_for()
        assert violations == []
    finally:
        context.close()
