"""The group-commit writer: one thread owns the write connection, takes whatever is queued and
commits it in one transaction. A durable write's future resolves only after its commit; writes
queued before it are committed in the same or an earlier transaction, so fire-and-forget writes
never overtake a durable one.

A transient database fault (a locked SQLite file, a Postgres restart, an exhausted pool) does not
fail the batch: the writer waits and commits it again, with backoff, for up to ``retry_s``
seconds (writes queued meanwhile wait behind it, in order). Only after that do the batch's
durable writes fail, with :class:`engine.database_faults.DatabaseBusyError` (no SQL in it).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from engine.database_faults import DEFAULT_DB_RETRY_S, busy_error, describe, is_transient

log = logging.getLogger(__name__)


class _DriverStatement:
    """A fixed statement compiled once for the dialect and run with ``exec_driver_sql``: the hot
    writes (steps, events, logs) skip SQLAlchemy's per-execution work, which matters because the
    writer thread shares the GIL with the event loop."""

    def __init__(self, stmt: Any, dialect: Any, datetime_keys: frozenset[str]) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.keys: list[str] | None = list(compiled.positiontup) if compiled.positional else None
        self.sqlite = dialect.name == "sqlite"
        self.datetime_keys = datetime_keys

    def convert(self, params: dict[str, Any]) -> Any:
        values = dict(params)
        for key in self.datetime_keys:
            value = values.get(key)
            if value is not None:
                values[key] = self._datetime(value)
        if self.keys is None:
            return values
        return tuple([values[k] for k in self.keys])

    def _datetime(self, value: datetime) -> Any:
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if self.sqlite:  # the text form SQLAlchemy's SQLite DateTime reads back
            return value.isoformat(" ", "microseconds")
        return value


@dataclass(slots=True)
class _Write:
    stmt: Any
    params: dict[str, Any] | None
    waiter: asyncio.Future[None] | Future[None] | None


BARRIER = object()


def _datetime_keys(stmt: Any) -> frozenset[str]:
    from sqlalchemy import DateTime

    table = stmt.table
    return frozenset(c.name for c in table.columns if isinstance(c.type, DateTime))


class GroupCommitWriter:
    """A thread that commits queued writes in batches; durable writes resolve after their commit."""

    def __init__(
        self, engine: Engine, *, max_batch: int = 2000, fast: tuple[Any, ...] = (),
        merge: tuple[Any, Any] | None = None, retry_s: float = DEFAULT_DB_RETRY_S,
    ) -> None:
        self.engine = engine
        self.retry_s = retry_s
        self.retries = 0  # commits tried again after a transient fault (for tests and metrics)
        self.max_batch = max_batch
        self._fast = {id(stmt): _DriverStatement(stmt, engine.dialect, _datetime_keys(stmt)) for stmt in fast}
        self._order = [id(stmt) for stmt in fast]
        # (insert, update-by-"_id"): an update of a row inserted in the same batch is folded into it
        self._merge_insert: Any = merge[0] if merge is not None else None
        self._merge_update: Any = merge[1] if merge is not None else None
        self._queue: queue.SimpleQueue[list[_Write] | None] = queue.SimpleQueue()
        self._pending: dict[asyncio.AbstractEventLoop, list[_Write]] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="flowwright-store-writer", daemon=True)
        self._thread.start()

    def submit(self, stmt: Any, params: dict[str, Any] | None = None, *, durable: bool = False) -> Any:
        """Queue a write. With ``durable`` return an awaitable resolved once it is committed.

        Writes made during one turn of the event loop are handed to the writer thread together
        at the end of the turn: one wake-up of the thread per turn rather than per write.
        """
        if self._closed:
            raise RuntimeError("the execution store is closed")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        waiter: asyncio.Future[None] | None = None
        if durable:
            if loop is None:
                raise RuntimeError("a durable write from synchronous code: use submit_sync")
            waiter = loop.create_future()
        item = _Write(stmt, params, waiter)
        if loop is None:
            self._queue.put([item])
            return None
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._hand_off, loop)
        pending.append(item)
        return waiter

    def _hand_off(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._pending.pop(loop, None)
        if pending:
            self._queue.put(pending)

    def submit_sync(self, stmt: Any, params: dict[str, Any] | None = None) -> None:
        """Queue a write and block until it is committed (for synchronous callers)."""
        fut: Future[None] = Future()
        self._queue.put([_Write(stmt, params, fut)])
        fut.result()

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        waiter = self.submit(BARRIER, None, durable=True)
        await waiter

    def flush_sync(self) -> None:
        fut: Future[None] = Future()
        self._queue.put([_Write(BARRIER, None, fut)])
        fut.result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for pending in self._pending.values():  # writes not yet handed to the thread
            self._queue.put(pending)
        self._pending.clear()
        self._queue.put(None)
        self._thread.join(timeout=30)

    # -- thread side --

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = list(first)
            while len(batch) < self.max_batch:
                try:
                    items = self._queue.get_nowait()
                except queue.Empty:
                    break
                if items is None:
                    stop = True
                    break
                batch.extend(items)
            self._commit(batch)

    def _commit(self, batch: list[_Write]) -> None:
        error: BaseException | None = None
        try:
            self._commit_retrying(batch)
        except Exception as exc:  # one bad write must not sink the others: replay one by one
            if is_transient(exc):  # the database stayed unavailable for the whole retry budget
                error = busy_error(exc)
                log.error("execution store writes failed: %s for %.0f s", describe(exc), self.retry_s)
            elif len(batch) == 1:
                error = exc
                log.exception("execution store write failed")
            else:
                for item in batch:
                    self._commit([item])
                return
        self._resolve(batch, error)

    def _commit_retrying(self, batch: list[_Write]) -> None:
        deadline: float | None = None
        delay = 0.05
        while True:
            try:
                with self.engine.begin() as conn:
                    self._execute(conn, batch)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                at = time.monotonic()
                if deadline is None:
                    deadline = at + self.retry_s
                    log.warning("execution store: %s; writes wait and retry (up to %.0f s)", describe(exc),
                                self.retry_s)
                if at >= deadline:
                    raise
                self.retries += 1
                time.sleep(min(delay, deadline - at))
                delay = min(delay * 2, 2.0)
                continue
            if deadline is not None:
                log.warning("execution store: writes resumed")
            return

    def _execute(self, conn: Any, batch: list[_Write]) -> None:
        groups: dict[int, list[dict[str, Any]]] = {}
        inserted: dict[str, dict[str, Any]] = {}  # step rows inserted by the pending group
        for item in batch:
            if item.stmt is BARRIER:
                continue
            params = item.params
            if item.stmt is self._merge_insert and params is not None:
                inserted[params["id"]] = params
            elif item.stmt is self._merge_update and params is not None:
                row = inserted.get(params["_id"])
                if row is not None:  # started and finished within one batch: one insert, no update
                    row.update({k: v for k, v in params.items() if k != "_id"})
                    continue
            if item.params is not None and id(item.stmt) in self._fast:
                groups.setdefault(id(item.stmt), []).append(item.params)
                continue
            inserted.clear()
            self._flush_groups(conn, groups)
            if item.params is None:
                conn.execute(item.stmt)
            else:
                conn.execute(item.stmt, item.params)
        self._flush_groups(conn, groups)

    def _flush_groups(self, conn: Any, groups: dict[int, list[dict[str, Any]]]) -> None:
        if not groups:
            return
        for key in self._order:
            params = groups.get(key)
            if params:
                fast = self._fast[key]
                conn.exec_driver_sql(fast.sql, [fast.convert(p) for p in params])
        groups.clear()
        # (``inserted`` is cleared by the caller: a row flushed here must be updated, not merged)

    @staticmethod
    def _resolve(batch: list[_Write], error: BaseException | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for item in batch:
            waiter = item.waiter
            if waiter is None:
                continue
            if isinstance(waiter, Future):
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
            else:
                by_loop.setdefault(waiter.get_loop(), []).append(waiter)
        for loop, waiters in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, waiters, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass


def _settle_all(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
