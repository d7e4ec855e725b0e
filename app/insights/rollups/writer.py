"""Keeping the rollups: recompute the hours (and days) of marked executions, prune old hours, and
the service's job that does both on an interval."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, func, insert, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from app.insights.rollups.tables import (
    DAY,
    DEFINITIONS,
    HOUR,
    MARKS,
    NODE_COUNTS,
    ROLLUPS,
    STATE,
    WORKFLOW,
    aware,
    ensure_tables,
    hourly_since,
)
from app.insights.stats import _EX, Stats, collect_on
from engine.execution_store import hour_of

log = logging.getLogger(__name__)
BULK_HOURS = 24  # a refresh of more hours than this (a backfill, a burst) aggregates them in one pass


def refresh(db: Engine) -> int:
    """Recompute the hours (and their days) that marked executions fall in; the number of hours."""
    ensure_tables(db)
    if "executions" not in set(inspect(db).get_table_names()):
        return 0
    hours: set[tuple[str, datetime]] = set()
    with db.connect() as conn:
        backfilled = conn.execute(select(STATE.c.value).where(STATE.c.key == "backfilled")).scalar()
        if backfilled is None:  # an older data dir: every hour with runs, once
            for workspace_id, created in conn.execute(select(_EX.c.workspace_id, _EX.c.created_at)):
                hours.add((workspace_id, hour_of(created)))
        marks = conn.execute(
            select(MARKS.c.id, MARKS.c.workspace_id, MARKS.c.hour, _EX.c.workspace_id, _EX.c.created_at)
            .select_from(MARKS.outerjoin(_EX, _EX.c.id == MARKS.c.execution_id))).all()
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
            conn.execute(delete(MARKS).where(MARKS.c.id.in_(ids[i:i + 500])))
        if backfilled is None:
            conn.execute(delete(STATE).where(STATE.c.key == "backfilled"))
            conn.execute(insert(STATE).values(key="backfilled", value=datetime.now(UTC).isoformat()))
    return len(hours)


def _after_horizon(db: Engine, hours: set[tuple[str, datetime]]) -> set[tuple[str, datetime]]:
    """The hours not pruned: a pruned hour stays pruned, and its day keeps the figures it had
    (recomputing the day from its remaining hours would lose the rest of it)."""
    horizon = hourly_since(db)
    if horizon is None:
        return hours
    dropped = {(w, h) for w, h in hours if aware(h) < horizon}
    if dropped:
        log.info("insight rollups: %d changed hour(s) before the hourly horizon %s are not recomputed",
                 len(dropped), horizon.isoformat())
    return hours - dropped


def prune(db: Engine, keep_days: float, *, now: datetime | None = None) -> int:
    """Delete the hourly rollups of the days that ended more than ``keep_days`` ago (their daily
    rows stay); returns how many rows went. ``keep_days`` 0 keeps them all. The horizon only moves
    forward; :func:`collect` reads a window's partial days before it from the raw rows."""
    if keep_days <= 0:
        return 0
    ensure_tables(db)
    now = now or datetime.now(UTC)
    horizon = (aware(now) - timedelta(days=keep_days)).replace(hour=0, minute=0, second=0, microsecond=0)
    current = hourly_since(db)
    if current is not None and current >= horizon:
        return 0
    with db.begin() as conn:
        gone = conn.execute(delete(ROLLUPS).where(ROLLUPS.c.grain == "h", ROLLUPS.c.start < horizon))
        conn.execute(delete(STATE).where(STATE.c.key == "hourly_since"))
        conn.execute(insert(STATE).values(key="hourly_since", value=horizon.isoformat()))
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
    start = aware(hour)
    stats = Stats(workspace_id=workspace_id, since=start, until=start + HOUR)
    collect_on(reader, stats, until_inclusive=False)
    reader.rollback()  # the next hour reads what has been committed since
    _store_hour(db, workspace_id, start, stats)


def _recompute_span(db: Engine, reader: Connection, workspace_id: str, hours: list[datetime]) -> None:
    """Recompute many hours from one aggregate per figure, grouped by hour as well."""
    start, end = aware(min(hours)), aware(max(hours)) + HOUR
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
        hour = aware(hour)
        _store_hour(db, workspace_id, hour, per_hour.get(hour) or Stats(workspace_id, hour, hour + HOUR))


def _store_hour(db: Engine, workspace_id: str, start: datetime, stats: Stats) -> None:
    rows = [{"grain": "h", "workspace_id": workspace_id, "start": start, "wf_key": key, "node_id": node,
             "metric": metric, "label": label, "value": value, "count": count}
            for key, node, metric, label, value, count in counters(stats) if count]
    try:
        with db.begin() as conn:
            conn.execute(delete(ROLLUPS).where(ROLLUPS.c.grain == "h", ROLLUPS.c.workspace_id == workspace_id, ROLLUPS.c.start == start))
            if rows:
                conn.execute(insert(ROLLUPS), rows)
            _remember_definitions(conn, workspace_id, stats)
    except IntegrityError:  # another process recomputed the same hour at the same time: its rows stand
        log.info("insight rollups: hour %s of %s was recomputed concurrently", start, workspace_id)


def _remember_definitions(conn: Connection, workspace_id: str, stats: Stats) -> None:
    wanted = {(key, version): execution_id for key, wf in stats.workflows.items()
              for version, execution_id in wf.definition_ids.items()}
    if not wanted:
        return
    known = {(k, v) for k, v in conn.execute(
        select(DEFINITIONS.c.wf_key, DEFINITIONS.c.version).where(DEFINITIONS.c.workspace_id == workspace_id,
                                                DEFINITIONS.c.wf_key.in_({k for k, _ in wanted})))}
    fresh = [{"workspace_id": workspace_id, "wf_key": k, "version": v, "execution_id": e,
              "definition": json.dumps(stats.workflows[k].definitions[v])}
             for (k, v), e in wanted.items() if (k, v) not in known]
    if fresh:
        conn.execute(insert(DEFINITIONS), fresh)


def _recompute_day(db: Engine, workspace_id: str, day: datetime) -> None:
    day = aware(day)
    hourly = and_(ROLLUPS.c.grain == "h", ROLLUPS.c.workspace_id == workspace_id, ROLLUPS.c.start >= day, ROLLUPS.c.start < day + DAY)
    summed = (select(ROLLUPS.c.wf_key, ROLLUPS.c.node_id, ROLLUPS.c.metric, ROLLUPS.c.label, ROLLUPS.c.value, func.sum(ROLLUPS.c.count))
              .where(hourly).group_by(ROLLUPS.c.wf_key, ROLLUPS.c.node_id, ROLLUPS.c.metric, ROLLUPS.c.label, ROLLUPS.c.value))
    try:
        with db.begin() as conn:
            rows = [{"grain": "d", "workspace_id": workspace_id, "start": day, "wf_key": k, "node_id": n,
                     "metric": m, "label": lb, "value": v, "count": c}
                    for k, n, m, lb, v, c in conn.execute(summed)]
            conn.execute(delete(ROLLUPS).where(ROLLUPS.c.grain == "d", ROLLUPS.c.workspace_id == workspace_id, ROLLUPS.c.start == day))
            if rows:
                conn.execute(insert(ROLLUPS), rows)
    except IntegrityError:
        log.info("insight rollups: day %s of %s was recomputed concurrently", day, workspace_id)

