"""engine/event_tree.py and the nested ``children`` of describe: a parent, its child and its
grandchild on a real SQLite file, watched as one stream (live, and after a reconnect)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.event_tree import tree_events
from engine.runtime import Runtime
from tests.engine.runtime_helpers import runtime_at, transform, wf
from tests.engine.test_subworkflows import run_workflow, store_workflow


def three_levels(rt: Runtime) -> tuple[dict[str, Any], str, str]:
    """top → middle (in a loop of two items) → leaf; the ids of middle and leaf."""
    leaf = store_workflow(rt, wf([transform("double", "trigger.n * 2")], [("start", "double")], name="leaf"))
    middle = store_workflow(rt, wf([run_workflow("call_leaf", leaf, input={"n": "{{ trigger.n }}"})],
                                   [("start", "call_leaf")], name="middle"))
    loop = {"id": "each", "type": "loop", "config": {"items": "{{ [1, 2] }}"},
            "body": {"nodes": [run_workflow("call_middle", middle, input={"n": "{{ item }}"})], "edges": []}}
    return wf([loop], [("start", "each")], name="top"), middle, leaf


async def test_one_stream_shows_the_whole_tree_live(tmp_path: Path) -> None:
    async with runtime_at(tmp_path / "fw.db") as rt:
        top, middle, leaf = three_levels(rt)
        execution_id = await rt.start(top, {})
        events = [e async for e in tree_events(rt, execution_id)]
        described = await rt.describe(execution_id)
    assert described["status"] == "completed", described["error"]
    by_execution: dict[str, list[str]] = {}
    for event in events:
        by_execution.setdefault(event.execution_id, []).append(event.type)
    assert len(by_execution) == 5  # top, two middles, two leaves
    for types in by_execution.values():
        assert types[0] == "execution.started" and types[-1] == "execution.completed"
        assert types.count("execution.completed") == 1
    # each execution's own events stay in order, and a child starts after the step that started it
    for execution in by_execution:
        seqs = [e.seq for e in events if e.execution_id == execution]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), execution
    started = [e for e in events if e.type == "node.child_started"]
    assert len(started) == 4
    for event in started:
        child = event.data["child_execution_id"]
        first = next(i for i, e in enumerate(events) if e.execution_id == child)
        assert events.index(event) < first
    # describe nests the same tree: top → two middles (loop items) → one leaf each
    middles = described["children"]
    assert [(c["workflow_id"], c["node_id"], c["loop_path"], c["status"]) for c in middles] == [
        (middle, "call_middle", "each[0]", "completed"), (middle, "call_middle", "each[1]", "completed")]
    assert [[(g["workflow_id"], g["workflow_name"], g["outcome"]) for g in c["children"]] for c in middles] == [
        [(leaf, "leaf", "completed")], [(leaf, "leaf", "completed")]]


async def test_a_reconnect_after_the_children_started_still_follows_them(tmp_path: Path) -> None:
    async with runtime_at(tmp_path / "fw.db") as rt:
        top, _, _ = three_levels(rt)
        result = await rt.run(top, {})
        own = [e async for e in rt.events(result["id"], 0)]
        last_start = max(e.seq for e in own if e.type == "node.child_started")
        again = [e async for e in tree_events(rt, result["id"], last_start)]  # resume after every child started
    assert [e.seq for e in again if e.execution_id == result["id"]] == [e.seq for e in own if e.seq > last_start]
    assert len({e.execution_id for e in again}) == 5  # stored children (and theirs) are followed from their start
    assert sum(e.type == "execution.completed" for e in again) == 5
