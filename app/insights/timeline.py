"""Executions over time, for the report's chart: runs per status per hour (windows up to two
days) or per day, read from the rollups (:mod:`app.insights.rollups`), so a long window reads a
few hundred counter rows, never the executions."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

HOURLY_UP_TO = timedelta(days=2)


def timeline(db: Engine, workspace_id: str, since: datetime, until: datetime,
             workflow_id: str | None = None) -> dict[str, Any]:
    """``{"grain": "hour"|"day", "buckets": [{"start": ISO, "runs": n, "statuses": {status: n},
    "with_errors": n}]}`` over every hour (or day) the window touches, empty ones included.
    Call it after :func:`app.insights.rollups.refresh`."""
    from app.insights.rollups.tables import ROLLUPS as _R
    from app.insights.rollups.tables import WORKFLOW

    since, until = _aware(since), _aware(until)
    hourly = until - since <= HOURLY_UP_TO
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    first = since.replace(minute=0, second=0, microsecond=0)
    if not hourly:
        first = first.replace(hour=0)
    where = [_R.c.grain == ("h" if hourly else "d"), _R.c.workspace_id == workspace_id, _R.c.node_id == WORKFLOW,
             _R.c.metric.in_(("status", "with_errors")), _R.c.start >= first, _R.c.start < until]
    if workflow_id is not None:
        where.append(_R.c.wf_key == workflow_id)
    counts: dict[datetime, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    with db.connect() as conn:
        for start, metric, label, count in conn.execute(
                select(_R.c.start, _R.c.metric, _R.c.label, func.sum(_R.c.count))
                .where(*where).group_by(_R.c.start, _R.c.metric, _R.c.label)):
            counts[_aware(start)][label if metric == "status" else "\0with_errors"] += float(count or 0)
    buckets = []
    at = first
    while at < until:
        seen = counts.get(at, {})
        statuses = {k: int(v) for k, v in sorted(seen.items()) if not k.startswith("\0") and v}
        buckets.append({"start": at.isoformat(), "runs": sum(statuses.values()), "statuses": statuses,
                        "with_errors": int(seen.get("\0with_errors", 0))})
        at += step
    return {"grain": "hour" if hourly else "day", "buckets": buckets}


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


__all__ = ["timeline"]
