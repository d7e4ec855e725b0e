"""A Temporal worker process for the kill-a-worker test: ``DB ADDRESS QUEUE_PREFIX HEARTBEAT_S``.

It serves the test's task queue with the interpreter and its activities over the shared SQLite
file, prints ``ready`` once it polls, and runs until it is killed (or SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from engine.db import make_engine
from engine.execution_store import ExecutionStore
from engine.temporal.runtime import TemporalOptions, TemporalRuntime, build_workers
from tests.engine.runtime_helpers import registry


async def main(db: Path, address: str, prefix: str, heartbeat_s: float) -> None:
    store = ExecutionStore(make_engine(f"sqlite:///{db}"))
    options = TemporalOptions(address=address, task_queue_prefix=prefix, per_workspace=False,
                              heartbeat_timeout_s=heartbeat_s)
    runtime = TemporalRuntime(store, registry(), options=options)
    activities = runtime.activities()
    activities.heartbeat_s = heartbeat_s / 4
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        for worker in build_workers(await runtime.client(), options, activities, ["default"]):
            await stack.enter_async_context(worker)
        print("ready", flush=True)
        await stop.wait()
    await runtime.aclose()
    store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])))
