"""Figures aggregated in SQL from synthetic history (tests/app/insights/history.py) on real SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from app.insights.report import Thresholds, analyse
from app.insights.stats import Distribution, collect
from engine.db import make_engine
from engine.execution_store import ExecutionStore
from tests.app.insights.history import realistic, seed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    db = make_engine(f"sqlite:///{tmp_path_factory.mktemp('history') / 'h.db'}")
    seed(db, realistic(0.25), now=NOW, days=7)
    seed(db, realistic(0.05), now=NOW, days=7, workspace_id="other", seed_value=3)
    ExecutionStore(db).close()
    return db


def test_report_indexes_exist_on_an_older_data_dir(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    seed(db, realistic(0.01), now=NOW)  # tables as create_all makes them: every index declared
    with db.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_executions_report")
        conn.exec_driver_sql("DROP INDEX ix_steps_report")
    ExecutionStore(db).close()
    names = {i["name"] for t in ("executions", "execution_steps") for i in inspect(db).get_indexes(t)}
    assert {"ix_executions_report", "ix_steps_report"} <= names


def test_counts_and_percentiles_come_from_sql(history: Engine) -> None:
    stats = collect(history, "default", NOW - timedelta(days=8), NOW)
    other = collect(history, "other", NOW - timedelta(days=8), NOW)
    assert stats.workflows["wf_orders"].runs == 100 and other.workflows["wf_orders"].runs == 20
    refunds = stats.workflows["wf_refunds"]
    assert refunds.runs == 50 and refunds.failed == 0
    assert 0 < refunds.with_errors == refunds.nodes["refund"].failed == refunds.nodes["report_failure"].settled
    assert refunds.troubled == refunds.with_errors and refunds.clean == 50 - refunds.with_errors
    leads = stats.workflows["wf_leads"]
    enrich = leads.nodes["enrich"]
    # a failed first attempt fails on both retries: 3 attempts, no retry ever succeeds
    assert enrich.failed == leads.failed and enrich.retried == 2 * enrich.failed and enrich.retry_successes == 0
    assert enrich.attempts == enrich.settled + enrich.retried
    assert leads.errors.most_common(1)[0][0] == "permanent_error"
    reminders = stats.workflows["wf_reminders"]
    assert reminders.nodes["wait_a_day"].waits_by_design and reminders.nodes["manager_ok"].waits_by_design
    assert reminders.nodes["manager_ok"].kind == "guardrail.approval"
    p50, p95, p99 = (reminders.durations.quantile(q) for q in (50, 95, 99))
    assert p50 is not None and p95 is not None and p99 is not None and 86_400_000 <= p50 <= p95 <= p99
    digest = stats.workflows["wf_digest"]
    assert digest.nodes["fetch_region"].in_loop and digest.loop_concurrency["fetch_region"] == 1
    assert digest.nodes["fetch_region"].settled == 8 * digest.runs
    assert stats.model.tokens == 2400 * stats.workflows["wf_triage"].runs


def test_one_workflow_only(history: Engine) -> None:
    stats = collect(history, "default", NOW - timedelta(days=8), NOW, workflow_id="wf_refunds")
    assert list(stats.workflows) == ["wf_refunds"]


def test_a_delay_or_an_approval_is_never_a_bottleneck(history: Engine) -> None:
    report = analyse(collect(history, "default", NOW - timedelta(days=8), NOW), Thresholds())
    latency = {(f.workflow_id, f.node_id) for f in report.findings if f.category == "latency"}
    assert ("wf_digest", "fetch_region") in latency
    assert not {n for w, n in latency if w == "wf_reminders"}
    row = next(w for w in report.workflows if w["workflow_id"] == "wf_reminders")
    assert row["slowest_node"] == "remind"


def test_routed_failures_make_a_run_unhealthy(history: Engine) -> None:
    report = analyse(collect(history, "default", NOW - timedelta(days=8), NOW), Thresholds())
    row = next(w for w in report.workflows if w["workflow_id"] == "wf_refunds")
    assert row["failure_rate"] == 0.0 and row["error_rate"] > 0.2 and row["success_rate"] == 1 - row["error_rate"]
    assert any(f.workflow_id == "wf_refunds" and f.category == "failures" for f in report.findings)


def test_distribution_quantiles() -> None:
    d = Distribution.of([10.0, 20.0, 30.0, 40.0])
    d.add(50.0, 96)
    assert (d.count, d.quantile(1), d.quantile(4), d.quantile(5), d.quantile(100)) == (100, 10.0, 40.0, 50.0, 50.0)
    assert Distribution().quantile(50) is None
