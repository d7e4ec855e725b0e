"""Recorded Temporal histories of the interpreter: one per node type and control path.

``test_replay.py`` replays every committed history (``tests/data/temporal_histories/*.json``)
against the current interpreter with Temporal's ``Replayer``: a change that makes the
interpreter schedule different commands for the same history (non-determinism) fails there,
before it can break executions that are in flight on a real cluster.

Re-record them (after a deliberate, versioned change of the interpreter) with a dev server:

    temporal server start-dev --headless --port 7233 &
    PYTHONPATH=. python -m tests.engine.temporal.histories 127.0.0.1:7233 [scenario ...]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.engine.runtime_helpers import temporal_runtime_at, transform, wf

HISTORIES = Path(__file__).resolve().parents[2] / "data" / "temporal_histories"


def delay(node_id: str, seconds: float) -> dict[str, Any]:
    return {"id": node_id, "type": "action", "connector": "core", "operation": "delay", "config": {"seconds": seconds}}


def approval(node_id: str) -> dict[str, Any]:
    return {"id": node_id, "type": "guardrail", "kind": "approval", "config": {"message": "go on?"}}


# name -> (workflow, or what makes it from the runtime (stores its sub-workflows), input, what to
# do while it runs: approve, pause/resume, cancel...)
Scenario = tuple[dict[str, Any] | Callable[[Any], dict[str, Any]], Any, Callable[[Any, str], Awaitable[None]] | None]


def _with_children(rt: Any) -> dict[str, Any]:
    """A parent that waits for one stored child workflow and starts another without waiting."""
    from engine.validation import parse_workflow

    child = wf([transform("double", "trigger.n * 2")], [("start", "double")], name="double it")
    child_id = rt.subworkflows.workflows.create("default", parse_workflow(child, rt.registry))[0].id
    run = {"id": "sub", "type": "action", "connector": "core", "operation": "run_workflow",
           "config": {"workflow_id": child_id, "input": {"n": "{{ trigger.n }}"}}}
    kick = {"id": "kick", "type": "action", "connector": "core", "operation": "run_workflow",
            "config": {"workflow_id": child_id, "input": {"n": 1}, "wait": False}}
    return wf([run, kick, transform("after", "nodes.sub.output.value + 1")],
              [("start", "sub"), ("start", "kick"), ("sub", "after")])


async def _approve(rt: Any, execution_id: str) -> None:
    await _until(rt, execution_id, "waiting")
    await rt.approve(execution_id, "ask", "ada")


async def _reject(rt: Any, execution_id: str) -> None:
    await _until(rt, execution_id, "waiting")
    await rt.reject(execution_id, "ask", "bob")


async def _pause_resume(rt: Any, execution_id: str) -> None:
    await _until_step(rt, execution_id, "nap")
    await rt.pause(execution_id)
    await rt.resume(execution_id)


async def _cancel(rt: Any, execution_id: str) -> None:
    await _until_step(rt, execution_id, "nap")
    await rt.cancel(execution_id)


async def _until(rt: Any, execution_id: str, status: str) -> None:
    for _ in range(600):
        if (await rt.get(execution_id)).status == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{execution_id} never became {status}")


async def _until_step(rt: Any, execution_id: str, node_id: str) -> None:
    for _ in range(600):
        if any(s.node_id == node_id for s in await asyncio.to_thread(rt.store.steps, execution_id)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{node_id} of {execution_id} never started")


def scenarios() -> dict[str, Scenario]:
    """Every node type, both loop kinds, every control signal, every way an execution ends."""
    body = {"nodes": [transform("double", "item * 2")], "edges": []}
    return {
        "linear": (wf([transform("a", "trigger.x + 1"), transform("b", "nodes.a.value * 10")],
                      [("start", "a"), ("a", "b")]), {"x": 1}, None),
        "branches": (wf([
            {"id": "big", "type": "condition", "config": {"expression": "trigger.n > 5"}},
            {"id": "kind", "type": "switch", "config": {"value": "trigger.kind", "cases": [{"name": "a", "equals": "a"}]}},
            transform("yes", "'big'"), transform("no", "'small'"), transform("case_a", "'a'"),
            transform("other", "'other'"),
            {"id": "both", "type": "merge", "config": {"mode": "all"}},
            {"id": "first", "type": "merge", "config": {"mode": "first"}},
        ], [("start", "big"), ("start", "kind"), ("big", "yes", "true"), ("big", "no", "false"),
            ("kind", "case_a", "a"), ("kind", "other", "default"), ("yes", "both"), ("no", "both"),
            ("case_a", "first"), ("other", "first")]), {"n": 9, "kind": "a"}, None),
        "loops": (wf([
            {"id": "each", "type": "loop", "config": {"items": "trigger.values", "max_concurrency": 2}, "body": body},
            {"id": "batches", "type": "loop", "config": {"items": "trigger.values", "max_concurrency": 2,
                                                         "batch_size": 2},
             "body": {"nodes": [transform("size", "$count(item)")], "edges": []}},
            {"id": "again", "type": "loop", "config": {"while": "iteration < 3", "max_iterations": 5, "delay_s": 0.2},
             "body": {"nodes": [transform("tick", "index")], "edges": []}},
        ], [("start", "each"), ("each", "batches"), ("batches", "again")]), {"values": [1, 2, 3]}, None),
        "errors": (wf([
            {"id": "boom", "type": "action", "connector": "core", "operation": "fail",
             "config": {"message": "no"}, "on_error": "route"},
            transform("handled", "nodes.boom.code"),
            {"id": "shrug", "type": "action", "connector": "core", "operation": "fail",
             "config": {"message": "ignored"}, "on_error": "continue"},
        ], [("start", "boom"), ("boom", "handled", "error"), ("handled", "shrug")]), {}, None),
        "failed": (wf([{"id": "boom", "type": "action", "connector": "core", "operation": "fail",
                        "config": {"message": "no"}}], [("start", "boom")]), {}, None),
        "delay": (wf([delay("nap", 0.3), transform("after", "'woke'")], [("start", "nap"), ("nap", "after")]),
                  {}, None),
        "approved": (wf([approval("ask"), transform("after", "'ok'")], [("start", "ask"), ("ask", "after")]),
                     {}, _approve),
        "rejected": (wf([approval("ask"), transform("after", "'ok'")], [("start", "ask"), ("ask", "after")]),
                     {}, _reject),
        "paused": (wf([delay("nap", 1.0), transform("after", "'ok'")], [("start", "nap"), ("nap", "after")]),
                   {}, _pause_resume),
        "cancelled": (wf([delay("nap", 30), transform("after", "'ok'")], [("start", "nap"), ("nap", "after")]),
                      {}, _cancel),
        "timed_out": (wf([delay("nap", 30)], [("start", "nap")], timeout_s=0.5), {}, None),
        "subworkflow": (_with_children, {"n": 4}, None),
    }


async def record(address: str, folder: Path = HISTORIES, only: list[str] | None = None) -> list[Path]:
    """Run every scenario (or those named in ``only``) on the server at ``address`` and write its history."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        async with temporal_runtime_at(Path(tmp) / "db.sqlite", address) as rt:
            for name, (workflow, inp, during) in scenarios().items():
                if only and name not in only:
                    continue
                execution_id = await rt.start(workflow(rt) if callable(workflow) else workflow, inp)
                if during is not None:
                    await during(rt, execution_id)
                handle = (await rt.client()).get_workflow_handle(execution_id)
                try:
                    await handle.result()
                except Exception:  # a cancelled workflow ends as an error; its history is what counts
                    pass
                await rt.wait(execution_id)
                history = _without_stack_traces(json.loads((await handle.fetch_history()).to_json()))
                path = folder / f"{name}.json"
                path.write_text(json.dumps({"workflow_id": execution_id, "history": history}, indent=1) + "\n",
                                encoding="utf-8")
                written.append(path)
    return written


def _without_stack_traces(value: Any) -> Any:
    """Failures' stack traces name this machine's paths; replay does not read them."""
    if isinstance(value, dict):
        return {k: _without_stack_traces(v) for k, v in value.items() if k != "stackTrace"}
    if isinstance(value, list):
        return [_without_stack_traces(v) for v in value]
    return value


if __name__ == "__main__":
    # python -m tests.engine.temporal.histories ADDRESS [SCENARIO ...]: record those only
    chosen = sys.argv[2:] or None
    for written_path in asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7233", only=chosen)):
        print(written_path)
