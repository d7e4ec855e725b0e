"""Engine throughput benchmark: the "linear10" workload.

One workflow of 10 sequential ``core.transform`` nodes, 200 executions, 20 in flight, on the
durable SQLite store (one checkpoint per node) in a fresh data dir. Prints one JSON line:
``{"engine", "executions_per_s", "p50_ms", "p95_ms", "node_overhead_us", "peak_rss_mb_1000"}``.

``node_overhead_us`` is the time per node of one execution at a time (its durable commit
included), minus what evaluating the node's expression alone costs; ``cpu_us_per_node`` is the
process CPU time per node during the throughput run (both threads); ``peak_rss_mb_1000`` is the
peak RSS of a fresh process running 1,000 executions at once (a child process, so it starts clean).

    python bench/engine_throughput.py [--executions 200] [--in-flight 20]
    python bench/engine_throughput.py --backend temporal [--executions 100] [--temporal-address HOST:PORT]

(``--backend temporal``: ``bench/temporal_throughput.py``, beside plain Temporal, 1 and 2 workers.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def linear(n: int = 10) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "trigger", "kind": "manual"}]
    edges = []
    previous = "start"
    for i in range(1, n + 1):
        expression = "trigger.n + 1" if i == 1 else f"nodes.t{i - 1}.value + 1"
        nodes.append({"id": f"t{i}", "type": "action", "connector": "core", "operation": "transform",
                      "config": {"expression": expression}})
        edges.append({"source": previous, "target": f"t{i}"})
        previous = f"t{i}"
    return {"name": f"linear{n}", "nodes": nodes, "edges": edges}


def _runtime(data_dir: Path) -> Any:
    from connectors.registry import default_registry
    from engine.db import make_engine
    from engine.execution_store import ExecutionStore
    from engine.runtime import Runtime

    store = ExecutionStore(make_engine(f"sqlite:///{data_dir / 'flowwright.db'}"))
    return Runtime(store, default_registry(plugins=False))


async def _throughput(data_dir: Path, executions: int, in_flight: int) -> dict[str, Any]:
    from engine.validation import parse_workflow

    runtime = _runtime(data_dir)
    workflow = parse_workflow(linear(), runtime.registry)
    latencies: list[float] = []
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            t0 = time.perf_counter()
            execution_id = await runtime.start(workflow, {"n": i})
            status = await runtime.join(execution_id)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert status == "completed", status
            if i % 50 == 0:  # spot-check the results outside the timed path's hot loop
                checks.append(execution_id)

    checks: list[str] = []

    await asyncio.gather(*(one(i) for i in range(10)))  # warm-up (imports, caches, first commits)
    latencies.clear()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    await asyncio.gather(*(one(i) for i in range(executions)))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    for execution_id in checks:
        result = await runtime.describe(execution_id)
        assert result["status"] == "completed" and len(result["steps"]) == 11, result

    # per-node overhead: one execution at a time, minus the bare expression cost
    from engine.expressions import evaluate

    sequential = []
    for i in range(30):
        t = time.perf_counter()
        await runtime.join(await runtime.start(workflow, {"n": i}))
        sequential.append(time.perf_counter() - t)
    scope = {"trigger": {"n": 1}, "nodes": {f"t{i}": {"value": i} for i in range(1, 11)}}
    t = time.perf_counter()
    for _ in range(2000):
        evaluate("nodes.t3.value + 1", scope)
    expr_us = (time.perf_counter() - t) / 2000 * 1e6
    per_node_us = statistics.median(sequential) / 11 * 1e6
    runtime.store.close()
    latencies.sort()
    return {
        "executions_per_s": round(executions / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 2),
        "node_overhead_us": round(per_node_us - expr_us, 1),
        "node_time_sequential_us": round(per_node_us, 1),
        "cpu_ms_per_execution": round(cpu / executions * 1000, 2),
        "cpu_us_per_node": round(cpu / executions / 11 * 1e6, 1),
    }


async def _concurrent(data_dir: Path, executions: int) -> dict[str, Any]:
    from engine.validation import parse_workflow

    runtime = _runtime(data_dir)
    workflow = parse_workflow(linear(), runtime.registry)
    t0 = time.perf_counter()
    ids = [await runtime.start(workflow, {"n": i}) for i in range(executions)]
    statuses = await asyncio.gather(*(runtime.join(i) for i in ids))
    elapsed = time.perf_counter() - t0
    assert all(s == "completed" for s in statuses), statuses
    runtime.store.close()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"concurrent": executions, "seconds": round(elapsed, 2), "peak_rss_mb": round(rss_kb / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=1000, help="executions at once for the RSS figure")
    parser.add_argument("--mode", choices=["all", "concurrent"], default="all", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=["local", "temporal"], default="local",
                        help="temporal: linear10 on the Temporal backend beside plain Temporal, 1 and 2 workers")
    parser.add_argument("--temporal-address", default=None,
                        help="a Temporal frontend to use (default: start a dev server from the temporal CLI)")
    args = parser.parse_args()
    if args.backend == "temporal":
        from bench.temporal_throughput import run

        print(json.dumps(run(args.executions, args.in_flight, args.temporal_address)))
        return
    with tempfile.TemporaryDirectory(prefix="flowwright-bench-") as tmp:
        if args.mode == "concurrent":
            print(json.dumps(asyncio.run(_concurrent(Path(tmp), args.concurrent))))
            return
        figures = asyncio.run(_throughput(Path(tmp), args.executions, args.in_flight))
    child = subprocess.run(
        [sys.executable, __file__, "--mode", "concurrent", "--concurrent", str(args.concurrent)],
        capture_output=True, text=True, check=True,
    )
    concurrent = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps({"engine": "flowwright", **figures,
                      "peak_rss_mb_1000": concurrent["peak_rss_mb"], "concurrent_seconds": concurrent["seconds"]}))


if __name__ == "__main__":
    main()
