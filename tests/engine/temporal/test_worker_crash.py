"""Kill a Temporal worker mid-execution (SIGKILL): the execution finishes on the other worker,
and no node that had completed runs again (its result is in the workflow's history)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.runtime_helpers import count, temporal_runtime_at, wf

pytestmark = pytest.mark.slow

HEARTBEAT_S = 2.0


def _start_worker(db: Path, address: str, prefix: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.temporal.crash_worker", str(db), address, prefix, str(HEARTBEAT_S)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=Path(__file__).resolve().parents[3],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"the worker did not start: {line!r}"
    return proc


async def test_a_killed_worker_s_execution_finishes_on_another(tmp_path: Path, temporal_address: str) -> None:
    db = tmp_path / "flowwright.db"
    log = tmp_path / "count.txt"
    workflow = wf([count("before", log), count("long", log, sleep_s=4), count("after", log)],
                  [("start", "before"), ("before", "long"), ("long", "after")])
    async with temporal_runtime_at(db, temporal_address, embedded=False, heartbeat_timeout_s=HEARTBEAT_S) as rt:
        prefix = rt.options.task_queue_prefix
        workers = [_start_worker(db, temporal_address, prefix) for _ in range(2)]
        try:
            execution_id = await rt.start(workflow)
            handle = (await rt.client()).get_workflow_handle(execution_id)
            victim = None
            for _ in range(600):  # the long node runs: find the worker that runs it
                described = await handle.describe()
                pending = [a for a in described.raw_description.pending_activities
                           if a.last_worker_identity and a.activity_type.name == "flowwright.node"]
                running = any(st.node_id == "long" and st.status == "running"
                              for st in await asyncio.to_thread(rt.store.steps, execution_id))
                if pending and running:  # its attempt row is committed: the crash cuts a recorded attempt
                    victim = int(pending[0].last_worker_identity.split("@")[0])
                    break
                await asyncio.sleep(0.05)
            assert victim in [w.pid for w in workers], f"no worker runs the long node ({victim})"
            os.kill(victim, signal.SIGKILL)
            result = await asyncio.wait_for(rt.wait(execution_id), timeout=90)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
    assert result["status"] == "completed", result.get("error")
    # "before" completed before the kill: it never ran again; the cut-off attempt of "long" ran again
    assert log.read_text().split() == ["before", "long", "long", "after"]
    long_rows = [s["status"] for s in result["steps"] if s["node_id"] == "long"]
    assert long_rows == ["interrupted", "completed"]
