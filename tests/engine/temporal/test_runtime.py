"""The Temporal backend against a real Temporal dev server: the interpreter walks the graph,
nodes run as activities, and the step rows and events read back as on the local runtime."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.engine.runtime_helpers import count, statuses, temporal_runtime_at, transform, wf


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "flowwright.db"


async def test_linear_workflow_runs_on_temporal(db: Path, temporal_address: str) -> None:
    workflow = wf([transform("a", "trigger.x + 1"), transform("b", "nodes.a.value * 10")],
                  [("start", "a"), ("a", "b")])
    async with temporal_runtime_at(db, temporal_address) as rt:
        result = await rt.run(workflow, {"x": 4})
        events = [e.type async for e in rt.events(result["id"])]
    assert result["status"] == "completed", result
    assert result["output"] == {"value": 50}
    assert [s["node_id"] for s in result["steps"]] == ["start", "a", "b"]
    assert events[0] == "execution.started" and events[-1] == "execution.completed"
    assert events.count("node.completed") == 3


async def test_condition_skips_the_branch_not_taken(db: Path, tmp_path: Path, temporal_address: str) -> None:
    log = tmp_path / "count.txt"
    workflow = wf(
        [{"id": "check", "type": "condition", "config": {"expression": "trigger.n > 5"}},
         count("big", log), count("small", log), count("after_small", log)],
        [("start", "check"), ("check", "big", "true"), ("check", "small", "false"), ("small", "after_small")],
    )
    async with temporal_runtime_at(db, temporal_address) as rt:
        result = await rt.run(workflow, {"n": 9})
    assert result["status"] == "completed", result
    assert statuses(result) == {"start": "completed", "check": "completed", "big": "completed",
                                "small": "skipped", "after_small": "skipped"}
    assert log.read_text().split() == ["big"]


async def test_cancel_stops_the_workflow_and_its_in_flight_node(db: Path, temporal_address: str) -> None:
    workflow = wf([{"id": "slow", "type": "action", "connector": "probe", "operation": "sleep",
                    "config": {"seconds": 30}}], [("start", "slow")])
    async with temporal_runtime_at(db, temporal_address, heartbeat_timeout_s=2.0) as rt:
        execution_id = await rt.start(workflow)
        deadline = asyncio.get_running_loop().time() + 60
        while statuses(await rt.describe(execution_id)).get("slow") != "running":  # its row is live
            assert asyncio.get_running_loop().time() < deadline, "the slow node never showed as running"
            await asyncio.sleep(0.05)
        await rt.cancel(execution_id)
        result = await rt.wait(execution_id)
        handle = (await rt.client()).get_workflow_handle(execution_id)
        described = await handle.describe()
    assert result["status"] == "cancelled"
    assert statuses(result)["slow"] == "cancelled"
    assert described.status is not None and described.status.name == "CANCELED"


async def test_an_unreachable_temporal_fails_the_start_clearly(db: Path) -> None:
    from engine.errors import BackendUnavailable
    from tests.temporal_fixture import free_port

    async with temporal_runtime_at(db, f"127.0.0.1:{free_port()}", embedded=False) as rt:
        with pytest.raises(BackendUnavailable, match="cannot reach the Temporal service"):
            await rt.start(wf([transform("a", "1")], [("start", "a")]))
        rows = await asyncio.to_thread(rt.store.list, None, limit=10)
    assert [r.status for r in rows] == ["failed"]
