"""Execution control: the state machine, pause/resume, cancel, manual retry, approvals, delays."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from engine.errors import ConflictError, NotFoundError
from engine.execution_state import STATUSES, TRANSITIONS, can_transition, check_transition
from engine.execution_store import aware
from tests.engine.runtime_helpers import count, runtime_at, statuses, transform, wf

# Engine conformance: every test here runs on the local runtime and on the Temporal backend.
pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "flowwright.db"


def sleep(node_id: str, seconds: float) -> dict[str, object]:
    return {"id": node_id, "type": "action", "connector": "probe", "operation": "sleep", "config": {"seconds": seconds}}


async def _wait_for(predicate: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def test_state_machine_allows_only_documented_transitions() -> None:
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert ("pending", "running") in allowed and ("running", "paused") in allowed and ("paused", "running") in allowed
    assert ("running", "waiting") in allowed and ("waiting", "running") in allowed
    for current in STATUSES:
        for new in STATUSES:
            if (current, new) in allowed:
                check_transition(current, new)
            else:
                assert not can_transition(current, new)
                with pytest.raises(ConflictError) as err:
                    check_transition(current, new, "ex_1")
                assert err.value.code == "illegal_transition" and err.value.status == 409
    assert not TRANSITIONS["completed"] and not TRANSITIONS["cancelled"]


async def test_illegal_transitions_raise_conflict(db: Path) -> None:
    async with runtime_at(db) as rt:
        done = await rt.run(wf([transform("a", "1")], [("start", "a")]))
        with pytest.raises(ConflictError):
            await rt.pause(done["id"])
        with pytest.raises(ConflictError):
            await rt.resume(done["id"])
        with pytest.raises(ConflictError):
            await rt.cancel(done["id"])
        with pytest.raises(ConflictError):
            await rt.retry(done["id"])
        with pytest.raises(NotFoundError):
            await rt.pause("ex_missing")


async def test_pause_lets_running_nodes_finish_then_resume_continues(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    workflow = wf([count("first", log, sleep_s=0.3), count("second", log)], [("start", "first"), ("first", "second")])
    async with runtime_at(db) as rt:
        execution_id = await rt.start(workflow)
        await _wait_for(lambda: log.exists())
        await rt.pause(execution_id)
        paused = await rt.wait(execution_id)
        assert paused["status"] == "paused"
        assert statuses(paused) == {"start": "completed", "first": "completed"}  # finished, nothing new started
        assert log.read_text().split() == ["first"]
        await rt.resume(execution_id)
        done = await rt.wait(execution_id)
        types = [e.type for e in rt.store.events(execution_id)]
    assert done["status"] == "completed"
    assert log.read_text().split() == ["first", "second"]  # first did not run again
    assert "execution.paused" in types and "execution.resumed" in types


async def test_cancel_stops_in_flight_nodes_and_writes_no_phantom_rows(db: Path) -> None:
    workflow = wf([sleep("slow", 10), transform("after", "1")], [("start", "slow"), ("slow", "after")])
    async with runtime_at(db) as rt:
        execution_id = await rt.start(workflow)
        # the slow node is in flight (its row says so; on a busy machine that may take a while)
        await _wait_for(lambda: any(s.node_id == "slow" and s.status == "running" for s in rt.store.steps(execution_id)),
                        timeout=30)
        await rt.cancel(execution_id)
        result = await rt.wait(execution_id)
        with pytest.raises(ConflictError):
            await rt.cancel(execution_id)
    assert result["status"] == "cancelled"
    assert statuses(result)["slow"] == "cancelled"
    # one row per attempt that happened: the in-flight one, and nothing for the node never started
    assert [(s["node_id"], s["attempt"]) for s in result["steps"] if s["node_id"] != "start"] == [("slow", 1)]


async def test_cancel_a_paused_execution(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    workflow = wf([count("first", log, sleep_s=0.2), count("second", log)], [("start", "first"), ("first", "second")])
    async with runtime_at(db) as rt:
        execution_id = await rt.start(workflow)
        await _wait_for(lambda: log.exists())
        await rt.pause(execution_id)
        await rt.wait(execution_id)
        await rt.cancel(execution_id)
        result = await rt.wait(execution_id)
    assert result["status"] == "cancelled"
    assert log.read_text().split() == ["first"]


async def test_manual_retry_reruns_failed_nodes_and_reuses_completed(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    gate = tmp_path / "gate.txt"
    check = transform("check", f"$exists(nodes.first) and '{gate}' = '{gate}' ? (trigger.ok ? 'ok' : $error('not yet')) : 0")
    workflow = wf([count("first", log), check, count("last", log)],
                  [("start", "first"), ("first", "check"), ("check", "last")])
    async with runtime_at(db) as rt:
        failed = await rt.run(workflow, {"ok": False})
        assert failed["status"] == "failed" and failed["error"]["node_id"] == "check"
        # the input is fixed for an execution, so make the retry succeed by changing what the
        # expression reads: the stored trigger input (an operator fixing the data, as in real life)
        from sqlalchemy import update

        from engine.execution_store import ExecutionRow

        table = ExecutionRow.__table__  # type: ignore[attr-defined]
        await rt.store.write(update(table).where(table.c.id == failed["id"]).values(input='{"ok": true}'),
                             None, durable=True)
        await rt.retry(failed["id"])
        done = await rt.wait(failed["id"])
    assert done["status"] == "completed", done["error"]
    assert log.read_text().split() == ["first", "last"]  # first was not re-run
    check_rows = [s for s in done["steps"] if s["node_id"] == "check"]
    assert [(s["attempt"], s["status"]) for s in check_rows] == [(1, "failed"), (2, "completed")]


async def test_durable_delay_suspends_the_step(db: Path) -> None:
    workflow = wf([{"id": "wait", "type": "action", "connector": "core", "operation": "delay", "config": {"seconds": 0.4}},
                   transform("after", "'woke'")], [("start", "wait"), ("wait", "after")])
    async with runtime_at(db) as rt:
        execution_id = await rt.start(workflow)
        await _wait_for(lambda: any(s.status == "suspended" for s in rt.store.steps(execution_id)))
        suspended = next(s for s in rt.store.steps(execution_id) if s.node_id == "wait")
        assert suspended.resume_at is not None
        result = await rt.wait(execution_id)
    assert result["status"] == "completed"
    assert result["output"] == {"value": "woke"}
    assert statuses(result)["wait"] == "completed"
    # the wait ended when it was asked to, not one more delay after waking up
    waited = datetime.fromisoformat(next(s for s in result["steps"] if s["node_id"] == "wait")["output"]["waited_until"])
    assert abs((waited - aware(suspended.resume_at)).total_seconds()) < 0.01


async def test_delay_does_not_hold_a_concurrency_slot(db: Path) -> None:
    nodes = [{"id": "wait", "type": "action", "connector": "core", "operation": "delay", "config": {"seconds": 0.5}},
             transform("other", "'done'")]
    async with runtime_at(db) as rt:
        done = await rt.run(wf(nodes, [("start", "wait"), ("start", "other")], max_concurrency=1))
    assert done["status"] == "completed"
    # with the only slot held by the sleeping delay, "other" could start only after it ended
    ended = {s["node_id"]: s["completed_at"] for s in done["steps"]}
    assert ended["other"] < ended["wait"]


def approval_workflow(on_error: str = "fail") -> dict[str, object]:
    guard = {"id": "ask", "type": "guardrail", "kind": "approval", "origin": "guardrail", "on_error": on_error,
             "config": {"message": "Send {{ trigger.n }} emails?"}}
    return wf([transform("prepare", "{'n': trigger.n}"), guard, transform("send", "'sent ' & $string(nodes.ask.value.n)")],
              [("start", "prepare"), ("prepare", "ask"), ("ask", "send")])


async def test_approval_waits_then_approve_resumes(db: Path) -> None:
    async with runtime_at(db) as rt:
        execution_id = await rt.start(approval_workflow(), {"n": 3})
        waiting = await rt.wait(execution_id)
        assert waiting["status"] == "waiting"
        pending = await rt.approvals(execution_id=execution_id)
        assert [(a["node_id"], a["status"]) for a in pending] == [("ask", "pending")]
        assert pending[0]["reason"]
        with pytest.raises(NotFoundError):
            await rt.approve(execution_id, "prepare", "ada")
        await rt.approve(execution_id, "ask", "ada")
        done = await rt.wait(execution_id)
        assert await rt.approvals(execution_id=execution_id) == []
    assert done["status"] == "completed", done["error"]
    assert done["output"] == {"value": "sent 3"}
    ask_rows = [s["status"] for s in done["steps"] if s["node_id"] == "ask"]
    assert ask_rows == ["approved", "completed"]


async def test_reject_fails_the_node(db: Path) -> None:
    async with runtime_at(db) as rt:
        execution_id = await rt.start(approval_workflow(), {"n": 3})
        assert (await rt.wait(execution_id))["status"] == "waiting"
        await rt.reject(execution_id, "ask", "bob")
        done = await rt.wait(execution_id)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "guardrail_violation" and done["error"]["node_id"] == "ask"


async def test_approval_survives_a_new_runtime(db: Path) -> None:
    async with runtime_at(db) as rt:
        execution_id = await rt.start(approval_workflow(), {"n": 5})
        assert (await rt.wait(execution_id))["status"] == "waiting"
    async with runtime_at(db) as rt:  # another process, later
        assert await rt.recover() == []  # waiting is not a crashed run
        await rt.approve(execution_id, "ask", "ada")
        done = await rt.wait(execution_id)
    assert done["status"] == "completed" and done["output"] == {"value": "sent 5"}


async def test_approval_decided_while_other_branches_run(db: Path) -> None:
    guard = {"id": "ask", "type": "guardrail", "kind": "approval", "config": {"message": "ok?"}}
    workflow = wf([guard, sleep("busy", 0.6), transform("after", "'after'")],
                  [("start", "ask"), ("start", "busy"), ("ask", "after")])
    async with runtime_at(db) as rt:
        execution_id = await rt.start(workflow)
        await _wait_for(lambda: bool(rt.store.approvals(execution_id=execution_id)))
        await rt.approve(execution_id, "ask", "ada")  # the execution is still running (busy)
        done = await rt.wait(execution_id)
    assert done["status"] == "completed"
    assert statuses(done)["after"] == "completed"


async def test_cancel_a_waiting_execution(db: Path) -> None:
    async with runtime_at(db) as rt:
        execution_id = await rt.start(approval_workflow(), {"n": 1})
        assert (await rt.wait(execution_id))["status"] == "waiting"
        await rt.cancel(execution_id)
        done = await rt.wait(execution_id)
        assert await rt.approvals(execution_id=execution_id) == []
    assert done["status"] == "cancelled"


async def test_pause_inside_a_loop_then_resume_runs_each_item_once(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    body = {"nodes": [count("visit", log, tag="v{{ item }}", sleep_s=0.1)], "edges": []}
    workflow = wf([{"id": "each", "type": "loop", "config": {"items": "{{ [1,2,3,4,5,6] }}", "max_concurrency": 2},
                    "body": body}], [("start", "each")])
    async with runtime_at(db) as rt:
        execution_id = await rt.start(workflow)
        await _wait_for(lambda: log.exists() and len(log.read_text().split()) >= 2)
        await rt.pause(execution_id)
        paused = await rt.wait(execution_id)
        assert paused["status"] == "paused"
        ran_before = log.read_text().split()
        assert 2 <= len(ran_before) < 6
        await rt.resume(execution_id)
        done = await rt.wait(execution_id)
    assert done["status"] == "completed"
    assert sorted(log.read_text().split()) == ["v1", "v2", "v3", "v4", "v5", "v6"]  # each item once
    assert [r["tag"] for r in done["output"]] == ["v1", "v2", "v3", "v4", "v5", "v6"]
