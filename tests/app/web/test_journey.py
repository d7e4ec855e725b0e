"""A newcomer's path through the page, end to end in a real browser against the real service:
sign in with a key through the form → chat a request → the graph shows the expected nodes (the
inserted guardrail marked) → open its page → activate (the webhook URL appears) → run with an
input → the live view reaches ``completed`` → the executions list and the insights show the run
→ a reload keeps the place → another workspace's key sees none of it. (A failing run reaching
``failed`` and an approval approved from the page are in test_runs.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.app.web.conftest import Service
from tests.app.web.test_page import node_ids, send, wait_status

pytestmark = pytest.mark.timeout(300)

REQUEST = "when a webhook is called with name and email, log them"


def test_sign_in_chat_activate_run_and_find_it_everywhere(open_page: Any, service: Service, workspace: str,
                                                          shots: Path) -> None:
    page = open_page("/", sign_in=False)
    page.locator("#sign-in").wait_for()
    assert page.evaluate("document.activeElement.id") == "api-key"  # the key field has the focus
    page.fill("#api-key", service.key(workspace))
    page.press("#api-key", "Enter")
    page.locator("#prompt").wait_for()
    assert (page.text_content("#who") or "").endswith(f"· {workspace}")

    send(page, REQUEST)
    page.locator("#messages li.assistant").first.wait_for()
    graph = page.locator("svg.graph")
    assert graph.locator("g.node.type-trigger .kind").first.text_content() == "webhook trigger"
    assert "core.log" in graph.locator("g.node .kind").all_text_contents()
    assert graph.locator("g.node.inserted").count() >= 1  # the input check the passes put in front
    assert len(node_ids(page)) >= 3
    page.screenshot(path=str(shots / "journey-chat-1400.png"), full_page=True)

    page.click("#wf-open")
    page.wait_for_url("**/#/workflows/wf_*")
    workflow_id = page.url.rsplit("/", 1)[1]
    page.locator("#fires[data-kind=webhook]").wait_for()
    page.click("button.toggle")
    page.locator("#wf-status .pill:text-is('active')").wait_for()
    page.wait_for_function("document.querySelector('#fires')?.textContent.includes('live now')")
    assert page.text_content("#webhook-url") == f"{service.base}/v1/hooks/{workflow_id}"

    assert "request body" in (page.text_content("label[for=run-input]") or "")
    page.fill("#run-input", '{"name": "Ada", "email": "ada@example.com"}')
    page.click("#run")
    page.wait_for_url("**/#/executions/ex_*")
    wait_status(page, "completed")
    execution_id = page.url.rsplit("/", 1)[1]
    # the input arrived as a real call's body: the logged line names it
    assert any("Ada" in t and "ada@example.com" in t for t in page.locator("#events li.log").all_text_contents())
    assert all(state == "completed" for state in
               (n.get_attribute("data-state") for n in page.locator("svg.graph g.node").all()))
    page.screenshot(path=str(shots / "journey-run-1400.png"), full_page=True)
    page.reload()  # the place survives a reload
    wait_status(page, "completed")

    page.click("nav a[data-tab=executions]")
    row = page.locator(f"#executions tr[data-execution-id={execution_id}]")
    row.wait_for()
    assert row.locator(".pill").text_content() == "completed" and "manual" in (row.text_content() or "")

    page.click("nav a[data-tab=insights]")
    page.locator(f"#insights-workflows tr[data-workflow-id={workflow_id}]").wait_for()
    assert page.text_content(f"#insights-workflows tr[data-workflow-id={workflow_id}] td[data-label=Runs]") == "1"

    page.click("#sign-out")
    page.fill("#api-key", service.key(f"{workspace}-other"))
    page.click("#sign-in button")
    page.locator("p.muted:text('No runs in this period.')").wait_for()
    for view, empty in (("#/workflows", "#workflows td.muted"), ("#/executions", "#executions td.muted")):
        page.goto(f"/{view}")
        page.locator(empty).wait_for()
    page.goto(f"/#/executions/{execution_id}")  # its address is no way in either
    page.locator("#view p.problem[role=alert]").wait_for()
    assert "not found" in (page.text_content("#view p.problem") or "").lower()
