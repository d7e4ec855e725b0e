"""Reading the rollups: a window's figures from whole days, whole hours and the raw rows between."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection, Engine

from app.insights.rollups.tables import (
    DAY,
    DEFINITIONS,
    HOUR,
    NODE_COUNTS,
    ROLLUPS,
    WORKFLOW,
    aware,
    hourly_since,
)
from app.insights.rollups.writer import refresh
from app.insights.stats import (
    NodeStats,
    Stats,
    WorkflowStats,
    apply_definitions,
    collect_usage,
    merge,
)
from app.insights.stats import collect as collect_raw


def spans(since: datetime, until: datetime) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]],
                                                     list[tuple[datetime, datetime, bool]]]:
    """How a window splits: whole days, whole hours, and raw stretches (start, end, end included)."""
    since, until = aware(since), aware(until)
    first_hour = since.replace(minute=0, second=0, microsecond=0)
    if first_hour < since:
        first_hour += HOUR
    last_hour = until.replace(minute=0, second=0, microsecond=0)
    if last_hour <= first_hour:
        return [], [], [(since, until, True)]
    raw = [(since, first_hour, False)] if since < first_hour else []
    raw.append((last_hour, until, True))
    first_day = first_hour.replace(hour=0)
    if first_day < first_hour:
        first_day += DAY
    last_day = last_hour.replace(hour=0)
    if last_day <= first_day:
        return [], [(first_hour, last_hour)], raw
    hours = [(a, b) for a, b in ((first_hour, first_day), (last_day, last_hour)) if a < b]
    return [(first_day, last_day)], hours, raw


def collect(db: Engine, workspace_id: str, since: datetime, until: datetime | None = None,
            workflow_id: str | None = None, *, executions_only: bool = False, fresh: bool = False) -> Stats:
    """The figures :func:`app.insights.stats.collect` computes, from the rollups (``fresh``: they
    were refreshed just now; otherwise this refreshes them first)."""
    until = until or datetime.now(UTC)
    if not fresh:
        refresh(db)
    days, hours, raw = spans(since, until)
    horizon = hourly_since(db)
    if horizon is not None:  # hours pruned before it: those stretches come from the raw rows
        kept: list[tuple[datetime, datetime]] = []
        for start, end in hours:
            if end <= horizon:
                raw.append((start, end, False))
            elif start < horizon:
                raw.append((start, horizon, False))
                kept.append((horizon, end))
            else:
                kept.append((start, end))
        hours = kept
    stats = Stats(workspace_id=workspace_id, since=since, until=until)
    with db.connect() as conn:
        for grain, ranges in (("d", days), ("h", hours)):
            for start, end in ranges:
                merge(stats, _read(conn, grain, workspace_id, start, end, workflow_id, executions_only))
    for start, end, inclusive in raw:
        merge(stats, collect_raw(db, workspace_id, start, end, workflow_id, executions_only=executions_only,
                                 until_inclusive=inclusive, usage=False))
    stats.since, stats.until = since, until
    if stats.workflows and not executions_only:
        _load_definitions(db, stats)
    if executions_only:
        for wf in stats.workflows.values():
            wf.definitions = {v: d for v, d in wf.definitions.items() if d}
    if not executions_only and "llm_usage" in set(inspect(db).get_table_names()):
        with db.connect() as conn:
            collect_usage(conn, stats, workflow_id)
    return stats


def _read(conn: Connection, grain: str, workspace_id: str, start: datetime, end: datetime,
          workflow_id: str | None, executions_only: bool) -> Stats:
    where = [ROLLUPS.c.grain == grain, ROLLUPS.c.workspace_id == workspace_id, ROLLUPS.c.start >= aware(start),
             ROLLUPS.c.start < aware(end)]
    if workflow_id is not None:
        where.append(ROLLUPS.c.wf_key == workflow_id)
    if executions_only:
        where.append(ROLLUPS.c.node_id == WORKFLOW)
    query = (select(ROLLUPS.c.wf_key, ROLLUPS.c.node_id, ROLLUPS.c.metric, ROLLUPS.c.label, ROLLUPS.c.value, func.sum(ROLLUPS.c.count))
             .where(*where).group_by(ROLLUPS.c.wf_key, ROLLUPS.c.node_id, ROLLUPS.c.metric, ROLLUPS.c.label, ROLLUPS.c.value))
    stats = Stats(workspace_id=workspace_id, since=start, until=end)
    names: dict[str, Counter[str]] = defaultdict(Counter)
    kinds: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for key, node_id, metric, label, value, count in conn.execute(query):
        wf = stats.workflows.get(key)
        if wf is None:
            wf = stats.workflows[key] = WorkflowStats(workflow_id=None if key.startswith("adhoc:") else key, name="")
        if node_id == WORKFLOW:
            _workflow_counter(wf, metric, label, value, count, names[key])
            continue
        node = wf.nodes.get(node_id)
        if node is None:
            node = wf.nodes[node_id] = NodeStats(node_id, "action")
        if metric == "kind":
            kinds[(key, node_id)][label] += int(count)
        elif metric == "duration":
            node.durations.add(value, int(count))
        elif metric == "error":
            node.errors[label] += int(count)
        elif metric in NODE_COUNTS:
            setattr(node, metric, getattr(node, metric) + int(count))
    for key, counted in names.items():
        stats.workflows[key].name = max(counted)  # as the raw figures pick it
    for (key, node_id), counted in kinds.items():
        stats.workflows[key].nodes[node_id].kind = counted.most_common(1)[0][0]
    return stats


def _workflow_counter(wf: WorkflowStats, metric: str, label: str, value: float, count: float,
                      names: Counter[str]) -> None:
    n = int(count)
    if metric == "runs":
        wf.runs += n
    elif metric == "with_errors":
        wf.with_errors += n
    elif metric == "troubled":
        pass  # derived (failed + timed out + with errors): kept for the hourly series
    elif metric == "duration_sum":
        wf.duration_sum_ms += count
    elif metric == "duration_n":
        wf.duration_n += n
    elif metric == "name":
        names[label] += n
    elif metric == "status":
        wf.statuses[label] += n
    elif metric == "duration":
        wf.durations.add(value, n)
    elif metric == "error":
        wf.errors[label] += n
    elif metric == "version":
        wf.definitions.setdefault(int(label), {})


def _load_definitions(db: Engine, stats: Stats) -> None:
    """The definition snapshots of the versions the window saw (one execution's each)."""
    from app.insights.stats import add_definition

    wanted = {key: [v for v, d in wf.definitions.items() if not d] for key, wf in stats.workflows.items()}
    wanted = {k: v for k, v in wanted.items() if v}
    if not wanted:
        return
    with db.connect() as conn:
        found = conn.execute(
            select(DEFINITIONS.c.wf_key, DEFINITIONS.c.version, DEFINITIONS.c.execution_id, DEFINITIONS.c.definition)
            .where(DEFINITIONS.c.workspace_id == stats.workspace_id, DEFINITIONS.c.wf_key.in_(list(wanted)))).all()
    for key, version, execution_id, definition in found:
        wf = stats.workflows[key]
        if version in wanted[key]:
            add_definition(wf, int(version), execution_id, definition)
    for wf in stats.workflows.values():
        for version in [v for v, d in wf.definitions.items() if not d]:
            del wf.definitions[version]  # no snapshot was recorded: the figures stay
        apply_definitions(wf)
