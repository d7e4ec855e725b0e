"""The runtime on PostgreSQL (skipped when no server can be had; see the ``postgres_url`` fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.db import make_engine
from engine.execution_store import ExecutionStore
from engine.runtime import Runtime
from tests.engine.runtime_helpers import count, registry, statuses, transform, wf

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


async def test_runtime_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    store = ExecutionStore(make_engine(postgres_url))
    runtime = Runtime(store, registry())
    try:
        workflow = wf([
            transform("a", "trigger.x + 1"),
            {"id": "check", "type": "condition", "config": {"expression": "nodes.a.value > 1"}},
            {"id": "each", "type": "loop", "config": {"items": "{{ [1, 2, 3] }}", "max_concurrency": 2},
             "body": {"nodes": [transform("sq", "item * item")], "edges": []}},
            count("never", log),
        ], [("start", "a"), ("a", "check"), ("check", "each", "true"), ("check", "never", "false")])
        result = await runtime.run(workflow, {"x": 4})
        events = [e async for e in runtime.events(result["id"], 0)]
        guard = {"id": "ask", "type": "guardrail", "kind": "approval", "config": {"message": "ok?"}}
        waiting_id = await runtime.start(wf([guard, transform("after", "'done'")], [("start", "ask"), ("ask", "after")]))
        assert (await runtime.wait(waiting_id))["status"] == "waiting"
        await runtime.approve(waiting_id, "ask", "ada")
        approved = await runtime.wait(waiting_id)
    finally:
        await runtime.aclose()
        store.close()
        store.engine.dispose()
    assert result["status"] == "completed", result["error"]
    assert result["output"] == {"each": [{"value": 1}, {"value": 4}, {"value": 9}]}  # skipped sinks left out
    assert statuses(result)["never"] == "skipped"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert approved["status"] == "completed" and approved["output"] == {"value": "done"}
    assert all(s["started_at"].endswith("+00:00") for s in result["steps"])


async def test_while_loop_with_a_delay_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    store = ExecutionStore(make_engine(postgres_url))
    runtime = Runtime(store, registry())
    loop = {"id": "poll", "type": "loop",
            "config": {"while": "previous.value < 2", "max_iterations": 5, "delay_s": 0.1, "output": "last"},
            "body": {"nodes": [count("check", log, value="{{ index }}")], "edges": []}}
    try:
        result = await runtime.run(wf([loop], [("start", "poll")]))
        steps = store.steps(result["id"])
    finally:
        await runtime.aclose()
        store.close()
        store.engine.dispose()
    assert result["status"] == "completed", result["error"]
    assert result["output"] == {"tag": "check", "value": 2}
    assert [(s.loop_path, s.status) for s in steps if s.node_type == "wait"] == [("poll[1]", "completed"),
                                                                                ("poll[2]", "completed")]
    assert log.read_text().split() == ["check"] * 3
