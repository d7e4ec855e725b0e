"""Execution history: filters, order, offset and the keyset cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.errors import QueryInvalidError
from engine.execution_history import HistoryQuery, parse_moment, statuses_from
from engine.execution_state import STATUSES
from engine.execution_store import ExecutionStore
from tests.engine.execution_rows import insert

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def seed(store: ExecutionStore, rows: list[dict[str, Any]]) -> str:
    """Insert executions (in a fresh workspace, so one PostgreSQL server serves every test)."""
    workspace = f"ws_{uuid.uuid4().hex[:8]}"
    for i, fields in enumerate(rows):
        created = fields.pop("created_at", T0 + timedelta(minutes=i))
        insert(store, {"id": f"ex_{workspace}_{i:03d}", "workspace_id": workspace, "workflow_name": "wf",
                                "definition": "{}", "status": "completed", "created_at": created,
                                "updated_at": created, **fields})
    return workspace


def ids(store: ExecutionStore, query: HistoryQuery) -> list[int]:
    return [int(r.id.rsplit("_", 1)[1]) for r in store.page(query).rows]


def test_every_filter_narrows_the_list(store: ExecutionStore) -> None:
    ws = seed(store, [
        {"status": "completed", "workflow_id": "wf_a", "trigger": "manual", "user_id": "ada"},
        {"status": "failed", "workflow_id": "wf_a", "trigger": "schedule", "error": '{"message": "HTTP 503 from sales"}'},
        {"status": "failed", "workflow_id": "wf_b", "trigger": "webhook", "workflow_name": "Order intake"},
        {"status": "timed_out", "workflow_id": "wf_b", "trigger": "schedule"},
        {"status": "running", "workflow_id": "wf_a", "trigger": "manual", "user_id": "ada"},
    ])
    q = HistoryQuery(workspace_id=ws)
    assert ids(store, q) == [4, 3, 2, 1, 0]  # newest first
    assert ids(store, HistoryQuery(workspace_id=ws, statuses=("failed", "timed_out"))) == [3, 2, 1]
    assert ids(store, HistoryQuery(workspace_id=ws, workflow_id="wf_b")) == [3, 2]
    assert ids(store, HistoryQuery(workspace_id=ws, trigger="schedule")) == [3, 1]
    assert ids(store, HistoryQuery(workspace_id=ws, user_id="ada")) == [4, 0]
    assert ids(store, HistoryQuery(workspace_id=ws, since=T0 + timedelta(minutes=1),
                                   until=T0 + timedelta(minutes=3))) == [2, 1]  # since inclusive, until not
    assert ids(store, HistoryQuery(workspace_id=ws, text="503")) == [1]  # in the error
    assert ids(store, HistoryQuery(workspace_id=ws, text="ORDER")) == [2]  # the name, any case
    assert ids(store, HistoryQuery(workspace_id=ws, text="50%")) == []  # % is a character, not a wildcard
    assert ids(store, HistoryQuery(workspace_id=ws, statuses=("failed",), trigger="schedule", workflow_id="wf_a")) == [1]
    assert ids(store, HistoryQuery(workspace_id="someone_else")) == []


def test_the_cursor_walks_every_row_once_while_new_runs_arrive(store: ExecutionStore) -> None:
    same = T0 + timedelta(minutes=5)  # ties on created_at are broken by the id
    ws = seed(store, [{} for _ in range(5)] + [{"created_at": same} for _ in range(4)] + [{} for _ in range(3)])
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = store.page(HistoryQuery(workspace_id=ws, limit=5, cursor=cursor))
        seen += [int(r.id.rsplit("_", 1)[1]) for r in page.rows]
        pages += 1
        if pages == 1:  # a run arriving after the first page does not shift the next ones
            insert(store, {"id": f"ex_{ws}_999", "workspace_id": ws, "workflow_name": "wf", "definition": "{}",
                           "status": "running", "created_at": T0 + timedelta(hours=1), "updated_at": T0})
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    oldest_first = ids(store, HistoryQuery(workspace_id=ws, direction="asc", limit=3))
    assert oldest_first == [0, 1, 2]
    assert ids(store, HistoryQuery(workspace_id=ws, limit=3, offset=10)) == [2, 1, 0]  # after 999 and 11..3


def test_order_by_duration_with_a_cursor_keeps_unfinished_runs_last(store: ExecutionStore) -> None:
    ws = seed(store, [{"duration_ms": 30}, {"duration_ms": None, "status": "running"}, {"duration_ms": 900},
                      {"duration_ms": 30}, {"duration_ms": 5}])
    first = store.page(HistoryQuery(workspace_id=ws, order_by="duration_ms", limit=2))
    assert [r.duration_ms for r in first.rows] == [900, 30]
    rest = store.page(HistoryQuery(workspace_id=ws, order_by="duration_ms", limit=2, cursor=first.next_cursor))
    assert [r.duration_ms for r in rest.rows] == [30, 5]
    last = store.page(HistoryQuery(workspace_id=ws, order_by="duration_ms", limit=2, cursor=rest.next_cursor))
    assert [r.duration_ms for r in last.rows] == [None] and last.next_cursor is None
    fastest = ids(store, HistoryQuery(workspace_id=ws, order_by="duration_ms", direction="asc"))
    assert fastest == [1, 4, 0, 3, 2]


def test_bad_queries_name_their_parameter(store: ExecutionStore) -> None:
    ws = seed(store, [{}, {}, {}])
    cursor = store.page(HistoryQuery(workspace_id=ws, limit=1)).next_cursor
    assert cursor is not None
    cases: list[tuple[HistoryQuery, str]] = [
        (HistoryQuery(workspace_id=ws, cursor="not a cursor"), "cursor"),
        (HistoryQuery(workspace_id=ws, cursor=cursor, direction="asc"), "cursor"),  # made for another order
        (HistoryQuery(workspace_id=ws, cursor=cursor, offset=2), "cursor"),
        (HistoryQuery(workspace_id=ws, limit=0), "limit"),
        (HistoryQuery(workspace_id=ws, order_by="name"), "order_by"),  # type: ignore[arg-type]
        (HistoryQuery(workspace_id=ws, since=T0, until=T0), "since"),
    ]
    for query, name in cases:
        with pytest.raises(QueryInvalidError) as caught:
            store.page(query)
        assert caught.value.details["field"] == name and caught.value.status == 400


def test_moments_and_statuses() -> None:
    clock = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert parse_moment("24h", "since", clock=clock) == clock - timedelta(hours=24)
    assert parse_moment("2w", "since", clock=clock) == clock - timedelta(weeks=2)
    assert parse_moment("2026-03-01", "since") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_moment("2026-03-01T10:00:00Z", "since") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_moment("2026-03-01T10:00:00+02:00", "since") == datetime(2026, 3, 1, 8, tzinfo=UTC)
    with pytest.raises(QueryInvalidError) as caught:
        parse_moment("last tuesday", "until")
    assert caught.value.details["field"] == "until"
    assert statuses_from(["failed,timed_out", "failed"], STATUSES) == ("failed", "timed_out")
    with pytest.raises(QueryInvalidError, match="unknown status 'broken'"):
        statuses_from(["broken"], STATUSES)
