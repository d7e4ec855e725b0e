"""Insight rollups: the report's figures kept per workspace, workflow and node, per hour and per day.

A report over a million step rows must not read a million rows. The execution store marks every
execution whose figures change (created, a new status, deleted) in ``rollup_marks``;
:func:`refresh` recomputes the hour of each marked execution with the same aggregates a report
runs (:func:`app.insights.stats.collect` over that hour), stores them as counter rows in
``insight_rollups`` (grain ``h``), sums the touched days into grain ``d`` rows, and drops the
marks it read. Recomputing an hour, rather than adding one execution's deltas, keeps the rollups
exact whatever happens to an execution (a retry, a resume, a deletion) and makes a repeated
refresh harmless. The first refresh of an older data dir backfills every hour that has runs.
Retention (``engine/retention.py``) deletes old executions without marking them: their figures
stay in the rollups (with each version's definition), so a report still covers them, only
without example execution ids; deleting one execution by hand (``delete_execution``) marks it.

:func:`collect` answers a window from whole days, then whole hours, then the raw rows of the
partial hours at its two ends, so its figures are the ones :func:`app.insights.stats.collect`
computes over the same window (model calls are read from ``llm_usage`` directly).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Index, Text, and_, delete, func, insert, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from app.insights.stats import (
    _EX,
    NodeStats,
    Stats,
    WorkflowStats,
    apply_definitions,
    collect_on,
    collect_usage,
    merge,
)
from app.insights.stats import collect as collect_raw
from engine.execution_store import RollupMarkRow, hour_of

log = logging.getLogger(__name__)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
WORKFLOW = ""  # the node_id of a workflow-level counter
BULK_HOURS = 24  # a refresh of more hours than this (a backfill, a burst) aggregates them in one pass
NODE_COUNTS = ("settled", "failed", "attempts", "retried", "retry_successes")


class InsightRollupRow(SQLModel, table=True):
    """One counter of one workflow (``node_id`` empty) or node over one hour or day.

    ``metric`` names the figure (``runs``, ``status``, ``duration``, ``error``, ``attempts``...),
    ``label`` its category (a status, an error code, a version) and ``value`` a histogram bucket.
    """

    __tablename__ = "insight_rollups"
    # what finding evidence and anomalies ask: one counter of one workflow or node, over time
    __table_args__ = (Index("ix_insight_rollups_counter", "grain", "workspace_id", "node_id", "metric", "wf_key",
                            "start", "label", "value", "count"),)

    grain: str = Field(primary_key=True)  # "h" | "d"
    workspace_id: str = Field(primary_key=True)
    start: datetime = Field(primary_key=True)
    wf_key: str = Field(primary_key=True)
    node_id: str = Field(primary_key=True)
    metric: str = Field(primary_key=True)
    label: str = Field(default="", primary_key=True)
    value: float = Field(default=0.0, primary_key=True)
    count: float = 0.0


class InsightDefinitionRow(SQLModel, table=True):
    """A workflow version's definition as it ran (copied from one execution's snapshot, so that
    the rollups keep it when retention deletes the executions)."""

    __tablename__ = "insight_definitions"

    workspace_id: str = Field(primary_key=True)
    wf_key: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    execution_id: str
    definition: str = Field(sa_column=Column(Text, nullable=False))


class InsightRollupStateRow(SQLModel, table=True):
    """What the rollups have done once (``backfilled``: every older hour was computed)."""

    __tablename__ = "insight_rollup_state"

    key: str = Field(primary_key=True)
    value: str = ""


_R = InsightRollupRow.__table__  # type: ignore[attr-defined]
_D = InsightDefinitionRow.__table__  # type: ignore[attr-defined]
_S = InsightRollupStateRow.__table__  # type: ignore[attr-defined]
_M = RollupMarkRow.__table__  # type: ignore[attr-defined]
TABLES = [_R, _D, _S, _M]


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- keeping them ------------------------------------------------------------------------------


def ensure_tables(db: Engine) -> None:
    """Create the rollup tables (and their indexes) when missing."""
    SQLModel.metadata.create_all(db, tables=TABLES)
    for index in _R.indexes:
        index.create(db, checkfirst=True)


def refresh(db: Engine) -> int:
    """Recompute the hours (and their days) that marked executions fall in; the number of hours."""
    ensure_tables(db)
    if "executions" not in set(inspect(db).get_table_names()):
        return 0
    hours: set[tuple[str, datetime]] = set()
    with db.connect() as conn:
        backfilled = conn.execute(select(_S.c.value).where(_S.c.key == "backfilled")).scalar()
        if backfilled is None:  # an older data dir: every hour with runs, once
            for workspace_id, created in conn.execute(select(_EX.c.workspace_id, _EX.c.created_at)):
                hours.add((workspace_id, hour_of(created)))
        marks = conn.execute(
            select(_M.c.id, _M.c.workspace_id, _M.c.hour, _EX.c.workspace_id, _EX.c.created_at)
            .select_from(_M.outerjoin(_EX, _EX.c.id == _M.c.execution_id))).all()
    for _id, workspace_id, hour, ex_workspace, created in marks:
        if hour is not None and workspace_id is not None:
            hours.add((workspace_id, hour_of(hour)))
        if created is not None:
            hours.add((ex_workspace, hour_of(created)))
    hours = _after_horizon(db, hours)
    by_workspace: dict[str, list[datetime]] = defaultdict(list)
    for workspace_id, hour in sorted(hours):
        by_workspace[workspace_id].append(hour)
    with db.connect() as reader:
        for workspace_id, wanted in by_workspace.items():
            if len(wanted) > BULK_HOURS:  # one pass over the span beats an aggregate per hour
                _recompute_span(db, reader, workspace_id, wanted)
            else:
                for hour in wanted:
                    _recompute_hour(db, reader, workspace_id, hour)
    for workspace_id, day in sorted({(w, h.replace(hour=0)) for w, h in hours}):
        _recompute_day(db, workspace_id, day)
    with db.begin() as conn:
        ids = [m[0] for m in marks]
        for i in range(0, len(ids), 500):
            conn.execute(delete(_M).where(_M.c.id.in_(ids[i:i + 500])))
        if backfilled is None:
            conn.execute(delete(_S).where(_S.c.key == "backfilled"))
            conn.execute(insert(_S).values(key="backfilled", value=datetime.now(UTC).isoformat()))
    return len(hours)


def _after_horizon(db: Engine, hours: set[tuple[str, datetime]]) -> set[tuple[str, datetime]]:
    """The hours not pruned: a pruned hour stays pruned, and its day keeps the figures it had
    (recomputing the day from its remaining hours would lose the rest of it)."""
    horizon = hourly_since(db)
    if horizon is None:
        return hours
    dropped = {(w, h) for w, h in hours if _aware(h) < horizon}
    if dropped:
        log.info("insight rollups: %d changed hour(s) before the hourly horizon %s are not recomputed",
                 len(dropped), horizon.isoformat())
    return hours - dropped


def hourly_since(db: Engine) -> datetime | None:
    """Where the hourly rollups start (a midnight): older hours were pruned (``None``: never)."""
    with db.connect() as conn:
        value = conn.execute(select(_S.c.value).where(_S.c.key == "hourly_since")).scalar()
    return datetime.fromisoformat(value) if value else None


def prune(db: Engine, keep_days: float, *, now: datetime | None = None) -> int:
    """Delete the hourly rollups of the days that ended more than ``keep_days`` ago (their daily
    rows stay); returns how many rows went. ``keep_days`` 0 keeps them all. The horizon only moves
    forward; :func:`collect` reads a window's partial days before it from the raw rows."""
    if keep_days <= 0:
        return 0
    ensure_tables(db)
    now = now or datetime.now(UTC)
    horizon = (_aware(now) - timedelta(days=keep_days)).replace(hour=0, minute=0, second=0, microsecond=0)
    current = hourly_since(db)
    if current is not None and current >= horizon:
        return 0
    with db.begin() as conn:
        gone = conn.execute(delete(_R).where(_R.c.grain == "h", _R.c.start < horizon))
        conn.execute(delete(_S).where(_S.c.key == "hourly_since"))
        conn.execute(insert(_S).values(key="hourly_since", value=horizon.isoformat()))
    return int(getattr(gone, "rowcount", 0) or 0)


async def run(db: Engine, interval_s: float, stop: asyncio.Event, *, keep_hourly_days: float = 0.0) -> None:
    """The service's job: refresh every ``interval_s`` until ``stop`` (errors logged, not fatal), so
    that finished executions reach the rollups within an interval and a report has little to do;
    once an hour, prune the hourly rows older than ``keep_hourly_days`` (0: never)."""
    pruned_at: datetime | None = None
    while not stop.is_set():
        try:
            await asyncio.to_thread(refresh, db)
            if keep_hourly_days > 0 and (pruned_at is None or datetime.now(UTC) - pruned_at >= HOUR):
                gone = await asyncio.to_thread(prune, db, keep_hourly_days)
                pruned_at = datetime.now(UTC)
                if gone:
                    log.info("insight rollups: pruned %d hourly row(s) older than %g days", gone, keep_hourly_days)
        except Exception:
            log.exception("insight rollups: refresh failed; trying again in %.0f s", interval_s)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            pass


def counters(stats: Stats) -> Iterable[tuple[str, str, str, str, float, float]]:
    """``stats`` as counter rows: (wf_key, node_id, metric, label, value, count)."""
    for key, wf in stats.workflows.items():
        yield key, WORKFLOW, "runs", "", 0.0, wf.runs
        yield key, WORKFLOW, "with_errors", "", 0.0, wf.with_errors
        yield key, WORKFLOW, "troubled", "", 0.0, wf.troubled
        yield key, WORKFLOW, "duration_sum", "", 0.0, wf.duration_sum_ms
        yield key, WORKFLOW, "duration_n", "", 0.0, wf.duration_n
        yield key, WORKFLOW, "name", wf.name, 0.0, wf.runs
        for status, n in wf.statuses.items():
            yield key, WORKFLOW, "status", status, 0.0, n
        for value, n in wf.durations.counts.items():
            yield key, WORKFLOW, "duration", "", value, n
        for code, n in wf.errors.items():
            yield key, WORKFLOW, "error", code, 0.0, n
        for version in wf.definitions:
            yield key, WORKFLOW, "version", str(version), 0.0, 1
        for node_id, node in wf.nodes.items():
            yield key, node_id, "kind", node.kind, 0.0, 1
            for metric in NODE_COUNTS:
                if getattr(node, metric):
                    yield key, node_id, metric, "", 0.0, getattr(node, metric)
            for value, n in node.durations.counts.items():
                yield key, node_id, "duration", "", value, n
            for code, n in node.errors.items():
                yield key, node_id, "error", code, 0.0, n


def _recompute_hour(db: Engine, reader: Connection, workspace_id: str, hour: datetime) -> None:
    start = _aware(hour)
    stats = Stats(workspace_id=workspace_id, since=start, until=start + HOUR)
    collect_on(reader, stats, until_inclusive=False)
    reader.rollback()  # the next hour reads what has been committed since
    _store_hour(db, workspace_id, start, stats)


def _recompute_span(db: Engine, reader: Connection, workspace_id: str, hours: list[datetime]) -> None:
    """Recompute many hours from one aggregate per figure, grouped by hour as well."""
    start, end = _aware(min(hours)), _aware(max(hours)) + HOUR
    everything = Stats(workspace_id=workspace_id, since=start, until=end)
    collect_on(reader, everything, until_inclusive=False, by_hour=True)
    reader.rollback()
    per_hour: dict[datetime, Stats] = {}
    for keyed, wf in everything.workflows.items():
        key, _, hour_text = keyed.rpartition("|")
        hour = datetime.strptime(hour_text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        stats = per_hour.setdefault(hour, Stats(workspace_id=workspace_id, since=hour, until=hour + HOUR))
        stats.workflows[key] = wf
    for hour in hours:
        hour = _aware(hour)
        _store_hour(db, workspace_id, hour, per_hour.get(hour) or Stats(workspace_id, hour, hour + HOUR))


def _store_hour(db: Engine, workspace_id: str, start: datetime, stats: Stats) -> None:
    rows = [{"grain": "h", "workspace_id": workspace_id, "start": start, "wf_key": key, "node_id": node,
             "metric": metric, "label": label, "value": value, "count": count}
            for key, node, metric, label, value, count in counters(stats) if count]
    try:
        with db.begin() as conn:
            conn.execute(delete(_R).where(_R.c.grain == "h", _R.c.workspace_id == workspace_id, _R.c.start == start))
            if rows:
                conn.execute(insert(_R), rows)
            _remember_definitions(conn, workspace_id, stats)
    except IntegrityError:  # another process recomputed the same hour at the same time: its rows stand
        log.info("insight rollups: hour %s of %s was recomputed concurrently", start, workspace_id)


def _remember_definitions(conn: Connection, workspace_id: str, stats: Stats) -> None:
    wanted = {(key, version): execution_id for key, wf in stats.workflows.items()
              for version, execution_id in wf.definition_ids.items()}
    if not wanted:
        return
    known = {(k, v) for k, v in conn.execute(
        select(_D.c.wf_key, _D.c.version).where(_D.c.workspace_id == workspace_id,
                                                _D.c.wf_key.in_({k for k, _ in wanted})))}
    fresh = [{"workspace_id": workspace_id, "wf_key": k, "version": v, "execution_id": e,
              "definition": json.dumps(stats.workflows[k].definitions[v])}
             for (k, v), e in wanted.items() if (k, v) not in known]
    if fresh:
        conn.execute(insert(_D), fresh)


def _recompute_day(db: Engine, workspace_id: str, day: datetime) -> None:
    day = _aware(day)
    hourly = and_(_R.c.grain == "h", _R.c.workspace_id == workspace_id, _R.c.start >= day, _R.c.start < day + DAY)
    summed = (select(_R.c.wf_key, _R.c.node_id, _R.c.metric, _R.c.label, _R.c.value, func.sum(_R.c.count))
              .where(hourly).group_by(_R.c.wf_key, _R.c.node_id, _R.c.metric, _R.c.label, _R.c.value))
    try:
        with db.begin() as conn:
            rows = [{"grain": "d", "workspace_id": workspace_id, "start": day, "wf_key": k, "node_id": n,
                     "metric": m, "label": lb, "value": v, "count": c}
                    for k, n, m, lb, v, c in conn.execute(summed)]
            conn.execute(delete(_R).where(_R.c.grain == "d", _R.c.workspace_id == workspace_id, _R.c.start == day))
            if rows:
                conn.execute(insert(_R), rows)
    except IntegrityError:
        log.info("insight rollups: day %s of %s was recomputed concurrently", day, workspace_id)


# --- reading them ------------------------------------------------------------------------------


def spans(since: datetime, until: datetime) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]],
                                                     list[tuple[datetime, datetime, bool]]]:
    """How a window splits: whole days, whole hours, and raw stretches (start, end, end included)."""
    since, until = _aware(since), _aware(until)
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
    where = [_R.c.grain == grain, _R.c.workspace_id == workspace_id, _R.c.start >= _aware(start),
             _R.c.start < _aware(end)]
    if workflow_id is not None:
        where.append(_R.c.wf_key == workflow_id)
    if executions_only:
        where.append(_R.c.node_id == WORKFLOW)
    query = (select(_R.c.wf_key, _R.c.node_id, _R.c.metric, _R.c.label, _R.c.value, func.sum(_R.c.count))
             .where(*where).group_by(_R.c.wf_key, _R.c.node_id, _R.c.metric, _R.c.label, _R.c.value))
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
            select(_D.c.wf_key, _D.c.version, _D.c.execution_id, _D.c.definition)
            .where(_D.c.workspace_id == stats.workspace_id, _D.c.wf_key.in_(list(wanted)))).all()
    for key, version, execution_id, definition in found:
        wf = stats.workflows[key]
        if version in wanted[key]:
            add_definition(wf, int(version), execution_id, definition)
    for wf in stats.workflows.values():
        for version in [v for v, d in wf.definitions.items() if not d]:
            del wf.definitions[version]  # no snapshot was recorded: the figures stay
        apply_definitions(wf)


def hourly(db: Engine, workspace_id: str, since: datetime, until: datetime) -> dict[str, list[tuple[datetime, int, int,
                                                                                                    float]]]:
    """Per workflow key, each hour with runs: (hour, runs, unhealthy runs, mean duration ms)."""
    where = and_(_R.c.grain == "h", _R.c.workspace_id == workspace_id, _R.c.node_id == WORKFLOW,
                 _R.c.metric.in_(("runs", "troubled", "duration_sum", "duration_n")),
                 _R.c.start >= _aware(since), _R.c.start < _aware(until))
    acc: dict[tuple[str, datetime], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    with db.connect() as conn:
        for key, start, metric, count in conn.execute(
                select(_R.c.wf_key, _R.c.start, _R.c.metric, _R.c.count).where(where)):
            acc[(key, start)][metric] += count
    out: dict[str, list[tuple[datetime, int, int, float]]] = defaultdict(list)
    for (key, start), f in sorted(acc.items()):
        mean = f["duration_sum"] / f["duration_n"] if f["duration_n"] else 0.0
        out[key].append((_aware(start), int(f["runs"]), int(f["troubled"]), mean))
    return out


def latest_hours(db: Engine, workspace_id: str, wf_key: str, node_id: str, metric: str, labels: tuple[str, ...],
                 since: datetime, enough: int) -> datetime:
    """The start of the newest stretch of hours holding at least ``enough`` of a counter (or
    ``since``): where to look for example executions."""
    where = [_R.c.grain == "h", _R.c.workspace_id == workspace_id, _R.c.wf_key == wf_key, _R.c.node_id == node_id,
             _R.c.metric == metric, _R.c.start >= _aware(since).replace(minute=0, second=0, microsecond=0)]
    if labels:
        where.append(_R.c.label.in_(labels))
    seen = 0.0
    with db.connect() as conn:
        for start, count in conn.execute(select(_R.c.start, func.sum(_R.c.count)).where(*where)
                                         .group_by(_R.c.start).order_by(_R.c.start.desc())):
            seen += count
            if seen >= enough:
                return max(_aware(start), _aware(since))
    return _aware(since)


def slowest_hours(db: Engine, workspace_id: str, wf_key: str, node_id: str, since: datetime,
                  limit: int) -> list[datetime]:
    """The hours holding a node's slowest attempts (by histogram bucket), slowest first."""
    where = [_R.c.grain == "h", _R.c.workspace_id == workspace_id, _R.c.wf_key == wf_key, _R.c.node_id == node_id,
             _R.c.metric == "duration", _R.c.start >= _aware(since).replace(minute=0, second=0, microsecond=0)]
    with db.connect() as conn:
        rows = conn.execute(select(_R.c.start, _R.c.value, _R.c.count).where(*where)
                            .order_by(_R.c.value.desc()).limit(limit * 4)).all()
    hours: list[datetime] = []
    seen = 0.0
    for start, _value, count in rows:
        if _aware(start) not in hours:
            hours.append(_aware(start))
        seen += count
        if seen >= limit:
            break
    return hours


def row_count(db: Engine, grain: str | None = None) -> int:
    """How many rollup rows there are (of one grain)."""
    query = select(func.count()).select_from(_R)
    if grain is not None:
        query = query.where(_R.c.grain == grain)
    with db.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def describe(db: Engine) -> dict[str, Any]:
    """Rollup sizes, for the benchmark and the CLI."""
    return {"hourly_rows": row_count(db, "h"), "daily_rows": row_count(db, "d")}
