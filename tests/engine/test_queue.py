"""The durable queue on real databases: claims never overlap, are fair between workspaces and
follow priority; dead workers are reaped (fenced) and their executions go back to the queue."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from engine.db import make_engine
from engine.execution_store import ExecutionStore, now
from engine.queue import ExecutionQueue, QueueRow, WorkerRow
from tests.postgres_fixture import postgres_url  # noqa: F401 - the fixture

_W = WorkerRow.__table__  # type: ignore[attr-defined]
_Q = QueueRow.__table__  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        db = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    else:
        db = make_engine(request.getfixturevalue("postgres_url"))
    ExecutionStore(db).close()  # the executions table (orphan sweeps read it)
    queue = ExecutionQueue(db)
    with db.begin() as conn:
        conn.execute(_Q.delete())
        conn.execute(_W.delete())
    assert queue.depth() == {}
    yield db
    db.dispose()


def test_concurrent_claims_never_overlap(engine: Engine) -> None:
    queue = ExecutionQueue(engine)
    for i in range(300):
        queue.enqueue(f"ex_{i:04d}", f"ws_{i % 7}")
    got: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    # Rounds in lockstep: in each, all eight claim at once (a worker drives what it claimed
    # between two claims; a claimer looping alone could win the write lock every time).
    rounds = threading.Barrier(8)

    def claimer(name: str) -> None:
        mine: list[str] = []
        try:
            for _ in range(8):  # 8 rounds x 8 claimers x 7 > 300
                rounds.wait(timeout=60)
                mine += queue.claim(name, 7)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            rounds.abort()
        got[name] = mine

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    everything = [i for ids in got.values() for i in ids]
    assert len(everything) == 300 and len(set(everything)) == 300
    # the first round had work for all: none came back empty-handed beside another claimer
    assert all(len(ids) >= 7 for ids in got.values()), {k: len(v) for k, v in got.items()}
    assert queue.depth() == {"claimed": 300}


def test_a_claimer_passes_over_rows_a_concurrent_claimer_holds(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite claims hold the single write lock: no claim runs beside another")
    queue = ExecutionQueue(engine)
    for i in range(12):
        queue.enqueue(f"ex_{i:02d}", "ws_a")
    with engine.connect() as other:  # another claimer's transaction holds the four best rows
        other.begin()
        held = [r[0] for r in other.execute(
            _Q.select().with_only_columns(_Q.c.execution_id).order_by(_Q.c.enqueued_at).limit(4).with_for_update())]
        assert held == ["ex_00", "ex_01", "ex_02", "ex_03"]
        got = queue.claim("w1", 4)  # it used to come back empty-handed while work waited
        other.rollback()
    assert got == ["ex_04", "ex_05", "ex_06", "ex_07"]
    assert queue.claim("w2", 10) == [*held, "ex_08", "ex_09", "ex_10", "ex_11"]


def test_claims_are_fair_between_workspaces_and_follow_priority(engine: Engine) -> None:
    queue = ExecutionQueue(engine)
    for i in range(200):  # a flood from one workspace, queued first
        queue.enqueue(f"hot_{i:03d}", "ws_hot")
    for w in range(5):
        for i in range(3):
            queue.enqueue(f"cold{w}_{i}", f"ws_cold{w}")
    queue.enqueue("hot_urgent", "ws_hot", priority=10)
    first = queue.claim("w1", 6)
    assert Counter(i.split("_")[0] for i in first) == Counter({"hot": 1, **{f"cold{w}": 1 for w in range(5)}})
    assert "hot_urgent" in first  # the workspace's highest priority goes first
    for execution_id in first:  # the quiet workspaces' runs end; the hot one's still runs
        if not execution_id.startswith("hot"):
            queue.release(execution_id, "w1")
    second = queue.claim("w1", 5)  # the workspaces with nothing running are served first
    assert sorted(i.split("_")[0] for i in second) == [f"cold{w}" for w in range(5)]


def test_dead_worker_is_reaped_fenced_and_its_executions_requeued(engine: Engine) -> None:
    queue = ExecutionQueue(engine)
    queue.register("dead:1")
    queue.register("live:2")
    queue.enqueue("ex_a", "ws", worker_id="dead:1")
    queue.enqueue("ex_b", "ws")
    assert queue.claim("dead:1", 5) == ["ex_b"]
    assert queue.reap(5.0) == []  # both heartbeats are fresh
    with engine.begin() as conn:
        conn.execute(update(_W).where(_W.c.id == "dead:1").values(heartbeat_at=now() - timedelta(seconds=10)))
    assert sorted(queue.reap(5.0)) == ["ex_a", "ex_b"]
    assert queue.reap(5.0) == []  # exactly once
    assert queue.heartbeat("dead:1") is False  # it was frozen, not killed: it must stop
    assert queue.heartbeat("live:2") is True
    assert sorted(queue.claim("live:2", 5)) == ["ex_a", "ex_b"]
    row = queue.get("ex_a")
    assert row is not None and row.adoptions == 1 and row.worker_id == "live:2"
    statuses = {w.id: w.status for w in queue.workers()}
    assert statuses == {"dead:1": "dead", "live:2": "alive"}


def test_a_worker_never_reaps_itself(engine: Engine) -> None:
    """Its heartbeat waited for another writer (a long report's rollup refresh): the stored time is
    when it was issued, older than the dead-after limit by the time the same worker reaps."""
    queue = ExecutionQueue(engine)
    queue.register("slow:1")
    queue.enqueue("ex_mine", "ws", worker_id="slow:1")
    with engine.begin() as conn:
        conn.execute(update(_W).where(_W.c.id == "slow:1").values(heartbeat_at=now() - timedelta(seconds=10)))
    assert queue.reap(5.0, reaper="slow:1") == []
    assert queue.heartbeat("slow:1") is True  # not fenced
    assert queue.reap(5.0, reaper="other:2") == []  # its heartbeat is fresh again: nobody takes its run
    assert queue.get("ex_mine").worker_id == "slow:1"  # type: ignore[union-attr]


def test_release_returns_a_pending_request_and_unregister_hands_rows_back(engine: Engine) -> None:
    queue = ExecutionQueue(engine)
    queue.register("w:1")
    queue.enqueue("ex_a", "ws", worker_id="w:1")
    queue.enqueue("ex_b", "ws", worker_id="w:1")
    assert queue.request("ex_a", "cancel") == "w:1"
    assert queue.controls("w:1") == [("ex_a", "cancel")]
    assert queue.release("ex_a", "w:1") == "cancel"
    assert queue.get("ex_a") is None
    assert queue.release("ex_a", "w:1") is None
    assert queue.request("ex_a", "pause") is None  # nobody drives it any more
    queue.unregister("w:1")
    row = queue.get("ex_b")
    assert row is not None and row.status == "queued" and row.worker_id is None


def test_orphans_of_dead_processes_are_queued(engine: Engine) -> None:
    store = ExecutionStore(engine)
    queue = ExecutionQueue(engine)
    try:
        old = now() - timedelta(seconds=60)
        for execution_id, owner, status in [("ex_orphan", "nohost-x:1", "running"),
                                            ("ex_done", "nohost-x:1", "completed"),
                                            ("ex_claimed", "nohost-x:1", "running")]:
            store.writer.submit_sync(store_insert(execution_id, owner, status, old))
        queue.enqueue("ex_claimed", "ws", worker_id="gone-host:99999999")
        # another host's process without heartbeats is presumed alive; a silent worker row is not
        queue.register("nohost-x:1")
        with engine.begin() as conn:
            conn.execute(update(_W).values(heartbeat_at=old))
        assert queue.enqueue_orphans(5.0) == ["ex_orphan"]
        queue.reap(5.0)
        claimed = queue.get("ex_claimed")
        assert claimed is not None and claimed.status == "claimed"  # a host we cannot check: left alone
    finally:
        store.close()


def store_insert(execution_id: str, owner: str, status: str, at: object) -> object:
    from engine.execution_store import EXEC_INSERT, EXECUTION_COLUMNS

    params = dict.fromkeys(EXECUTION_COLUMNS)
    params.update({"id": execution_id, "workspace_id": "ws", "definition": "{}", "status": status, "owner": owner,
                   "trigger": "manual", "dry_run": False, "node_count": 0, "failed_steps": 0, "detached": False, "workflow_name": "",
                   "created_at": at, "updated_at": at})
    return EXEC_INSERT.values(**params)
