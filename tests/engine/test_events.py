"""Events: a per-execution sequence that increases by one, persisted, replayable, then live."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from engine.events import EXECUTION_COMPLETED, Event, EventBus
from tests.engine.runtime_helpers import count, runtime_at, transform, wf


def _event(seq: int, type_: str = "log") -> Event:
    return Event("ex_1", seq, type_, datetime.now(UTC))


async def test_bus_publishes_to_subscribers_and_remembers_live_executions() -> None:
    bus = EventBus()
    bus.open("ex_1")
    queue = bus.subscribe("ex_1")
    bus.publish(_event(1))
    bus.publish(_event(2, EXECUTION_COMPLETED))
    assert [(await queue.get()).seq for _ in range(2)] == [1, 2]  # type: ignore[union-attr]
    assert [e.seq for e in bus.history("ex_1")] == [1, 2]
    assert bus.history("ex_1")[-1].terminal
    bus.unsubscribe("ex_1", queue)
    bus.close("ex_1")
    assert bus.history("ex_1") == [] and not bus.is_open("ex_1")
    assert _event(3).to_dict()["seq"] == 3


async def test_every_state_change_is_a_persisted_event_with_increasing_seq(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    workflow = wf([count("a", log), {"id": "never", "type": "condition", "config": {"expression": "false"}},
                   transform("b", "1")], [("start", "a"), ("a", "never"), ("never", "b", "true")])
    async with runtime_at(tmp_path / "db.sqlite") as rt:
        result = await rt.run(workflow)
        rows = rt.store.events(result["id"])
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    types = [(r.type, r.node_id) for r in rows]
    assert types[0] == ("execution.started", None) and types[-1] == ("execution.completed", None)
    assert ("node.started", "a") in types and ("node.completed", "a") in types
    assert ("log", "a") in types and ("node.skipped", "b") in types


async def test_replay_from_any_seq_then_follow_live(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    workflow = wf([count("a", log, sleep_s=0.2), count("b", log, sleep_s=0.2)], [("start", "a"), ("a", "b")])
    async with runtime_at(tmp_path / "db.sqlite") as rt:
        execution_id = await rt.start(workflow)
        while not log.exists():
            await asyncio.sleep(0.01)
        live = [e async for e in rt.events(execution_id, 0)]  # subscribed mid-run: replay, then live
        assert live[-1].type == "execution.completed"
        seqs = [e.seq for e in live]
        assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate across replay and live
        tail = [e.seq async for e in rt.events(execution_id, 5)]  # after the end: replay from the store
        assert tail == seqs[5:]
        none_left = [e async for e in rt.events(execution_id, seqs[-1])]
        assert none_left == []


async def test_several_listeners_see_the_same_stream(tmp_path: Path) -> None:
    workflow = wf([count("a", tmp_path / "c.txt", sleep_s=0.1)], [("start", "a")])
    async with runtime_at(tmp_path / "db.sqlite") as rt:
        execution_id = await rt.start(workflow)

        async def listen() -> list[int]:
            return [e.seq async for e in rt.events(execution_id, 0)]

        first, second = await asyncio.gather(listen(), listen())
    assert first == second and first[-1] >= 5


async def test_events_continue_after_a_resume_in_a_new_runtime(tmp_path: Path) -> None:
    guard = {"id": "ask", "type": "guardrail", "kind": "approval", "config": {"message": "ok?"}}
    workflow = wf([guard, transform("after", "1")], [("start", "ask"), ("ask", "after")])
    db = tmp_path / "db.sqlite"
    async with runtime_at(db) as rt:
        execution_id = await rt.start(workflow)
        await rt.wait(execution_id)
        before = [e.seq for e in rt.store.events(execution_id)]
    async with runtime_at(db) as rt:
        await rt.approve(execution_id, "ask", "ada")
        await rt.wait(execution_id)
        after = [e.seq for e in rt.store.events(execution_id)]
    assert after[: len(before)] == before
    assert after == list(range(1, len(after) + 1))
