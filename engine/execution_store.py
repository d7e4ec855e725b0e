"""The execution store (SQLModel): executions, step rows, logs, events and pending approvals.

Writes go through the group-commit writer (``engine.store_writer``): a caller that needs
durability (a node's output before its dependents start) awaits the write, which resolves only
after its commit; fire-and-forget writes (a "node started" row, an event) never overtake it.
Reads are plain synchronous queries (the runtime runs them in a thread).
"""

from __future__ import annotations

import builtins
import json
import logging
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Index, Text, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from engine.database_faults import DEFAULT_DB_RETRY_S
from engine.db import add_missing_columns
from engine.errors import NotFoundError
from engine.store_writer import GroupCommitWriter

if TYPE_CHECKING:
    from engine.execution_history import HistoryPage, HistoryQuery

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
    __table_args__ = (Index("ix_executions_ws_status", "workspace_id", "status"),
                      # insight reports: a workspace's runs in a time window, covering what reports
                      # aggregate (the rows themselves hold the definition snapshot: slow to step over)
                      Index("ix_executions_report", "workspace_id", "created_at", "dry_run", "workflow_id",
                            "workflow_name", "status", "failed_steps", "duration_ms", "workflow_version", "id"),
                      # a workflow's stats (engine.execution_stats): its runs in duration order, covering
                      # the window and the status
                      Index("ix_executions_stats", "workspace_id", "workflow_id", "duration_ms", "created_at",
                            "status", "dry_run", "failed_steps"),
                      # per-workflow concurrency limits (engine.execution_slots): a workflow's runs
                      # holding a slot, and those waiting for one in order
                      Index("ix_executions_slots", "workspace_id", "workflow_id", "status", "created_at", "id"))

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
    failed_steps: int = 0  # nodes whose failure was handled (error route, on_error: continue)
    owner: str | None = None  # host:pid of the process driving it (recovery skips live owners)
    created_at: datetime = Field(default_factory=now)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    deadline_at: datetime | None = None
    updated_at: datetime = Field(default_factory=now)
    # a sub-workflow's execution: the parent execution and the node (at its loop path) that ran it;
    # ``detached`` when the parent did not wait for it (fire and forget: it outlives a cancel)
    parent_execution_id: str | None = Field(default=None, index=True)
    parent_node_id: str | None = None
    parent_loop_path: str | None = None
    detached: bool = False
    # the workflow's max_concurrent_executions when it started (engine.execution_slots); None: no limit
    max_concurrent: int | None = None


class StepRow(SQLModel, table=True):
    """One attempt of one node (``loop_path`` ``each[2].inner[0]`` = item 0 of loop ``inner`` in item 2 of ``each``).

    ``final`` marks the row that settled the node (completed, skipped, or failed and handled by
    ``on_error``); recovery and retries reuse final rows and re-run everything else.
    """

    __tablename__ = "execution_steps"
    __table_args__ = (Index("ix_steps_execution", "execution_id", "seq"),
                      # insight reports aggregate per node without reading the rows (input/output)
                      Index("ix_steps_report", "execution_id", "node_id", "status", "attempt", "duration_ms",
                            "node_type"))

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
    child_execution_id: str | None = None  # the sub-workflow execution this attempt started or joined


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


class RollupMarkRow(SQLModel, table=True):
    """An execution whose figures changed (created, a new status, deleted) since the insight
    rollups last read it: the rollups recompute its hour. ``workspace_id`` and ``hour`` are set
    when the writer knows them (a deleted execution can no longer be looked up)."""

    __tablename__ = "rollup_marks"

    id: int | None = Field(default=None, primary_key=True)
    execution_id: str | None = None
    workspace_id: str | None = None
    hour: datetime | None = None


def hour_of(value: datetime) -> datetime:
    """The UTC clock hour a time falls in (a naive time is taken as UTC, as the tables store it)."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(minute=0, second=0, microsecond=0)


_MODELS = (ExecutionRow, StepRow, ExecutionLogRow, EventRow, ApprovalRow, RollupMarkRow)
TABLES = [t.__table__ for t in _MODELS]  # type: ignore[union-attr]
_EX = ExecutionRow.__table__  # type: ignore[attr-defined]
_STEP = StepRow.__table__  # type: ignore[attr-defined]
_LOG = ExecutionLogRow.__table__  # type: ignore[attr-defined]
_EVENT = EventRow.__table__  # type: ignore[attr-defined]
_APPROVAL = ApprovalRow.__table__  # type: ignore[attr-defined]
_MARK = RollupMarkRow.__table__  # type: ignore[attr-defined]

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
MARK_INSERT = insert(_MARK).values(execution_id=bindparam("execution_id"), workspace_id=bindparam("workspace_id"),
                                   hour=bindparam("hour"))
EXEC_SET = (
    update(_EX)
    .where(_EX.c.id == bindparam("_id"))
    .values(
        status=bindparam("status"), output=bindparam("output"), error=bindparam("error"),
        completed_at=bindparam("completed_at"), duration_ms=bindparam("duration_ms"),
        failed_steps=bindparam("failed_steps"), updated_at=bindparam("updated_at"),
    )
)
# Within a transaction the writer runs the fixed statements queued between two other writes
# grouped, in this order: an insert before any update of the same table, and each group in
# queue order. Events and logs depend on nothing.
FAST_ORDER = (EXEC_INSERT, STEP_INSERT, STEP_FINISH, EXEC_SET, EVENT_INSERT, LOG_INSERT, MARK_INSERT)
EXECUTION_COLUMNS = tuple(c.name for c in _EX.columns)
_EXECUTION_DEFAULTS = {"trigger": "manual", "status": "pending", "dry_run": False, "node_count": 0, "workflow_name": "",
                       "failed_steps": 0, "detached": False}


# --- the store ---------------------------------------------------------------------------------


class ExecutionStore:
    """Executions and everything they write. Writes are queued (see module doc); reads are sync."""

    def __init__(self, engine: Engine, *, retry_s: float = DEFAULT_DB_RETRY_S) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(engine, tables=TABLES)
        for table in (_EX, _STEP):  # a database made by an older release gains newer columns
            add_missing_columns(engine, table)
        for index in (*_EX.indexes, *_STEP.indexes):  # an older data dir gains a newer release's indexes
            index.create(engine, checkfirst=True)
        self.writer = GroupCommitWriter(engine, fast=FAST_ORDER, merge=(STEP_INSERT, STEP_FINISH),
                                        retry_s=retry_s)

    def close(self) -> None:
        self.writer.close()

    # -- writes --

    def write(self, stmt: Any, params: dict[str, Any] | None = None, *, durable: bool = False) -> Any:
        return self.writer.submit(stmt, params, durable=durable)

    def mark(self, execution_id: str, workspace_id: str | None = None, created_at: datetime | None = None) -> None:
        """Tell the insight rollups that this execution's figures changed (queued like any write,
        so it commits with or before the change that follows it)."""
        self.writer.submit(MARK_INSERT, {"execution_id": execution_id, "workspace_id": workspace_id,
                                         "hour": hour_of(created_at) if created_at is not None else None})

    def update_execution(self, execution_id: str, *, durable: bool = True, **fields: Any) -> Any:
        if "status" in fields:
            self.mark(execution_id)
        fields["updated_at"] = now()
        stmt = update(_EX).where(_EX.c.id == execution_id).values(**fields)
        return self.writer.submit(stmt, None, durable=durable)

    def update_execution_sync(self, execution_id: str, **fields: Any) -> None:
        if "status" in fields:
            self.mark(execution_id)
        fields["updated_at"] = now()
        self.writer.submit_sync(update(_EX).where(_EX.c.id == execution_id).values(**fields))

    def insert_execution(self, row: dict[str, Any]) -> Any:
        params = dict.fromkeys(EXECUTION_COLUMNS)
        params.update(_EXECUTION_DEFAULTS)
        params.update(row)
        inserted = self.writer.submit(EXEC_INSERT, params, durable=True)
        self.mark(str(params["id"]), params["workspace_id"], params.get("created_at") or now())
        return inserted

    def set_state(
        self, execution_id: str, status: str, *, output: str | None = None, error: str | None = None,
        completed_at: datetime | None = None, duration_ms: int | None = None, failed_steps: int = 0,
        durable: bool = True,
    ) -> Any:
        """Set the status (and the outcome fields, cleared unless given) of an execution."""
        self.mark(execution_id)
        return self.writer.submit(EXEC_SET, {
            "_id": execution_id, "status": status, "output": output, "error": error,
            "completed_at": completed_at, "duration_ms": duration_ms, "failed_steps": failed_steps,
            "updated_at": now(),
        }, durable=durable)

    async def flush(self) -> None:
        await self.writer.flush()

    def claim(self, execution_id: str, old_owner: str | None, new_owner: str) -> bool:
        """Take over an execution if its owner is still ``old_owner`` (compare-and-set, so that
        two processes recovering at once never both resume it). Synchronous: run it in a thread."""
        owner = _EX.c.owner
        condition = owner.is_(None) if old_owner is None else owner == old_owner
        with self.engine.begin() as conn:
            result = conn.execute(
                update(_EX).where(_EX.c.id == execution_id, condition).values(owner=new_owner, updated_at=now())
            )
            return bool(result.rowcount == 1)

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

    def page(self, query: HistoryQuery) -> HistoryPage:
        """A page of the history: filters, order and cursor (``engine.execution_history``)."""
        from engine.execution_history import page

        return page(self.engine, query)

    def stats(self, workspace_id: str, workflow_id: str, *, since: datetime | None = None,
              until: datetime | None = None) -> dict[str, Any]:
        """A workflow's run statistics (``engine.execution_stats``)."""
        from engine.execution_stats import workflow_stats

        return workflow_stats(self.engine, workspace_id, workflow_id, since=since, until=until)

    def children(self, execution_id: str) -> builtins.list[ExecutionRow]:
        """The sub-workflow executions a node of this execution started, oldest first."""
        query = select(_EX).where(_EX.c.parent_execution_id == execution_id).order_by(_EX.c.created_at, _EX.c.id)
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
        with self.engine.connect() as conn:
            row = conn.execute(select(_EX.c.workspace_id, _EX.c.created_at).where(_EX.c.id == execution_id)).first()
        if row is not None:  # its hour is recomputed without it (committed before the rows go)
            self.writer.submit_sync(MARK_INSERT, {"execution_id": execution_id, "workspace_id": row[0],
                                                  "hour": hour_of(row[1])})
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


def approvals_cancel(execution_id: str) -> Any:
    """Cancel every pending approval of an execution."""
    return (
        update(_APPROVAL)
        .where(_APPROVAL.c.execution_id == execution_id, _APPROVAL.c.status == "pending")
        .values(status="cancelled", decided_at=now())
    )


def waiting_step_decided(execution_id: str, node_id: str, loop_path: str, status: str) -> Any:
    """Mark a guardrail's waiting step row with the person's decision."""
    return (
        update(_STEP)
        .where(_STEP.c.execution_id == execution_id, _STEP.c.node_id == node_id,
               _STEP.c.loop_path == loop_path, _STEP.c.status == "waiting")
        .values(status=status)
    )
