"""Operations metrics in the Prometheus text format, read from the database at scrape time.

The API and its worker processes share nothing but the database, so the figures come from it
rather than from one process's memory: a scrape of any API process sees every worker's work.

- ``flowwright_executions{workspace,status}``: executions stored, by status (a gauge: retention
  deletes old ones); ``flowwright_executions_completed_with_errors{workspace}`` the completed ones
  whose failures an error route or ``on_error: continue`` handled (counted in ``completed`` too).
- ``flowwright_step_duration_seconds{workspace,kind}``: a histogram of finished steps' durations
  by node kind (``http.request``, ``guardrail.approval``...), from the insight rollups, refreshed
  at each scrape (they keep the figures of executions retention has deleted, so the buckets only
  grow).
- ``flowwright_queue_depth{workspace,state}`` (``queued`` / ``claimed``) and
  ``flowwright_queue_oldest_wait_seconds{workspace}``: how long the longest-waiting queued
  execution that is due has waited.
- ``flowwright_llm_tokens_total{workspace,purpose,model,type}`` (``prompt`` / ``completion``),
  ``flowwright_llm_cost_usd_total``, ``flowwright_llm_calls_total{…,outcome}`` and
  ``flowwright_llm_cache_hits_total`` / ``flowwright_llm_cache_saved_tokens_total``.
- ``flowwright_circuit_breaker_state{workspace,key,state}`` (1 for the breaker's stored state),
  ``flowwright_circuit_breaker_failures{workspace,key}`` and ``flowwright_dead_letters{workspace}``.
- Operator scope only (every workspace): ``flowwright_workers{kind,status}``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

# step durations, in seconds: from a fast transform to a long approval wait
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class FlowwrightCollector(Collector):
    """Collects Flowwright's metrics from ``db`` for one workspace, or for all (``workspace=None``,
    the operator's scope)."""

    def __init__(self, db: Engine, workspace: str | None) -> None:
        self.db = db
        self.workspace = workspace

    def collect(self) -> Iterator[Metric]:
        """Every metric family (empty ones included, so a dashboard sees the names from the start)."""
        tables = set(inspect(self.db).get_table_names())
        yield from self._executions(tables)
        yield from self._steps(tables)
        yield from self._queue(tables)
        yield from self._llm(tables)
        yield from self._breakers(tables)
        if self.workspace is None:
            yield from self._workers(tables)

    def _scoped(self, column: ColumnElement[str]) -> list[ColumnElement[bool]]:
        return [] if self.workspace is None else [column == self.workspace]

    def _executions(self, tables: set[str]) -> Iterable[Metric]:
        from engine.execution_store import ExecutionRow

        by_status = GaugeMetricFamily("flowwright_executions", "Executions stored, by status.",
                                      labels=["workspace", "status"])
        with_errors = GaugeMetricFamily(
            "flowwright_executions_completed_with_errors",
            "Completed executions whose step failures were handled by an error route or on_error: continue.",
            labels=["workspace"])
        if "executions" in tables:
            ex = ExecutionRow.__table__  # type: ignore[attr-defined]
            handled = func.sum(case((ex.c.failed_steps > 0, 1), else_=0))
            query = (select(ex.c.workspace_id, ex.c.status, func.count(), handled)
                     .where(*self._scoped(ex.c.workspace_id)).group_by(ex.c.workspace_id, ex.c.status))
            errors: dict[str, int] = defaultdict(int)
            with self.db.connect() as conn:
                for workspace, status, count, n_handled in conn.execute(query):
                    by_status.add_metric([workspace, status], int(count))
                    if status == "completed":
                        errors[workspace] += int(n_handled or 0)
            for workspace, n in sorted(errors.items()):
                with_errors.add_metric([workspace], n)
        yield by_status
        yield with_errors

    def _steps(self, tables: set[str]) -> Iterable[Metric]:
        from app.insights import rollups

        family = HistogramMetricFamily("flowwright_step_duration_seconds",
                                       "Durations of finished node attempts (completed or failed), by node kind.",
                                       labels=["workspace", "kind"], unit="")
        if "executions" in tables:
            rollups.refresh(self.db)
            per_series = _step_histograms(self.db, self.workspace)
            for (workspace, kind), (buckets, total) in sorted(per_series.items()):
                family.add_metric([workspace, kind], buckets, total)
        yield family

    def _queue(self, tables: set[str]) -> Iterable[Metric]:
        from engine.queue import QUEUED, QueueRow

        depth = GaugeMetricFamily("flowwright_queue_depth", "Executions in the durable queue: waiting for a "
                                  "worker (queued) or driven by one (claimed).", labels=["workspace", "state"])
        wait = GaugeMetricFamily("flowwright_queue_oldest_wait_seconds", "How long the longest-waiting due "
                                 "queued execution has waited.", labels=["workspace"])
        if "execution_queue" in tables:
            q = QueueRow.__table__  # type: ignore[attr-defined]
            now = datetime.now(UTC)
            with self.db.connect() as conn:
                for workspace, state, count in conn.execute(
                        select(q.c.workspace_id, q.c.status, func.count()).where(*self._scoped(q.c.workspace_id))
                        .group_by(q.c.workspace_id, q.c.status)):
                    depth.add_metric([workspace, state], int(count))
                for workspace, oldest in conn.execute(
                        select(q.c.workspace_id, func.min(q.c.available_at))
                        .where(q.c.status == QUEUED, q.c.available_at <= now, *self._scoped(q.c.workspace_id))
                        .group_by(q.c.workspace_id)):
                    if oldest is not None:
                        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
                        wait.add_metric([workspace], max(0.0, (now - oldest).total_seconds()))
        yield depth
        yield wait

    def _llm(self, tables: set[str]) -> Iterable[Metric]:
        from app.llm.tracker import UsageRow

        labels = ["workspace", "purpose", "model"]
        tokens = CounterMetricFamily("flowwright_llm_tokens", "Model tokens used (cache hits excluded).",
                                     labels=[*labels, "type"])
        cost = CounterMetricFamily("flowwright_llm_cost_usd", "Model spend in USD (litellm's price map; "
                                   "models without a price count 0).", labels=labels)
        calls = CounterMetricFamily("flowwright_llm_calls", "Model provider attempts, by outcome (ok, "
                                    "parse_error, an error code).", labels=[*labels, "outcome"])
        hits = CounterMetricFamily("flowwright_llm_cache_hits", "Model calls answered by the semantic cache.",
                                   labels=labels)
        saved = CounterMetricFamily("flowwright_llm_cache_saved_tokens", "Tokens the semantic cache saved.",
                                    labels=labels)
        if "llm_usage" in tables:
            u = UsageRow.__table__  # type: ignore[attr-defined]
            query = (select(u.c.workspace_id, u.c.purpose, u.c.model, u.c.cache_hit, u.c.outcome, func.count(),
                            func.sum(u.c.prompt_tokens), func.sum(u.c.completion_tokens), func.sum(u.c.cost_usd),
                            func.sum(u.c.saved_tokens))
                     .where(*self._scoped(u.c.workspace_id))
                     .group_by(u.c.workspace_id, u.c.purpose, u.c.model, u.c.cache_hit, u.c.outcome))
            sums: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0] * 5)
            with self.db.connect() as conn:
                for workspace, purpose, model, cache_hit, outcome, count, prompt, completion, usd, kept in \
                        conn.execute(query):
                    key = (workspace, purpose, model)
                    acc = sums[key]
                    if cache_hit:
                        acc[3] += count
                        acc[4] += kept or 0
                        continue
                    acc[0] += prompt or 0
                    acc[1] += completion or 0
                    acc[2] += usd or 0.0
                    calls.add_metric([*key, outcome], int(count))
            for key, (prompt, completion, usd, n_hits, n_saved) in sorted(sums.items()):
                tokens.add_metric([*key, "prompt"], prompt)
                tokens.add_metric([*key, "completion"], completion)
                cost.add_metric(list(key), round(usd, 9))
                hits.add_metric(list(key), n_hits)
                saved.add_metric(list(key), n_saved)
        yield from (tokens, cost, calls, hits, saved)

    def _breakers(self, tables: set[str]) -> Iterable[Metric]:
        from engine.circuit_breaker import CLOSED, HALF_OPEN, OPEN, BreakerRow
        from engine.dead_letters import DeadLetterRow

        state = GaugeMetricFamily("flowwright_circuit_breaker_state", "1 for the state each circuit breaker "
                                  "(connector:host) is in, 0 for the others (closed, open, half_open).",
                                  labels=["workspace", "key", "state"])
        failures = GaugeMetricFamily("flowwright_circuit_breaker_failures", "Consecutive retryable failures "
                                     "a breaker counts in its window.", labels=["workspace", "key"])
        letters = GaugeMetricFamily("flowwright_dead_letters", "Dead-lettered executions not replayed yet.",
                                    labels=["workspace"])
        if "circuit_breakers" in tables:
            b = BreakerRow.__table__  # type: ignore[attr-defined]
            with self.db.connect() as conn:
                for workspace, key, current, n in conn.execute(
                        select(b.c.workspace_id, b.c.key, b.c.state, b.c.failures)
                        .where(*self._scoped(b.c.workspace_id)).order_by(b.c.workspace_id, b.c.key)):
                    for name in (CLOSED, OPEN, HALF_OPEN):
                        state.add_metric([workspace, key, name], 1.0 if current == name else 0.0)
                    failures.add_metric([workspace, key], int(n or 0))
        if "dead_letters" in tables:
            d = DeadLetterRow.__table__  # type: ignore[attr-defined]
            with self.db.connect() as conn:
                for workspace, count in conn.execute(
                        select(d.c.workspace_id, func.count()).where(d.c.replayed_as.is_(None),
                                                                     *self._scoped(d.c.workspace_id))
                        .group_by(d.c.workspace_id)):
                    letters.add_metric([workspace], int(count))
        yield from (state, failures, letters)

    def _workers(self, tables: set[str]) -> Iterable[Metric]:
        from engine.queue import WorkerRow

        family = GaugeMetricFamily("flowwright_workers", "Registered worker processes, by kind and status "
                                   "(alive, dead, stopped).", labels=["kind", "status"])
        if "workers" in tables:
            w = WorkerRow.__table__  # type: ignore[attr-defined]
            with self.db.connect() as conn:
                for kind, status, count in conn.execute(
                        select(w.c.kind, w.c.status, func.count()).group_by(w.c.kind, w.c.status)):
                    family.add_metric([kind, status], int(count))
        yield family


def _step_histograms(db: Engine, workspace: str | None) -> dict[tuple[str, str], tuple[list[tuple[str, float]], float]]:
    """Per (workspace, node kind): cumulative Prometheus buckets and the sum of seconds, from the
    day rollups' duration histograms (each value a duration in ms rounded to the rollup grid)."""
    from app.insights.rollups.tables import ROLLUPS as _R
    from app.insights.rollups.tables import WORKFLOW

    scope = [] if workspace is None else [_R.c.workspace_id == workspace]
    with db.connect() as conn:
        kinds = {(ws, key, node): label for ws, key, node, label in conn.execute(
            select(_R.c.workspace_id, _R.c.wf_key, _R.c.node_id, _R.c.label).distinct()
            .where(_R.c.grain == "d", _R.c.metric == "kind", _R.c.node_id != WORKFLOW, *scope))}
        rows = conn.execute(
            select(_R.c.workspace_id, _R.c.wf_key, _R.c.node_id, _R.c.value, func.sum(_R.c.count))
            .where(_R.c.grain == "d", _R.c.metric == "duration", _R.c.node_id != WORKFLOW, *scope)
            .group_by(_R.c.workspace_id, _R.c.wf_key, _R.c.node_id, _R.c.value)).all()
    counts: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * (len(STEP_BUCKETS) + 1))
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for ws, key, node, ms, n in rows:
        series = (ws, kinds.get((ws, key, node), "unknown"))
        seconds = float(ms) / 1000
        slot = next((i for i, upper in enumerate(STEP_BUCKETS) if seconds <= upper), len(STEP_BUCKETS))
        counts[series][slot] += float(n)
        totals[series] += seconds * float(n)
    out: dict[tuple[str, str], tuple[list[tuple[str, float]], float]] = {}
    for series, slots in counts.items():
        running, buckets = 0.0, []
        for upper, n in zip((*(str(b) for b in STEP_BUCKETS), "+Inf"), slots, strict=True):
            running += n
            buckets.append((upper, running))
        out[series] = (buckets, totals[series])
    return out


def exposition(db: Engine, workspace: str | None) -> bytes:
    """The metrics of ``workspace`` (every workspace and the workers for ``None``) in the
    Prometheus text format, version 0.0.4."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(FlowwrightCollector(db, workspace))
    return generate_latest(registry)


__all__ = ["STEP_BUCKETS", "FlowwrightCollector", "exposition"]
