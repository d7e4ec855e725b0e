"""A workflow's run statistics, computed in SQL over an index that covers them.

``total`` counts the workflow's runs (dry runs left out) created in the window; ``by_status``
splits them by status; ``completed_with_errors`` counts the completed runs whose failed node was
handled (an error route, ``on_error: continue``), which are not successes. ``success_rate`` is
completed-with-nothing-failed over finished runs. ``duration_ms`` is over finished runs that
have a duration: average, minimum, maximum and the nearest-rank percentiles p50, p95 and p99 (the
value at rank ⌈p/100 · n⌉ in ascending order, one ``ORDER BY … OFFSET`` each).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.engine import Connection, Engine

from engine.execution_history import moment_param
from engine.execution_state import TERMINAL
from engine.execution_store import ExecutionRow, loads
from engine.execution_views import iso, outcome

_EX = ExecutionRow.__table__  # type: ignore[attr-defined]
PERCENTILES = (50, 95, 99)
_FINISHED = sorted(TERMINAL)


def workflow_stats(engine: Engine, workspace_id: str, workflow_id: str, *, since: datetime | None = None,
                   until: datetime | None = None) -> dict[str, Any]:
    """The statistics of one workflow's runs created in ``[since, until)`` (either end open)."""
    sqlite = engine.dialect.name == "sqlite"
    where = [_EX.c.workspace_id == workspace_id, _EX.c.workflow_id == workflow_id, _EX.c.dry_run.is_(False)]
    if since is not None:
        where.append(_EX.c.created_at >= moment_param(since, sqlite))
    if until is not None:
        where.append(_EX.c.created_at < moment_param(until, sqlite))
    window = and_(*where)
    with engine.connect() as conn:
        by_status = {status: int(n) for status, n in conn.execute(
            select(_EX.c.status, func.count()).where(window).group_by(_EX.c.status))}
        with_errors = int(conn.execute(select(func.count()).where(
            window, _EX.c.status == "completed", _EX.c.failed_steps > 0)).scalar() or 0)
        durations = _durations(conn, window)
        last = _last_failure(conn, window)
    finished = sum(n for status, n in by_status.items() if status in TERMINAL)
    succeeded = by_status.get("completed", 0) - with_errors
    return {
        "workflow_id": workflow_id, "since": iso(since), "until": iso(until),
        "total": sum(by_status.values()), "by_status": dict(sorted(by_status.items())),
        "completed_with_errors": with_errors, "finished": finished,
        "success_rate": round(succeeded / finished, 4) if finished else None,
        "duration_ms": durations, "last_failure": last,
    }


def _durations(conn: Connection, window: ColumnElement[bool]) -> dict[str, Any]:
    timed = and_(window, _EX.c.status.in_(_FINISHED), _EX.c.duration_ms.is_not(None))
    n, avg, low, high = conn.execute(select(func.count(), func.avg(_EX.c.duration_ms), func.min(_EX.c.duration_ms),
                                            func.max(_EX.c.duration_ms)).where(timed)).one()
    result: dict[str, Any] = {"count": int(n), "avg": None if avg is None else round(float(avg), 1),
                              "min": low, "max": high}
    ordered = select(_EX.c.duration_ms).where(timed).order_by(_EX.c.duration_ms.asc())
    for p in PERCENTILES:
        rank = max(1, math.ceil(p / 100 * n)) if n else 0
        result[f"p{p}"] = conn.execute(ordered.offset(rank - 1).limit(1)).scalar() if rank else None
    return result


def _last_failure(conn: Connection, window: ColumnElement[bool]) -> dict[str, Any] | None:
    failed = or_(_EX.c.status.in_(("failed", "timed_out")), and_(_EX.c.status == "completed", _EX.c.failed_steps > 0))
    row = conn.execute(select(_EX.c.id, _EX.c.status, _EX.c.failed_steps, _EX.c.created_at, _EX.c.error)
                       .where(window, failed).order_by(_EX.c.created_at.desc(), _EX.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    return {"id": row.id, "status": row.status, "outcome": outcome(row.status, int(row.failed_steps or 0)),
            "created_at": iso(row.created_at), "error": loads(row.error)}

