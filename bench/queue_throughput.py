"""Queue benchmark (not bench/queue.py: run as a script, that name would shadow the standard
library's queue module): short executions through the durable queue and `flowwright worker` processes,
across 10 workspaces, one of which (``hot``) submits half of them in one burst while the nine
quiet ones submit theirs at a steady pace. Prints one JSON line:

``{"executions", "executions_per_s", "cold_wait_p50_ms", "cold_wait_p95_ms", "hot_wait_p95_ms", ...}``

A wait is the time from an execution's creation to its trigger step starting in a worker (time
in the queue, the claim and the worker's start-up of the run). The quiet workspaces' p95 wait is
the fairness figure: the target is under 2 s while the hot workspace floods.

    python bench/queue_throughput.py [--executions 10000] [--workers 2] [--capacity 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHORT = {"name": "short", "nodes": [
    {"id": "start", "type": "trigger", "kind": "manual"},
    {"id": "one", "type": "action", "connector": "core", "operation": "transform", "config": {"expression": "trigger.n + 1"}},
], "edges": [{"source": "start", "target": "one"}]}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q * len(ordered))) - 1))] if ordered else 0.0


async def _submit(runtime: Any, workflow: Any, executions: int, quiet_rate: float) -> list[tuple[str, str]]:
    """The hot workspace submits half at once; the nine quiet ones the rest at ``quiet_rate`` per s."""
    hot = executions // 2
    ids: list[tuple[str, str]] = []
    for i in range(hot):
        ids.append(("hot", await runtime.start(workflow, {"n": i}, workspace_id="ws_hot")))
    quiet = executions - hot
    rng = random.Random(7)
    started = time.perf_counter()
    for i in range(quiet):
        workspace = f"ws_quiet{rng.randrange(9)}"
        ids.append(("cold", await runtime.start(workflow, {"n": i}, workspace_id=workspace)))
        ahead = started + (i + 1) / quiet_rate - time.perf_counter()
        if ahead > 0:
            await asyncio.sleep(ahead)
    return ids


async def _run(data_dir: Path, executions: int, workers: int, capacity: int, quiet_rate: float) -> dict[str, Any]:
    from sqlalchemy import func, select

    from connectors.registry import default_registry
    from engine.db import make_engine
    from engine.execution_store import ExecutionRow, ExecutionStore, StepRow
    from engine.queue import ExecutionQueue
    from engine.runtime import Runtime
    from engine.validation import parse_workflow

    url = f"sqlite:///{data_dir / 'flowwright.db'}"
    engine = make_engine(url)
    store = ExecutionStore(engine)
    queue = ExecutionQueue(engine)
    runtime = Runtime(store, default_registry(plugins=False), queue=queue, remote=True)
    workflow = parse_workflow(SHORT, runtime.registry)
    env = {**os.environ, "FLOWWRIGHT_DATA_DIR": str(data_dir), "FLOWWRIGHT_SCHEDULER_ENABLED": "false",
           "PYTHONPATH": str(ROOT)}
    env.pop("FLOWWRIGHT_DATABASE_URL", None)
    procs = [subprocess.Popen([sys.executable, "-m", "app.cli.main", "worker", "--capacity", str(capacity)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(workers)]
    try:
        while len([w for w in queue.workers() if w.status == "alive"]) < workers:  # workers are up
            await asyncio.sleep(0.1)
        t0 = time.perf_counter()
        ids = await _submit(runtime, workflow, executions, quiet_rate)
        await store.flush()
        ex, st = ExecutionRow.__table__, StepRow.__table__  # type: ignore[attr-defined]
        while True:
            with engine.connect() as conn:
                done = conn.execute(select(func.count()).select_from(ex)
                                    .where(ex.c.status.in_(["completed", "failed"]))).scalar_one()
            if done >= executions:
                break
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker process exited")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        with engine.connect() as conn:
            rows = conn.execute(select(ex.c.id, ex.c.status, ex.c.created_at, st.c.started_at)
                                .join(st, (st.c.execution_id == ex.c.id) & (st.c.node_id == "start"))).all()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        store.close()
    kind = {execution_id: k for k, execution_id in ids}
    waits: dict[str, list[float]] = {"hot": [], "cold": []}
    failed = 0
    for execution_id, status, created, started in rows:
        failed += status != "completed"
        waits[kind[execution_id]].append((started - created).total_seconds() * 1000)
    return {
        "executions": executions, "workers": workers, "capacity": capacity, "failed": failed,
        "executions_per_s": round(executions / elapsed, 1), "seconds": round(elapsed, 2),
        "cold_wait_p50_ms": round(_percentile(waits["cold"], 0.5), 1),
        "cold_wait_p95_ms": round(_percentile(waits["cold"], 0.95), 1),
        "hot_wait_p50_ms": round(_percentile(waits["hot"], 0.5), 1),
        "hot_wait_p95_ms": round(_percentile(waits["hot"], 0.95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--capacity", type=int, default=32)
    parser.add_argument("--quiet-rate", type=float, default=100.0, help="quiet workspaces' submissions per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fw-bench-queue-") as tmp:
        figures = asyncio.run(_run(Path(tmp), args.executions, args.workers, args.capacity, args.quiet_rate))
    print(json.dumps({"bench": "queue", **figures}))


if __name__ == "__main__":
    main()
