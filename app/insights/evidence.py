"""The execution ids behind a finding: a few newest examples, read through the report indexes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from app.insights.stats import _EX, _ST, window


class Evidence:
    """Looks up example executions for findings (each query stops after ``limit`` rows)."""

    def __init__(self, db: Engine, workspace_id: str, since: datetime, until: datetime, limit: int = 5) -> None:
        self.db, self.workspace_id, self.since, self.until, self.limit = db, workspace_id, since, until, limit

    def _executions(self, workflow_id: str | None, *extra: ColumnElement[bool], limit: int | None = None) -> list[str]:
        where = window(self.workspace_id, self.since, self.until)
        if workflow_id is not None:
            where = and_(where, _EX.c.workflow_id == workflow_id)
        with self.db.connect() as conn:
            rows = conn.execute(select(_EX.c.id).where(where, *extra).order_by(_EX.c.created_at.desc())
                                .limit(limit or self.limit)).scalars().all()
        return list(rows)

    def _steps(self, workflow_id: str | None, node_id: str, *extra: ColumnElement[bool],
               order: ColumnElement[object] | None = None) -> list[str]:
        where = window(self.workspace_id, self.since, self.until)
        if workflow_id is not None:
            where = and_(where, _EX.c.workflow_id == workflow_id)
        query = (select(_EX.c.id, _EX.c.created_at).select_from(_EX.join(_ST, _ST.c.execution_id == _EX.c.id))
                 .where(where, _ST.c.node_id == node_id, *extra).distinct()
                 .order_by(order if order is not None else _EX.c.created_at.desc()).limit(self.limit))
        if order is not None:
            query = (select(_EX.c.id, _ST.c.duration_ms).select_from(_EX.join(_ST, _ST.c.execution_id == _EX.c.id))
                     .where(where, _ST.c.node_id == node_id, *extra).order_by(order).limit(self.limit * 4))
        with self.db.connect() as conn:
            ids = [row[0] for row in conn.execute(query)]
        return list(dict.fromkeys(ids))[: self.limit]  # distinct, in order

    def unhealthy_runs(self, workflow_id: str | None) -> list[str]:
        """Runs that failed, timed out or completed with a handled failure, newest first."""
        troubled = (_EX.c.status.in_(("failed", "timed_out"))) | ((_EX.c.status == "completed") & (_EX.c.failed_steps > 0))
        return self._executions(workflow_id, troubled)

    def node_failed(self, workflow_id: str | None, node_id: str) -> list[str]:
        """Runs in which the node had a failed attempt, newest first."""
        return self._steps(workflow_id, node_id, _ST.c.status == "failed")

    def node_retried(self, workflow_id: str | None, node_id: str) -> list[str]:
        """Runs in which the node was retried, newest first."""
        return self._steps(workflow_id, node_id, _ST.c.attempt > 1)

    def node_slowest(self, workflow_id: str | None, node_id: str) -> list[str]:
        """Runs in which the node took longest."""
        return self._steps(workflow_id, node_id, _ST.c.duration_ms.is_not(None), order=_ST.c.duration_ms.desc())

    def node_ran(self, workflow_id: str | None, node_id: str) -> list[str]:
        """Runs in which the node completed, newest first."""
        return self._steps(workflow_id, node_id, _ST.c.status == "completed")

    def between(self, workflow_id: str | None, start: datetime, end: datetime) -> list[str]:
        """Runs created in ``[start, end)``, newest first."""
        return self._executions(workflow_id, _EX.c.created_at >= start, _EX.c.created_at < end)

    def recent(self, workflow_id: str | None) -> list[str]:
        """The newest runs."""
        return self._executions(workflow_id)
