"""The insights view in a real browser against the real service, over a seeded week of history:
totals, the charts, the per-workflow figures, findings with their evidence, a proposed fix
accepted as a new version, the report downloaded, the period kept in the address, 400 px, and
another workspace's key seeing none of it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.app.insights.history import realistic, seed
from tests.app.web.conftest import NARROW, Service

pytestmark = pytest.mark.timeout(300)


def seeded(service: Service, workspace: str) -> dict[str, str]:
    """A week of synthetic history for the workspace's stored copies of the history's workflows
    (the ones the API accepts): their names by id."""
    from engine.db import make_engine

    plans = []
    for plan in realistic(0.2):
        try:
            plan.workflow_id = service.call("POST", "/v1/workflows", plan.definition, workspace=workspace)["id"]
        except AssertionError:
            continue  # a history workflow today's catalog refuses: left out
        plans.append(plan)
    engine = make_engine(service.database_url)
    try:
        seed(engine, plans, now=datetime.now(UTC), days=7, workspace_id=workspace)
    finally:
        engine.dispose()
    return {p.workflow_id: p.definition["name"] for p in plans}


def test_the_report_its_charts_findings_and_an_accepted_fix(
        open_page: Any, service: Service, workspace: str, shots: Path) -> None:
    names = seeded(service, workspace)
    report = service.call("GET", "/v1/insights?days=7", workspace=workspace, timeout=120)
    assert report["totals"]["runs"] > 100 and report["findings"]
    page = open_page("/#/insights")
    page.locator("#insights-totals").wait_for(timeout=120_000)
    assert page.text_content("#total-runs .tile-value") == str(report["totals"]["runs"])
    assert page.text_content("#total-findings .tile-value") == str(report["totals"]["findings"])
    rows = page.locator("#insights-workflows tbody tr")
    assert rows.count() == len(report["workflows"])
    assert {r.get_attribute("data-workflow-id") for r in rows.all()} == {w["workflow_id"] for w in report["workflows"]}
    assert set(names) <= {r.get_attribute("data-workflow-id") for r in rows.all()}
    # one bar per outcome a workflow had, one health bar per workflow
    failed_bars = page.locator("#chart-runs rect.bar.failed").count()
    assert failed_bars == sum(1 for w in report["workflows"] if w["failed"])
    assert page.locator("#chart-health rect.bar").count() == len(report["workflows"])
    assert page.locator("#findings li.finding").count() == len(report["findings"])
    # a finding's evidence: its figures and links to the runs it is about
    with_runs = next(f for f in report["findings"] if f["evidence"]["execution_ids"])
    item = page.locator(f"#findings li[data-finding-id={with_runs['id']}]")
    assert item.locator(".evidence a").count() == len(with_runs["evidence"]["execution_ids"])
    assert "[object" not in (page.text_content("#findings") or "")
    page.screenshot(path=str(shots / "insights-1400.png"), full_page=True)

    proposed = next(f for f in report["findings"] if f["proposal"] and f["workflow_id"] in names)
    box = page.locator(f"#findings li[data-finding-id={proposed['id']}] .proposal")
    box.locator("button.accept").click()
    box.locator("[role=status]:has-text('Saved as version')").wait_for()
    stored = service.call("GET", f"/v1/workflows/{proposed['workflow_id']}", workspace=workspace)
    assert stored["current_version"] == 2 and stored["status"] == "inactive"  # a draft, not running yet

    with page.expect_download() as download:
        page.click("#download-md")
    text = Path(download.value.path()).read_text()
    assert text.startswith("#") and any(name in text for name in names.values())
    with page.expect_download(timeout=120_000) as download:
        page.click("#download-pdf")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    assert download.value.suggested_filename == "flowwright-insights-7d.pdf"

    page.select_option("#insights-days", "30")
    page.wait_for_url("**/#/insights?days=30")
    page.reload()
    page.locator("#insights-totals").wait_for()
    assert page.locator("#insights-days").input_value() == "30"

    narrow = open_page("/#/insights", viewport=NARROW)
    narrow.locator("#chart-runs").wait_for()
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 400
    narrow.screenshot(path=str(shots / "insights-400.png"), full_page=True)

    page.click("#sign-out")  # another workspace's key sees none of it
    page.fill("#api-key", service.key(f"{workspace}-other"))
    page.click("#sign-in button")
    page.locator("p.muted:text('No runs in this period.')").wait_for()
    assert page.text_content("#total-runs .tile-value") == "0"
    assert page.locator("#insights-workflows tbody tr").count() == 0
