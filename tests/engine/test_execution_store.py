"""The execution store: tables, group commits, durable writes, reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.db import make_engine
from engine.errors import NotFoundError
from engine.execution_store import (
    STEP_FINISH,
    STEP_INSERT,
    ExecutionStore,
    StepRow,
    new_id,
)


@pytest.fixture
def store(tmp_path: Path) -> ExecutionStore:
    s = ExecutionStore(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    yield s  # type: ignore[misc]
    s.close()
    s.engine.dispose()


def _execution(execution_id: str, status: str = "running", workspace: str = "ws") -> dict[str, object]:
    now = datetime.now(UTC)
    return {"id": execution_id, "workspace_id": workspace, "workflow_name": "wf", "definition": "{}",
            "status": status, "created_at": now, "started_at": now, "updated_at": now}


def _step(step_id: str, execution_id: str, seq: int) -> dict[str, object]:
    return {"id": step_id, "execution_id": execution_id, "seq": seq, "node_id": f"n{seq}", "node_type": "action",
            "loop_path": "", "attempt": 1, "status": "running", "input": None, "output": None, "error": None,
            "branch": None, "final": False, "resume_at": None, "started_at": datetime.now(UTC),
            "completed_at": None, "duration_ms": None, "child_execution_id": None}


async def test_durable_write_is_visible_to_another_connection_when_awaited(store: ExecutionStore, tmp_path: Path) -> None:
    await store.insert_execution(_execution("ex_a"))
    other = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with other.connect() as conn:
        assert conn.execute(select(StepRow.__table__.c.id)).all() == []  # type: ignore[attr-defined]
    store.write(STEP_INSERT, _step("st_1", "ex_a", 1))
    await store.write(STEP_FINISH, {"_id": "st_1", "status": "completed", "output": '{"v": 1}', "error": None,
                                    "branch": None, "final": True, "resume_at": None,
                                    "completed_at": datetime.now(UTC), "duration_ms": 3}, durable=True)
    with other.connect() as conn:
        rows = conn.execute(select(StepRow.__table__)).mappings().all()  # type: ignore[attr-defined]
    other.dispose()
    assert [(r["id"], r["status"], r["final"], r["output"]) for r in rows] == [("st_1", "completed", True, '{"v": 1}')]


async def test_reads_filter_by_workspace_and_status(store: ExecutionStore) -> None:
    for i, (status, ws) in enumerate([("running", "ws"), ("failed", "ws"), ("completed", "other")]):
        await store.insert_execution(_execution(f"ex_{i}", status, ws))
    assert {r.id for r in store.list("ws")} == {"ex_0", "ex_1"}
    assert [r.id for r in store.list(status="failed")] == ["ex_1"]
    assert {r.id for r in store.list(status=["running", "completed"])} == {"ex_0", "ex_2"}
    assert store.get("ex_2").workspace_id == "other"
    with pytest.raises(NotFoundError):
        store.get("ex_2", "ws")  # another workspace's execution does not exist for you
    with pytest.raises(NotFoundError):
        store.get("ex_nope")
    store.delete_execution("ex_1")
    assert [r.id for r in store.list("ws")] == ["ex_0"]


def test_ids_are_unique_and_prefixed() -> None:
    ids = {new_id("ex") for _ in range(10_000)}
    assert len(ids) == 10_000 and all(i.startswith("ex_") and len(i) == 23 for i in ids)


async def test_claim_is_a_compare_and_set(store: ExecutionStore) -> None:
    await store.insert_execution({**_execution("ex_e"), "owner": "host:1"})
    assert store.claim("ex_e", "host:1", "host:2")
    assert not store.claim("ex_e", "host:1", "host:3")  # someone else got there first
    assert store.get("ex_e").owner == "host:2"
