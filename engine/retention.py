"""Retention: finished executions older than a maximum age, or beyond a maximum count per
workflow, are deleted with everything they wrote (steps, logs, events, approvals, queue rows).

An execution that has not finished (pending, running, paused, waiting) is never deleted, however
old. Deletion goes in batches, one transaction each, so a large backlog never holds the database
for long; on SQLite the freed pages are then handed back to the file system when the database
was created with incremental auto-vacuum (every data dir created since this module exists), and
reused by later writes otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, inspect, literal, select
from sqlalchemy.engine import Connection, Engine

from engine.execution_history import moment_param
from engine.execution_state import TERMINAL
from engine.execution_store import ApprovalRow, EventRow, ExecutionLogRow, ExecutionRow, StepRow
from engine.queue import QueueRow

log = logging.getLogger(__name__)

_EX = ExecutionRow.__table__  # type: ignore[attr-defined]
_CHILDREN = [t.__table__ for t in (StepRow, ExecutionLogRow, EventRow, ApprovalRow)]  # type: ignore[union-attr]
_QUEUE = QueueRow.__table__  # type: ignore[attr-defined]
_FINISHED = sorted(TERMINAL)


@dataclass
class SweepReport:
    """What one sweep deleted: executions past the maximum age, beyond the count, in how many batches."""

    by_age: int = 0
    by_count: int = 0
    batches: int = 0
    vacuumed: bool = False

    @property
    def deleted(self) -> int:
        return self.by_age + self.by_count

    def to_dict(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "by_age": self.by_age, "by_count": self.by_count,
                "batches": self.batches, "vacuumed": self.vacuumed}


class Retention:
    """The retention policy over one database: ``max_age`` (None keeps runs of any age) and
    ``max_per_workflow`` (0 keeps any number; runs of a file, without a workflow id, are counted
    per workflow name). ``clock`` gives the time (a fixed one in tests)."""

    def __init__(self, engine: Engine, *, max_age: timedelta | None, max_per_workflow: int, batch: int = 500,
                 clock: Callable[[], datetime] | None = None, workspace_id: str | None = None) -> None:
        self.engine = engine
        self.workspace_id = workspace_id  # None: every workspace
        self.max_age = max_age if max_age and max_age.total_seconds() > 0 else None
        self.max_per_workflow = max(0, max_per_workflow)
        self.batch = max(1, batch)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sqlite = engine.dialect.name == "sqlite"

    @property
    def enabled(self) -> bool:
        return self.max_age is not None or self.max_per_workflow > 0

    def sweep(self) -> SweepReport:
        """Delete what the policy no longer keeps (synchronous: the service runs it in a thread)."""
        report = SweepReport()
        if self.max_age is not None:
            cutoff = moment_param(self.clock() - self.max_age, self.sqlite)
            old = select(_EX.c.id).where(self._scope(), _EX.c.created_at < cutoff)
            report.by_age = self._delete_all(old, report)
        if self.max_per_workflow:
            group = func.coalesce(_EX.c.workflow_id, literal("adhoc:") + _EX.c.workflow_name)
            rank = func.row_number().over(partition_by=group, order_by=(_EX.c.created_at.desc(), _EX.c.id.desc()))
            ranked = select(_EX.c.id, rank.label("rank")).where(self._scope()).subquery()
            beyond = select(ranked.c.id).where(ranked.c.rank > self.max_per_workflow)
            report.by_count = self._delete_all(beyond, report)
        if report.deleted and self.sqlite:
            report.vacuumed = self._incremental_vacuum()
        if report.deleted:
            log.info("retention: deleted %d finished execution(s) (%d by age, %d by count) in %d batch(es)",
                     report.deleted, report.by_age, report.by_count, report.batches)
        return report

    def _scope(self) -> ColumnElement[bool]:
        finished: ColumnElement[bool] = _EX.c.status.in_(_FINISHED)
        return finished if self.workspace_id is None else and_(finished, _EX.c.workspace_id == self.workspace_id)

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        """Sweep now and every ``interval_s`` until ``stop`` is set (errors are logged, not fatal)."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("retention sweep failed; trying again in %.0f s", interval_s)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                pass

    def _delete_all(self, ids: Any, report: SweepReport) -> int:
        deleted = 0
        while True:
            with self.engine.begin() as conn:
                batch = [row[0] for row in conn.execute(ids.limit(self.batch))]
                if not batch:
                    return deleted
                self._delete(conn, batch)
            deleted += len(batch)
            report.batches += 1

    def _delete(self, conn: Connection, ids: list[str]) -> None:
        for table in _CHILDREN:
            conn.execute(delete(table).where(table.c.execution_id.in_(ids)))
        if inspect(conn).has_table(_QUEUE.name):
            conn.execute(delete(_QUEUE).where(_QUEUE.c.execution_id.in_(ids)))
        conn.execute(delete(_EX).where(_EX.c.id.in_(ids)))

    def _incremental_vacuum(self) -> bool:
        with self.engine.connect() as conn:
            if conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() != 2:  # 2: incremental
                return False
            conn.commit()
            # sqlite3's execute() steps a statement once, and each step of this pragma frees a
            # single page; executescript() runs it to the end
            conn.connection.driver_connection.executescript("PRAGMA incremental_vacuum;")  # type: ignore[union-attr]
        return True

