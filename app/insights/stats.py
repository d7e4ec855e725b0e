"""Raw figures for insight reports, read from the execution store and the usage tracker.

Everything is scoped to one workspace and a time window. The queries read the tables the
engine (executions, execution_steps, approvals) and the model gateway (llm_usage) write.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine

from engine.execution_store import ExecutionRow, StepRow


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


@dataclass
class NodeStats:
    node_id: str
    kind: str  # "http.request", "condition", ...
    settled: int = 0  # node runs that reached an end (final rows)
    failed: int = 0
    attempts: int = 0
    durations_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    in_loop: bool = False


@dataclass
class WorkflowStats:
    workflow_id: str | None
    name: str
    runs: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    durations_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    nodes: dict[str, NodeStats] = field(default_factory=dict)
    loop_concurrency: dict[str, int] = field(default_factory=dict)  # body node id -> its loop's max_concurrency
    tokens: int = 0
    cost_usd: float = 0.0

    with_errors: int = 0  # completed, but a node failed and was handled (error route, on_error: continue)

    @property
    def failed(self) -> int:
        return self.statuses["failed"] + self.statuses["timed_out"]

    @property
    def troubled(self) -> int:
        """Runs in which something failed: failed, timed out, or completed with errors."""
        return self.failed + self.with_errors


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
    cost_by_model: dict[str, float] = field(default_factory=lambda: defaultdict(float))


@dataclass
class Stats:
    workspace_id: str
    since: datetime
    until: datetime
    workflows: dict[str, WorkflowStats] = field(default_factory=dict)
    model: ModelStats = field(default_factory=ModelStats)
    pending_approvals: list[dict[str, Any]] = field(default_factory=list)


def _error_code(text: str | None) -> str:
    if not text:
        return "unknown"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return "unknown"
    if isinstance(data, dict):
        return str(data.get("code") or data.get("type") or "unknown")
    return "unknown"


def _node_index(definition: str) -> tuple[dict[str, tuple[str, bool]], dict[str, int]]:
    """node id -> (kind, inside a loop body), and body node id -> its loop's max_concurrency."""
    index: dict[str, tuple[str, bool]] = {}
    concurrency: dict[str, int] = {}

    def walk(nodes: list[dict[str, Any]], in_loop: bool, loop_conc: int | None) -> None:
        for node in nodes:
            ntype = node.get("type", "?")
            kind = f"{node.get('connector')}.{node.get('operation')}" if ntype == "action" else ntype
            index[node.get("id", "?")] = (kind, in_loop)
            if loop_conc is not None:
                concurrency[node.get("id", "?")] = loop_conc
            if ntype == "loop":
                conc = int((node.get("config") or {}).get("max_concurrency", 1))
                walk((node.get("body") or {}).get("nodes", []), True, conc)

    try:
        walk(json.loads(definition).get("nodes", []), False, None)
    except (json.JSONDecodeError, AttributeError):
        pass
    return index, concurrency


def collect(db: Engine, workspace_id: str, since: datetime, until: datetime | None = None) -> Stats:
    """Read every execution, step attempt and model call of the workspace in the window."""
    until = until or datetime.now(UTC)
    stats = Stats(workspace_id=workspace_id, since=since, until=until)
    tables = set(inspect(db).get_table_names())
    if "executions" in tables:
        _collect_executions(db, stats)
    if "llm_usage" in tables:
        _collect_usage(db, stats)
    return stats


def _collect_executions(db: Engine, stats: Stats) -> None:
    ex = ExecutionRow.__table__  # type: ignore[attr-defined]
    st = StepRow.__table__  # type: ignore[attr-defined]
    with db.connect() as conn:
        executions = conn.execute(
            select(ex).where(ex.c.workspace_id == stats.workspace_id, ex.c.created_at >= stats.since,
                             ex.c.created_at <= stats.until, ex.c.dry_run.is_(False))
        ).mappings().all()
        ids = [e["id"] for e in executions]
        steps: list[Any] = []
        for start in range(0, len(ids), 500):
            steps.extend(conn.execute(select(st).where(st.c.execution_id.in_(ids[start:start + 500]))).mappings().all())
    by_execution: dict[str, list[Any]] = defaultdict(list)
    for step in steps:
        by_execution[step["execution_id"]].append(step)
    for row in executions:
        key = row["workflow_id"] or f"adhoc:{row['workflow_name']}"
        wf = stats.workflows.get(key)
        if wf is None:
            wf = stats.workflows[key] = WorkflowStats(workflow_id=row["workflow_id"], name=row["workflow_name"])
        wf.runs += 1
        wf.statuses[row["status"]] += 1
        if row["duration_ms"] is not None and row["status"] in ("completed", "failed", "timed_out"):
            wf.durations_ms.append(float(row["duration_ms"]))
        if row["status"] in ("failed", "timed_out"):
            wf.errors[_error_code(row["error"]) if row["status"] == "failed" else "timed_out"] += 1
        handled_codes = _collect_steps(wf, row, by_execution[row["id"]])
        if row["status"] == "completed" and row.get("failed_steps"):
            # a failed node was handled: the run's error is its handled nodes' (it has none of its own)
            wf.with_errors += 1
            for code in handled_codes or {"unknown"}:
                wf.errors[code] += 1


def _collect_steps(wf: WorkflowStats, row: Any, steps: list[Any]) -> set[str]:
    """Add one execution's steps to its workflow's node statistics; the error codes of its failed
    node runs."""
    kinds, concurrency = _node_index(row["definition"])
    wf.loop_concurrency.update(concurrency)
    last_attempt: dict[tuple[str, str], Any] = {}
    for step in steps:
        kind, in_loop = kinds.get(step["node_id"], (step["node_type"], False))
        node = wf.nodes.get(step["node_id"])
        if node is None:
            node = wf.nodes[step["node_id"]] = NodeStats(step["node_id"], kind, in_loop=in_loop)
        if step["status"] == "skipped" or step["node_type"] == "wait":
            continue  # a while-loop's wait between iterations is not an attempt of the loop
        node.attempts += 1
        started, completed = _aware(step["started_at"]), _aware(step["completed_at"])
        if started and completed:
            node.durations_ms.append((completed - started).total_seconds() * 1000)
        if step["status"] == "failed":
            node.errors[_error_code(step["error"])] += 1
        key = (step["node_id"], step["loop_path"] or "")
        if key not in last_attempt or step["attempt"] >= last_attempt[key]["attempt"]:
            last_attempt[key] = step
    # A node run's outcome is its last attempt's.
    failed_codes: set[str] = set()
    for (node_id, _), step in last_attempt.items():
        if step["status"] in ("completed", "failed"):
            wf.nodes[node_id].settled += 1
            if step["status"] == "failed":
                wf.nodes[node_id].failed += 1
                failed_codes.add(_error_code(step["error"]))
    return failed_codes


def _collect_usage(db: Engine, stats: Stats) -> None:
    from app.llm.tracker import UsageRow

    usage = UsageRow.__table__  # type: ignore[attr-defined]
    with db.connect() as conn:
        rows = conn.execute(
            select(usage).where(usage.c.workspace_id == stats.workspace_id, usage.c.created_at >= stats.since,
                                usage.c.created_at <= stats.until)
        ).mappings().all()
    model = stats.model
    calls: set[str] = set()
    by_workflow: dict[str, WorkflowStats] = {w.workflow_id: w for w in stats.workflows.values() if w.workflow_id}
    for row in rows:
        calls.add(row["call_id"])
        tokens = int(row["prompt_tokens"]) + int(row["completion_tokens"])
        if row["cache_hit"]:
            model.cache_hits += 1
            model.saved_tokens += int(row["saved_tokens"])
        else:
            model.attempts += 1
        if row["outcome"] == "parse_error":
            model.parse_errors += 1
        model.tokens += tokens
        model.cost_usd += float(row["cost_usd"])
        model.by_purpose[row["purpose"]] += tokens
        model.cost_by_model[row["model"]] += float(row["cost_usd"])
        if row["cost_unknown"]:
            model.cost_unknown_models.add(row["model"])
        wf = by_workflow.get(row["workflow_id"]) if row["workflow_id"] else None
        if wf is not None:
            wf.tokens += tokens
            wf.cost_usd += float(row["cost_usd"])
    model.calls = len(calls)
