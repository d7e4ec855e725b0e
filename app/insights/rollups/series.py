"""Series read straight from the hourly rollups: runs per hour for anomalies, and the hours that
finding evidence narrows its raw queries to."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from app.insights.rollups.tables import ROLLUPS, WORKFLOW, aware


def hourly(db: Engine, workspace_id: str, since: datetime, until: datetime) -> dict[str, list[tuple[datetime, int, int,
                                                                                                    float]]]:
    """Per workflow key, each hour with runs: (hour, runs, unhealthy runs, mean duration ms)."""
    where = and_(ROLLUPS.c.grain == "h", ROLLUPS.c.workspace_id == workspace_id, ROLLUPS.c.node_id == WORKFLOW,
                 ROLLUPS.c.metric.in_(("runs", "troubled", "duration_sum", "duration_n")),
                 ROLLUPS.c.start >= aware(since), ROLLUPS.c.start < aware(until))
    acc: dict[tuple[str, datetime], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    with db.connect() as conn:
        for key, start, metric, count in conn.execute(
                select(ROLLUPS.c.wf_key, ROLLUPS.c.start, ROLLUPS.c.metric, ROLLUPS.c.count).where(where)):
            acc[(key, start)][metric] += count
    out: dict[str, list[tuple[datetime, int, int, float]]] = defaultdict(list)
    for (key, start), f in sorted(acc.items()):
        mean = f["duration_sum"] / f["duration_n"] if f["duration_n"] else 0.0
        out[key].append((aware(start), int(f["runs"]), int(f["troubled"]), mean))
    return out


def latest_hours(db: Engine, workspace_id: str, wf_key: str, node_id: str, metric: str, labels: tuple[str, ...],
                 since: datetime, enough: int) -> datetime:
    """The start of the newest stretch of hours holding at least ``enough`` of a counter (or
    ``since``): where to look for example executions."""
    where = [ROLLUPS.c.grain == "h", ROLLUPS.c.workspace_id == workspace_id, ROLLUPS.c.wf_key == wf_key, ROLLUPS.c.node_id == node_id,
             ROLLUPS.c.metric == metric, ROLLUPS.c.start >= aware(since).replace(minute=0, second=0, microsecond=0)]
    if labels:
        where.append(ROLLUPS.c.label.in_(labels))
    seen = 0.0
    with db.connect() as conn:
        for start, count in conn.execute(select(ROLLUPS.c.start, func.sum(ROLLUPS.c.count)).where(*where)
                                         .group_by(ROLLUPS.c.start).order_by(ROLLUPS.c.start.desc())):
            seen += count
            if seen >= enough:
                return max(aware(start), aware(since))
    return aware(since)


def slowest_hours(db: Engine, workspace_id: str, wf_key: str, node_id: str, since: datetime,
                  limit: int) -> list[datetime]:
    """The hours holding a node's slowest attempts (by histogram bucket), slowest first."""
    where = [ROLLUPS.c.grain == "h", ROLLUPS.c.workspace_id == workspace_id, ROLLUPS.c.wf_key == wf_key, ROLLUPS.c.node_id == node_id,
             ROLLUPS.c.metric == "duration", ROLLUPS.c.start >= aware(since).replace(minute=0, second=0, microsecond=0)]
    with db.connect() as conn:
        rows = conn.execute(select(ROLLUPS.c.start, ROLLUPS.c.value, ROLLUPS.c.count).where(*where)
                            .order_by(ROLLUPS.c.value.desc()).limit(limit * 4)).all()
    hours: list[datetime] = []
    seen = 0.0
    for start, _value, count in rows:
        if aware(start) not in hours:
            hours.append(aware(start))
        seen += count
        if seen >= limit:
            break
    return hours
