"""The execution ids behind a finding: a few newest (or slowest) examples.

Each query reads raw rows, so each is narrowed first with the hourly rollups: to the newest hours
that hold enough of what is looked for, or to the hours that hold a node's slowest attempts.
Without rollups (``rollups=False``) the queries cover the whole window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from app.insights import rollups as rollup
from app.insights.stats import _EX, _ST, window


class Evidence:
    """Looks up example executions for findings (each query stops after ``limit`` rows)."""

    def __init__(self, db: Engine, workspace_id: str, since: datetime, until: datetime, limit: int = 5,
                 rollups: bool = True) -> None:
        self.db, self.workspace_id, self.since, self.until, self.limit = db, workspace_id, since, until, limit
        self.rollups = rollups

    def _since(self, workflow_id: str | None, node_id: str, metric: str, labels: tuple[str, ...] = ()) -> datetime:
        if not self.rollups or workflow_id is None:
            return self.since
        return rollup.latest_hours(self.db, self.workspace_id, workflow_id, node_id, metric, labels, self.since,
                                   self.limit)

    def _where(self, workflow_id: str | None, since: datetime, until: datetime | None = None) -> ColumnElement[bool]:
        return window(self.workspace_id, since, until or self.until, workflow_id)

    def _executions(self, workflow_id: str | None, *extra: ColumnElement[bool], since: datetime | None = None,
                    limit: int | None = None) -> list[str]:
        start = since or self.since
        with self.db.connect() as conn:
            rows = list(conn.execute(select(_EX.c.id).where(self._where(workflow_id, start), *extra)
                                     .order_by(_EX.c.created_at.desc()).limit(limit or self.limit)).scalars())
        if len(rows) < (limit or self.limit) and start > self.since:  # the rollups' hint fell short
            return self._executions(workflow_id, *extra, limit=limit)
        return rows

    def _steps(self, workflow_id: str | None, node_id: str, *extra: ColumnElement[bool],
               since: datetime | None = None) -> list[str]:
        start = since or self.since
        joined = _EX.join(_ST, _ST.c.execution_id == _EX.c.id)
        query = (select(_EX.c.id, _EX.c.created_at).select_from(joined)
                 .where(self._where(workflow_id, start), _ST.c.node_id == node_id, *extra).distinct()
                 .order_by(_EX.c.created_at.desc()).limit(self.limit))
        with self.db.connect() as conn:
            ids = [row[0] for row in conn.execute(query)]
        if len(ids) < self.limit and start > self.since:
            return self._steps(workflow_id, node_id, *extra)
        return ids

    def unhealthy_runs(self, workflow_id: str | None) -> list[str]:
        """Runs that failed, timed out or completed with a handled failure, newest first."""
        troubled = (_EX.c.status.in_(("failed", "timed_out"))) | ((_EX.c.status == "completed") & (_EX.c.failed_steps > 0))
        since = max(self._since(workflow_id, rollup.WORKFLOW, "status", ("failed", "timed_out")),
                    self._since(workflow_id, rollup.WORKFLOW, "with_errors"))
        return self._executions(workflow_id, troubled, since=since)

    def node_failed(self, workflow_id: str | None, node_id: str) -> list[str]:
        """Runs in which the node had a failed attempt, newest first."""
        return self._steps(workflow_id, node_id, _ST.c.status == "failed",
                           since=self._since(workflow_id, node_id, "error"))

    def node_retried(self, workflow_id: str | None, node_id: str) -> list[str]:
        """Runs in which the node was retried, newest first."""
        return self._steps(workflow_id, node_id, _ST.c.attempt > 1, since=self._since(workflow_id, node_id, "retried"))

    def node_ran(self, workflow_id: str | None, node_id: str) -> list[str]:
        """Runs in which the node completed, newest first."""
        return self._steps(workflow_id, node_id, _ST.c.status == "completed",
                           since=self._since(workflow_id, node_id, "settled"))

    def node_slowest(self, workflow_id: str | None, node_id: str) -> list[str]:
        """Runs in which the node took longest, slowest first."""
        if self.rollups and workflow_id is not None:
            hours = rollup.slowest_hours(self.db, self.workspace_id, workflow_id, node_id, self.since, self.limit)
            stretches = [(max(h, self.since), min(h + timedelta(hours=1), self.until)) for h in hours]
        else:
            stretches = [(self.since, self.until)]
        found: list[tuple[int, str]] = []
        joined = _EX.join(_ST, _ST.c.execution_id == _EX.c.id)
        with self.db.connect() as conn:
            for start, end in stretches:
                found += [(ms, ex) for ex, ms in conn.execute(
                    select(_EX.c.id, _ST.c.duration_ms).select_from(joined)
                    .where(self._where(workflow_id, start, end), _ST.c.node_id == node_id,
                           _ST.c.duration_ms.is_not(None))
                    .order_by(_ST.c.duration_ms.desc()).limit(self.limit * 4))]
        found.sort(key=lambda pair: -pair[0])
        return list(dict.fromkeys(ex for _ms, ex in found))[: self.limit]

    def between(self, workflow_id: str | None, start: datetime, end: datetime) -> list[str]:
        """Runs created in ``[start, end)``, newest first."""
        return self._executions(workflow_id, _EX.c.created_at >= start, _EX.c.created_at < end)

    def recent(self, workflow_id: str | None) -> list[str]:
        """The newest runs."""
        return self._executions(workflow_id)

