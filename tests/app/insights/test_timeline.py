"""Executions over time from the rollups equal the executions table, per day and per hour."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from app.insights import rollups
from app.insights.timeline import timeline
from engine.db import make_engine
from engine.execution_store import ExecutionRow, ExecutionStore
from tests.app.insights.history import realistic, seed

NOW = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
_EX = ExecutionRow.__table__  # type: ignore[attr-defined]


def test_runs_per_day_and_per_hour_equal_the_executions(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    seed(db, realistic(0.2), now=NOW, days=7)
    ExecutionStore(db).close()
    rollups.refresh(db)
    with db.connect() as conn:
        rows = [(c.replace(tzinfo=UTC), s, f) for c, s, f in conn.execute(
            select(_EX.c.created_at, _EX.c.status, _EX.c.failed_steps).where(_EX.c.workspace_id == "default"))]

    daily = timeline(db, "default", NOW - timedelta(days=7), NOW)
    assert daily["grain"] == "day" and len(daily["buckets"]) == 8  # the window touches 8 calendar days
    for bucket in daily["buckets"]:
        day = datetime.fromisoformat(bucket["start"])
        inside = [(s, f) for c, s, f in rows if day <= c < day + timedelta(days=1)]
        assert bucket["statuses"] == dict(sorted(Counter(s for s, _ in inside).items()))
        assert bucket["with_errors"] == sum(1 for s, f in inside if s == "completed" and f)
    assert sum(b["runs"] for b in daily["buckets"]) == len(rows)

    hourly = timeline(db, "default", NOW - timedelta(hours=36), NOW)
    assert hourly["grain"] == "hour" and len(hourly["buckets"]) == 37
    first = datetime.fromisoformat(hourly["buckets"][0]["start"])
    assert sum(b["runs"] for b in hourly["buckets"]) == sum(1 for c, _, _ in rows if c >= first)
    assert timeline(db, "default", NOW - timedelta(hours=3), NOW, workflow_id="wf_nothing")["buckets"][0]["runs"] == 0
    db.dispose()
