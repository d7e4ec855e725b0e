"""Insight reports from real executions (the real runtime on SQLite) and real usage rows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.insights.report import Thresholds, analyse, build_report, to_markdown
from app.insights.stats import collect, percentile
from app.llm.tracker import UsageRow, UsageTracker
from app.settings import get_settings
from app.wiring import Container
from tests.engine.workflows import minimal


def flaky_workflow() -> dict[str, Any]:
    """Fails when the input says so: a workflow whose failure rate the test controls."""
    wf = minimal()
    wf["name"] = "Sometimes fails"
    wf["nodes"].append({"id": "gate", "type": "condition", "config": {"expression": "trigger.fail = true"}})
    wf["nodes"].append({"id": "boom", "type": "action", "connector": "core", "operation": "fail",
                        "config": {"message": "upstream said no"}})
    wf["edges"] += [{"source": "say", "target": "gate"}, {"source": "gate", "target": "boom", "branch": "true"}]
    return wf


async def run_some(fail_pattern: list[bool]) -> Any:
    services = Container.open(get_settings(), vault=False)
    runtime = services.runtime
    row, version = services.workflow_store.create("default", __import__("engine.workflow", fromlist=["Workflow"])
                                                  .Workflow.model_validate(flaky_workflow()))
    for fail in fail_pattern:
        await runtime.run(version.definition_dict(), {"fail": fail}, workspace_id="default", workflow_id=row.id,
                          workflow_version=1)
    await runtime.run(version.definition_dict(), {"fail": True}, workspace_id="elsewhere", workflow_id=row.id)
    await runtime.aclose()
    return services, row


async def test_failures_are_found_with_their_cause_and_fix() -> None:
    services, row = await run_some([True, True, False, True])
    try:
        report = build_report(services.db, "default", days=1)
    finally:
        services.close()
    assert report.totals["runs"] == 4 and report.totals["failed"] == 3  # the other workspace is not counted
    [wf] = report.workflows
    assert (wf["workflow_id"], wf["runs"], wf["failed"], wf["top_error"]) == (row.id, 4, 3, "core_fail")
    failures = [f for f in report.findings if f.category == "failures"]
    assert len(failures) == 1
    assert failures[0].severity == "high" and failures[0].node_id == "boom"
    assert "3 of 4 runs failed" in failures[0].detail
    markdown = to_markdown(report)
    assert "Sometimes fails fails 75% of its runs" in markdown
    assert re.search(r"^\| Sometimes fails \| [\d.]+ [a-z ]+ \| 4 \| 3 \| 0 \|", markdown, re.M), markdown


async def test_runs_completed_through_an_error_route_are_failures_of_that_node() -> None:
    wf = minimal()
    wf["name"] = "Refunds"
    wf["nodes"] += [
        {"id": "refund", "type": "action", "connector": "core", "operation": "fail", "on_error": "route",
         "config": {"message": "payment API refused"}},
        {"id": "report_failure", "type": "action", "connector": "core", "operation": "log",
         "config": {"message": "refund failed"}}]
    wf["edges"] += [{"source": "say", "target": "refund"},
                    {"source": "refund", "target": "report_failure", "branch": "error"}]
    services = Container.open(get_settings(), vault=False)
    try:
        from engine.workflow import Workflow

        row, version = services.workflow_store.create("default", Workflow.model_validate(wf))
        for _ in range(3):
            done = await services.runtime.run(version.definition_dict(), {}, workspace_id="default",
                                              workflow_id=row.id, workflow_version=1)
            assert (done["status"], done["failed_steps"]) == ("completed", 1)
        await services.runtime.aclose()
        report = build_report(services.db, "default", days=1)
    finally:
        services.close()
    assert report.totals["completed_with_errors"] == 3
    [failure] = [f for f in report.findings if f.category == "failures"]
    assert failure.node_id == "refund" and "3 of 3 completed with errors" in failure.detail
    assert "'core_fail'" in failure.detail
    assert "Nothing stands out" not in to_markdown(report)


async def test_healthy_workspace_has_no_failure_findings() -> None:
    services, _ = await run_some([False, False, False])
    try:
        report = build_report(services.db, "default", days=1)
    finally:
        services.close()
    assert report.totals["failed"] == 0
    assert [f for f in report.findings if f.category == "failures"] == []


def test_model_usage_findings(tmp_path: Path) -> None:
    from engine.db import make_engine

    db = make_engine(f"sqlite:///{tmp_path / 'u.db'}")
    tracker = UsageTracker(db)
    rows = []
    for i in range(12):
        rows.append(UsageRow(call_id=f"c{i}", workspace_id="default", purpose="generate", model="openai/gpt-4o-mini",
                             prompt_tokens=1000, completion_tokens=200, cost_usd=0.001, outcome="ok"))
    for i in range(4):
        rows.append(UsageRow(call_id=f"c{i}", workspace_id="default", purpose="generate", model="openai/gpt-4o-mini",
                             attempt=2, prompt_tokens=900, completion_tokens=100, cost_usd=0.0008, outcome="parse_error"))
    rows.append(UsageRow(call_id="x", workspace_id="other", purpose="generate", model="m", prompt_tokens=5))
    tracker.record(rows)
    now = datetime.now(UTC)
    stats = collect(db, "default", now - timedelta(days=1), now + timedelta(minutes=1))
    assert (stats.model.calls, stats.model.attempts, stats.model.parse_errors) == (12, 16, 4)
    assert stats.model.tokens == 12 * 1200 + 4 * 1000
    report = analyse(stats, Thresholds())
    titles = {f.title for f in report.findings}
    assert "Few model calls are served from the cache" in titles
    assert "The model often returns output that does not parse" in titles
    assert report.model["cost_usd"] == round(12 * 0.001 + 4 * 0.0008, 6)


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    assert percentile([float(i) for i in range(1, 101)], 50) == 50.0
    assert percentile([float(i) for i in range(1, 1001)], 99) == 990.0
    assert percentile([1.0, 2.0], 50) == 1.0 and percentile([1.0, 2.0], 51) == 2.0


def test_cli_writes_markdown_and_json(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    result = subprocess.run([sys.executable, "-m", "app.cli.main", "insights", "-o", str(out), "--json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["runs"] == 0
    assert out.read_text().startswith("# Flowwright insights")
    assert json.loads(out.with_suffix(".json").read_text())["workspace_id"] == "default"


def test_flaky_and_slow_nodes_are_named_with_a_fix() -> None:
    from collections import Counter

    from app.insights.stats import Distribution, NodeStats, Stats, WorkflowStats

    now = datetime.now(UTC)
    wf = WorkflowStats(workflow_id="wf_1", name="Digest", runs=5, statuses=Counter(completed=5),
                       durations=Distribution.of([3000.0] * 5), loop_concurrency={"fetch_one": 1})
    wf.nodes["fetch_one"] = NodeStats("fetch_one", "http.request", settled=5, attempts=11,
                                      durations=Distribution.of([2500.0] * 11), errors=Counter(rate_limited=6),
                                      in_loop=True)
    wf.nodes["log"] = NodeStats("log", "core.log", settled=5, attempts=5, durations=Distribution.of([1.0] * 5))
    report = analyse(Stats("default", now - timedelta(days=1), now, workflows={"wf_1": wf}), Thresholds())
    by_category = {f.category: f for f in report.findings}
    assert by_category["reliability"].node_id == "fetch_one"
    assert "2.2 per run" in by_category["reliability"].detail and "rate_limit" in by_category["reliability"].fix
    assert by_category["latency"].node_id == "fetch_one"
    assert "max_concurrency" in by_category["latency"].fix
    assert "failures" not in by_category
