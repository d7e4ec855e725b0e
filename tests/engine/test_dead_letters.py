"""The dead-letter queue on a real SQLite file: which failures land there, replay with the
original or an edited input, purge, workspace scoping, and poison executions (adopted too often)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from engine.dead_letters import POISON, RETRIES_EXHAUSTED, DeadLetters, replay
from engine.errors import NotFoundError
from engine.execution_store import StepRow, now
from engine.queue import ExecutionQueue, WorkerRow
from tests.engine.runtime_helpers import runtime_at, wf

_W = WorkerRow.__table__  # type: ignore[attr-defined]
_STEP = StepRow.__table__  # type: ignore[attr-defined]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "flowwright.db"


def flaky_workflow(key: str, *, mode: str = "retryable", attempts: int = 2) -> dict[str, Any]:
    return wf([{"id": "call", "type": "action", "connector": "probe", "operation": "flaky",
                "config": {"key": key, "failures": "{{ trigger.failures }}", "mode": mode},
                "retry": {"max_attempts": attempts, "backoff": "fixed", "initial_delay_s": 0}}],
              [("start", "call")], name="flaky")


async def test_a_run_that_exhausts_its_retries_is_a_dead_letter_and_replays(db: Path) -> None:
    key = uuid.uuid4().hex
    async with runtime_at(db) as rt:
        letters = DeadLetters(rt.store.engine)
        failed = await rt.run(flaky_workflow(key), {"failures": 5}, workspace_id="ws_a")
        assert failed["status"] == "failed"
        (letter,) = letters.list("ws_a")
        assert letter.execution_id == failed["id"] and letter.reason == RETRIES_EXHAUSTED
        assert letter.node_id == "call" and letter.workflow_name == "flaky"
        assert letters.list("ws_b") == []  # scoped to the workspace
        with pytest.raises(NotFoundError):
            letters.get("ws_b", failed["id"])

        # replay with the original input: the flaky service is still down (5 failures, 2 spent)
        again = await replay(rt, letters, "ws_a", failed["id"])
        assert (await rt.wait(again))["status"] == "failed"
        assert letters.get("ws_a", failed["id"]).replayed_as == again
        assert [x.execution_id for x in letters.list("ws_a")] == [again]  # the replay is a letter of its own
        # replay with an edited input: it goes through
        fixed = await replay(rt, letters, "ws_a", again, input={"failures": 0})
        done = await rt.wait(fixed)
        assert done["status"] == "completed" and rt.store.get(fixed).trigger == "replay"
        assert letters.list("ws_a") == []  # every letter was replayed
        assert {x.replayed_as for x in letters.list("ws_a", include_replayed=True)} == {again, fixed}
        assert letters.purge("ws_a") == 2
        with pytest.raises(NotFoundError):
            letters.purge("ws_a", failed["id"])


async def test_user_errors_and_dry_runs_are_no_dead_letters(db: Path) -> None:
    async with runtime_at(db) as rt:
        letters = DeadLetters(rt.store.engine)
        permanent = await rt.run(flaky_workflow(uuid.uuid4().hex, mode="permanent", attempts=3), {"failures": 5})
        assert permanent["status"] == "failed"
        no_retries = await rt.run(flaky_workflow(uuid.uuid4().hex, attempts=1), {"failures": 5})
        assert no_retries["status"] == "failed"
        dry = await rt.run(flaky_workflow(uuid.uuid4().hex), {"failures": 5}, dry_run=True)
        assert dry["status"] in ("completed", "failed")
        assert letters.list("default") == []


async def test_an_execution_whose_workers_keep_dying_becomes_poison(db: Path) -> None:
    async with runtime_at(db) as rt:
        store = rt.store
        queue = ExecutionQueue(store.engine, max_adoptions=2)
        letters = DeadLetters(store.engine)
        execution_id = await rt.start(wf([{"id": "nap", "type": "action", "connector": "probe",
                                           "operation": "sleep", "config": {"seconds": 30}}],
                                         [("start", "nap")]), {}, workspace_id="ws_p")
        await asyncio.sleep(0.2)  # the node is in flight
        await rt.abandon(execution_id)
        await store.flush()
        with store.engine.begin() as conn:  # as a SIGKILL leaves them: the attempt still running
            conn.execute(update(_STEP).where(_STEP.c.execution_id == execution_id, _STEP.c.node_id == "nap")
                         .values(status="running", completed_at=None))
        assert [s.status for s in store.steps(execution_id) if s.node_id == "nap"] == ["running"]
        for adoption in range(3):  # three workers in turn take it and die
            worker = f"w{adoption}"
            queue.register(worker)
            queue.enqueue(execution_id, "ws_p", worker_id=worker)
            with store.engine.begin() as conn:
                conn.execute(update(_W).where(_W.c.id == worker).values(heartbeat_at=now() - timedelta(seconds=60)))
            requeued = queue.reap(5)
            if adoption < 2:
                assert requeued == [execution_id]
                assert queue.get(execution_id).adoptions == adoption + 1  # type: ignore[union-attr]
            else:
                assert requeued == []
        assert queue.get(execution_id) is None  # no longer handed out
        row = store.get(execution_id)
        assert row.status == "failed" and "worker_lost" in (row.error or "")
        assert all(s.status != "running" for s in store.steps(execution_id))
        assert store.events(execution_id)[-1].type == "execution.failed"
        (letter,) = letters.list("ws_p")
        assert letter.reason == POISON and letter.error is not None and "died 3 times" in letter.error
