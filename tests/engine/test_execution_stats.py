"""A workflow's stats against hand-computed figures, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.execution_store import ExecutionStore
from tests.engine.execution_rows import insert

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def seed(store: ExecutionStore, workspace: str, rows: list[dict[str, Any]]) -> None:
    for i, fields in enumerate(rows):
        created = fields.pop("created_at", T0 + timedelta(minutes=i))
        insert(store, {"id": f"ex_{workspace}_{i:03d}", "workspace_id": workspace, "workflow_id": "wf_a",
                       "definition": "{}", "status": "completed", "created_at": created, "updated_at": created, **fields})


def test_stats_match_hand_computed_figures(store: ExecutionStore) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    ok = [5, 7, 7, 12, 40, 41, 90, 300] + [100, 200, 300, 400, 500, 600, 700, 800]
    rows: list[dict[str, Any]] = [{"duration_ms": 9, "created_at": T0 - timedelta(days=3)}]  # before `since`
    rows += [{"duration_ms": d} for d in ok]
    rows += [{"duration_ms": 301, "failed_steps": 2, "error": None},
             {"status": "timed_out", "duration_ms": 5003, "error": '{"message": "ran longer than 60 s"}'},
             {"status": "failed", "duration_ms": 1000, "error": '{"message": "HTTP 503"}'},
             {"status": "running"},
             {"duration_ms": 1, "dry_run": True},  # dry runs never count
             {"status": "failed", "duration_ms": 1200, "error": '{"message": "HTTP 500 from sales"}'},
             {"duration_ms": 2, "workflow_id": "wf_other"}]
    seed(store, ws, rows)
    seed(store, f"{ws}_b", [{"duration_ms": 3}])  # another workspace, same workflow id

    stats = store.stats(ws, "wf_a", since=T0 - timedelta(days=1))
    assert stats["total"] == 21
    assert stats["by_status"] == {"completed": 17, "failed": 2, "running": 1, "timed_out": 1}
    assert (stats["completed_with_errors"], stats["finished"]) == (1, 20)
    assert stats["success_rate"] == 0.8  # 16 of 20 finished runs completed with nothing failed
    # sorted: 5 7 7 12 40 41 90 100 200 300 300 301 400 500 600 700 800 1000 1200 5003 (n = 20)
    assert stats["duration_ms"] == {"count": 20, "avg": 580.3, "min": 5, "max": 5003,
                                    "p50": 300, "p95": 1200, "p99": 5003}  # ranks 10, 19, 20
    last = stats["last_failure"]
    assert last["id"] == f"ex_{ws}_022" and last["status"] == "failed"
    assert last["error"] == {"message": "HTTP 500 from sales"} and last["created_at"].startswith("2026-03-02T09:22")

    everything = store.stats(ws, "wf_a")
    assert everything["total"] == 22 and everything["duration_ms"]["min"] == 5 and everything["duration_ms"]["count"] == 21
    assert store.stats(ws, "wf_a", until=T0)["total"] == 1
    empty = store.stats(ws, "wf_nothing")
    assert (empty["total"], empty["success_rate"], empty["last_failure"]) == (0, None, None)
    assert empty["duration_ms"] == {"count": 0, "avg": None, "min": None, "max": None, "p50": None, "p95": None,
                                    "p99": None}
