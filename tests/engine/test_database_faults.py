"""Database faults on a real SQLite file: a writer holding the lock longer than the busy timeout,
an exhausted pool. Transient faults are told from real errors, the store's writes wait and
resume, a run survives the lock, and no user-visible message carries SQL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from engine.database_faults import DatabaseBusyError, busy_error, describe, is_transient
from engine.db import make_engine
from engine.execution_store import EVENT_INSERT, ExecutionStore
from engine.runtime import Runtime, RuntimeLimits
from tests.engine.runtime_helpers import registry, transform, wf
from tests.engine.test_execution_store import _execution


@contextmanager
def locked(path: Path, *, release_after_s: float | None = None) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock from a second connection (another process's writer, in effect);
    with ``release_after_s`` it is released by a timer while the caller goes on."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    timer = None
    if release_after_s is not None:
        timer = threading.Timer(release_after_s, conn.rollback)
        timer.start()
    try:
        yield conn
    finally:
        if timer is not None:
            timer.join()
        conn.rollback()
        conn.close()


def _raised(fn: object) -> SQLAlchemyError:
    try:
        fn()  # type: ignore[operator]
    except SQLAlchemyError as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_locked_sqlite_and_an_exhausted_pool_are_transient_a_constraint_is_not(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    engine = make_engine(f"sqlite:///{path}", busy_timeout_s=0.05, pool_size=1, max_overflow=0,
                         pool_timeout_s=0.05)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, secret TEXT)"))
        conn.execute(text("INSERT INTO t VALUES (1, 'x')"))

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2, 'hunter2')"))

    with locked(path):
        lock = _raised(write)
    assert isinstance(lock, OperationalError) and is_transient(lock)
    assert describe(lock) == "the database is locked by another writer"

    held = engine.connect()
    try:
        pool = _raised(lambda: engine.connect())
    finally:
        held.close()
    assert isinstance(pool, PoolTimeout) and is_transient(pool)
    assert describe(pool) == "every database connection is in use"

    def duplicate() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1, 'hunter2')"))

    constraint = _raised(duplicate)
    assert isinstance(constraint, IntegrityError) and not is_transient(constraint)
    assert is_transient(busy_error(lock)) and not is_transient(ValueError("database is locked"))
    for exc in (lock, constraint):  # the driver's text holds the statement and its parameters
        assert "hunter2" in str(exc)
        assert "hunter2" not in describe(exc) and "INSERT" not in describe(exc)
        assert "hunter2" not in str(busy_error(exc).to_dict())
    engine.dispose()


@pytest.fixture
def store_at(tmp_path: Path) -> Iterator[tuple[ExecutionStore, Path]]:
    path = tmp_path / "db.sqlite"
    store = ExecutionStore(make_engine(f"sqlite:///{path}", busy_timeout_s=0.05), retry_s=30)
    yield store, path
    store.close()
    store.engine.dispose()


def _event(seq: int) -> dict[str, object]:
    return {"execution_id": "ex_l", "seq": seq, "type": "log", "node_id": None, "data": None,
            "created_at": datetime.now(UTC)}


async def test_writes_wait_out_a_lock_longer_than_the_busy_timeout_and_keep_their_order(
        store_at: tuple[ExecutionStore, Path]) -> None:
    store, path = store_at
    await store.insert_execution(_execution("ex_l"))
    with locked(path, release_after_s=1.0):
        fire_and_forget = [store.write(EVENT_INSERT, _event(i)) for i in range(1, 4)]
        assert fire_and_forget == [None, None, None]
        durable = store.write(EVENT_INSERT, _event(4), durable=True)
        started = time.monotonic()
        await asyncio.wait_for(durable, 20)
        waited = time.monotonic() - started
    assert waited >= 0.5  # it was committed after the lock went, not before
    assert store.writer.retries >= 3  # 20 busy timeouts fit in the lock: each was retried
    assert [e.seq for e in store.events("ex_l")] == [1, 2, 3, 4]


async def test_a_lock_outlasting_the_retry_budget_fails_the_write_with_database_busy(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = ExecutionStore(make_engine(f"sqlite:///{path}", busy_timeout_s=0.05), retry_s=0.3)
    try:
        await store.insert_execution(_execution("ex_l"))
        with locked(path):
            with pytest.raises(DatabaseBusyError) as info:
                await asyncio.wait_for(store.write(EVENT_INSERT, _event(1), durable=True), 20)
        assert info.value.code == "database_busy" and info.value.status == 503
        assert "INSERT" not in info.value.message and "locked by another writer" in info.value.message
        await store.write(EVENT_INSERT, _event(2), durable=True)  # the lock is gone: writes work again
        assert [e.seq for e in store.events("ex_l")] == [2]
    finally:
        store.close()
        store.engine.dispose()


async def test_a_run_survives_a_lock_held_through_it(store_at: tuple[ExecutionStore, Path]) -> None:
    store, path = store_at
    runtime = Runtime(store, registry(), limits=RuntimeLimits())
    workflow = wf([
        {"id": "nap", "type": "action", "connector": "probe", "operation": "sleep", "config": {"seconds": 0.2}},
        transform("after", "nodes.nap.slept * 10"),
    ], [("start", "nap"), ("nap", "after")])
    try:
        task = asyncio.create_task(runtime.run(workflow, {}))
        await asyncio.sleep(0.05)  # the run has started and is inside the sleep
        with locked(path):
            await asyncio.sleep(1.5)
            assert not task.done()  # it waits for the database rather than failing
        result = await asyncio.wait_for(task, 30)
    finally:
        await runtime.aclose()
    assert result["status"] == "completed", result.get("error")
    assert result["output"] == {"value": 2.0}
    assert store.writer.retries > 0
    assert all(s["status"] == "completed" for s in result["steps"])
