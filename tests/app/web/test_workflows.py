"""The workflows list and a workflow's page in a real browser against the real service: the
health score and what fires in the list, activation showing the next schedule times (and a
webhook's URL), the JSON edited with each problem on its line, saved as a new version, the diff
between versions and a roll back."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.app.web.conftest import NARROW, Service
from tests.app.web.test_page import wait_status
from tests.app.web.test_runs import FAILING, create

pytestmark = pytest.mark.timeout(300)

SCHEDULED = {
    "schema_version": "1", "name": "Weekday morning log",
    "nodes": [{"id": "start", "type": "trigger", "kind": "schedule",
               "config": {"cron": "0 8 * * 1-5", "timezone": "Europe/Berlin"}},
              {"id": "say", "type": "action", "connector": "core", "operation": "log",
               "config": {"message": "good morning"}}],
    "edges": [{"source": "start", "target": "say"}],
}

HOOKED = {
    "schema_version": "1", "name": "Orders hook",
    "nodes": [{"id": "start", "type": "trigger", "kind": "webhook", "config": {"method": "POST", "path": "orders"}},
              {"id": "note", "type": "action", "connector": "core", "operation": "log",
               "config": {"message": "order {{ trigger.body.id }}"}}],
    "edges": [{"source": "start", "target": "note"}],
}


def test_the_list_shows_health_and_what_fires(open_page: Any, service: Service, workspace: str, shots: Path) -> None:
    scheduled = create(service, workspace, SCHEDULED)
    failing = create(service, workspace, FAILING)
    hooked = create(service, workspace, HOOKED)
    service.call("POST", f"/v1/workflows/{failing}/run?wait=true", {"input": {}}, workspace=workspace)
    service.call("POST", f"/v1/workflows/{scheduled}/run?wait=true", {"input": {}}, workspace=workspace)
    page = open_page("/#/workflows")
    row = page.locator(f"#workflows tr[data-workflow-id={scheduled}]")
    row.locator(".fires time").wait_for()  # the server's preview: the next time in the workflow's zone
    assert "Europe/Berlin" in (row.locator(".fires time").text_content() or "")
    assert "would run" in (row.locator(".fires").text_content() or "")  # a draft: nothing fires yet
    # health over the last 7 days: a clean run scores 100, an always-failing one loses reliability (30%)
    assert (row.locator(".health strong").text_content() or "") == "100"
    assert (page.locator(f"#workflows tr[data-workflow-id={failing}] .health strong").text_content() or "") == "70"
    assert page.locator(f"#workflows tr[data-workflow-id={failing}] .fires").text_content() == "by hand"
    assert page.locator(f"#workflows tr[data-workflow-id={hooked}] .health").text_content() == "—"  # no runs

    page.locator(f"#workflows tr[data-workflow-id={hooked}] button.toggle").click()
    url = page.locator(f"#workflows tr[data-workflow-id={hooked}] .webhook-url")
    url.wait_for()
    assert url.text_content() == f"{service.base}/v1/hooks/{hooked}/orders"
    page.screenshot(path=str(shots / "workflows-1400.png"), full_page=True)
    # the URL shown is the one that runs it
    request = urllib.request.Request(url.text_content() or "", data=json.dumps({"id": 7}).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202

    narrow = open_page("/#/workflows", viewport=NARROW)
    narrow.locator(f"#workflows tr[data-workflow-id={scheduled}] .fires time").wait_for()
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 400
    narrow.screenshot(path=str(shots / "workflows-400.png"), full_page=True)


def test_activation_shows_the_next_schedule_times(open_page: Any, service: Service, workspace: str) -> None:
    workflow_id = create(service, workspace, SCHEDULED)
    page = open_page(f"/#/workflows/{workflow_id}")
    page.locator("#fires[data-kind=schedule]").wait_for()
    assert "once activated" in (page.text_content("#fires") or "")
    page.click("button.toggle")
    page.locator("#wf-status .pill:text-is('active')").wait_for()
    page.wait_for_function("!document.querySelector('#fires').textContent.includes('once activated')")
    times = page.locator("#next-times time").all()
    assert len(times) == 5
    assert "At 08:00, Monday through Friday (Europe/Berlin)" in (page.text_content("#fires") or "")
    stamps = [t.get_attribute("datetime") or "" for t in times]
    assert stamps == sorted(stamps) and all(s.endswith("+00:00") for s in stamps)
    assert all(w.endswith("08:00 Europe/Berlin") for w in page.locator("#next-times time").all_text_contents())
    page.reload()  # the place and the state survive
    page.locator("#next-times time").first.wait_for()
    assert page.locator("#wf-status .pill").text_content() == "active"


def test_edit_the_json_problems_on_their_lines_save_diff_roll_back(
        open_page: Any, service: Service, workspace: str, shots: Path) -> None:
    workflow_id = create(service, workspace, SCHEDULED)
    page = open_page(f"/#/workflows/{workflow_id}")
    editor = page.locator("#wf-editor")
    editor.wait_for()
    text = editor.input_value()
    assert text.startswith('{\n  "schema_version": "1",\n  "name": "Weekday morning log"')  # reading order
    broken = text.replace('"operation": "log"', '"operation": "shout"').replace('"good morning"', "42")
    editor.fill(broken)
    page.click("#wf-validate")
    page.locator("#wf-problems li").first.wait_for()
    problems = {li.get_attribute("data-path"): li for li in page.locator("#wf-problems li").all()}
    assert "$.nodes[1].operation" in problems, list(problems)
    lines = broken.split("\n")
    op = problems["$.nodes[1].operation"]
    line = int(op.get_attribute("data-line") or 0)
    assert '"operation": "shout"' in lines[line - 1]
    op.locator("button").click()  # the caret goes to that line
    selected = page.evaluate("(() => { const a = document.querySelector('#wf-editor');"
                             " return a.value.slice(a.selectionStart, a.selectionEnd); })()")
    assert selected.strip() == '"operation": "shout",'
    assert editor.get_attribute("aria-invalid") == "true"
    page.click("#wf-save")  # refused: nothing is stored
    page.wait_for_function("document.querySelector('#wf-editor-status').textContent.includes('problem')")
    assert [v["version"] for v in service.call("GET", f"/v1/workflows/{workflow_id}/versions", workspace=workspace)] == [1]

    editor.fill("{ not json")
    page.click("#wf-validate")
    page.locator("#wf-problems li[data-line='1']").wait_for()
    assert "not JSON" in (page.text_content("#wf-problems") or "")

    editor.fill(text.replace('"good morning"', '"good evening"'))
    page.click("#wf-save")
    page.locator("#versions li[data-version='2']").wait_for()  # the page shows the new draft
    assert "good evening" in page.locator("#wf-editor").input_value()
    page.click("#versions li[data-version='2'] button.diff")
    page.locator("#version-diff pre").wait_for()
    diff = page.text_content("#version-diff") or ""
    assert "v1 → v2" in diff and '"good evening"' in diff and '"good morning"' in diff
    assert page.locator("#version-diff .add").count() >= 1 and page.locator("#version-diff .del").count() >= 1
    page.screenshot(path=str(shots / "workflow-edit-1400.png"), full_page=True)

    page.click("#versions li[data-version='1'] button.rollback")
    page.locator("#versions li[data-version='1'] .badge:text-is('draft')").wait_for()  # v1 is the draft again
    assert "good morning" in page.locator("#wf-editor").input_value()
    stored = service.call("GET", f"/v1/workflows/{workflow_id}", workspace=workspace)
    assert stored["definition"]["nodes"][1]["config"]["message"] == "good morning"


def test_a_workflow_run_shows_in_its_recent_runs(open_page: Any, service: Service, workspace: str) -> None:
    workflow_id = create(service, workspace, SCHEDULED)
    page = open_page(f"/#/workflows/{workflow_id}")
    page.locator("#run").click()
    wait_status(page, "completed")
    page.go_back()
    page.locator("#wf-runs a").first.wait_for()
    assert page.locator("#wf-runs .pill").first.text_content() == "completed"
