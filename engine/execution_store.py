"""The execution store (SQLModel): executions, step rows, logs, events and pending approvals.

Writes go through a :class:`GroupCommitWriter`: one thread owns the write connection, drains
whatever is queued and commits it in one transaction. A caller that needs durability (a node's
output before its dependents start) awaits the write's future, which resolves only after the
commit; everything queued before it is committed in the same or an earlier transaction, so
fire-and-forget writes (a "node started" row, an event) never overtake a durable one.
Reads are plain synchronous queries (the runtime runs them in a thread).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import queue
import random
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, Text, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from engine.errors import NotFoundError

log = logging.getLogger(__name__)
_random = random.Random()


def now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    # random (seeded from os.urandom) rather than uuid4: no syscall, which on a busy process
    # means no GIL hand-off to the writer thread on every id. Ids need uniqueness, not secrecy.
    return f"{prefix}_{_random.getrandbits(80):020x}"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every one we store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# --- tables ------------------------------------------------------------------------------------


class ExecutionRow(SQLModel, table=True):
    """One run of a workflow version. ``definition`` is the workflow as it ran (a snapshot)."""

    __tablename__ = "executions"
    __table_args__ = (Index("ix_executions_ws_status", "workspace_id", "status"),)

    id: str = Field(primary_key=True)
    workspace_id: str = Field(index=True)
    user_id: str | None = None
    workflow_id: str | None = Field(default=None, index=True)
    workflow_version: int | None = None
    workflow_name: str = ""
    definition: str = Field(sa_column=Column(Text, nullable=False))
    trigger: str = "manual"
    status: str = "pending"
    input: str | None = Field(default=None, sa_column=Column(Text))
    output: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    dry_run: bool = False
    node_count: int = 0
    owner: str | None = None  # host:pid of the process driving it (recovery skips live owners)
    created_at: datetime = Field(default_factory=now)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    deadline_at: datetime | None = None
    updated_at: datetime = Field(default_factory=now)


class StepRow(SQLModel, table=True):
    """One attempt of one node (``loop_path`` ``"2.0"`` = item 2 of the outer loop, item 0 inner).

    ``final`` marks the row that settled the node (completed, skipped, or failed and handled by
    ``on_error``); recovery and retries reuse final rows and re-run everything else.
    """

    __tablename__ = "execution_steps"
    __table_args__ = (Index("ix_steps_execution", "execution_id", "seq"),)

    id: str = Field(primary_key=True)
    execution_id: str
    seq: int = 0  # insertion order within the execution
    node_id: str
    node_type: str = "action"
    loop_path: str = ""
    attempt: int = 1
    status: str = "running"
    input: str | None = Field(default=None, sa_column=Column(Text))
    output: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    branch: str | None = None
    final: bool = False
    resume_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None


class ExecutionLogRow(SQLModel, table=True):
    __tablename__ = "execution_logs"
    __table_args__ = (Index("ix_logs_execution", "execution_id"),)

    id: int | None = Field(default=None, primary_key=True)
    execution_id: str
    node_id: str | None = None
    loop_path: str = ""
    level: str = "info"
    message: str = Field(sa_column=Column(Text, nullable=False))
    meta: str | None = Field(default=None, sa_column=Column("metadata", Text))
    created_at: datetime = Field(default_factory=now)


class EventRow(SQLModel, table=True):
    """An event of an execution's stream; ``seq`` increases by one per event, per execution."""

    __tablename__ = "execution_events"

    execution_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    type: str
    node_id: str | None = None
    data: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=now)


class ApprovalRow(SQLModel, table=True):
    """A guardrail waiting for a person: ``pending`` until approved or rejected."""

    __tablename__ = "execution_approvals"
    __table_args__ = (Index("ix_approvals_execution", "execution_id", "node_id"),)

    id: str = Field(primary_key=True)
    execution_id: str
    workspace_id: str = Field(index=True)
    node_id: str
    loop_path: str = ""
    status: str = "pending"  # pending | approved | rejected
    reason: str = Field(sa_column=Column(Text, nullable=False))
    details: str | None = Field(default=None, sa_column=Column(Text))
    requested_at: datetime = Field(default_factory=now)
    decided_at: datetime | None = None
    decided_by: str | None = None


TABLES = [t.__table__ for t in (ExecutionRow, StepRow, ExecutionLogRow, EventRow, ApprovalRow)]  # type: ignore[union-attr]
_EX = ExecutionRow.__table__  # type: ignore[attr-defined]
_STEP = StepRow.__table__  # type: ignore[attr-defined]
_LOG = ExecutionLogRow.__table__  # type: ignore[attr-defined]
_EVENT = EventRow.__table__  # type: ignore[attr-defined]
_APPROVAL = ApprovalRow.__table__  # type: ignore[attr-defined]

# Fixed statements, so that queued writes of the same kind go out as one executemany.
STEP_INSERT = insert(_STEP)
STEP_FINISH = (
    update(_STEP)
    .where(_STEP.c.id == bindparam("_id"))
    .values(
        status=bindparam("status"), output=bindparam("output"), error=bindparam("error"),
        branch=bindparam("branch"), final=bindparam("final"),
        resume_at=func.coalesce(bindparam("resume_at"), _STEP.c.resume_at),  # a finished sleep keeps it
        completed_at=bindparam("completed_at"), duration_ms=bindparam("duration_ms"),
    )
)
LOG_INSERT = insert(_LOG).values({c.name: bindparam(c.name) for c in _LOG.columns if c.name != "id"})
EVENT_INSERT = insert(_EVENT)
EXEC_INSERT = insert(_EX)
EXEC_SET = (
    update(_EX)
    .where(_EX.c.id == bindparam("_id"))
    .values(
        status=bindparam("status"), output=bindparam("output"), error=bindparam("error"),
        completed_at=bindparam("completed_at"), duration_ms=bindparam("duration_ms"),
        updated_at=bindparam("updated_at"),
    )
)
# Within a transaction the writer runs the fixed statements queued between two other writes
# grouped, in this order: an insert before any update of the same table, and each group in
# queue order. Events and logs depend on nothing.
FAST_ORDER = (EXEC_INSERT, STEP_INSERT, STEP_FINISH, EXEC_SET, EVENT_INSERT, LOG_INSERT)
EXECUTION_COLUMNS = tuple(c.name for c in _EX.columns)
_EXECUTION_DEFAULTS = {"trigger": "manual", "status": "pending", "dry_run": False, "node_count": 0, "workflow_name": ""}


# --- the group-commit writer -----------------------------------------------------------------


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


_BARRIER = object()


def _datetime_keys(stmt: Any) -> frozenset[str]:
    from sqlalchemy import DateTime

    table = stmt.table
    return frozenset(c.name for c in table.columns if isinstance(c.type, DateTime))


class GroupCommitWriter:
    """A thread that commits queued writes in batches; durable writes resolve after their commit."""

    def __init__(self, engine: Engine, *, max_batch: int = 2000, fast: tuple[Any, ...] = ()) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._fast = {id(stmt): _DriverStatement(stmt, engine.dialect, _datetime_keys(stmt)) for stmt in fast}
        self._order = [id(stmt) for stmt in fast]
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
        waiter = self.submit(_BARRIER, None, durable=True)
        await waiter

    def flush_sync(self) -> None:
        fut: Future[None] = Future()
        self._queue.put([_Write(_BARRIER, None, fut)])
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
            with self.engine.begin() as conn:
                self._execute(conn, batch)
        except Exception as exc:  # one bad write must not sink the others: replay one by one
            if len(batch) == 1:
                error = exc
                log.exception("execution store write failed")
            else:
                for item in batch:
                    self._commit([item])
                return
        self._resolve(batch, error)

    def _execute(self, conn: Any, batch: list[_Write]) -> None:
        groups: dict[int, list[dict[str, Any]]] = {}
        inserted: dict[str, dict[str, Any]] = {}  # step rows inserted by the pending group
        for item in batch:
            if item.stmt is _BARRIER:
                continue
            params = item.params
            if item.stmt is STEP_INSERT and params is not None:
                inserted[params["id"]] = params
            elif item.stmt is STEP_FINISH and params is not None:
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


# --- the store ---------------------------------------------------------------------------------


class ExecutionStore:
    """Executions and everything they write. Writes are queued (see module doc); reads are sync."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(engine, tables=TABLES)
        self.writer = GroupCommitWriter(engine, fast=FAST_ORDER)

    def close(self) -> None:
        self.writer.close()

    # -- writes --

    def write(self, stmt: Any, params: dict[str, Any] | None = None, *, durable: bool = False) -> Any:
        return self.writer.submit(stmt, params, durable=durable)

    def update_execution(self, execution_id: str, *, durable: bool = True, **fields: Any) -> Any:
        fields["updated_at"] = now()
        stmt = update(_EX).where(_EX.c.id == execution_id).values(**fields)
        return self.writer.submit(stmt, None, durable=durable)

    def update_execution_sync(self, execution_id: str, **fields: Any) -> None:
        fields["updated_at"] = now()
        self.writer.submit_sync(update(_EX).where(_EX.c.id == execution_id).values(**fields))

    def insert_execution(self, row: dict[str, Any]) -> Any:
        params = dict.fromkeys(EXECUTION_COLUMNS)
        params.update(_EXECUTION_DEFAULTS)
        params.update(row)
        return self.writer.submit(EXEC_INSERT, params, durable=True)

    def set_state(
        self, execution_id: str, status: str, *, output: str | None = None, error: str | None = None,
        completed_at: datetime | None = None, duration_ms: int | None = None, durable: bool = True,
    ) -> Any:
        """Set the status (and the outcome fields, cleared unless given) of an execution."""
        return self.writer.submit(EXEC_SET, {
            "_id": execution_id, "status": status, "output": output, "error": error,
            "completed_at": completed_at, "duration_ms": duration_ms, "updated_at": now(),
        }, durable=durable)

    async def flush(self) -> None:
        await self.writer.flush()

    def flush_sync(self) -> None:
        self.writer.flush_sync()

    def execute_sync(self, stmt: Any) -> None:
        self.writer.submit_sync(stmt)

    # -- reads --

    def get(self, execution_id: str, workspace_id: str | None = None) -> ExecutionRow:
        with self.engine.connect() as conn:
            row = conn.execute(select(_EX).where(_EX.c.id == execution_id)).mappings().first()
        if row is None or (workspace_id is not None and row["workspace_id"] != workspace_id):
            raise NotFoundError(f"execution {execution_id} not found", execution_id=execution_id)
        return ExecutionRow(**row)

    def list(
        self, workspace_id: str | None = None, *, status: str | Sequence[str] | None = None,
        workflow_id: str | None = None, limit: int = 50, offset: int = 0,
    ) -> builtins.list[ExecutionRow]:
        query = select(_EX)
        if workspace_id is not None:
            query = query.where(_EX.c.workspace_id == workspace_id)
        if isinstance(status, str):
            query = query.where(_EX.c.status == status)
        elif status is not None:
            query = query.where(_EX.c.status.in_(list(status)))
        if workflow_id is not None:
            query = query.where(_EX.c.workflow_id == workflow_id)
        query = query.order_by(_EX.c.created_at.desc(), _EX.c.id).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [ExecutionRow(**r) for r in conn.execute(query).mappings()]

    def steps(self, execution_id: str) -> builtins.list[StepRow]:
        query = select(_STEP).where(_STEP.c.execution_id == execution_id).order_by(_STEP.c.seq)
        with self.engine.connect() as conn:
            return [StepRow(**r) for r in conn.execute(query).mappings()]

    def logs(self, execution_id: str) -> builtins.list[ExecutionLogRow]:
        query = select(_LOG).where(_LOG.c.execution_id == execution_id).order_by(_LOG.c.id)
        with self.engine.connect() as conn:
            return [
                ExecutionLogRow(**{k: v for k, v in r.items() if k != "metadata"}, meta=r["metadata"])
                for r in conn.execute(query).mappings()
            ]

    def events(self, execution_id: str, after_seq: int = 0, limit: int | None = None) -> builtins.list[EventRow]:
        query = (
            select(_EVENT)
            .where(_EVENT.c.execution_id == execution_id, _EVENT.c.seq > after_seq)
            .order_by(_EVENT.c.seq)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [EventRow(**r) for r in conn.execute(query).mappings()]

    def max_seq(self, execution_id: str) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.max(_EVENT.c.seq)).where(_EVENT.c.execution_id == execution_id)
            ).scalar()
        return int(value or 0)

    def approvals(
        self, workspace_id: str | None = None, *, execution_id: str | None = None, status: str | None = "pending"
    ) -> builtins.list[ApprovalRow]:
        query = select(_APPROVAL)
        if workspace_id is not None:
            query = query.where(_APPROVAL.c.workspace_id == workspace_id)
        if execution_id is not None:
            query = query.where(_APPROVAL.c.execution_id == execution_id)
        if status is not None:
            query = query.where(_APPROVAL.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(_APPROVAL.c.requested_at)).mappings()
            return [ApprovalRow(**r) for r in rows]

    def delete_execution(self, execution_id: str) -> None:
        """Remove an execution and everything it wrote (retention)."""
        for table in (_STEP, _LOG, _EVENT, _APPROVAL):
            self.writer.submit_sync(delete(table).where(table.c.execution_id == execution_id))
        self.writer.submit_sync(delete(_EX).where(_EX.c.id == execution_id))


def approval_insert(row: dict[str, Any]) -> Any:
    return insert(_APPROVAL).values(**row)


def approval_decide(approval_id: str, status: str, by: str | None) -> Any:
    return (
        update(_APPROVAL)
        .where(_APPROVAL.c.id == approval_id, _APPROVAL.c.status == "pending")
        .values(status=status, decided_by=by, decided_at=now())
    )


def step_update(step_id: str, **fields: Any) -> Any:
    return update(_STEP).where(_STEP.c.id == step_id).values(**fields)


def steps_update_where(execution_id: str, statuses: Sequence[str], **fields: Any) -> Any:
    return (
        update(_STEP)
        .where(_STEP.c.execution_id == execution_id, _STEP.c.status.in_(list(statuses)))
        .values(**fields)
    )
