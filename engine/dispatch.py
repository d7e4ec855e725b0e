"""The runtime's side of the durable queue: how executions reach workers and requests reach them.

A :class:`Dispatch` belongs to one runtime. On a local runtime (``flowwright run``, a worker) it
records every execution the runtime drives as claimed by this process, so that a live worker
adopts it if the process dies. On a remote runtime (the API process under ``flowwright serve``)
it only enqueues: worker processes claim and drive the executions, and control calls (pause,
cancel, an approval decision) reach the driving worker through the queue row's ``control``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine.errors import ConflictError
from engine.execution_state import TERMINAL
from engine.execution_store import ExecutionRow, ExecutionStore
from engine.queue import ExecutionQueue

# How long a control call waits for the driving worker to act before it reports it unresponsive.
WORKER_ANSWER_S = 30.0


class Dispatch:
    """Queue operations of one runtime; see the module docstring.

    Args:
        store: the execution store (read to follow a worker's progress).
        queue: the durable queue, or ``None`` (no workers: the runtime drives everything itself).
        owner: this process's owner id (the worker id its claims carry).
        remote: only enqueue; never drive here.
    """

    def __init__(self, store: ExecutionStore, queue: ExecutionQueue | None, *, owner: str, remote: bool) -> None:
        self.store = store
        self.queue = queue
        self.owner = owner
        self.remote = remote and queue is not None

    @property
    def claim_owner(self) -> str | None:
        """The owner an execution started or relaunched here gets (``None`` when workers drive it)."""
        return None if self.remote else self.owner

    def enqueue_new(self, execution_id: str, workspace_id: str, *, workflow_id: str | None,
                    priority: int, max_concurrent: int | None = None) -> Any:
        """Queue a new execution through the store's group-commit writer (ordered after the
        execution's own insert); ``None`` without a queue."""
        if self.queue is None:
            return None
        statement = self.queue.statement_enqueue(execution_id, workspace_id, workflow_id=workflow_id,
                                                 priority=priority, worker_id=self.claim_owner,
                                                 max_concurrent=max_concurrent)
        return self.store.write(statement, None, durable=True)

    async def requeue(self, row: ExecutionRow, *, claimed: bool | None = None) -> None:
        """Put an existing execution (resumed, retried, recovered) back in the queue: claimed by
        this process on a local runtime (or with ``claimed=True``), queued for a worker on a
        remote one."""
        if self.queue is None:
            return
        owner = self.owner if claimed else self.claim_owner
        await asyncio.to_thread(self.queue.enqueue, row.id, row.workspace_id, workflow_id=row.workflow_id,
                                worker_id=owner, max_concurrent=row.max_concurrent)

    async def await_stopped(self, execution_id: str) -> str:
        """Poll the store until a worker has stopped driving the execution (ended, paused or
        waiting) and return its status; the poll slows from 10 ms to 250 ms."""
        delay = 0.01
        while True:
            status = (await asyncio.to_thread(self.store.get, execution_id)).status
            if status in TERMINAL or status in ("paused", "waiting"):
                return status
            await asyncio.sleep(delay)
            delay = min(0.25, delay * 1.5)

    async def ask_worker(self, execution_id: str, control: str) -> bool:
        """Pass ``pause``/``cancel`` to the worker driving the execution and wait until it has
        acted; ``False`` when no other worker drives it (the caller acts on the store itself)."""
        if self.queue is None:
            return False
        if await asyncio.to_thread(self.queue.take_queued, execution_id):
            return False  # nobody had claimed it: it is now out of the queue
        worker = await asyncio.to_thread(self.queue.request, execution_id, control)
        if worker is None or worker == self.owner:
            return False
        target = "cancelled" if control == "cancel" else "paused"
        delay, waited = 0.01, 0.0
        while waited < WORKER_ANSWER_S:
            status = (await asyncio.to_thread(self.store.get, execution_id)).status
            if status == target or status in TERMINAL:
                return True
            await asyncio.sleep(delay)
            waited += delay
            delay = min(0.25, delay * 1.5)
        raise ConflictError(f"the worker driving execution {execution_id} did not {control} it within 30 s",
                            code="worker_unresponsive", execution_id=execution_id)

    async def tell_decided(self, execution_id: str) -> bool:
        """Tell the worker driving the execution that an approval was decided; ``True`` when
        another worker drives it (it reloads the decisions before it parks)."""
        if self.queue is None:
            return False
        worker = await asyncio.to_thread(self.queue.request, execution_id, "decide")
        return worker is not None and worker != self.owner
