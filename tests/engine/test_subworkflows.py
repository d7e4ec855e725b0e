"""Sub-workflows (``core.run_workflow``) on a real SQLite file with the real workflow store: wait,
fire and forget, the child's failure, cancel, pause, shutdown/recovery and SIGKILL during the
child, the depth limit, and the links between parent and child rows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from engine.runtime import Runtime
from engine.workflow_store import WorkflowStore
from tests.engine.runtime_helpers import count, runtime_at, statuses, transform, wf

WS = "default"

# Engine conformance: every test here runs on the local runtime and on the Temporal backend
# (recovery after a crash is the local runtime's: tests/engine/test_subworkflow_recovery.py).
pytestmark = pytest.mark.usefixtures("backend")


def run_workflow(node_id: str, workflow_id: str, **config: Any) -> dict[str, Any]:
    extra = {k: config.pop(k) for k in ("retry", "on_error", "timeout_s") if k in config}
    return {"id": node_id, "type": "action", "connector": "core", "operation": "run_workflow",
            "config": {"workflow_id": workflow_id, **config}, **extra}


def store_workflow(rt: Runtime, document: dict[str, Any]) -> str:
    assert rt.subworkflows is not None
    workflows = rt.subworkflows.workflows
    assert isinstance(workflows, WorkflowStore)
    from engine.validation import parse_workflow

    row, _ = workflows.create(WS, parse_workflow(document, rt.registry))
    return row.id


def doubler() -> dict[str, Any]:
    return wf([transform("double", "trigger.n * 2")], [("start", "double")], name="double it")


async def wait_for_status(rt: Runtime, execution_id: str, status: str) -> None:
    for _ in range(500):
        if (await rt.get(execution_id)).status == status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{execution_id} never reached {status}")


async def children(rt: Runtime, execution_id: str) -> list[Any]:
    await rt.store.flush()
    return await asyncio.to_thread(rt.store.children, execution_id)


async def test_waits_for_the_child_and_outputs_its_output(tmp_path: Path) -> None:
    async with runtime_at(tmp_path / "fw.db") as rt:
        child_wf = store_workflow(rt, doubler())
        parent = wf([transform("seven", "trigger.x + 4"),
                     run_workflow("sub", child_wf, input={"n": "{{ nodes.seven.value }}"}),
                     transform("after", "nodes.sub.output.value + 1")],
                    [("start", "seven"), ("seven", "sub"), ("sub", "after")])
        result = await rt.run(parent, {"x": 3})
        kids = await children(rt, result["id"])
        steps = await asyncio.to_thread(rt.store.steps, result["id"])
        events = [e async for e in rt.events(result["id"], 0)]
        child = await rt.describe(kids[0].id)
    assert result["status"] == "completed", result["error"]
    assert result["output"] == {"value": 15}
    sub = next(s for s in result["steps"] if s["node_id"] == "sub")
    assert sub["output"] == {"execution_id": kids[0].id, "workflow_id": child_wf, "version": 1,
                             "status": "completed", "output": {"value": 14}}
    assert sub["child_execution_id"] == kids[0].id
    assert [s.child_execution_id for s in steps if s.node_id == "sub"] == [kids[0].id]
    row = kids[0]
    assert (row.parent_execution_id, row.parent_node_id, row.parent_loop_path, row.detached) == \
        (result["id"], "sub", "", False)
    assert (row.trigger, row.workflow_id, row.workflow_version, row.status) == ("subworkflow", child_wf, 1, "completed")
    assert child["parent_execution_id"] == result["id"]
    assert child["output"] == {"value": 14}
    assert [c["id"] for c in result["children"]] == [row.id]
    started = [e for e in events if e.type == "node.child_started"]
    assert [(e.node_id, e.data["child_execution_id"], e.data["wait"]) for e in started] == [("sub", row.id, True)]


async def test_a_pinned_version_runs_that_version(tmp_path: Path) -> None:
    async with runtime_at(tmp_path / "fw.db") as rt:
        child_wf = store_workflow(rt, doubler())
        assert rt.subworkflows is not None
        store = rt.subworkflows.workflows
        assert isinstance(store, WorkflowStore)
        from engine.validation import parse_workflow

        triple = wf([transform("double", "trigger.n * 3")], [("start", "double")], name="double it")
        store.add_version(WS, child_wf, parse_workflow(triple, rt.registry))
        pinned = await rt.run(wf([run_workflow("sub", child_wf, version=1, input={"n": 5})], [("start", "sub")]))
        current = await rt.run(wf([run_workflow("sub", child_wf, input={"n": 5})], [("start", "sub")]))
    assert pinned["output"]["output"] == {"value": 10} and pinned["output"]["version"] == 1
    assert current["output"]["output"] == {"value": 15} and current["output"]["version"] == 2


async def test_fire_and_forget_goes_on_and_the_child_still_runs(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    async with runtime_at(tmp_path / "fw.db") as rt:
        slow = store_workflow(rt, wf([count("slow", log, sleep_s=0.3)], [("start", "slow")], name="slow one"))
        result = await rt.run(wf([run_workflow("kick", slow, wait=False), transform("next", "'went on'")],
                                 [("start", "kick"), ("kick", "next")]))
        kids = await children(rt, result["id"])
        assert kids[0].status in ("pending", "running")  # the parent did not wait
        child = await rt.wait(kids[0].id)
    assert result["status"] == "completed", result["error"]
    assert result["output"] == {"value": "went on"}
    kick = next(s for s in result["steps"] if s["node_id"] == "kick")
    assert kick["output"]["status"] == "started" and kick["output"]["output"] is None
    assert kids[0].detached is True
    assert child["status"] == "completed" and child["output"] == {"tag": "slow", "value": None}


async def test_a_failing_child_fails_the_step_and_a_retry_runs_a_new_child(tmp_path: Path) -> None:
    async with runtime_at(tmp_path / "fw.db") as rt:
        broken = store_workflow(rt, wf([{"id": "boom", "type": "action", "connector": "core", "operation": "fail",
                                         "config": {"message": "export broke"}}], [("start", "boom")], name="broken"))
        failed = await rt.run(wf([run_workflow("sub", broken)], [("start", "sub")]))
        routed = await rt.run(wf([run_workflow("sub", broken, on_error="route"), transform("handle", "nodes.sub.code")],
                                 [("start", "sub"), ("sub", "handle", "error")]))
        retry = {"max_attempts": 2, "initial_delay_s": 0, "max_delay_s": 0}
        retried = await rt.run(wf([run_workflow("sub", broken, retry=retry)], [("start", "sub")]))
        retried_kids = await children(rt, retried["id"])
    assert failed["status"] == "failed"
    error = failed["error"]
    assert error["code"] == "subworkflow_failed" and error["node_id"] == "sub"
    assert "export broke" in error["message"]
    assert error["details"]["child_status"] == "failed"
    assert error["details"]["child_error"]["code"] == "core_fail"
    assert routed["status"] == "completed" and routed["output"] == {"value": "subworkflow_failed"}
    assert len(retried_kids) == 2 and all(k.status == "failed" for k in retried_kids)
    assert retried["error"]["details"]["child_execution_id"] == retried_kids[1].id


async def test_unknown_workflow_and_bad_input_fail_the_step_clearly(tmp_path: Path) -> None:
    async with runtime_at(tmp_path / "fw.db") as rt:
        typed = store_workflow(rt, {"name": "typed", "nodes": [
            {"id": "start", "type": "trigger", "kind": "manual",
             "config": {"input_schema": {"type": "object", "required": ["n"]}}},
            transform("double", "trigger.n * 2")], "edges": [{"source": "start", "target": "double"}]})
        unknown = await rt.run(wf([run_workflow("sub", "wf_nowhere")], [("start", "sub")]))
        bad_version = await rt.run(wf([run_workflow("sub", typed, version=9)], [("start", "sub")]))
        bad_input = await rt.run(wf([run_workflow("sub", typed, input={"m": 1})], [("start", "sub")]))
        other_ws = await rt.run(wf([run_workflow("sub", typed)], [("start", "sub")]), workspace_id="other")
    assert unknown["error"]["code"] == "subworkflow_not_found"
    assert "wf_nowhere does not exist in this workspace" in unknown["error"]["message"]
    assert bad_version["error"]["code"] == "subworkflow_not_found" and "version 9" in bad_version["error"]["message"]
    assert bad_input["error"]["code"] == "input_invalid" and "'n' is a required property" in bad_input["error"]["message"]
    assert other_ws["error"]["code"] == "subworkflow_not_found"  # another workspace's workflow is not there


async def test_depth_limit_stops_a_workflow_that_calls_itself(tmp_path: Path) -> None:
    async with runtime_at(tmp_path / "fw.db", subworkflow_max_depth=3) as rt:
        first = store_workflow(rt, wf([transform("noop", "1")], [("start", "noop")], name="recursive"))
        assert rt.subworkflows is not None
        store = rt.subworkflows.workflows
        assert isinstance(store, WorkflowStore)
        from engine.validation import parse_workflow

        # a later version calls itself by an id it is given at run time: saving cannot see that
        # (a literal id would be refused as a subworkflow_cycle); the depth limit stops it
        dynamic = run_workflow("again", "{{ trigger.target }}", input={"target": "{{ trigger.target }}"})
        store.add_version(WS, first, parse_workflow(wf([dynamic], [("start", "again")], name="recursive"), rt.registry))
        result = await rt.run(wf([run_workflow("again", first, input={"target": first})], [("start", "again")]))
        depth = 0
        execution_id = result["id"]
        while kids := await children(rt, execution_id):
            depth, execution_id = depth + 1, kids[0].id
        deepest = await rt.describe(execution_id)
    assert result["status"] == "failed"
    assert depth == 3
    assert deepest["error"]["code"] == "subworkflow_depth"
    assert "deeper than 3 levels" in deepest["error"]["message"]
    assert result["error"]["details"]["child_error"]["code"] == "subworkflow_failed"


async def test_cancelling_the_parent_cancels_its_waited_child_not_a_detached_one(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    async with runtime_at(tmp_path / "fw.db") as rt:
        slow = store_workflow(rt, wf([count("slow", log, sleep_s=30)], [("start", "slow")], name="slow"))
        parent = wf([run_workflow("waited", slow), run_workflow("detached", slow, wait=False)],
                    [("start", "waited"), ("start", "detached")])
        execution_id = await rt.start(parent)
        for _ in range(500):
            kids = await children(rt, execution_id)
            if len(kids) == 2 and all(k.status == "running" for k in kids):
                break
            await asyncio.sleep(0.01)
        await rt.cancel(execution_id)
        result = await rt.describe(execution_id)
        by_node = {k.parent_node_id: k for k in await children(rt, execution_id)}
        await rt.cancel(by_node["detached"].id)  # end it before the runtime closes
    assert result["status"] == "cancelled"
    assert statuses(result)["waited"] == "cancelled"
    assert by_node["waited"].status == "cancelled"
    assert by_node["detached"].status == "running"


async def test_cancelling_a_paused_parent_cancels_the_child_it_waited_for(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    async with runtime_at(tmp_path / "fw.db") as rt:
        slow = store_workflow(rt, wf([count("slow", log, sleep_s=30)], [("start", "slow")], name="slow"))
        execution_id = await rt.start(wf([run_workflow("sub", slow)], [("start", "sub")]))
        for _ in range(500):
            kids = await children(rt, execution_id)
            if kids and kids[0].status == "running":
                break
            await asyncio.sleep(0.01)
        await rt.pause(execution_id)
        paused = await rt.wait(execution_id)
        child_while_paused = (await rt.get(kids[0].id)).status
        await rt.cancel(execution_id)
        child = await rt.get(kids[0].id)
    assert paused["status"] == "paused" and statuses(paused)["sub"] == "paused"
    assert child_while_paused == "running"  # pausing the parent leaves the child alone
    assert child.status == "cancelled"


async def test_pause_and_resume_joins_the_same_child(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    # the child's step waits until the test lets it finish (rendezvous with a second, pretend call:
    # the test writes its files once the parent is paused), so the pause always finds it running
    held = {"id": "held", "type": "action", "connector": "probe", "operation": "rendezvous",
            "config": {"dir": str(gate), "index": 0, "count": 2, "timeout_s": 120}}
    async with runtime_at(tmp_path / "fw.db") as rt:
        slow = store_workflow(rt, wf([held], [("start", "held")], name="slow"))
        execution_id = await rt.start(wf([run_workflow("sub", slow)], [("start", "sub")]))
        for _ in range(3000):
            if (gate / "arrived_0").exists():
                break
            await asyncio.sleep(0.01)
        await rt.pause(execution_id)
        assert (await rt.wait(execution_id))["status"] == "paused"
        (gate / "arrived_1").touch()
        (gate / "done_1").touch()
        await rt.resume(execution_id)
        result = await rt.wait(execution_id)
        kids = await children(rt, execution_id)
    assert result["status"] == "completed", result["error"]
    assert len(kids) == 1 and (gate / "order").read_text().split() == ["0"]  # the child ran once
    assert [s["status"] for s in result["steps"] if s["node_id"] == "sub"] == ["paused", "completed"]
    assert result["output"]["execution_id"] == kids[0].id


async def test_a_dry_run_parent_runs_a_dry_run_child(tmp_path: Path) -> None:
    async with runtime_at(tmp_path / "fw.db") as rt:
        remote = store_workflow(rt, wf([{"id": "call", "type": "action", "connector": "probe", "operation": "remote",
                                         "config": {"url": "https://api.example.com/x"}}], [("start", "call")],
                                       name="remote"))
        result = await rt.run(wf([run_workflow("sub", remote)], [("start", "sub")]), dry_run=True)
        kids = await children(rt, result["id"])
    assert result["status"] == "completed", result["error"]
    assert kids[0].dry_run is True  # the remote operation was recorded, not called


async def test_without_a_workflow_store_the_step_says_so(tmp_path: Path) -> None:
    async with runtime_at(tmp_path / "fw.db", workflows=None) as rt:
        result = await rt.run(wf([run_workflow("sub", "wf_any")], [("start", "sub")]))
    assert result["error"]["code"] == "subworkflows_unavailable"
