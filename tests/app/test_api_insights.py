"""The insights API: the report with proposals, CSV and Markdown, accepting a proposal in one step,
workspace scoping and bad input as 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.app.insights.history import realistic, seed
from tests.app.keys import issue_headers


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def digest_with_history(client: TestClient) -> str:
    """The serial-loop workflow of the synthetic history, stored through the API, with its runs."""
    plan = next(p for p in realistic(0.2) if p.workflow_id == "wf_digest")
    created = client.post("/v1/workflows", json=plan.definition)
    assert created.status_code == 201, created.text
    plan.workflow_id = created.json()["id"]
    seed(client.app.state.container.db, [plan], now=datetime.now(UTC), days=7)  # type: ignore[attr-defined]
    return plan.workflow_id


def test_report_proposal_and_accepting_it_once(client: TestClient) -> None:
    workflow_id = digest_with_history(client)
    report = client.get("/v1/insights", params={"days": 7})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["totals"]["runs"] == 30 and body["totals"]["proposals"] == 1
    [finding] = [f for f in body["findings"] if f["proposal"]]
    assert (finding["type"], finding["node_id"], finding["workflow_id"]) == (
        "performance_bottleneck", "fetch_region", workflow_id)
    assert len(finding["evidence"]["execution_ids"]) == 5
    proposal = finding["proposal"]
    csv_text = client.get("/v1/insights/report.csv").text
    assert csv_text.splitlines()[0].startswith("id,type,severity,title") and proposal["id"] in csv_text
    assert "Regional digest" in client.get("/v1/insights/report.md").text

    other = client.post(f"/v1/insights/proposals/{proposal['id']}/accept", headers=issue_headers("other"))
    assert other.status_code == 404 and other.json()["error"]["code"] == "proposal_not_found"
    accepted = client.post(f"/v1/insights/proposals/{finding['id']}/accept")  # the finding's id works too
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["version"] == 2
    stored = client.get(f"/v1/workflows/{workflow_id}").json()
    assert stored["current_version"] == 2
    again = client.post(f"/v1/insights/proposals/{proposal['id']}/accept")
    # the report now reads version 1's runs against a workflow at version 2: the proposal is stale
    assert again.status_code == 409 and again.json()["error"]["code"] == "proposal_stale"


def test_bad_input_is_a_4xx(client: TestClient) -> None:
    assert client.get("/v1/insights", params={"days": 0}).status_code == 422
    assert client.get("/v1/insights", params={"days": 400}).status_code == 422
    missing = client.post("/v1/insights/proposals/prop_nope/accept")
    assert missing.status_code == 404 and "prop_nope" in missing.json()["error"]["message"]


def test_html_and_pdf_reports(client: TestClient) -> None:
    digest_with_history(client)
    page = client.get("/v1/insights/report.html", params={"days": 7})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "Regional digest" in page.text and page.text.count("<svg") >= 3
    pdf = client.get("/v1/insights/report.pdf", params={"days": 7})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"].startswith('attachment; filename="flowwright-insights-default-')
    # another workspace's key gets its own (empty) report, never this one's
    other = client.get("/v1/insights/report.html", headers=issue_headers("other", role="viewer"))
    assert other.status_code == 200 and "Regional digest" not in other.text
    assert client.get("/v1/insights/report.pdf", params={"days": -1}).status_code == 422
