"""The dead-letter queue: executions that failed for reasons a person should look at.

An execution lands here, with its reason, when

- ``retries_exhausted``: a node failed with a retryable error on its last allowed attempt (a
  downstream service that stayed down), and the execution failed for it;
- ``poison``: the workers driving it died more than ``max_adoptions`` times (the execution
  itself probably kills them: a huge output, a crashing library). The queue stops handing it
  out; it is failed with ``worker_lost`` and its ``running`` step rows become ``interrupted``.

A dead letter can be listed, inspected, replayed (a new execution of the same workflow snapshot,
with the original or an edited input; the entry records the replay) and purged. Every read and
write is scoped to a workspace.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Index, Text, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from engine.errors import NotFoundError
from engine.execution_store import EventRow, ExecutionRow, StepRow, dumps, loads, now

if TYPE_CHECKING:
    from engine.runtime import Runtime

RETRIES_EXHAUSTED = "retries_exhausted"
POISON = "poison"
CIRCUIT_OPEN = "circuit_open"
REASONS = (RETRIES_EXHAUSTED, POISON, CIRCUIT_OPEN)


class DeadLetterRow(SQLModel, table=True):
    """One dead-lettered execution (at most one entry per execution: the latest failure)."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_ws", "workspace_id", "created_at"),)

    execution_id: str = Field(primary_key=True)
    workspace_id: str
    workflow_id: str | None = None
    workflow_name: str = ""
    reason: str
    node_id: str | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=now)
    replayed_as: str | None = None
    replayed_at: datetime | None = None


_DL = DeadLetterRow.__table__  # type: ignore[attr-defined]
_EX = ExecutionRow.__table__  # type: ignore[attr-defined]
_STEP = StepRow.__table__  # type: ignore[attr-defined]
_EVENT = EventRow.__table__  # type: ignore[attr-defined]


def entry_statements(execution_id: str, workspace_id: str, workflow_id: str | None, workflow_name: str,
                     reason: str, error: dict[str, Any] | None) -> builtins.list[Any]:
    """The writes that (re)place an execution's dead letter, for the store's group-commit writer."""
    node_id = error.get("node_id") if isinstance(error, dict) else None
    return [
        delete(_DL).where(_DL.c.execution_id == execution_id),
        insert(_DL).values(execution_id=execution_id, workspace_id=workspace_id, workflow_id=workflow_id,
                           workflow_name=workflow_name, reason=reason, node_id=node_id,
                           error=dumps(error) if error is not None else None, created_at=now()),
    ]


def create_table(engine: Engine) -> None:
    """Create the dead-letter table if it is missing."""
    SQLModel.metadata.create_all(engine, tables=[_DL])


def bury_poison(conn: Connection, execution_id: str, adoptions: int) -> None:
    """Inside the caller's transaction: fail an execution whose workers kept dying, mark its
    in-flight attempts ``interrupted``, end its event stream and dead-letter it."""
    row = conn.execute(select(_EX).where(_EX.c.id == execution_id)).mappings().first()
    if row is None:
        return
    at = now()
    error = {"code": "worker_lost", "message": f"the worker driving this execution died {adoptions} times; "
             "it was not handed to another (see `flowwright dlq show`)", "adoptions": adoptions}
    conn.execute(update(_STEP).where(_STEP.c.execution_id == execution_id, _STEP.c.status == "running")
                 .values(status="interrupted", completed_at=at))
    conn.execute(update(_EX).where(_EX.c.id == execution_id)
                 .values(status="failed", error=dumps(error), completed_at=at, updated_at=at))
    seq = conn.execute(select(func.coalesce(func.max(_EVENT.c.seq), 0))
                       .where(_EVENT.c.execution_id == execution_id)).scalar_one()
    conn.execute(insert(_EVENT).values(execution_id=execution_id, seq=int(seq) + 1, type="execution.failed",
                                       node_id=None, data=dumps({"error": error}), created_at=at))
    conn.execute(delete(_DL).where(_DL.c.execution_id == execution_id))
    conn.execute(insert(_DL).values(execution_id=execution_id, workspace_id=row["workspace_id"],
                                    workflow_id=row["workflow_id"], workflow_name=row["workflow_name"],
                                    reason=POISON, node_id=None, error=dumps(error), created_at=at))


def letter_dict(row: DeadLetterRow) -> dict[str, Any]:
    """The JSON form of a dead letter (API and ``flowwright dlq ... --json``)."""
    from engine.execution_store import aware

    return {
        "execution_id": row.execution_id, "workflow_id": row.workflow_id, "workflow_name": row.workflow_name,
        "reason": row.reason, "node_id": row.node_id, "error": loads(row.error),
        "created_at": aware(row.created_at).isoformat(),  # type: ignore[union-attr]
        "replayed_as": row.replayed_as,
        "replayed_at": aware(row.replayed_at).isoformat() if row.replayed_at else None,  # type: ignore[union-attr]
    }


class DeadLetters:
    """Reads and maintenance of the dead-letter table (synchronous: run it in a thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_table(engine)

    def list(self, workspace_id: str, *, include_replayed: bool = False, limit: int = 100) -> builtins.list[DeadLetterRow]:
        """The workspace's dead letters, newest first (by default only those not replayed yet)."""
        query = select(_DL).where(_DL.c.workspace_id == workspace_id)
        if not include_replayed:
            query = query.where(_DL.c.replayed_as.is_(None))
        query = query.order_by(_DL.c.created_at.desc(), _DL.c.execution_id).limit(limit)
        with self.engine.connect() as conn:
            return [DeadLetterRow(**r) for r in conn.execute(query).mappings()]

    def get(self, workspace_id: str, execution_id: str) -> DeadLetterRow:
        """One dead letter of the workspace; ``NotFoundError`` when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_DL).where(_DL.c.workspace_id == workspace_id,
                                                 _DL.c.execution_id == execution_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no dead letter for execution {execution_id}", execution_id=execution_id)
        return DeadLetterRow(**row)

    def mark_replayed(self, workspace_id: str, execution_id: str, new_execution_id: str) -> None:
        """Record that the dead letter was replayed as ``new_execution_id``."""
        with self.engine.begin() as conn:
            conn.execute(update(_DL).where(_DL.c.workspace_id == workspace_id, _DL.c.execution_id == execution_id)
                         .values(replayed_as=new_execution_id, replayed_at=now()))

    def purge(self, workspace_id: str, execution_id: str | None = None) -> int:
        """Delete one dead letter (or, without ``execution_id``, every one of the workspace);
        returns how many went. The executions themselves stay in the history."""
        query = delete(_DL).where(_DL.c.workspace_id == workspace_id)
        if execution_id is not None:
            query = query.where(_DL.c.execution_id == execution_id)
        with self.engine.begin() as conn:
            result = conn.execute(query)
        count = int(getattr(result, "rowcount", 0) or 0)
        if execution_id is not None and count == 0:
            raise NotFoundError(f"no dead letter for execution {execution_id}", execution_id=execution_id)
        return count


KEEP_INPUT: Any = object()  # replay with the dead execution's own input


async def replay(runtime: Runtime, letters: DeadLetters, workspace_id: str, execution_id: str, *,
                 input: Any = KEEP_INPUT) -> str:
    """Start a new execution of a dead letter's workflow snapshot (with its input, or ``input``)
    and record it on the entry; returns the new execution's id."""
    import asyncio

    await asyncio.to_thread(letters.get, workspace_id, execution_id)  # NotFoundError: no such letter
    row = await asyncio.to_thread(runtime.store.get, execution_id, workspace_id)
    new_input = loads(row.input) if input is KEEP_INPUT else input
    new_id = await runtime.start(loads(row.definition), new_input, workspace_id=workspace_id, user_id=row.user_id,
                                 workflow_id=row.workflow_id, workflow_version=row.workflow_version,
                                 trigger="replay")
    await asyncio.to_thread(letters.mark_replayed, workspace_id, execution_id, new_id)
    return new_id
