"""Sub-workflows (``core.run_workflow``) after a crash, on the local runtime (whose ``recover``
resumes executions whose process died; on the Temporal backend the service keeps them, and
``tests/engine/temporal/test_worker_crash.py`` kills a worker instead): shutdown and SIGKILL
during the child, and a child that ended before its parent's step was checkpointed."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from engine.db import make_engine
from engine.execution_store import ExecutionStore
from engine.workflow_store import WorkflowStore
from tests.engine.runtime_helpers import count, runtime_at, transform, wf
from tests.engine.test_subworkflows import WS, children, run_workflow, store_workflow


async def test_shutdown_during_the_child_then_recover_resumes_both_without_a_second_child(tmp_path: Path) -> None:
    db, log = tmp_path / "fw.db", tmp_path / "count.txt"
    async with runtime_at(db) as rt:
        child_wf = store_workflow(rt, wf([count("first", log), count("second", log, sleep_s=0.4)],
                                         [("start", "first"), ("first", "second")], name="two steps"))
        execution_id = await rt.start(wf([run_workflow("sub", child_wf)], [("start", "sub")]))
        for _ in range(500):
            if log.exists() and "second" in log.read_text().split():
                break
            await asyncio.sleep(0.01)
    # the runtime closed with both running (a shutdown, not a cancel): a new one recovers them
    rows = ExecutionStore(make_engine(f"sqlite:///{db}"))
    try:
        parent_row = rows.get(execution_id)
        child_row = rows.children(execution_id)[0]  # both owned by this process, which no longer drives them
    finally:
        rows.close()
        rows.engine.dispose()
    assert parent_row.status == "running" and child_row.status == "running"
    async with runtime_at(db) as rt:
        recovered = await rt.recover()
        result = await rt.wait(execution_id)
        kids = await children(rt, execution_id)
    assert set(recovered) == {execution_id, child_row.id}
    assert result["status"] == "completed", result["error"]
    assert [k.id for k in kids] == [child_row.id] and kids[0].status == "completed"
    assert log.read_text().split().count("first") == 1  # the child's finished step did not run again


async def test_a_child_finished_before_the_parent_checkpointed_is_not_run_again(tmp_path: Path) -> None:
    db, log = tmp_path / "fw.db", tmp_path / "count.txt"
    async with runtime_at(db) as rt:
        child_wf = store_workflow(rt, wf([count("once", log)], [("start", "once")], name="once"))
        result = await rt.run(wf([run_workflow("sub", child_wf), transform("after", "nodes.sub.output.tag")],
                                 [("start", "sub"), ("sub", "after")]))
        assert result["status"] == "completed"
        # as if the process died after the child ended but before the parent's step was committed:
        # the parent's step rows are gone, the parent is running again
        from sqlalchemy import delete

        from engine.execution_store import StepRow
        await rt.store.flush()
        rt.store.execute_sync(delete(StepRow).where(StepRow.execution_id == result["id"]))  # type: ignore[arg-type]
        rt.store.update_execution_sync(result["id"], status="running", output=None)
    async with runtime_at(db) as rt:
        assert await rt.recover() == [result["id"]]
        again = await rt.wait(result["id"])
        kids = await children(rt, result["id"])
    assert again["status"] == "completed" and again["output"] == {"value": "once"}
    assert len(kids) == 1 and log.read_text().split() == ["once"]


@pytest.mark.slow
def test_sigkill_during_the_child_then_recover_completes_both(tmp_path: Path) -> None:
    from tests.engine.test_recovery import _lines, _recover, _run_until_kill

    db, log, workflow_file = tmp_path / "flowwright.db", tmp_path / "count.txt", tmp_path / "wf.json"
    engine = make_engine(f"sqlite:///{db}")
    from engine.validation import parse_workflow
    from tests.engine.runtime_helpers import registry

    child = wf([count("one", log), count("two", log, sleep_s=0.5), count("three", log)],
               [("start", "one"), ("one", "two"), ("two", "three")], name="child")
    child_id = WorkflowStore(engine).create(WS, parse_workflow(child, registry()))[0].id
    engine.dispose()
    workflow_file.write_text(json.dumps(wf([run_workflow("sub", child_id), count("after", log)],
                                           [("start", "sub"), ("sub", "after")])))
    reached: dict[str, float] = {}

    def kill_when(lines: list[str]) -> bool:  # 'two' is running inside the child
        if "two" in lines:
            reached.setdefault("t", time.monotonic())
            return time.monotonic() - reached["t"] > 0.1
        return False

    execution_id = _run_until_kill(db, log, workflow_file, kill_when)
    results = {r["id"]: r for r in _recover(db)}

    assert results[execution_id]["status"] == "completed", results[execution_id]["error"]
    kids = results[execution_id]["children"]
    assert len(kids) == 1 and kids[0]["id"] in results and kids[0]["status"] == "completed"
    lines = _lines(log)
    assert lines.count("one") == 1  # finished before the kill: not run again
    assert lines.count("three") == 1 and lines.count("after") == 1
    assert lines[-1] == "after"
