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

The package's modules: :mod:`.tables` (the rows, their state, their sizes), :mod:`.writer`
(refresh, prune and the service's job), :mod:`.reader` (a window's figures) and :mod:`.series`
(hourly series and the hints finding evidence narrows its queries with).
"""

from app.insights.rollups.reader import collect, spans
from app.insights.rollups.series import hourly, latest_hours, slowest_hours
from app.insights.rollups.tables import (
    TABLES,
    WORKFLOW,
    InsightDefinitionRow,
    InsightRollupRow,
    InsightRollupStateRow,
    describe,
    ensure_tables,
    hourly_since,
    row_count,
)
from app.insights.rollups.writer import counters, prune, refresh, run

__all__ = ["TABLES", "WORKFLOW", "InsightDefinitionRow", "InsightRollupRow", "InsightRollupStateRow", "collect",
           "counters", "describe", "ensure_tables", "hourly", "hourly_since", "latest_hours", "prune", "refresh",
           "row_count", "run", "slowest_hours", "spans"]
