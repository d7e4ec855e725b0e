"""Raw figures for insight reports, aggregated in SQL from the execution store and the usage tracker.

Everything is scoped to one workspace and a time window. Each figure is a ``GROUP BY`` over indexed
columns (``executions(workspace_id, created_at)``, ``execution_steps(execution_id, ...)``), so a
report over a million step rows reads aggregates, never the rows themselves. Durations come back
as histograms (value -> count) on a grid at most 2.5% wide (exact below 100 ms), from which the
percentiles are taken. :mod:`app.insights.rollups` keeps these figures per hour and per day, and
merges them (:func:`merge`) with this module's figures for the partial hours at a window's ends.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, inspect, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from engine.execution_store import ExecutionRow, StepRow

# Nodes that wait by design: their time is not work, so it is never a bottleneck.
WAITING_KINDS = frozenset({"core.delay", "guardrail.approval", "wait"})


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass
class Distribution:
    """A histogram of durations in milliseconds (value -> how many times it occurred)."""

    counts: Counter[float] = field(default_factory=Counter)

    @classmethod
    def of(cls, values: list[float]) -> Distribution:
        """A distribution of the given values."""
        return cls(Counter(values))

    def add(self, value: float, times: int = 1) -> None:
        """Count ``value`` ``times`` more times."""
        self.counts[value] += times

    def merge(self, other: Distribution) -> None:
        """Add every count of ``other``."""
        self.counts.update(other.counts)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    @property
    def total(self) -> float:
        return sum(v * n for v, n in self.counts.items())

    def quantile(self, q: float) -> float | None:
        """Nearest-rank percentile (``q`` in 0..100); None when empty."""
        n = self.count
        if not n:
            return None
        rank = max(1, min(n, -(-q * n // 100)))  # ceil(q/100 * n) without floats drifting
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen >= rank:
                return value
        return max(self.counts)  # pragma: no cover - unreachable: seen ends at n


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of a list; None for no values."""
    return Distribution.of(values).quantile(q)


@dataclass
class NodeStats:
    node_id: str
    kind: str  # "http.request", "condition", "guardrail.approval", ...
    settled: int = 0  # node runs that reached an end (completed or failed last attempt)
    failed: int = 0  # node runs whose last attempt failed
    attempts: int = 0
    retried: int = 0  # attempts after the first (each follows a failed attempt)
    retry_successes: int = 0  # retries that completed
    durations: Distribution = field(default_factory=Distribution)
    errors: Counter[str] = field(default_factory=Counter)
    in_loop: bool = False

    @property
    def waits_by_design(self) -> bool:
        """A delay or an approval: waiting is its job."""
        return self.kind in WAITING_KINDS


@dataclass
class WorkflowStats:
    workflow_id: str | None
    name: str
    runs: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    durations: Distribution = field(default_factory=Distribution)
    errors: Counter[str] = field(default_factory=Counter)
    nodes: dict[str, NodeStats] = field(default_factory=dict)
    loop_concurrency: dict[str, int] = field(default_factory=dict)  # body node id -> its loop's max_concurrency
    definitions: dict[int, dict[str, Any]] = field(default_factory=dict)  # version -> definition as it ran
    tokens: int = 0
    cost_usd: float = 0.0
    duration_sum_ms: float = 0.0  # exact, over the runs with a duration (the histogram is on a grid)
    duration_n: int = 0
    definition_ids: dict[int, str] = field(default_factory=dict)  # version -> an execution that ran it

    with_errors: int = 0  # completed, but a node failed and was handled (error route, on_error: continue)

    @property
    def failed(self) -> int:
        return self.statuses["failed"] + self.statuses["timed_out"]

    @property
    def troubled(self) -> int:
        """Runs in which something failed: failed, timed out, or completed with errors."""
        return self.failed + self.with_errors

    @property
    def clean(self) -> int:
        """Runs that completed with no failed node at all."""
        return self.statuses["completed"] - self.with_errors

    @property
    def latest_definition(self) -> dict[str, Any] | None:
        return self.definitions[max(self.definitions)] if self.definitions else None


@dataclass
class ModelStats:
    calls: int = 0
    attempts: int = 0
    parse_errors: int = 0
    cache_hits: int = 0
    tokens: int = 0
    saved_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown_models: set[str] = field(default_factory=set)
    by_purpose: Counter[str] = field(default_factory=Counter)  # purpose -> tokens
    cost_by_purpose: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cost_by_model: dict[str, float] = field(default_factory=lambda: defaultdict(float))


@dataclass
class Stats:
    workspace_id: str
    since: datetime
    until: datetime
    workflows: dict[str, WorkflowStats] = field(default_factory=dict)
    model: ModelStats = field(default_factory=ModelStats)
    pending_approvals: list[dict[str, Any]] = field(default_factory=list)


def error_code(text: str | None) -> str:
    """The stable ``code`` of a stored error (JSON), or ``unknown``."""
    if not text:
        return "unknown"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return "unknown"
    if isinstance(data, dict):
        return str(data.get("code") or data.get("type") or "unknown")
    return "unknown"


def node_kind(node: dict[str, Any]) -> str:
    """``connector.operation`` for an action, ``guardrail.<kind>`` / ``trigger.<kind>``, else the type."""
    ntype = str(node.get("type", "?"))
    if ntype == "action":
        return f"{node.get('connector')}.{node.get('operation')}"
    if ntype in ("guardrail", "trigger") and node.get("kind"):
        return f"{ntype}.{node['kind']}"
    return ntype


def walk_nodes(definition: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every node of a definition with the loop whose body holds it (None at the top level)."""
    out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []

    def walk(nodes: list[Any], loop: dict[str, Any] | None) -> None:
        for node in nodes:
            if not isinstance(node, dict):
                continue
            out.append((node, loop))
            if node.get("type") == "loop":
                walk((node.get("body") or {}).get("nodes", []), node)

    nodes = definition.get("nodes", []) if isinstance(definition, dict) else []
    walk(nodes if isinstance(nodes, list) else [], None)
    return out


def collect(db: Engine, workspace_id: str, since: datetime, until: datetime | None = None,
            workflow_id: str | None = None, *, executions_only: bool = False, until_inclusive: bool = True,
            usage: bool = True) -> Stats:
    """Aggregate every execution, step attempt and model call of the workspace in the window
    (``executions_only``: the runs' statuses and durations, no steps or model calls; what a trend
    against the previous window needs; ``until_inclusive=False``: runs created before ``until``
    only, so that adjacent windows never count a run twice; ``usage=False``: no model calls)."""
    until = until or datetime.now(UTC)
    stats = Stats(workspace_id=workspace_id, since=since, until=until)
    tables = set(inspect(db).get_table_names())
    with db.connect() as conn:
        if "executions" in tables:
            _Collector(conn, stats, workflow_id, until_inclusive).run(executions_only)
        if "llm_usage" in tables and usage and not executions_only:
            collect_usage(conn, stats, workflow_id)
    return stats


def collect_on(conn: Connection, stats: Stats, workflow_id: str | None = None, *, executions_only: bool = False,
               until_inclusive: bool = True, by_hour: bool = False) -> None:
    """:func:`collect`'s execution and step figures for ``stats``' window, on an open connection
    (the executions table exists). ``by_hour``: each workflow's figures per clock hour, keyed
    ``KEY|YYYY-MM-DDTHH`` (UTC), in one pass over the window."""
    _Collector(conn, stats, workflow_id, until_inclusive, by_hour).run(executions_only)


def hour_text(conn: Connection) -> ColumnElement[str]:
    """An execution's UTC clock hour as ``YYYY-MM-DDTHH``."""
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%dT%H", _EX.c.created_at)
    return func.to_char(func.timezone("UTC", _EX.c.created_at), 'YYYY-MM-DD"T"HH24')


_EX = ExecutionRow.__table__  # type: ignore[attr-defined]
_ST = StepRow.__table__  # type: ignore[attr-defined]


def workflow_key() -> ColumnElement[str]:
    """The key a run is grouped under: its workflow id, or ``adhoc:NAME`` for a file run."""
    return func.coalesce(_EX.c.workflow_id, literal("adhoc:") + _EX.c.workflow_name)


def window(workspace_id: str, since: datetime, until: datetime, workflow_id: str | None = None,
           until_inclusive: bool = True) -> ColumnElement[bool]:
    """The executions a report covers (dry runs never count)."""
    before = _EX.c.created_at <= until if until_inclusive else _EX.c.created_at < until
    clause = and_(_EX.c.workspace_id == workspace_id, _EX.c.created_at >= since, before, _EX.c.dry_run.is_(False))
    if workflow_id is not None:
        clause = and_(clause, _EX.c.workflow_id == workflow_id)
    return clause


class _Collector:
    def __init__(self, conn: Connection, stats: Stats, workflow_id: str | None, until_inclusive: bool = True,
                 by_hour: bool = False) -> None:
        self.conn, self.stats = conn, stats
        self.where = window(stats.workspace_id, stats.since, stats.until, workflow_id, until_inclusive)
        key = workflow_key()
        self.key = (key + literal("|") + hour_text(conn) if by_hour else key).label("wf")

    def run(self, executions_only: bool = False) -> None:
        self._executions()
        if not self.stats.workflows or executions_only:
            return
        self._definitions()
        self._steps()

    def _wf(self, key: str) -> WorkflowStats:
        return self.stats.workflows[key]

    def _executions(self) -> None:
        ex = _EX
        with_errors = case((and_(ex.c.status == "completed", ex.c.failed_steps > 0), 1), else_=0)
        duration = case((ex.c.status.in_(("completed", "failed", "timed_out")), bucketed(ex.c.duration_ms)), else_=None)
        rows = self.conn.execute(
            select(self.key, ex.c.workflow_id, func.max(ex.c.workflow_name), ex.c.status, with_errors.label("we"),
                   duration.label("d"), func.count(), func.sum(ex.c.duration_ms), func.count(ex.c.duration_ms))
            .where(self.where).group_by(self.key, ex.c.workflow_id, ex.c.status, with_errors, duration))
        for key, wf_id, name, status, we, ms, count, ms_sum, ms_n in rows:
            wf = self.stats.workflows.get(key)
            if wf is None:
                wf = self.stats.workflows[key] = WorkflowStats(workflow_id=wf_id, name=name or "")
            wf.runs += count
            wf.statuses[status] += count
            if we:
                wf.with_errors += count
            if ms is not None:
                wf.durations.add(float(ms), count)
            wf.duration_sum_ms += float(ms_sum or 0)
            wf.duration_n += int(ms_n or 0)
        for key, status, error, count in self.conn.execute(
                select(self.key, ex.c.status, ex.c.error, func.count())
                .where(self.where, ex.c.status.in_(("failed", "timed_out"))).group_by(self.key, ex.c.status, ex.c.error)):
            self._wf(key).errors["timed_out" if status == "timed_out" else error_code(error)] += count

    def _definitions(self) -> None:
        ex = _EX
        first = select(func.min(ex.c.id)).where(self.where).group_by(self.key, ex.c.workflow_version)
        for key, version, execution_id, definition in self.conn.execute(
                select(self.key, ex.c.workflow_version, ex.c.id, ex.c.definition)
                .where(ex.c.id.in_(first.scalar_subquery()))):
            add_definition(self._wf(key), int(version or 0), execution_id, definition)
        for wf in self.stats.workflows.values():
            apply_definitions(wf)

    def _node(self, key: str, node_id: str, node_type: str) -> NodeStats:
        wf = self._wf(key)
        node = wf.nodes.get(node_id)
        if node is None:
            node = wf.nodes[node_id] = NodeStats(node_id, node_type)
        return node

    def _steps(self) -> None:
        st = _ST
        joined = _EX.join(st, st.c.execution_id == _EX.c.id)
        counted = and_(self.where, st.c.status != "skipped", st.c.node_type != "wait")
        retry = case((st.c.attempt > 1, 1), else_=0)
        duration = case((st.c.status.in_(("completed", "failed")), bucketed(st.c.duration_ms)), else_=None)
        # one pass over the join: everything but the error texts
        for key, node_id, node_type, status, retried, ms, count in self.conn.execute(
                select(self.key, st.c.node_id, func.max(st.c.node_type), st.c.status, retry.label("r"),
                       duration.label("d"), func.count()).select_from(joined).where(counted)
                .group_by(self.key, st.c.node_id, st.c.status, retry, duration)):
            node = self._node(key, node_id, node_type)
            node.attempts += count
            if retried:
                node.retried += count
                if status == "completed":
                    node.retry_successes += count
            if status == "completed":
                node.settled += count
            elif status in ("failed", "interrupted"):
                node.failed += count  # all failed attempts for now; the retried ones come off below
            if ms is not None:
                node.durations.add(float(ms), count)
        for wf in self.stats.workflows.values():
            for node in wf.nodes.values():
                # every attempt after the first follows a failed (or interrupted) one, so the
                # failed last attempts are the failed attempts that no retry followed
                node.failed = max(0, node.failed - node.retried)
                node.settled += node.failed
        for key, node_id, error, count in self.conn.execute(
                select(self.key, st.c.node_id, st.c.error, func.count()).select_from(joined)
                .where(counted, st.c.status == "failed").group_by(self.key, st.c.node_id, st.c.error)):
            self._node(key, node_id, "action").errors[error_code(error)] += count
        # a completed run with handled failures has no error of its own: its handled nodes' errors are its
        handled = and_(self.where, _EX.c.status == "completed", _EX.c.failed_steps > 0, st.c.status == "failed",
                       st.c.final.is_(True))
        for key, error, count in self.conn.execute(
                select(self.key, st.c.error, func.count()).select_from(joined).where(handled)
                .group_by(self.key, st.c.error)):
            self._wf(key).errors[error_code(error)] += count


# Histogram grid: exact below 100 ms, then steps of 2, 5 and 10 per hundred (1-2-5 by decade), so
# a bucket is at most 2.5% wide; a workflow's durations in a day fall into a few dozen buckets,
# which is what keeps the rollups (app/insights/rollups/) small.
_STEPS = [(upper * 10**d, step * 10**d) for d in range(6) for upper, step in ((200, 2), (500, 5), (1000, 10))]


def add_definition(wf: WorkflowStats, version: int, execution_id: str, text: str) -> None:
    """Record the definition a version ran with (a snapshot that does not parse is left out)."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return
    if isinstance(parsed, dict):
        wf.definitions[version] = parsed
        wf.definition_ids[version] = execution_id


def apply_definitions(wf: WorkflowStats) -> None:
    """Give every node of the definitions its kind, whether it sits in a loop and that loop's
    concurrency (nodes that never ran get empty figures)."""
    for _version, definition in sorted(wf.definitions.items()):
        for node, loop in walk_nodes(definition):
            node_id = str(node.get("id", "?"))
            stats = wf.nodes.get(node_id)
            if stats is None:
                stats = wf.nodes[node_id] = NodeStats(node_id, node_kind(node))
            stats.kind, stats.in_loop = node_kind(node), loop is not None
            if loop is not None:
                wf.loop_concurrency[node_id] = int((loop.get("config") or {}).get("max_concurrency", 1) or 1)


def merge(into: Stats, other: Stats) -> None:
    """Add ``other``'s figures (another stretch of the same workspace) to ``into``."""
    for key, wf in other.workflows.items():
        mine = into.workflows.get(key)
        if mine is None:
            into.workflows[key] = wf
            continue
        mine.name = max(mine.name, wf.name)
        mine.runs += wf.runs
        mine.with_errors += wf.with_errors
        mine.statuses.update(wf.statuses)
        mine.durations.merge(wf.durations)
        mine.errors.update(wf.errors)
        mine.duration_sum_ms += wf.duration_sum_ms
        mine.duration_n += wf.duration_n
        mine.tokens += wf.tokens
        mine.cost_usd += wf.cost_usd
        for version, definition in wf.definitions.items():
            if not mine.definitions.get(version):  # an empty one stands for a snapshot not read yet
                mine.definitions[version] = definition
                if version in wf.definition_ids:
                    mine.definition_ids[version] = wf.definition_ids[version]
        mine.loop_concurrency.update(wf.loop_concurrency)
        for node_id, node in wf.nodes.items():
            have = mine.nodes.get(node_id)
            if have is None:
                mine.nodes[node_id] = node
                continue
            have.settled += node.settled
            have.failed += node.failed
            have.attempts += node.attempts
            have.retried += node.retried
            have.retry_successes += node.retry_successes
            have.durations.merge(node.durations)
            have.errors.update(node.errors)
            have.in_loop = have.in_loop or node.in_loop
    for wf in into.workflows.values():
        apply_definitions(wf)  # the newest definitions decide kinds and loops


def bucketed(ms: Any) -> ColumnElement[Any]:
    """A duration rounded down to the histogram grid (exact below 100 ms, then at most 2.5% off)."""
    return case((ms < 100, ms), *((ms < upper, ms // step * step) for upper, step in _STEPS),
                else_=ms // (2 * 10**6) * (2 * 10**6))


def collect_usage(conn: Connection, stats: Stats, workflow_id: str | None) -> None:
    """Add the window's model calls (tokens, cost, cache hits by purpose and model) to ``stats``."""
    from app.llm.tracker import UsageRow

    u = UsageRow.__table__  # type: ignore[attr-defined]
    where = and_(u.c.workspace_id == stats.workspace_id, u.c.created_at >= stats.since, u.c.created_at <= stats.until)
    if workflow_id is not None:
        where = and_(where, u.c.workflow_id == workflow_id)
    model = stats.model
    tokens = u.c.prompt_tokens + u.c.completion_tokens
    model.calls = int(conn.execute(select(func.count(func.distinct(u.c.call_id))).where(where)).scalar() or 0)
    by_workflow = {w.workflow_id: w for w in stats.workflows.values() if w.workflow_id}
    rows = conn.execute(
        select(u.c.workflow_id, u.c.purpose, u.c.model, u.c.cache_hit, u.c.outcome, u.c.cost_unknown, func.count(),
               func.sum(tokens), func.sum(u.c.saved_tokens), func.sum(u.c.cost_usd)).where(where)
        .group_by(u.c.workflow_id, u.c.purpose, u.c.model, u.c.cache_hit, u.c.outcome, u.c.cost_unknown))
    for wf_id, purpose, name, cache_hit, outcome, cost_unknown, count, n_tokens, saved, cost in rows:
        n_tokens, saved, cost = int(n_tokens or 0), int(saved or 0), float(cost or 0.0)
        if cache_hit:
            model.cache_hits += count
            model.saved_tokens += saved
        else:
            model.attempts += count
        if outcome == "parse_error":
            model.parse_errors += count
        model.tokens += n_tokens
        model.cost_usd += cost
        model.by_purpose[purpose] += n_tokens
        model.cost_by_purpose[purpose] += cost
        model.cost_by_model[name] += cost
        if cost_unknown:
            model.cost_unknown_models.add(name)
        wf = by_workflow.get(wf_id) if wf_id else None
        if wf is not None:
            wf.tokens += n_tokens
            wf.cost_usd += cost
