"""Re-running an execution: with the same input from the start, or forked from a node of an edited
version, reusing the recorded results upstream (upstream nodes are not run again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConflictError, NotFoundError
from engine.execution_fork import fork, upstream
from engine.validation import parse_workflow
from tests.engine.runtime_helpers import count, registry, runtime_at, statuses, transform, wf


def pipeline(log: Path, final: str) -> dict[str, Any]:
    """start → fetch (counted) → {check (condition), side (counted)}; check true → total (``final``)."""
    return wf([count("fetch", log, value="{{ trigger.n }}"),
               {"id": "check", "type": "condition", "config": {"expression": "nodes.fetch.value > 1"}},
               count("side", log),
               transform("total", final)],
              [("start", "fetch"), ("fetch", "check"), ("fetch", "side"), ("check", "total", "true")])


def runs(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


async def test_fork_from_a_node_reuses_upstream_results_and_runs_the_edit(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    async with runtime_at(tmp_path / "db.sqlite") as rt:
        first = await rt.run(pipeline(log, "$error('bug in total')"), {"n": 5}, workflow_id="wf_1")
        assert first["status"] == "failed" and runs(log).count("fetch") == 1
        fixed = pipeline(log, "nodes.fetch.value * 10")
        forked_id = await fork(rt, first["id"], fixed, from_node="total", workflow_version=2)
        forked = await rt.wait(forked_id)
        row = await rt.get(forked_id)
    assert forked["status"] == "completed", forked["error"]
    assert forked["output"]["total"] == {"value": 50}  # computed from fetch's recorded output
    assert runs(log).count("fetch") == 1  # upstream: not run again
    assert runs(log).count("side") == 2  # not upstream of total: runs again
    assert statuses(forked)["check"] == "completed" and statuses(forked)["fetch"] == "completed"
    assert (row.workflow_id, row.workflow_version, row.trigger) == ("wf_1", 2, "manual")
    assert row.id != first["id"]


async def test_rerun_from_the_start_with_the_same_input(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    async with runtime_at(tmp_path / "db.sqlite") as rt:
        first = await rt.run(pipeline(log, "nodes.fetch.value + 1"), {"n": 7})
        again = await rt.wait(await fork(rt, first["id"], pipeline(log, "nodes.fetch.value + 2")))
    assert again["status"] == "completed" and again["output"]["total"] == {"value": 9}  # same input, new version
    assert runs(log).count("fetch") == 2


async def test_fork_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    async with runtime_at(tmp_path / "db.sqlite") as rt:
        done = await rt.run(pipeline(log, "1"), {"n": 5})
        with pytest.raises(NotFoundError) as missing:
            await fork(rt, done["id"], pipeline(log, "1"), from_node="ghost")
        assert missing.value.details["field"] == "from_node"
        guard = {"id": "ask", "type": "guardrail", "kind": "approval", "config": {"message": "ok?"}}
        waiting = await rt.start(wf([guard], [("start", "ask")]))
        assert (await rt.wait(waiting))["status"] == "waiting"
        with pytest.raises(ConflictError):
            await fork(rt, waiting, wf([guard], [("start", "ask")]))
        with pytest.raises(NotFoundError):
            await fork(rt, done["id"], pipeline(log, "1"), workspace_id="someone_else")
    assert runs(log).count("fetch") == 1  # nothing was started by a refusal


def test_upstream_is_every_ancestor() -> None:
    workflow = parse_workflow(pipeline(Path("/tmp/x"), "1"), registry())
    assert upstream(workflow, "total") == {"start", "fetch", "check"}
    assert upstream(workflow, "start") == set()
