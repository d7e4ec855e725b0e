"""Per-workflow concurrency limits: at most ``max_concurrent_executions`` executions of one saved
workflow hold a slot at once; the others wait, ``pending``, in the order they were started.

An execution takes its slot when it leaves ``pending`` (admission) and keeps it until it ends —
while it sleeps in a delay, waits for an approval or is paused too, so a limit of 1 means the runs
of a workflow never overlap. Admission is one compare-and-set on the execution's row: it becomes
``running`` only if fewer than ``limit`` other executions of the workflow hold a slot and no older
one is still waiting (first come, first served). On SQLite that statement runs under the single
write lock; on Postgres a transaction-scoped advisory lock per workflow serialises the
admissions of one workflow (two concurrent statements would each see the other's row as pending).

The queue asks :func:`claimable` which queued executions of limited workflows can be admitted,
and leaves the others in the queue instead of handing them to a worker that would only wait too.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, and_, func, select, text, update
from sqlalchemy.engine import Engine

from engine.execution_store import ExecutionRow, now

HOLDING = ("running", "paused", "waiting")  # started and not ended: the execution holds its slot
_EX = ExecutionRow.__table__  # type: ignore[attr-defined]


def _lock(conn: Connection, workspace_id: str, workflow_id: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                     {"key": f"flowwright.slots:{workspace_id}:{workflow_id}"})


def _others_ahead(execution_id: str, workspace_id: str, workflow_id: str, created_at: Any) -> Any:
    """Executions of the workflow that hold a slot, plus those waiting longer than this one."""
    alias = _EX.alias("other")
    same = and_(alias.c.workspace_id == workspace_id, alias.c.workflow_id == workflow_id, alias.c.id != execution_id)
    older = and_(alias.c.status == "pending",
                 (alias.c.created_at < created_at) | and_(alias.c.created_at == created_at, alias.c.id < execution_id))
    return select(func.count()).select_from(alias).where(same, alias.c.status.in_(HOLDING) | older).scalar_subquery()


def admit(engine: Engine, execution_id: str) -> bool:
    """Move a ``pending`` execution of a limited workflow to ``running`` if a slot is free and it
    is first in line; ``True`` when it may run now (also when it has no limit or already left
    ``pending``), ``False`` when it must wait."""
    with engine.begin() as conn:
        row = conn.execute(select(_EX.c.workspace_id, _EX.c.workflow_id, _EX.c.max_concurrent, _EX.c.status,
                                  _EX.c.created_at).where(_EX.c.id == execution_id)).first()
        if row is None or row.status != "pending" or row.workflow_id is None or not row.max_concurrent:
            return True
        _lock(conn, row.workspace_id, row.workflow_id)
        ahead = _others_ahead(execution_id, row.workspace_id, row.workflow_id, row.created_at)
        result = conn.execute(update(_EX).where(_EX.c.id == execution_id, _EX.c.status == "pending",
                                                ahead < row.max_concurrent)
                              .values(status="running", updated_at=now()))
        if getattr(result, "rowcount", 0) == 1:
            return True
        status = conn.execute(select(_EX.c.status).where(_EX.c.id == execution_id)).scalar()
        return status != "pending"  # cancelled or started meanwhile: not ours to hold back


def claimable(conn: Connection, queued: builtins.list[Any]) -> builtins.set[str]:
    """Which of the queued executions of limited workflows a worker may take now.

    Args:
        conn: an open connection (the claim's transaction).
        queued: ``(execution_id, workspace_id, workflow_id, max_concurrent)`` of every queued
            row of a limited workflow.

    Returns:
        Those that already hold a slot (started earlier: resumed, adopted) and, per workflow,
        the first ``limit - holding`` of its waiting executions, oldest first.
    """
    ids = [r[0] for r in queued]
    started = {r[0] for r in conn.execute(select(_EX.c.id).where(_EX.c.id.in_(ids), _EX.c.status != "pending"))}
    allowed = set(started)
    limits: dict[tuple[str, str], int] = {}
    for _, workspace_id, workflow_id, limit in queued:
        if workflow_id is not None:
            limits[(workspace_id, workflow_id)] = max(limit, limits.get((workspace_id, workflow_id), 0))
    for (workspace_id, workflow_id), limit in limits.items():
        same = and_(_EX.c.workspace_id == workspace_id, _EX.c.workflow_id == workflow_id)
        holding = conn.execute(select(func.count()).select_from(_EX).where(same, _EX.c.status.in_(HOLDING))).scalar()
        free = limit - int(holding or 0)
        if free > 0:
            allowed.update(r[0] for r in conn.execute(select(_EX.c.id).where(same, _EX.c.status == "pending")
                                                      .order_by(_EX.c.created_at, _EX.c.id).limit(free)))
    return allowed


async def take_slot(engine: Engine, execution_id: str, freed: asyncio.Event, on_wait: Callable[[], object]) -> None:
    """Wait until :func:`admit` lets the execution run: tried again whenever ``freed`` is set (an
    execution driven by this process stopped) and at least every second (one driven elsewhere
    may have). ``on_wait`` is called once, when the execution first has to wait."""
    delay = 0.02
    told = False
    while not await asyncio.to_thread(admit, engine, execution_id):
        if not told:
            on_wait()
            told = True
        freed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(freed.wait(), delay)
        delay = min(1.0, delay * 2)
