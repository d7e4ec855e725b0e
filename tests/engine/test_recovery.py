"""Crash recovery with a real process and SIGKILL at several points (DBOS-style).

A worker runs a workflow whose nodes append a tag to a file each time they run. The test kills
the worker at a chosen point, reads which nodes were checkpointed (final step rows), starts a
second worker that recovers, and proves: the execution finishes with the right output, every
node that had completed before the kill ran exactly once in total, and nothing was lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from engine.db import make_engine
from engine.execution_store import ExecutionStore, aware

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def crash_workflow(log: Path) -> dict[str, Any]:
    def count(node_id: str, sleep_s: float = 0.15, tag: str | None = None) -> dict[str, Any]:
        return {"id": node_id, "type": "action", "connector": "probe", "operation": "count",
                "config": {"file": str(log), "tag": tag or node_id, "sleep_s": sleep_s, "value": "{{ trigger.n }}"}}

    loop = {"id": "each", "type": "loop", "config": {"items": "{{ [1, 2, 3, 4] }}", "max_concurrency": 2},
            "body": {"nodes": [count("visit", 0.15, "visit{{ item }}"), count("note", 0.05, "note{{ item }}")],
                     "edges": [{"source": "visit", "target": "note"}]}}
    nodes = [
        {"id": "start", "type": "trigger", "kind": "manual"},
        count("a"), count("b"), count("c"), loop,
        {"id": "nap", "type": "action", "connector": "core", "operation": "delay", "config": {"seconds": 1.2}},
        count("d", 0.05),
        {"id": "total", "type": "action", "connector": "core", "operation": "transform",
         "config": {"expression": "$count(nodes.each) + nodes.d.value"}},
    ]
    chain = ["start", "a", "b", "c", "each", "nap", "d", "total"]
    return {"name": "crash", "nodes": nodes, "edges": [{"source": s, "target": t} for s, t in zip(chain, chain[1:], strict=False)]}


ALL_TAGS = ["a", "b", "c", *(f"visit{i}" for i in range(1, 5)), *(f"note{i}" for i in range(1, 5)), "d"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _checkpointed(db: Path, execution_id: str) -> tuple[set[str], Any]:
    """Tags of the count nodes whose completion was committed before the kill."""
    store = ExecutionStore(make_engine(f"sqlite:///{db}"))
    try:
        steps = store.steps(execution_id)
    finally:
        store.close()
        store.engine.dispose()
    done = set()
    nap = None
    for step in steps:
        if step.node_id == "nap":
            nap = step
        if step.final and step.status == "completed" and step.output:
            output = json.loads(step.output)
            if isinstance(output, dict) and "tag" in output:
                done.add(output["tag"])
    return done, nap


def _run_until_kill(db: Path, log: Path, workflow_file: Path, kill_when: Any) -> str:
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.crash_worker", "start", str(db), str(workflow_file), '{"n": 7}'],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert worker.stdout is not None
        execution_id = worker.stdout.readline().strip()
        assert execution_id.startswith("ex_"), worker.stderr.read() if worker.stderr else ""
        deadline = time.monotonic() + 30
        while not kill_when(_lines(log)):
            assert worker.poll() is None, f"worker ended before the kill point: {worker.stderr.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "kill point never reached"
            time.sleep(0.005)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        assert worker.returncode == -signal.SIGKILL
        return execution_id
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        for stream in (worker.stdout, worker.stderr):
            if stream is not None:
                stream.close()


def _recover(db: Path) -> list[dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "tests.engine.crash_worker", "recover", str(db)],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


KILL_POINTS = {
    "first_node_running": lambda lines: len(lines) >= 1,
    "mid_chain": lambda lines: "c" in lines,
    "inside_loop": lambda lines: sum(t.startswith("visit") for t in lines) >= 3,
    "during_delay": lambda lines: "note4" in lines and "note3" in lines,  # then give the delay time to start
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_recover_runs_no_completed_node_twice(tmp_path: Path, point: str) -> None:
    db, log, workflow_file = tmp_path / "flowwright.db", tmp_path / "count.txt", tmp_path / "wf.json"
    workflow_file.write_text(json.dumps(crash_workflow(log)))
    kill_when = KILL_POINTS[point]
    if point == "during_delay":
        reached: dict[str, float] = {}

        def kill_when(lines: list[str]) -> bool:  # the loop is done; kill 0.4 s into the delay
            if KILL_POINTS["during_delay"](lines):
                reached.setdefault("t", time.monotonic())
                return time.monotonic() - reached["t"] > 0.4
            return False

    execution_id = _run_until_kill(db, log, workflow_file, kill_when)
    before, nap_before = _checkpointed(db, execution_id)
    lines_before = _lines(log)

    results = _recover(db)

    assert [r["id"] for r in results] == [execution_id]
    result = results[0]
    assert result["status"] == "completed", result["error"]
    assert result["output"] == {"value": 11}  # 4 loop items + d's value (7)
    counts = Counter(_lines(log))
    assert set(counts) == set(ALL_TAGS)  # nothing lost
    for tag in before:
        assert counts[tag] == 1, f"{tag} completed before the kill but ran {counts[tag]} times"
    # at most the nodes in flight at the kill ran twice
    assert sum(counts.values()) - len(ALL_TAGS) <= len(set(lines_before) - before)
    completed = Counter((s["node_id"], s.get("loop_path")) for s in result["steps"] if s["status"] == "completed")
    assert all(n == 1 for n in completed.values()), completed
    assert len(completed) == 1 + 3 + 1 + 8 + 3  # trigger, a-c, loop, 4×2 body nodes, nap, d, total
    if point == "during_delay":
        assert nap_before is not None and nap_before.status == "suspended"
        # the sleep resumed with its original wake-up time instead of starting over: the same
        # step row, completed, still carrying the resume time written before the kill
        store = ExecutionStore(make_engine(f"sqlite:///{db}"))
        try:
            naps = [s for s in store.steps(execution_id) if s.node_id == "nap"]
        finally:
            store.close()
            store.engine.dispose()
        assert [(n.id, n.status) for n in naps] == [(nap_before.id, "completed")]
        assert aware(naps[0].resume_at) == aware(nap_before.resume_at)
        assert aware(naps[0].completed_at) >= aware(nap_before.resume_at)  # type: ignore[operator]


def test_recover_skips_executions_of_live_processes(tmp_path: Path) -> None:
    import asyncio

    from tests.engine.runtime_helpers import runtime_at

    db, log, workflow_file = tmp_path / "flowwright.db", tmp_path / "count.txt", tmp_path / "wf.json"
    workflow_file.write_text(json.dumps(crash_workflow(log)))
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.crash_worker", "start", str(db), str(workflow_file), '{"n": 7}'],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().startswith("ex_")

        async def recover() -> list[str]:
            async with runtime_at(db) as rt:
                return await rt.recover()

        assert asyncio.run(recover()) == []  # the worker is alive: not ours to resume
    finally:
        worker.kill()
        worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
