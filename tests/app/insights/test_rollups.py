"""Rollups answer a window with the figures the raw aggregates give, stay exact as executions
change (created, finished, deleted) and backfill an older data dir once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from app.insights import rollups
from app.insights.stats import Stats, collect
from engine.db import make_engine
from engine.execution_store import ExecutionStore, RollupMarkRow
from tests.app.insights.history import realistic, seed

NOW = datetime(2026, 12, 1, 12, 17, 31, tzinfo=UTC)  # off the hour: windows end inside an hour


def figures(stats: Stats) -> dict[str, Any]:
    """Everything a report reads from the figures, comparable with ==."""
    out: dict[str, Any] = {}
    for key, wf in stats.workflows.items():
        out[key] = {
            "name": wf.name, "runs": wf.runs, "statuses": dict(wf.statuses), "with_errors": wf.with_errors,
            "durations": dict(wf.durations.counts), "errors": dict(wf.errors), "tokens": wf.tokens,
            "cost": round(wf.cost_usd, 9), "sum": wf.duration_sum_ms, "n": wf.duration_n,
            "versions": sorted(v for v, d in wf.definitions.items() if d), "loops": wf.loop_concurrency,
            "nodes": {n.node_id: (n.kind, n.settled, n.failed, n.attempts, n.retried, n.retry_successes,
                                  dict(n.durations.counts), dict(n.errors), n.in_loop)
                      for n in wf.nodes.values()},
        }
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    db = make_engine(f"sqlite:///{tmp_path_factory.mktemp('rollups') / 'h.db'}")
    seed(db, realistic(0.3), now=NOW, days=9)
    seed(db, realistic(0.05), now=NOW, days=9, workspace_id="other", seed_value=3)
    ExecutionStore(db).close()
    return db


@pytest.mark.parametrize(("since", "until"), [
    (NOW - timedelta(days=7), NOW),  # days, hours and raw ends
    (NOW - timedelta(hours=30, minutes=5), NOW - timedelta(hours=2, minutes=59)),  # no whole day
    (NOW - timedelta(minutes=40), NOW),  # inside one hour: raw only
    (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC)),  # on day boundaries
])
def test_rollups_give_the_raw_figures(history: Engine, since: datetime, until: datetime) -> None:
    rolled = rollups.collect(history, "default", since, until)
    raw = collect(history, "default", since, until)
    assert rolled.workflows and figures(rolled) == figures(raw)
    assert rollups.describe(history)["daily_rows"] > 0


def test_one_workflow_and_one_workspace(history: Engine) -> None:
    since = NOW - timedelta(days=7)
    assert figures(rollups.collect(history, "default", since, NOW, workflow_id="wf_refunds")) == \
        figures(collect(history, "default", since, NOW, workflow_id="wf_refunds"))
    assert figures(rollups.collect(history, "other", since, NOW)) == figures(collect(history, "other", since, NOW))


def test_spans_split_a_window_into_days_hours_and_raw_ends() -> None:
    days, hours, raw = rollups.spans(datetime(2026, 1, 1, 22, 30, tzinfo=UTC), datetime(2026, 1, 4, 1, 15, tzinfo=UTC))
    assert days == [(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC))]
    assert hours == [(datetime(2026, 1, 1, 23, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
                     (datetime(2026, 1, 4, tzinfo=UTC), datetime(2026, 1, 4, 1, tzinfo=UTC))]
    assert raw == [(datetime(2026, 1, 1, 22, 30, tzinfo=UTC), datetime(2026, 1, 1, 23, tzinfo=UTC), False),
                   (datetime(2026, 1, 4, 1, tzinfo=UTC), datetime(2026, 1, 4, 1, 15, tzinfo=UTC), True)]


async def test_executions_the_engine_writes_keep_the_rollups_exact(tmp_path: Path) -> None:
    from app.settings import get_settings
    from app.wiring import Container
    from tests.engine.workflows import minimal

    services = Container.open(get_settings(), vault=False)
    db, store = services.db, services.execution_store
    try:
        wf = minimal()
        wf["nodes"].append({"id": "boom", "type": "action", "connector": "core", "operation": "fail",
                            "config": {"message": "no"}})
        wf["edges"].append({"source": "say", "target": "boom"})
        since = datetime.now(UTC) - timedelta(days=1)
        for _ in range(2):
            await services.runtime.run(minimal(), {}, workspace_id="default")
        rollups.refresh(db)
        with db.connect() as conn:
            assert conn.execute(select(RollupMarkRow.__table__)).all() == []  # type: ignore[attr-defined]
        failed = await services.runtime.run(wf, {}, workspace_id="default")
        assert failed["status"] == "failed"
        until = datetime.now(UTC) + timedelta(hours=2)  # every hour of these runs is a rolled-up one
        rolled = rollups.collect(db, "default", since, until)
        assert figures(rolled) == figures(collect(db, "default", since, until))
        assert sum(w.runs for w in rolled.workflows.values()) == 3
        store.delete_execution(failed["id"])
        rolled = rollups.collect(db, "default", since, until)
        assert sum(w.runs for w in rolled.workflows.values()) == 2
        assert figures(rolled) == figures(collect(db, "default", since, until))
        await services.runtime.aclose()
    finally:
        services.close()


def test_an_older_data_dir_is_backfilled_once(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    seed(db, realistic(0.05), now=NOW, days=3)
    with db.begin() as conn:  # as a data dir from before the rollups: no marks
        conn.exec_driver_sql("DELETE FROM rollup_marks")
    first = rollups.refresh(db)
    assert first > 20 and rollups.refresh(db) == 0
    since = NOW - timedelta(days=2)
    assert figures(rollups.collect(db, "default", since, NOW)) == figures(collect(db, "default", since, NOW))


def test_the_service_keeps_the_rollups_as_runs_finish(monkeypatch: pytest.MonkeyPatch,
                                                       admin_headers: dict[str, str]) -> None:
    import time

    from fastapi.testclient import TestClient

    from app.api.server import create_app
    from app.settings import get_settings
    from tests.engine.workflows import minimal

    monkeypatch.setenv("FLOWWRIGHT_INSIGHTS_ROLLUP_INTERVAL_S", "0.2")
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as client:
        created = client.post("/v1/workflows", json=minimal())
        assert created.status_code == 201, created.text
        workflow_id = created.json()["id"]
        client.post(f"/v1/workflows/{workflow_id}/status", json={"status": "active"})
        ran = client.post(f"/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={})
        assert ran.status_code in (200, 202), ran.text
        db = client.app.state.container.db  # type: ignore[attr-defined]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.connect() as conn:
                marks = conn.exec_driver_sql("SELECT count(*) FROM rollup_marks").scalar()
                runs = conn.exec_driver_sql(
                    "SELECT sum(count) FROM insight_rollups WHERE grain = 'h' AND metric = 'status' "
                    "AND label = 'completed' AND wf_key = ?", (workflow_id,)).scalar()
            if marks == 0 and runs == 1:
                break
            time.sleep(0.1)
        assert (marks, runs) == (0, 1)


def test_pruned_hours_leave_the_figures_exact(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    seed(db, realistic(0.2), now=NOW, days=20)
    ExecutionStore(db).close()
    rollups.refresh(db)
    before = rollups.describe(db)
    gone = rollups.prune(db, 10, now=NOW)
    horizon = rollups.hourly_since(db)
    assert horizon == datetime(2026, 11, 21, tzinfo=UTC) and gone > 0
    assert rollups.describe(db)["daily_rows"] == before["daily_rows"]  # the days stay
    assert rollups.row_count(db, "h") == before["hourly_rows"] - gone
    assert rollups.prune(db, 10, now=NOW) == 0 and rollups.prune(db, 15, now=NOW) == 0  # never moves back
    # windows whose partial days lie before the horizon read those stretches from the raw rows
    for since, until in [(NOW - timedelta(days=14, hours=5, minutes=3), NOW),
                         (datetime(2026, 11, 18, 7, 30, tzinfo=UTC), datetime(2026, 11, 18, 19, 10, tzinfo=UTC)),
                         (datetime(2026, 11, 20, 22, 0, tzinfo=UTC), datetime(2026, 11, 21, 3, 0, tzinfo=UTC))]:
        rolled = rollups.collect(db, "default", since, until)
        assert rolled.workflows and figures(rolled) == figures(collect(db, "default", since, until)), (since, until)
    # a change before the horizon is not recomputed from its remaining hours (that would lose the rest of its day)
    day = datetime(2026, 11, 19, tzinfo=UTC)
    daily = rollups.collect(db, "default", day, day + timedelta(days=1))
    with db.begin() as conn:
        conn.execute(RollupMarkRow.__table__.insert().values(  # type: ignore[attr-defined]
            execution_id=None, workspace_id="default", hour=day + timedelta(hours=9)))
    rollups.refresh(db)
    assert rollups.row_count(db, "h") == before["hourly_rows"] - gone
    assert figures(rollups.collect(db, "default", day, day + timedelta(days=1))) == figures(daily)
    db.dispose()
