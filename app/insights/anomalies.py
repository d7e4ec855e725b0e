"""Anomalies: stretches whose mean run duration or error rate is outside the workflow's usual range.

Runs are grouped into buckets of whole hours, as wide as it takes for a bucket to hold about
``anomaly_min_runs`` runs on average (one hour for a busy workflow, four for one that runs every
hour or so), aligned so that the last bucket ends at the window's end. For each bucket with enough
runs, the baseline is the buckets of the preceding ``anomaly_baseline_h`` hours; a bucket is
unusual when its robust z-score, 0.6745 x (value - median) / MAD, passes ``anomaly_z`` (a floor on
the MAD keeps a perfectly steady baseline from flagging noise). A finding covers the latest unusual
stretch that reaches the window's end, and names the run it started with: the first run of the
stretch after the last one that was still in the usual range.
"""

from __future__ import annotations

import bisect
import math
import statistics
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from app.insights.context import Context
from app.insights.findings import Finding
from app.insights.stats import _EX, window

Bucket = tuple[datetime, int, int, float]  # start, runs, unhealthy runs, mean duration ms


def _troubled() -> ColumnElement[int]:
    return case((_EX.c.status.in_(("failed", "timed_out")), 1),
                (and_(_EX.c.status == "completed", _EX.c.failed_steps > 0), 1), else_=0)


def hourly(db: Engine, ctx: Context) -> dict[str, list[Bucket]]:
    """Per workflow key: (hour, runs, unhealthy runs, mean duration ms), oldest first, from the
    hourly rollups (the baseline reaches ``anomaly_baseline_h`` hours before the window)."""
    from app.insights.rollups import hourly as rolled

    s = ctx.stats
    since = s.since - timedelta(hours=ctx.thresholds.anomaly_baseline_h)
    return rolled(db, s.workspace_id, since, s.until + timedelta(microseconds=1))  # the hour holding until


def bucketed(hours: list[Bucket], width_h: int, end: datetime) -> list[Bucket]:
    """Hours merged into buckets of ``width_h`` hours, the last ending at ``end`` (means weighted by runs)."""
    if width_h <= 1:
        return hours
    width = timedelta(hours=width_h)
    merged: dict[datetime, list[float]] = {}
    for h, runs, bad, mean in hours:
        start = end - width * (1 + (end - h - timedelta(seconds=1)) // width)
        acc = merged.setdefault(start, [0, 0, 0.0])
        acc[0] += runs
        acc[1] += bad
        acc[2] += mean * runs
    return [(start, int(r), int(b), total / r if r else 0.0) for start, (r, b, total) in sorted(merged.items())]


def _z(value: float, baseline: list[float], floor: float) -> float:
    median = statistics.median(baseline)
    mad = statistics.median([abs(b - median) for b in baseline])
    return 0.6745 * (value - median) / max(mad, floor)


def _limit(baseline: list[float], floor: float, z: float) -> float:
    """The highest value still in the usual range."""
    median = statistics.median(baseline)
    mad = statistics.median([abs(b - median) for b in baseline])
    return median + z * max(mad, floor) / 0.6745


def _first_unusual(db: Engine, ctx: Context, workflow_id: str | None, start: datetime, end: datetime,
                   metric: str, limit: float) -> datetime:
    """When the stretch began: the first run in ``[start, end)`` after the last usual one."""
    s = ctx.stats
    where = and_(window(s.workspace_id, start, end, workflow_id), _EX.c.created_at < end)
    with db.connect() as conn:
        rows = conn.execute(select(_EX.c.created_at, _EX.c.duration_ms, _troubled())
                            .where(where).order_by(_EX.c.created_at)).all()
    began = start
    for i, (created, ms, bad) in enumerate(rows):
        usual = not bad if metric == "error_rate" else (ms is not None and ms <= limit)
        if usual:
            began = rows[i + 1][0] if i + 1 < len(rows) else created
    if began.tzinfo is None:
        began = began.replace(tzinfo=UTC)
    return began


def anomalies(db: Engine, ctx: Context) -> list[Finding]:
    """Unusual stretches of duration or error rate reaching the window's end, one finding each."""
    t = ctx.thresholds
    out: list[Finding] = []
    window_h = max(1.0, (ctx.stats.until - ctx.stats.since).total_seconds() / 3600)
    for key, hours in hourly(db, ctx).items():
        wf = ctx.stats.workflows.get(key)
        if wf is None or not wf.runs:
            continue
        width_h = max(1, math.ceil(t.anomaly_min_runs * window_h / wf.runs))
        series = bucketed(hours, width_h, ctx.stats.until)
        baseline_span = timedelta(hours=max(t.anomaly_baseline_h, 6 * width_h))
        eligible = [b for b in series if b[1] >= t.anomaly_min_runs]
        starts = [b[0] for b in eligible]
        for metric in ("duration", "error_rate"):
            # only the unusual stretch that reaches the window's end is news: walk back from the end
            flagged: list[tuple[datetime, float, float, float]] = []
            for i in range(len(eligible) - 1, -1, -1):
                h, runs, bad, mean = eligible[i]
                if h < ctx.stats.since:
                    break
                lo = bisect.bisect_left(starts, h - baseline_span)
                base = [(b_bad / b_runs if metric == "error_rate" else b_mean)
                        for _bh, b_runs, b_bad, b_mean in eligible[lo:i]]
                if len(base) < 6:
                    continue
                value = bad / runs if metric == "error_rate" else mean
                floor = 0.05 if metric == "error_rate" else max(1.0, 0.05 * statistics.median(base))
                if _z(value, base, floor) < t.anomaly_z:
                    break
                flagged.insert(0, (h, value, statistics.median(base), _limit(base, floor, t.anomaly_z)))
            if not flagged:
                continue
            first, end = flagged[0][0], flagged[-1][0] + timedelta(hours=width_h)
            start = _first_unusual(db, ctx, wf.workflow_id, first, first + timedelta(hours=width_h), metric,
                                   flagged[0][3])
            value = statistics.mean(v for _, v, _, _ in flagged)
            usual = flagged[0][2]
            what = (f"error rate {value:.0%} against a usual {usual:.0%}" if metric == "error_rate"
                    else f"mean duration {value:.0f} ms against a usual {usual:.0f} ms")
            out.append(Finding(
                severity="high" if metric == "error_rate" else "medium", category="anomaly",
                title=f"{wf.name}: {'error rate' if metric == 'error_rate' else 'runs slower'} than usual "
                      f"since {start:%Y-%m-%d %H:%M} UTC",
                detail=f"since {start:%Y-%m-%d %H:%M} UTC ({len(flagged)} bucket(s) of {width_h} h): {what} "
                       f"(robust z ≥ {t.anomaly_z}).",
                fix="look at what changed then: a deploy of the remote side, a new input shape, a slower host",
                workflow_id=wf.workflow_id, impact="outside the workflow's usual range", implementation_effort="medium",
                figures={"metric": metric, "value": round(value, 3), "baseline_median": round(usual, 3),
                         "buckets": len(flagged), "bucket_hours": width_h},
                execution_ids=ctx.ids("between", wf.workflow_id, start, end), started_at=start.isoformat()))
    return out
