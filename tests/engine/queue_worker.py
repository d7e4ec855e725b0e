"""A worker process for the queue tests: ``DB CAPACITY HEARTBEAT_S`` drives queued executions on
the ``probe`` test registry plus ``http`` (loopback allowed) until SIGTERM — or SIGKILL, which is
the point of the tests. Prints ``ready <worker id>`` once registered."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from connectors import http
from connectors.registry import Registry
from engine.queue import ExecutionQueue
from engine.worker import Worker
from tests.engine.runtime_helpers import PROBE, runtime_at


def loopback_services() -> Any:
    """What the http connector needs to reach a loopback test server."""
    from connectors.services import ConnectorServices
    from connectors.ssrf import HttpClients

    return ConnectorServices(http=HttpClients.allowing("127.0.0.1"))


def worker_registry() -> Registry:
    from connectors import core

    return Registry([core.CONNECTOR, PROBE, http.CONNECTOR])


async def main(db: Path, capacity: int, heartbeat_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with runtime_at(db, registry=worker_registry(), services=loopback_services()) as probe:
        queue = ExecutionQueue(probe.store.engine)
        probe.queue = queue
        worker = Worker(probe, queue, capacity=capacity, heartbeat_s=heartbeat_s)
        await asyncio.to_thread(queue.register, worker.id, capacity=capacity)
        print(f"ready {worker.id}", flush=True)
        await worker.run(stop)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
