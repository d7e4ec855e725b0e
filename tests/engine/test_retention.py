"""Retention over real runs, with a fixed clock, on SQLite and PostgreSQL: finished runs past the
maximum age or beyond the count per workflow go with everything they wrote; unfinished runs stay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.db import make_engine
from engine.execution_store import EventRow, ExecutionLogRow, ExecutionRow, ExecutionStore, StepRow
from engine.queue import ExecutionQueue
from engine.retention import Retention
from engine.runtime import Runtime
from tests.engine.runtime_helpers import registry, transform, wf

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:  # a database of its own: a sweep is global, and the session's server holds other tests' old runs
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        server = make_url(request.getfixturevalue("postgres_url"))
        name = f"retention_{uuid.uuid4().hex[:12]}"
        admin = make_engine(server.render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = server.set(database=name).render_as_string(hide_password=False)
    store = ExecutionStore(make_engine(url))
    ExecutionQueue(store.engine)  # its table exists, as in the service
    rt = Runtime(store, registry())
    yield rt
    await rt.aclose()
    store.close()
    store.engine.dispose()


def logging_workflow() -> dict[str, object]:
    log = {"id": "note", "type": "action", "connector": "core", "operation": "log", "config": {"message": "hi"}}
    return wf([transform("a", "1 + 1"), log], [("start", "a"), ("a", "note")])


async def run_at(rt: Runtime, workspace: str, workflow_id: str, days_ago: float) -> str:
    """A real run, then dated ``days_ago`` before NOW (as the store writes times: by the driver)."""
    result = await rt.run(logging_workflow(), workspace_id=workspace, workflow_id=workflow_id)
    assert result["status"] == "completed", result
    await rt.store.flush()
    backdate(rt.store, result["id"], NOW - timedelta(days=days_ago))
    return str(result["id"])


def backdate(store: ExecutionStore, execution_id: str, moment: datetime) -> None:
    mark = "?" if store.engine.dialect.name == "sqlite" else "%s"
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE executions SET created_at = {mark} WHERE id = {mark}", (moment, execution_id))


def remaining(store: ExecutionStore, workspace: str) -> set[str]:
    ex = ExecutionRow.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        return {r[0] for r in conn.execute(select(ex.c.id).where(ex.c.workspace_id == workspace))}


def rows_of(store: ExecutionStore, execution_ids: set[str]) -> int:
    total = 0
    with store.engine.connect() as conn:
        for model in (StepRow, ExecutionLogRow, EventRow):
            table = model.__table__  # type: ignore[attr-defined]
            total += conn.execute(select(func.count()).where(table.c.execution_id.in_(execution_ids))).scalar() or 0
    return total


async def test_age_and_count_limits_delete_finished_runs_and_all_they_wrote(runtime: Runtime) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"  # one PostgreSQL server serves every test
    a = {d: await run_at(runtime, ws, f"wf_a_{ws}", d) for d in (40, 35, 10, 3, 2, 1)}
    b = {d: await run_at(runtime, ws, f"wf_b_{ws}", d) for d in (50, 1)}
    guard = {"id": "ask", "type": "guardrail", "kind": "approval", "config": {"message": "ok?"}}
    waiting = await runtime.start(wf([guard], [("start", "ask")]), workspace_id=ws, workflow_id=f"wf_c_{ws}")
    assert (await runtime.wait(waiting))["status"] == "waiting"
    await runtime.store.flush()
    backdate(runtime.store, waiting, NOW - timedelta(days=100))  # unfinished: never pruned, however old
    expired = {a[40], a[35], b[50]}
    beyond = {a[10], a[3]}  # workflow a keeps its 2 newest finished runs
    assert rows_of(runtime.store, expired | beyond) > 0

    retention = Retention(runtime.store.engine, max_age=timedelta(days=30), max_per_workflow=2, batch=2,
                          clock=lambda: NOW, workspace_id=ws)  # other tests' runs share the PostgreSQL server
    report = retention.sweep()
    assert (report.by_age, report.by_count, report.batches) == (3, 2, 3)  # 2 + 1 batches by age, 1 by count
    assert remaining(runtime.store, ws) == {a[2], a[1], b[1], waiting}
    assert rows_of(runtime.store, expired | beyond) == 0  # steps, logs and events went with them
    assert rows_of(runtime.store, {a[1]}) > 0 and runtime.store.steps(a[1])
    assert [x.node_id for x in runtime.store.approvals(ws)] == ["ask"]  # the waiting run keeps its approval
    assert retention.sweep().deleted == 0  # nothing left to do

    off = Retention(runtime.store.engine, max_age=None, max_per_workflow=0, clock=lambda: NOW)
    assert not off.enabled and off.sweep().deleted == 0


async def test_sqlite_hands_freed_pages_back(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = ExecutionStore(make_engine(f"sqlite:///{path}"))
    rt = Runtime(store, registry())
    try:
        big = wf([transform("a", "trigger.blob")], [("start", "a")])
        ids = [(await rt.run(big, {"blob": "x" * 200_000}))["id"] for _ in range(5)]
        await store.flush()
        for execution_id in ids:
            backdate(store, execution_id, NOW - timedelta(days=60))
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2  # a new database: incremental
        before = path.stat().st_size
        report = Retention(store.engine, max_age=timedelta(days=30), max_per_workflow=0, clock=lambda: NOW).sweep()
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
    finally:
        await rt.aclose()
        store.close()
        store.engine.dispose()
    assert report.deleted == 5 and report.vacuumed
    assert free == 0 and path.stat().st_size < before


async def test_the_sweeper_runs_until_stopped(tmp_path: Path) -> None:
    store = ExecutionStore(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    rt = Runtime(store, registry())
    try:
        old = await run_at(rt, "default", "wf_x", 45)
        stop = asyncio.Event()
        sweeper = asyncio.create_task(Retention(store.engine, max_age=timedelta(days=30), max_per_workflow=0,
                                                clock=lambda: NOW).run(3600, stop))
        for _ in range(200):
            if old not in remaining(store, "default"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(sweeper, 10)  # stops at once, not after the interval
    finally:
        await rt.aclose()
        store.close()
        store.engine.dispose()
    assert remaining(store, "default") == set()
