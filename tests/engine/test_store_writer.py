"""The group-commit writer: batching, ordering, folding, and isolation of a bad write."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.db import make_engine
from engine.execution_store import EVENT_INSERT, STEP_FINISH, STEP_INSERT, ExecutionStore
from tests.engine.test_execution_store import _execution, _step


@pytest.fixture
def store(tmp_path: Path) -> ExecutionStore:
    s = ExecutionStore(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    yield s  # type: ignore[misc]
    s.close()
    s.engine.dispose()


async def test_concurrent_writes_are_grouped_into_few_commits(store: ExecutionStore) -> None:
    commits = 0
    original = store.writer._commit

    def counting(batch: list[object]) -> None:
        nonlocal commits
        commits += 1
        original(batch)  # type: ignore[arg-type]

    store.writer._commit = counting  # type: ignore[method-assign]
    await store.insert_execution(_execution("ex_b"))
    commits = 0
    waits = [store.write(EVENT_INSERT, {"execution_id": "ex_b", "seq": i, "type": "log", "node_id": None,
                                        "data": None, "created_at": datetime.now(UTC)}, durable=True)
             for i in range(1, 201)]
    await asyncio.gather(*waits)
    assert len(store.events("ex_b")) == 200
    assert commits < 100  # 200 durable writes queued at once: far fewer transactions


async def test_a_bad_write_does_not_sink_its_batch(store: ExecutionStore) -> None:
    await store.insert_execution(_execution("ex_c"))
    ok = store.write(EVENT_INSERT, {"execution_id": "ex_c", "seq": 1, "type": "log", "node_id": None, "data": None,
                                    "created_at": datetime.now(UTC)}, durable=True)
    duplicate = store.write(EVENT_INSERT, {"execution_id": "ex_c", "seq": 1, "type": "log", "node_id": None,
                                           "data": None, "created_at": datetime.now(UTC)}, durable=True)
    later = store.write(EVENT_INSERT, {"execution_id": "ex_c", "seq": 2, "type": "log", "node_id": None, "data": None,
                                       "created_at": datetime.now(UTC)}, durable=True)
    results = await asyncio.gather(ok, duplicate, later, return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    assert [e.seq for e in store.events("ex_c")] == [1, 2]


async def test_a_finish_queued_with_its_insert_is_folded_into_it(store: ExecutionStore) -> None:
    await store.insert_execution(_execution("ex_d"))
    statements: list[str] = []
    from sqlalchemy import event

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0])

    store.write(STEP_INSERT, _step("st_9", "ex_d", 1))
    await store.write(STEP_FINISH, {"_id": "st_9", "status": "completed", "output": "1", "error": None,
                                    "branch": None, "final": True, "resume_at": None,
                                    "completed_at": datetime.now(UTC), "duration_ms": 1}, durable=True)
    assert statements == ["INSERT"]  # one insert carrying the final state, no update
    assert [(s.status, s.final, s.output) for s in store.steps("ex_d")] == [("completed", True, "1")]
