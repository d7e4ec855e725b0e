"""Workflows and executions in a real browser against the real service: the workflow list and
its on/off switch, a workflow page run with an input, the live view reaching ``completed`` and
``failed``, an approval approved and one rejected from the page, step inspection, the
executions list and its filter, reload keeping the place, and another workspace seeing none of it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.app.web.conftest import Service
from tests.app.web.test_page import wait_status

# The first test of a run also starts the service and its copilot (see conftest.py).
pytestmark = pytest.mark.timeout(300)

FAILING = {
    "schema_version": "1", "name": "Always fails",
    "nodes": [{"id": "start", "type": "trigger", "kind": "manual"},
              {"id": "boom", "type": "action", "connector": "core", "operation": "fail",
               "config": {"message": "broken on purpose"}, "on_error": "fail"}],
    "edges": [{"source": "start", "target": "boom"}],
}

APPROVAL = {
    "schema_version": "1", "name": "Greet after approval",
    "nodes": [{"id": "start", "type": "trigger", "kind": "manual"},
              {"id": "check", "type": "guardrail", "kind": "approval",
               "config": {"message": "Greet this person?"}},
              {"id": "greet", "type": "action", "connector": "core", "operation": "log",
               "config": {"message": "hello {{ trigger.name }}"}}],
    "edges": [{"source": "start", "target": "check"}, {"source": "check", "target": "greet"}],
}

BRANCHES = {
    "schema_version": "1", "name": "Branches and a loop",
    "nodes": [{"id": "start", "type": "trigger", "kind": "manual"},
              {"id": "many", "type": "condition", "config": {"expression": "$count(trigger.items) > 1"}},
              {"id": "each", "type": "loop", "config": {"items": "{{ trigger.items }}", "max_concurrency": 2},
               "body": {"nodes": [{"id": "shout", "type": "action", "connector": "core", "operation": "log",
                                   "config": {"message": "item {{ item }}"}}], "edges": []}},
              {"id": "few", "type": "action", "connector": "core", "operation": "log", "config": {"message": "few"}}],
    "edges": [{"source": "start", "target": "many"}, {"source": "many", "target": "each", "branch": "true"},
              {"source": "many", "target": "few", "branch": "false"}],
}


def create(service: Service, workspace: str, workflow: dict[str, Any]) -> str:
    workflow_id: str = service.call("POST", "/v1/workflows", workflow, workspace=workspace)["id"]
    return workflow_id


def states(page: Any) -> dict[str, str]:
    return {n.get_attribute("data-node-key"): n.get_attribute("data-state") or ""
            for n in page.locator("svg.graph g.node").all()}


def run_from_page(page: Any, payload: str) -> None:
    page.fill("#run-input", payload)
    page.click("#run")
    page.wait_for_url("**/#/executions/ex_*")


def test_a_failing_run_reaches_failed_live(open_page: Any, service: Service, workspace: str) -> None:
    workflow_id = create(service, workspace, FAILING)
    page = open_page(f"/#/workflows/{workflow_id}")
    run_from_page(page, "")
    wait_status(page, "failed")
    assert "broken on purpose" in (page.text_content("#exec-status") or "")
    assert states(page) == {"start": "completed", "boom": "failed"}
    assert any("node.failed boom — broken on purpose" in t for t in page.locator("#events li").all_text_contents())
    assert page.locator("[data-action=retry]").is_enabled() and page.locator("[data-action=cancel]").is_disabled()
    page.click("#steps button:text('boom')")
    assert "broken on purpose" in (page.text_content("#step-detail .step-error") or "")
    first = page.url
    page.click("#step-detail button.rerun-from")  # run again from the failed step: a new execution
    page.wait_for_function(f"location.href !== {first!r} && location.hash.startsWith('#/executions/ex_')")
    second = page.url.rsplit("/", 1)[1]
    page.locator(f"#exec-id:text-is('{second}')").wait_for()  # the new run's view, not the old one's
    wait_status(page, "failed")
    assert states(page)["boom"] == "failed"


def test_bad_run_input_is_named_before_anything_starts(open_page: Any, service: Service, workspace: str) -> None:
    page = open_page(f"/#/workflows/{create(service, workspace, FAILING)}")
    page.fill("#run-input", "{not json")
    page.click("#run")
    assert "the input is not JSON" in (page.locator("#run-error").text_content() or "")
    assert "/workflows/" in page.url
    assert service.call("GET", "/v1/executions", workspace=workspace) == []


def test_run_with_input_waits_for_approval_and_is_approved_from_the_page(
        open_page: Any, service: Service, workspace: str, shots: Path) -> None:
    workflow_id = create(service, workspace, APPROVAL)
    page = open_page(f"/#/workflows/{workflow_id}")
    run_from_page(page, '{"name": "Ada"}')
    page.locator("#exec-approvals li.approval").wait_for()
    # node.waiting (which shows the approval) comes before execution.waiting: wait for the status too
    page.locator("#exec-status[data-status=waiting]").wait_for()
    assert "Greet this person?" in (page.text_content("#exec-approvals") or "")
    assert states(page)["check"] == "waiting"
    page.screenshot(path=str(shots / "approval-1400.png"), full_page=True)

    page.reload()  # the place survives a reload: same execution, still waiting, still decidable
    page.locator("#exec-approvals li.approval").wait_for()
    page.click("#exec-approvals button.approve")
    wait_status(page, "completed")
    assert states(page) == {"start": "completed", "check": "completed", "greet": "completed"}
    page.locator("svg.graph g.node[data-node-key=greet]").click()
    page.locator("#step-detail .step-output").wait_for()
    assert "hello Ada" in (page.text_content("#step-detail .step-output") or "")
    page.screenshot(path=str(shots / "approved-1400.png"), full_page=True)


def test_an_approval_rejected_from_the_executions_list_fails_the_run(
        open_page: Any, service: Service, workspace: str) -> None:
    workflow_id = create(service, workspace, APPROVAL)
    execution_id = service.call("POST", f"/v1/workflows/{workflow_id}/run", {"input": {"name": "Bo"}},
                                workspace=workspace)["id"]
    page = open_page("/#/executions")
    item = page.locator(f"#approvals li[data-execution-id={execution_id}]")
    item.wait_for()
    item.locator("button.reject").click()
    page.locator("#approvals li.decided").wait_for()
    page.goto(f"/#/executions/{execution_id}")
    wait_status(page, "failed")
    assert states(page)["greet"] in ("", "skipped")


def test_lists_switches_filters_and_workspaces(open_page: Any, service: Service, workspace: str, shots: Path) -> None:
    good = create(service, workspace, APPROVAL)
    bad = create(service, workspace, FAILING)
    service.call("POST", f"/v1/workflows/{bad}/run", {"input": {}}, workspace=workspace)
    service.call("POST", f"/v1/workflows/{good}/run", {"input": {"name": "x"}}, workspace=workspace)
    page = open_page("/#/workflows")
    row = page.locator(f"#workflows tr[data-workflow-id={bad}]")
    row.wait_for()
    assert row.locator(".pill").text_content() == "inactive"  # a new workflow is a draft
    row.locator("button.toggle").click()
    page.locator(f"#workflows tr[data-workflow-id={bad}] .pill:text-is('active')").wait_for()
    assert service.call("GET", f"/v1/workflows/{bad}", workspace=workspace)["status"] == "active"
    page.reload()
    page.locator(f"#workflows tr[data-workflow-id={bad}] .pill:text-is('active')").wait_for()
    page.locator(f"#workflows tr[data-workflow-id={bad}] button.toggle").click()
    page.locator(f"#workflows tr[data-workflow-id={bad}] .pill:text-is('inactive')").wait_for()
    assert service.call("GET", f"/v1/workflows/{bad}", workspace=workspace)["status"] == "inactive"

    page.click("nav a[data-tab=executions]")
    page.locator("#executions tbody tr[data-execution-id]").first.wait_for()
    page.wait_for_function("document.querySelectorAll('#executions tbody tr[data-execution-id]').length === 2")
    page.select_option("#status-filter", "failed")
    page.wait_for_url("**/#/executions?status=failed")
    page.wait_for_function("document.querySelectorAll('#executions tbody tr[data-execution-id]').length === 1")
    assert page.locator("#executions tbody tr .pill").first.text_content() == "failed"
    page.screenshot(path=str(shots / "executions-1400.png"), full_page=True)
    page.reload()
    assert page.locator("#status-filter").input_value() == "failed"
    page.select_option("#status-filter", "")
    page.wait_for_function("location.hash === '#/executions'"
                           " && document.querySelectorAll('#executions tbody tr[data-execution-id]').length === 2")
    page.fill("#exec-search", "Greet after")  # text in the workflow's name
    page.click("#exec-filters button[type=submit]")
    page.wait_for_function("location.hash === '#/executions?q=Greet+after'")
    page.wait_for_function("document.querySelectorAll('#executions tbody tr[data-execution-id]').length === 1")
    assert "Greet after approval" in (page.text_content("#executions tbody tr") or "")
    page.select_option("#trigger-filter", "webhook")  # the filters combine, and stay in the address
    page.wait_for_function("location.hash === '#/executions?trigger=webhook&q=Greet+after'")
    page.locator("#executions td.muted:text('No executions match.')").wait_for()

    page.click("#sign-out")  # another workspace's key sees none of it
    page.fill("#api-key", service.key(f"{workspace}-other"))
    page.click("#sign-in button")
    page.locator("#executions td.muted:text('No executions match.')").wait_for()
    page.goto("/#/workflows")
    page.locator("#workflows td.muted").wait_for()
    assert page.locator("#workflows tr[data-workflow-id]").count() == 0


def test_branches_are_labelled_and_a_loop_body_is_a_group(open_page: Any, service: Service, workspace: str,
                                                          shots: Path) -> None:
    workflow_id = create(service, workspace, BRANCHES)
    page = open_page(f"/#/workflows/{workflow_id}")
    page.locator("svg.graph").wait_for()
    labels = page.locator("svg.graph g.edge.branch .edge-label").all_text_contents()
    assert sorted(labels) == ["false", "true"]
    group = page.locator("svg.graph g.group[data-loop=each]")
    assert "each item of each" in (group.text_content() or "")
    shout = page.locator("svg.graph g.node[data-node-key='each/shout']").bounding_box()
    frame = group.locator("rect").bounding_box()
    assert shout and frame and frame["x"] <= shout["x"] and shout["x"] + shout["width"] <= frame["x"] + frame["width"]
    assert page.locator("svg.graph g.node.type-condition").count() == 1
    run_from_page(page, '{"items": [1, 2, 3]}')
    wait_status(page, "completed")
    final = states(page)
    assert final["each/shout"] == "completed" and final["each"] == "completed" and final["few"] == "skipped"
    assert page.locator("#steps tbody tr[data-node-id=shout]").count() == 3
    page.screenshot(path=str(shots / "loop-1400.png"), full_page=True)


SLOW = {
    "schema_version": "1", "name": "Wait then log",
    "nodes": [{"id": "start", "type": "trigger", "kind": "manual"},
              {"id": "pause", "type": "action", "connector": "core", "operation": "delay", "config": {"seconds": 1}},
              {"id": "done", "type": "action", "connector": "core", "operation": "log", "config": {"message": "done"}}],
    "edges": [{"source": "start", "target": "pause"}, {"source": "pause", "target": "done"}],
}


def test_the_live_view_falls_back_to_polling_when_the_event_stream_is_cut(
        open_page: Any, service: Service, workspace: str) -> None:
    workflow_id = create(service, workspace, SLOW)
    page = open_page(f"/#/workflows/{workflow_id}")
    cut: list[str] = []

    def no_stream(route: Any) -> None:  # a proxy that drops every SSE connection
        cut.append(route.request.url)
        route.abort()

    page.route(re.compile(r"/v1/executions/[^/]+/events(\?|$)"), no_stream)
    run_from_page(page, "")
    wait_status(page, "completed")
    assert cut, "the page never tried the SSE stream"
    assert page.locator("#exec-status").get_attribute("data-transport") == "poll"
    events = [t.split(" ")[1] for t in page.locator("#events li").all_text_contents()]
    assert events[0] == "execution.started" and events[-1] == "execution.completed"
    assert "node.completed" in events and len(events) == len(set(page.locator("#events li").all_text_contents()))
    assert states(page) == {"start": "completed", "pause": "completed", "done": "completed"}
