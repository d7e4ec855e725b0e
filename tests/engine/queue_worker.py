"""A worker process for the queue tests: ``DB CAPACITY HEARTBEAT_S`` (DB: a SQLite file, or a
database URL) drives queued executions on the ``probe`` test registry plus ``http`` (loopback
allowed) until SIGTERM — or SIGKILL, which is the point of the tests. Prints ``ready <worker id>``
once registered."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from connectors import http
from connectors.registry import Registry
from engine.db import make_engine
from engine.execution_run import RuntimeLimits
from engine.execution_store import ExecutionStore
from engine.queue import ExecutionQueue
from engine.runtime import Runtime
from engine.worker import Worker
from engine.workflow_store import WorkflowStore
from tests.engine.runtime_helpers import PROBE


def loopback_services() -> Any:
    """What the http connector needs to reach a loopback test server."""
    from connectors.services import ConnectorServices
    from connectors.ssrf import HttpClients

    return ConnectorServices(http=HttpClients.allowing("127.0.0.1"))


def worker_registry() -> Registry:
    from connectors import core

    return Registry([core.CONNECTOR, PROBE, http.CONNECTOR])


async def main(db: str, capacity: int, heartbeat_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    store = ExecutionStore(make_engine(db if "://" in db else f"sqlite:///{db}"))
    queue = ExecutionQueue(store.engine)
    runtime = Runtime(store, worker_registry(), services=loopback_services(), limits=RuntimeLimits(),
                      workflows=WorkflowStore(store.engine), queue=queue)
    try:
        worker = Worker(runtime, queue, capacity=capacity, heartbeat_s=heartbeat_s)
        await asyncio.to_thread(queue.register, worker.id, capacity=capacity)
        print(f"ready {worker.id}", flush=True)
        await worker.run(stop)
    finally:
        await runtime.aclose()
        store.close()
        store.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
