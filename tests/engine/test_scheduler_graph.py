"""While-loops (format 1.1) on a real SQLite file: the condition, max_iterations, the output flag,
per-iteration checkpoints, the durable delay between iterations and pause/resume during it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine.db import make_engine
from engine.execution_store import ExecutionStore, aware
from tests.engine.runtime_helpers import count, runtime_at, statuses, transform, wf


def poll_loop(body: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None, **config: Any) -> dict[str, Any]:
    config.setdefault("max_iterations", 10)
    return {"id": "poll", "type": "loop", "config": config, "body": {"nodes": body, "edges": edges or []}}


def counter() -> dict[str, Any]:
    """A body step that adds one to the previous iteration's value (``item``)."""
    return transform("step", "($exists(item.value) ? item.value : 0) + 1")


async def test_while_stops_when_the_condition_is_false(tmp_path: Path) -> None:
    workflow = wf([poll_loop([counter()], **{"while": "previous.value < 3"}), transform("after", "nodes.poll")],
                  [("start", "poll"), ("poll", "after")])
    async with runtime_at(tmp_path / "fw.db") as rt:
        result = await rt.run(workflow)
    assert result["status"] == "completed", result["error"]
    assert result["output"] == {"value": [{"value": 1}, {"value": 2}, {"value": 3}]}
    done = statuses(result)
    assert [k for k in done if k.startswith("step@")] == ["step@poll[0]", "step@poll[1]", "step@poll[2]"]
    assert done["poll"] == "completed"


async def test_while_reads_body_nodes_and_iteration_and_can_output_the_last(tmp_path: Path) -> None:
    body = [counter(), transform("double", "nodes.step.value * 2")]
    loop = poll_loop(body, [{"source": "step", "target": "double"}],
                     **{"while": "nodes.double.value < 100 and iteration < 4", "output": "last"})
    async with runtime_at(tmp_path / "fw.db") as rt:
        result = await rt.run(wf([loop], [("start", "poll")]))
    assert result["status"] == "completed", result["error"]
    # the body's sink is `double` and `item` is the previous result: doubles 2, 6, 14, 30, then iteration = 4
    assert result["output"] == {"value": 30}
    assert sum(k.startswith("double@") for k in statuses(result)) == 4


async def test_max_iterations_fails_the_node_with_a_clear_code(tmp_path: Path) -> None:
    workflow = wf([poll_loop([counter()], max_iterations=3, **{"while": "true"})], [("start", "poll")])
    async with runtime_at(tmp_path / "fw.db") as rt:
        result = await rt.run(workflow)
    assert result["status"] == "failed"
    assert result["error"]["code"] == "loop_max_iterations"
    assert result["error"]["node_id"] == "poll"
    assert "ran 3 times" in result["error"]["message"]
    assert sum(k.startswith("step@") for k in statuses(result)) == 3


async def test_max_iterations_with_on_error_continue_and_with_stop(tmp_path: Path) -> None:
    keep_going = poll_loop([counter()], max_iterations=2, **{"while": "true"})
    keep_going["on_error"] = "continue"
    stop = poll_loop([counter()], max_iterations=2, on_max_iterations="stop", **{"while": "true"})
    async with runtime_at(tmp_path / "fw.db") as rt:
        continued = await rt.run(wf([keep_going, transform("after", "'went on'")], [("start", "poll"), ("poll", "after")]))
        stopped = await rt.run(wf([stop], [("start", "poll")]))
        logs = [line.message for line in await asyncio.to_thread(rt.store.logs, stopped["id"])]
    assert continued["status"] == "completed" and statuses(continued)["poll"] == "failed"
    assert continued["output"] == {"value": "went on"}
    assert stopped["status"] == "completed", stopped["error"]
    assert stopped["output"] == [{"value": 1}, {"value": 2}]
    assert any("max_iterations" in m and "stopping" in m for m in logs), logs


async def test_a_failing_body_fails_the_loop_and_a_bad_condition_is_a_node_error(tmp_path: Path) -> None:
    failing = poll_loop([{"id": "boom", "type": "action", "connector": "core", "operation": "fail",
                          "config": {"message": "export broke"}}], **{"while": "true"})
    bad = poll_loop([counter()], **{"while": "$number('x')"})
    async with runtime_at(tmp_path / "fw.db") as rt:
        failed = await rt.run(wf([failing], [("start", "poll")]))
        broken = await rt.run(wf([bad], [("start", "poll")]))
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "core_fail" and failed["error"]["loop_node_id"] == "poll"
    assert broken["status"] == "failed" and broken["error"]["node_id"] == "poll"


async def test_delay_between_iterations_is_a_durable_wait(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    loop = poll_loop([count("check", log, value="{{ index }}")], delay_s=0.2,
                     **{"while": "previous.value < 2"})
    async with runtime_at(tmp_path / "fw.db") as rt:
        result = await rt.run(wf([loop], [("start", "poll")]))
        steps = await asyncio.to_thread(rt.store.steps, result["id"])
    assert result["status"] == "completed", result["error"]
    assert [o["value"] for o in result["output"]] == [0, 1, 2]
    waits = [s for s in steps if s.node_type == "wait"]
    assert [(w.loop_path, w.status, w.final) for w in waits] == [("poll[1]", "completed", True), ("poll[2]", "completed", True)]
    for wait in waits:  # each wait slept until the time its row named before sleeping
        assert aware(wait.completed_at) >= aware(wait.resume_at)  # type: ignore[operator]
        assert json.loads(wait.output or "null")["waited_until"]
    checks = [s for s in steps if s.node_id == "check"]
    assert aware(checks[1].started_at) >= aware(waits[0].resume_at)  # type: ignore[operator]


async def test_pause_during_the_delay_then_resume_keeps_finished_iterations(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    loop = poll_loop([count("check", log, value="{{ index }}")], delay_s=0.4, **{"while": "previous.value < 1"})
    async with runtime_at(tmp_path / "fw.db") as rt:
        execution_id = await rt.start(wf([loop], [("start", "poll")]))
        for _ in range(200):
            steps = await asyncio.to_thread(rt.store.steps, execution_id)
            if any(s.node_type == "wait" and s.status == "suspended" for s in steps):
                break
            await asyncio.sleep(0.01)
        await rt.pause(execution_id)
        paused = await rt.wait(execution_id)
        await rt.resume(execution_id)
        result = await rt.wait(execution_id)
    assert paused["status"] == "paused"
    assert result["status"] == "completed", result["error"]
    assert [o["value"] for o in result["output"]] == [0, 1]
    assert log.read_text().split() == ["check", "check"]  # iteration 0 was not run again


@pytest.mark.slow
def test_sigkill_during_the_delay_then_recover_keeps_the_wake_up_time(tmp_path: Path) -> None:
    from tests.engine.test_recovery import _lines, _recover, _run_until_kill

    db, log, workflow_file = tmp_path / "flowwright.db", tmp_path / "count.txt", tmp_path / "wf.json"
    loop = poll_loop([count("check", log, tag="check{{ index }}", value="{{ index }}")], delay_s=1.0,
                     **{"while": "previous.value < 2"})
    workflow_file.write_text(json.dumps(wf([loop], [("start", "poll")])))
    reached: dict[str, float] = {}

    def kill_when(lines: list[str]) -> bool:  # iteration 0 ran; kill 0.3 s into the wait before iteration 1
        if lines == ["check0"]:
            reached.setdefault("t", time.monotonic())
            return time.monotonic() - reached["t"] > 0.3
        return False

    execution_id = _run_until_kill(db, log, workflow_file, kill_when)
    before = _steps(db, execution_id)
    wait_before = next(s for s in before if s.node_type == "wait")
    assert wait_before.status == "suspended" and wait_before.loop_path == "poll[1]"

    results = _recover(db)

    assert [r["id"] for r in results] == [execution_id]
    assert results[0]["status"] == "completed", results[0]["error"]
    assert [o["value"] for o in results[0]["output"]] == [0, 1, 2]
    assert _lines(log) == ["check0", "check1", "check2"]  # the finished iteration did not run again
    waits = [s for s in _steps(db, execution_id) if s.node_type == "wait"]
    assert waits[0].id == wait_before.id and waits[0].status == "completed"
    assert aware(waits[0].resume_at) == aware(wait_before.resume_at)  # the original wake-up time


def _steps(db: Path, execution_id: str) -> list[Any]:
    store = ExecutionStore(make_engine(f"sqlite:///{db}"))
    try:
        return store.steps(execution_id)
    finally:
        store.close()
        store.engine.dispose()
