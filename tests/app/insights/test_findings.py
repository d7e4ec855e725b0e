"""Findings on synthetic history (tests/app/insights/history.py): each appears with its evidence on
the history that has it, none on a healthy one; proposals are valid versions that one step stores."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from app.insights.errors import ProposalStaleError
from app.insights.findings import Finding
from app.insights.proposals import accept
from app.insights.render import to_csv
from app.insights.report import InsightReport, build_report
from connectors.registry import default_registry
from engine.db import make_engine
from engine.execution_store import ExecutionStore
from engine.validation import parse_workflow
from engine.workflow_store import WorkflowStore
from tests.app.insights.history import healthy, realistic, seed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    db = make_engine(f"sqlite:///{tmp_path_factory.mktemp('findings') / 'h.db'}")
    seed(db, realistic(0.5), now=NOW, days=7)
    ExecutionStore(db).close()
    return db


@pytest.fixture(scope="module")
def report(history: Engine) -> InsightReport:
    return build_report(history, "default", days=7, now=NOW, catalog=default_registry())


def _one(report: InsightReport, category: str, workflow_id: str, node_id: str | None = None,
         title: str = "") -> Finding:
    found = [f for f in report.findings if f.category == category and f.workflow_id == workflow_id
             and (node_id is None or f.node_id == node_id) and title in f.title]
    assert len(found) == 1, [f.title for f in report.findings]
    return found[0]


def test_every_finding_has_the_seeds_shape(report: InsightReport) -> None:
    for data in report.to_dict()["findings"]:
        assert list(data)[:7] == ["id", "type", "severity", "title", "description", "estimated_savings",
                                  "implementation_effort"]
        assert data["severity"] in ("high", "medium", "low") and data["implementation_effort"] in ("low", "medium", "high")
        assert data["fix"] and data["description"].endswith(data["fix"])


def test_hidden_routed_failures_with_the_runs_behind_them(report: InsightReport, history: Engine) -> None:
    f = _one(report, "failures", "wf_refunds")
    assert f.title.startswith("Refunds hides failures behind an error route") and f.node_id == "refund"
    assert f.figures["failed"] == 0 and f.figures["completed_with_errors"] > 0
    assert len(f.execution_ids) == 5
    with history.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT status, failed_steps FROM executions WHERE id IN ({','.join('?' * 5)})",
            tuple(f.execution_ids)).all()
    assert rows and all(status == "completed" and failed > 0 for status, failed in rows)


def test_retries_that_never_succeed_come_with_a_proposal(report: InsightReport) -> None:
    f = _one(report, "reliability", "wf_leads", "enrich", "never succeed")
    assert f.figures["error"] == "permanent_error" and f.figures["retry_successes"] == 0
    assert f.estimated_savings and "calls/month" in f.estimated_savings
    assert f.proposal is not None
    node = next(n for n in f.proposal.definition["nodes"] if n["id"] == "enrich")
    assert node["retry"]["max_attempts"] == 1
    parse_workflow(f.proposal.definition, default_registry())  # a valid version
    _one(report, "reliability", "wf_leads", "enrich", "fails mostly with 'permanent_error'")
    assert not [x for x in report.findings if x.title.startswith("enrich in Lead enrichment needs retries")]


def test_a_serial_loop_is_the_bottleneck_and_the_fix_raises_its_concurrency(report: InsightReport) -> None:
    f = _one(report, "latency", "wf_digest", "fetch_region")
    assert f.proposal is not None and f.execution_ids
    loop = next(n for n in f.proposal.definition["nodes"] if n["id"] == "each_region")
    assert loop["config"]["max_concurrency"] == 4
    assert not [x for x in report.findings if x.workflow_id == "wf_reminders" and x.category == "latency"]


def test_repeated_identical_call(report: InsightReport) -> None:
    f = _one(report, "cost", "wf_triage", "get_ticket_again")
    assert f.proposal is not None and "$" in (f.estimated_savings or "")
    ids = {n["id"] for n in f.proposal.definition["nodes"]}
    assert "get_ticket_again" not in ids and {"get_ticket", "classify", "tag"} <= ids
    # tag still follows classify (through the content filter the passes put before an outbound call)
    edges = f.proposal.definition["edges"]
    reach, frontier = set(), ["classify"]
    while frontier:
        here = frontier.pop()
        for e in edges:
            if e["source"] == here and not e.get("branch") and e["target"] not in reach:
                reach.add(e["target"])
                frontier.append(e["target"])
    assert "tag" in reach and not [e for e in edges if "get_ticket_again" in (e["source"], e["target"])]
    assert any(c.startswith("content_filter:") for c in f.proposal.changes)


def test_security_findings(report: InsightReport) -> None:
    plain = _one(report, "security", "wf_leads", "enrich", "plain http")
    assert plain.proposal is not None
    enrich = next(n for n in plain.proposal.definition["nodes"] if n["id"] == "enrich")
    assert enrich["config"]["url"].startswith("https://data-vendor.example.com")
    secret = _one(report, "security", "wf_leads", "enrich", "secret in its config")
    assert secret.severity == "high" and "sk_liv" in secret.detail and "sk_live_51H" not in secret.detail
    _one(report, "security", "wf_leads", "start", "no signing secret")
    assert not [x for x in report.findings if x.category == "security" and x.workflow_id == "wf_orders"]


def test_anomaly_names_when_it_started(report: InsightReport, history: Engine) -> None:
    f = _one(report, "anomaly", "wf_triage", title="slower")
    assert f.started_at is not None and f.execution_ids
    # the plan slows classify down 6 h before now: the stretch starts with the first run after that
    with history.connect() as conn:
        first_slow = conn.exec_driver_sql(
            "SELECT min(created_at) FROM executions WHERE workflow_id = 'wf_triage' AND created_at >= ?",
            (str(NOW.replace(tzinfo=None) - timedelta(hours=6)),)).scalar()
    assert datetime.fromisoformat(f.started_at) == datetime.fromisoformat(first_slow).replace(tzinfo=UTC)
    assert f.figures["value"] > 3 * f.figures["baseline_median"]
    assert not [x for x in report.findings if x.category == "anomaly" and x.workflow_id != "wf_triage"]


def test_health_scores_weights_bands_and_cost_model(report: InsightReport) -> None:
    rows = {w["workflow_id"]: w for w in report.workflows}
    orders, leads = rows["wf_orders"]["health"], rows["wf_leads"]["health"]
    assert orders["band"] == "excellent" and orders["score"] >= 90
    assert leads["score"] < orders["score"] and leads["components"]["security"] <= 25
    c = leads["components"]
    assert leads["score"] == round(0.3 * c["reliability"] + 0.25 * c["efficiency"] + 0.2 * c["cost"]
                                   + 0.25 * c["security"], 1)
    cost = rows["wf_orders"]["cost"]
    assert cost["external_calls"] == rows["wf_orders"]["runs"]  # one http call per run, never retried
    assert cost["total"] == pytest.approx(cost["nodes"] + cost["duration"] + cost["external_calls"] * 0.001
                                          + cost["base"] + cost["tokens"], abs=1e-5)


def test_healthy_history_has_no_findings(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'ok.db'}")
    seed(db, healthy(0.5), now=NOW, days=7)
    report = build_report(db, "default", days=7, now=NOW, catalog=default_registry())
    assert report.findings == [] and report.workflows[0]["health"]["band"] == "excellent"


def test_accepting_a_proposal_stores_a_new_version_once(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    store = WorkflowStore(db)
    plan = next(p for p in realistic(0.2) if p.workflow_id == "wf_digest")
    row, _ = store.create("default", parse_workflow(plan.definition, default_registry()))
    plan.workflow_id = row.id
    seed(db, [plan], now=NOW, days=7)
    report = build_report(db, "default", days=7, now=NOW, catalog=default_registry())
    [f] = [x for x in report.findings if x.proposal is not None]
    assert f.proposal is not None
    assert accept(store, "default", f.proposal, default_registry()) == 2
    stored = store.version("default", row.id).definition_dict()
    assert next(n for n in stored["nodes"] if n["id"] == "each_region")["config"]["max_concurrency"] == 4
    with pytest.raises(ProposalStaleError):
        accept(store, "default", f.proposal, default_registry())
    assert "proposal_id" in to_csv(report).splitlines()[0]


def test_cli_formats_and_bad_since(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    done = subprocess.run([sys.executable, "-m", "app.cli.main", "insights", "--since", "24h", "-o", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith("id,type,severity,title")
    bad = subprocess.run([sys.executable, "-m", "app.cli.main", "insights", "--since", "soon"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "--since 'soon'" in bad.stderr and "Traceback" not in bad.stderr
    js = subprocess.run([sys.executable, "-m", "app.cli.main", "insights", "--format", "json"],
                        capture_output=True, text=True, timeout=120, check=False)
    assert json.loads(js.stdout)["totals"]["runs"] == 0


def test_cli_accepts_a_proposal_in_one_step() -> None:
    from app.settings import get_settings
    from app.wiring import Container

    services = Container.open(get_settings(), vault=False)
    try:
        plan = next(p for p in realistic(0.2) if p.workflow_id == "wf_digest")
        row, _ = services.workflow_store.create("default", parse_workflow(plan.definition, default_registry()))
        plan.workflow_id = row.id
        seed(services.db, [plan], now=datetime.now(UTC), days=7)
        report = build_report(services.db, "default", days=7, catalog=default_registry())
    finally:
        services.close()
    [proposal] = [f.proposal for f in report.findings if f.proposal is not None]
    cli = [sys.executable, "-m", "app.cli.main", "insights", "--accept"]
    done = subprocess.run([*cli, proposal.id], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert f"workflow {row.id}: version 2 stored" in done.stdout
    unknown = subprocess.run([*cli, "prop_000000000000"], capture_output=True, text=True, timeout=120, check=False)
    assert unknown.returncode == 2 and "--accept prop_000000000000: no such proposal" in unknown.stderr
