"""Per-workflow concurrency limits (engine/execution_slots.py): at most ``max_concurrent_executions``
runs of a saved workflow at once, the others waiting ``pending`` in start order — in-process and
through the queue with worker processes, on SQLite and PostgreSQL; an approval holds its slot, a
cancel frees one, a file run shares none, and the settings' default applies to workflows without
their own limit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from engine.db import make_engine
from engine.execution_run import RuntimeLimits
from engine.execution_store import ExecutionRow, ExecutionStore
from engine.queue import ExecutionQueue
from engine.runtime import Runtime
from engine.validation import validate_workflow
from tests.engine.queue_worker import worker_registry
from tests.engine.runtime_helpers import registry
from tests.engine.test_worker import Workers

pytestmark = pytest.mark.timeout(180)


def limited(log: Path, limit: int | None, *, sleep_s: float = 0.15, approval: bool = False) -> dict[str, Any]:
    """``begin`` and ``end`` append ``<execution id>.begin|end`` to ``log``; between them a sleep
    (and, with ``approval``, a person's approval) keeps the run in progress."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "begin", "type": "action", "connector": "probe", "operation": "count",
         "config": {"file": str(log), "tag": "{{ execution.id }}.begin", "sleep_s": sleep_s}},
    ]
    if approval:
        nodes.append({"id": "ok", "type": "guardrail", "kind": "approval", "config": {"message": "go on?"}})
    nodes.append({"id": "end", "type": "action", "connector": "probe", "operation": "count",
                  "config": {"file": str(log), "tag": "{{ execution.id }}.end"}})
    ids = [n["id"] for n in nodes]
    workflow: dict[str, Any] = {"name": "limited", "nodes": nodes,
                                "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:], strict=False)]}
    if limit is not None:
        workflow["max_concurrent_executions"] = limit
    return workflow


def overlap(log: Path) -> tuple[int, list[str]]:
    """The most executions between their ``begin`` and ``end`` at once, and the order they began."""
    running: set[str] = set()
    most = 0
    began: list[str] = []
    for line in log.read_text().split():
        execution_id, mark = line.rsplit(".", 1)
        if mark == "begin":
            running.add(execution_id)
            began.append(execution_id)
            most = max(most, len(running))
        else:
            running.discard(execution_id)
    return most, began


async def until(check: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def local(store: ExecutionStore) -> AsyncIterator[Runtime]:
    """A runtime driving everything in-process (``flowwright run``, an API without workers)."""
    runtime = Runtime(store, registry(), queue=ExecutionQueue(store.engine))
    yield runtime
    await runtime.aclose()


async def test_at_most_the_limit_run_at_once_in_start_order(local: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "log"
    workflow_id = f"wf_{uuid.uuid4().hex[:12]}"  # the PostgreSQL server is shared by the session
    ids = [await local.start(limited(log, 2), {}, workflow_id=workflow_id) for _ in range(5)]
    unlimited = await local.start(limited(log, None, sleep_s=0), {})  # a file run: no slots to share
    assert (await local.wait(unlimited, timeout=20))["status"] == "completed"
    for execution_id in ids:
        assert (await local.wait(execution_id, timeout=30))["status"] == "completed"
    most, began = overlap(log)
    assert most <= 3  # two of the workflow, plus the file run
    limited_began = [e for e in began if e in ids]
    # first come, first served: with two slots, a run may begin before at most one older run
    assert sorted(limited_began) == sorted(ids)
    assert all(e in ids[: k + 2] for k, e in enumerate(limited_began)), (ids, limited_began)
    # never more than two of the workflow between begin and end, and two did overlap
    running: set[str] = set()
    peak = 0
    for line in log.read_text().split():
        execution_id, mark = line.rsplit(".", 1)
        if execution_id in ids:
            (running.add if mark == "begin" else running.discard)(execution_id)
            peak = max(peak, len(running))
    assert peak == 2
    waited = [e for e in ids[2:] if any("waiting for a free slot" in (ev.data or "")
                                        for ev in local.store.events(e, 0))]
    assert waited, "the later runs never said they were waiting"


async def test_an_approval_holds_its_slot_and_a_cancel_frees_one(tmp_path: Path) -> None:
    store = ExecutionStore(make_engine(f"sqlite:///{tmp_path / 'fw.db'}"))
    runtime = Runtime(store, registry(), queue=ExecutionQueue(store.engine))
    log = tmp_path / "log"
    try:
        first = await runtime.start(limited(log, 1, sleep_s=0, approval=True), {}, workflow_id="wf_a")
        await until(lambda: _status(runtime, first, "waiting"))
        second = await runtime.start(limited(log, 1, sleep_s=0), {}, workflow_id="wf_a")
        third = await runtime.start(limited(log, 1, sleep_s=0), {}, workflow_id="wf_a")
        await asyncio.sleep(0.5)
        assert (await runtime.get(second)).status == "pending"  # the approval holds the only slot
        assert (await runtime.get(third)).status == "pending"
        await runtime.cancel(second)
        assert (await runtime.get(second)).status == "cancelled"
        await asyncio.sleep(0.3)
        assert (await runtime.get(third)).status == "pending"
        await runtime.approve(first, "ok")
        assert (await runtime.wait(first, timeout=20))["status"] == "completed"
        assert (await runtime.wait(third, timeout=20))["status"] == "completed"
        most, began = overlap(log)
        assert most == 1 and began == [first, third]
    finally:
        await runtime.aclose()
        store.close()
        store.engine.dispose()


async def test_the_settings_default_applies_to_workflows_without_a_limit(tmp_path: Path) -> None:
    store = ExecutionStore(make_engine(f"sqlite:///{tmp_path / 'fw.db'}"))
    runtime = Runtime(store, registry(), limits=RuntimeLimits(workflow_max_concurrent=1))
    log = tmp_path / "log"
    try:
        first = await runtime.start(limited(log, None, sleep_s=0, approval=True), {}, workflow_id="wf_d")
        await until(lambda: _status(runtime, first, "waiting"))
        second = await runtime.start(limited(log, None, sleep_s=0), {}, workflow_id="wf_d")
        own = await runtime.start(limited(log, 3, sleep_s=0), {}, workflow_id="wf_own")  # its own limit wins
        assert (await runtime.wait(own, timeout=20))["status"] == "completed"  # another workflow's slots
        assert (await runtime.get(second)).status == "pending"
        await runtime.approve(first, "ok")
        for execution_id in (first, second):
            assert (await runtime.wait(execution_id, timeout=20))["status"] == "completed"
        text = log.read_text().split()
        assert text.index(f"{first}.end") < text.index(f"{second}.begin")
    finally:
        await runtime.aclose()
        store.close()
        store.engine.dispose()


async def test_the_queue_hands_out_only_what_a_slot_is_free_for(store: ExecutionStore, tmp_path: Path) -> None:
    queue = ExecutionQueue(store.engine)
    api = Runtime(store, registry(), queue=queue, remote=True)
    log = tmp_path / "log"
    workflow_id = f"wf_{uuid.uuid4().hex[:12]}"
    workspace = f"ws_{uuid.uuid4().hex[:8]}"
    try:
        ids = [await api.start(limited(log, 2), {}, workflow_id=workflow_id, workspace_id=workspace)
               for _ in range(4)]
        free = await api.start(limited(log, None), {}, workflow_id="wf_other", workspace_id=workspace)
        mine = set(ids) | {free}
        claimed = [i for i in queue.claim("w1", 100) if i in mine]
        assert set(claimed) == {ids[0], ids[1], free}  # the two first in line, and the unlimited one
        assert [i for i in queue.claim("w2", 100) if i in mine] == []  # both slots are taken (claimed, pending)

        def set_status(execution_id: str, status: str) -> None:
            with store.engine.begin() as conn:
                conn.execute(update(ExecutionRow.__table__).where(  # type: ignore[attr-defined]
                    ExecutionRow.__table__.c.id == execution_id).values(status=status))  # type: ignore[attr-defined]

        for execution_id in (ids[0], ids[1], free):
            set_status(execution_id, "running")
            queue.release(execution_id, "w1")  # e.g. waiting for an approval: no worker, slot held
        assert [i for i in queue.claim("w2", 100) if i in mine] == []
        queue.enqueue(ids[0], workspace, workflow_id=workflow_id, max_concurrent=2)  # resumed: it holds a slot
        assert [i for i in queue.claim("w2", 100) if i in mine] == [ids[0]]
        set_status(ids[1], "completed")
        assert [i for i in queue.claim("w3", 100) if i in mine] == [ids[2]]
    finally:
        for execution_id in [*ids, free]:
            queue.take_queued(execution_id)
            queue.release(execution_id, "w1")
            queue.release(execution_id, "w2")
            queue.release(execution_id, "w3")
        await api.aclose()


async def test_worker_processes_never_overlap_a_limit_of_one(tmp_path: Path) -> None:
    store = ExecutionStore(make_engine(f"sqlite:///{tmp_path / 'fw.db'}"))
    api = Runtime(store, worker_registry(), queue=ExecutionQueue(store.engine), remote=True)
    pool = Workers(tmp_path / "fw.db")
    log = tmp_path / "log"
    try:
        pool.start_many(2, capacity=4)
        ids = [await api.start(limited(log, 1, sleep_s=0.1), {}, workflow_id="wf_one")
               for _ in range(6)]
        for execution_id in ids:
            assert (await api.wait(execution_id, timeout=60))["status"] == "completed"
        most, began = overlap(log)
        assert most == 1 and began == ids
    finally:
        pool.stop()
        await api.aclose()
        store.close()
        store.engine.dispose()


def test_a_limit_below_one_is_refused_with_its_path() -> None:
    workflow = limited(Path("/tmp/x"), 0)
    result = validate_workflow(workflow)
    assert not result.ok
    assert [p.path for p in result.problems] == ["$.max_concurrent_executions"]


async def _status(runtime: Runtime, execution_id: str, status: str) -> bool:
    return (await runtime.get(execution_id)).status == status
