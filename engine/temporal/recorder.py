"""Writing back what a Temporal activity did: step rows, logs and events of one execution.

On the Temporal backend the nodes of one execution run as activities on any worker, several at
once, in several processes; an execution has no single driver holding its event sequence in
memory as the local runtime does. A :class:`SharedRecorder` stands in for the execution store
inside one activity: the :class:`~engine.execution_run.ExecutionRun` the activity drives writes
through it exactly as it writes through the store, and it commits those writes in one
transaction that first locks the execution's row (``UPDATE executions``: SQLite's write lock,
a row lock on PostgreSQL) and then numbers the events and step rows after the highest already
stored. Sequence numbers therefore increase in commit order across processes, which is what a
listener resuming with ``Last-Event-ID`` relies on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from engine import events as ev
from engine.database_faults import is_transient
from engine.execution_store import (
    _EVENT,
    _EX,
    _STEP,
    EVENT_INSERT,
    EXEC_SET,
    MARK_INSERT,
    STEP_INSERT,
    ExecutionStore,
    hour_of,
    loads,
    now,
)

log = logging.getLogger(__name__)

COMMIT_RETRY_S = 30.0
COALESCE_S = 0.02  # how long a fire-and-forget write waits for company before it commits


class SharedRecorder:
    """An :class:`ExecutionStore` stand-in for one execution's writes from one activity.

    Writes queue in memory; a durable write (or :meth:`flush`) commits everything queued so far
    in one transaction, and the events it held are then published on ``bus``.

    Args:
        store: the real execution store (its engine; reads go to it unchanged).
        execution_id: the execution every queued write belongs to.
        bus: where committed events are published (the process's bus; SSE listeners here).
    """

    def __init__(self, store: ExecutionStore, execution_id: str, bus: ev.EventBus) -> None:
        self.store = store
        self.engine = store.engine
        self.execution_id = execution_id
        self.bus = bus
        self._pending: list[tuple[Any, dict[str, Any] | None]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._lock = asyncio.Lock()
        self._scheduled = False
        self._tasks: set[asyncio.Future[None]] = set()

    # -- the ExecutionStore surface ExecutionRun, NodeRunner and StepContext use --

    def write(self, stmt: Any, params: dict[str, Any] | None = None, *, durable: bool = False) -> Any:
        """Queue a write; the returned future resolves once it is committed. Every write is
        committed soon (``durable`` is the store's flag: here each write is awaitable alike)."""
        self._pending.append((stmt, None if params is None else dict(params)))
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        if durable:  # a durable writer awaits the future: commit now (with whatever is queued)
            self._scheduled = True
            loop.call_soon(self._flush_soon)
        elif not self._scheduled:  # committed soon anyway (listeners see "running" live); a fast
            self._scheduled = True  # node's end joins its start in one transaction
            loop.call_later(COALESCE_S, self._flush_soon)
        return waiter

    def _flush_soon(self) -> None:
        task = asyncio.ensure_future(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("execution %s: writing back failed: %s", self.execution_id, task.exception())

    def mark(self, execution_id: str, workspace_id: str | None = None, created_at: datetime | None = None) -> None:
        """Tell the insight rollups the execution's figures changed (as the store does)."""
        self._pending.append((MARK_INSERT, {"execution_id": execution_id, "workspace_id": workspace_id,
                                            "hour": hour_of(created_at) if created_at is not None else None}))

    def set_state(
        self, execution_id: str, status: str, *, output: str | None = None, error: str | None = None,
        completed_at: datetime | None = None, duration_ms: int | None = None, failed_steps: int = 0,
        durable: bool = True,
    ) -> Any:
        """Set the execution's status and outcome fields (see ``ExecutionStore.set_state``)."""
        self.mark(execution_id)
        return self.write(EXEC_SET, {
            "_id": execution_id, "status": status, "output": output, "error": error,
            "completed_at": completed_at, "duration_ms": duration_ms, "failed_steps": failed_steps,
            "updated_at": now(),
        }, durable=durable)

    def update_execution(self, execution_id: str, *, durable: bool = True, **fields: Any) -> Any:
        """Update columns of the execution row."""
        if "status" in fields:
            self.mark(execution_id)
        fields["updated_at"] = now()
        return self.write(update(_EX).where(_EX.c.id == execution_id).values(**fields), None, durable=durable)

    def steps(self, execution_id: str) -> Any:
        return self.store.steps(execution_id)

    def approvals(self, *args: Any, **kwargs: Any) -> Any:
        return self.store.approvals(*args, **kwargs)

    def get(self, execution_id: str, workspace_id: str | None = None) -> Any:
        return self.store.get(execution_id, workspace_id)

    async def flush(self) -> None:
        """Commit every queued write (one transaction), then publish its events."""
        async with self._lock:
            self._scheduled = False
            batch, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            if not batch:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                return
            try:
                events = await asyncio.to_thread(self._commit, batch)
            except BaseException as exc:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                        waiter.exception()  # retrieved: a fire-and-forget write's failure is logged by the caller
                raise
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            for event in events:
                self.bus.publish(event)

    # -- the commit --

    def _commit(self, batch: list[tuple[Any, dict[str, Any] | None]]) -> list[ev.Event]:
        deadline = time.monotonic() + COMMIT_RETRY_S
        delay = 0.02
        while True:
            try:
                return self._commit_once(batch)
            except Exception as exc:
                if not is_transient(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _commit_once(self, batch: list[tuple[Any, dict[str, Any] | None]]) -> list[ev.Event]:
        published: list[ev.Event] = []
        with self.engine.begin() as conn:
            # The lock first: every writer of this execution's sequences queues behind it.
            conn.execute(update(_EX).where(_EX.c.id == self.execution_id).values(updated_at=now()))
            seq = int(conn.execute(select(func.max(_EVENT.c.seq))
                                   .where(_EVENT.c.execution_id == self.execution_id)).scalar() or 0)
            step_seq = int(conn.execute(select(func.max(_STEP.c.seq))
                                        .where(_STEP.c.execution_id == self.execution_id)).scalar() or 0)
            for stmt, params in batch:
                if stmt is EVENT_INSERT and params is not None:
                    seq += 1
                    params = {**params, "seq": seq}
                    published.append(ev.Event(self.execution_id, seq, params["type"], params["created_at"],
                                              params["node_id"], loads(params["data"]) or {}))
                elif stmt is STEP_INSERT and params is not None:
                    step_seq += 1
                    params = {**params, "seq": step_seq}
                if params is None:
                    conn.execute(stmt)
                else:
                    conn.execute(stmt, params)
        return published

    async def aclose(self) -> None:
        """Commit what is still queued (errors are the caller's to report)."""
        with contextlib.suppress(asyncio.CancelledError):
            await self.flush()
