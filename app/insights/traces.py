"""An execution as an OpenTelemetry trace, read from the store: the spans, without the SDK.

The execution is the trace and its root span; each node attempt (a step row) is a span under it,
or under the loop step whose body it ran in; each model call a step made (an ``llm_usage`` row
with the execution's id) is a client span under that attempt, carrying the GenAI
semantic-convention attributes the usage row already names (``UsageRow.attributes``).

Spans are built from the rows once the execution has ended, so one trace covers an execution
whatever process drove which part of it (a resume after a crash, another worker, Temporal), and
ids are derived from the rows' ids: exporting an execution again sends the same trace and span
ids (a collector de-duplicates them), and the trace id is found from an execution id alone
(:func:`trace_id_of`). Nothing here imports OpenTelemetry: :mod:`app.insights.trace_export`
turns these records into SDK spans and is imported only when tracing is configured.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine

from engine.execution_store import ExecutionRow, StepRow

TERMINAL = frozenset({"completed", "failed", "cancelled", "timed_out"})
ERROR_STATUSES = frozenset({"failed", "timed_out", "interrupted"})
_EX = ExecutionRow.__table__  # type: ignore[attr-defined]
_ST = StepRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SpanRecord:
    """One span: ids are ints (128-bit trace, 64-bit span), times nanoseconds since the epoch."""

    name: str
    span_id: int
    parent_id: int | None
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    kind: str = "internal"  # "internal" | "client"
    error: str | None = None  # the status description of a span that failed (status ERROR)
    links: tuple[tuple[int, int], ...] = ()  # (trace id, span id) of related spans


@dataclass(frozen=True)
class ExecutionTrace:
    """An execution's spans, the root (the execution) first."""

    trace_id: int
    spans: list[SpanRecord] = field(default_factory=list)

    @property
    def root(self) -> SpanRecord:
        """The execution's span."""
        return self.spans[0]


def _digest(kind: str, key: str, size: int) -> int:
    value = int.from_bytes(hashlib.sha256(f"flowwright-{kind}:{key}".encode()).digest()[:size], "big")
    return value or 1  # zero is the invalid id


def trace_id_of(execution_id: str) -> int:
    """The 128-bit trace id of an execution (its hex form is what a tracing UI searches by)."""
    return _digest("trace", execution_id, 16)


def span_id_of(key: str) -> int:
    """The 64-bit span id of a row (an execution, step or usage id)."""
    return _digest("span", key, 8)


def traces_endpoint(configured: str | None, environ: Mapping[str, str]) -> str | None:
    """Where to send traces over OTLP/HTTP, or ``None`` (tracing off).

    ``FLOWWRIGHT_OTEL_ENDPOINT`` (``configured``) and the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``
    are base URLs to which ``/v1/traces`` is added, as the OTLP exporter specification says;
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is used as it is. ``OTEL_SDK_DISABLED=true`` turns it off.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    base = (configured or "").strip()
    if not base:
        full = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        if full:
            return full
        base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not base:
        return None
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _ns(value: datetime) -> int:
    value = _aware(value)
    return int(value.replace(microsecond=0).timestamp()) * 1_000_000_000 + value.microsecond * 1000


def _error(text: str | None) -> tuple[str | None, str | None]:
    """(code, message) of a stored error."""
    if not text:
        return None, None
    try:
        payload = json.loads(text)
    except ValueError:
        return None, text[:500]
    if not isinstance(payload, dict):
        return None, str(payload)[:500]
    code = payload.get("code")
    message = payload.get("message")
    return (str(code) if code else None), (str(message)[:500] if message else str(code or "error"))


def _operations(definition: str) -> dict[str, str]:
    """Each node id's operation (``http.request``, ``guardrail.approval``...), nested bodies included."""
    try:
        graph = json.loads(definition)
    except ValueError:
        return {}
    out: dict[str, str] = {}
    stack = [graph] if isinstance(graph, dict) else []
    while stack:
        nodes = stack.pop().get("nodes")
        for node in nodes if isinstance(nodes, list) else []:
            if not isinstance(node, dict) or not isinstance(node.get("id"), str):
                continue
            if node.get("type") == "action":
                out[node["id"]] = f"{node.get('connector')}.{node.get('operation')}"
            elif node.get("type") == "guardrail":
                out[node["id"]] = f"guardrail.{node.get('kind')}"
            if isinstance(node.get("body"), dict):
                stack.append(node["body"])
    return out


@dataclass
class _Step:
    row: Any
    span_id: int
    start: datetime
    end: datetime


def _steps(rows: list[Any], ended: datetime) -> list[_Step]:
    out = []
    for row in rows:
        if row.started_at is None or row.status == "skipped":
            continue  # a skipped node made no attempt
        start = _aware(row.started_at)
        out.append(_Step(row, span_id_of(row.id), start, max(start, _aware(row.completed_at or ended))))
    return out


def _loop_parent(step: _Step, loops: list[_Step]) -> int | None:
    """The loop step whose body ran this step: ``each[2].inner[0]`` ran in loop ``inner`` at
    ``each[2]`` (the attempt covering its start, if the loop ran more than once)."""
    if not step.row.loop_path:
        return None
    outer, _, own = step.row.loop_path.rpartition(".")
    loop_id = own.partition("[")[0]
    mine = [lp for lp in loops if lp.row.node_id == loop_id and lp.row.loop_path == outer]
    covering = [lp for lp in mine if lp.start <= step.start <= lp.end] or mine
    return max(covering, key=lambda lp: lp.start).span_id if covering else None


def _call_parent(node_id: str | None, start: datetime, end: datetime, steps: list[_Step]) -> int | None:
    """The attempt that made a model call: the latest of the node's attempts covering the call,
    else the latest that started before it ended."""
    mine = [s for s in steps if s.row.node_id == node_id]
    covering = [s for s in mine if s.start <= start and end <= s.end + timedelta(milliseconds=5)]
    before = covering or [s for s in mine if s.start <= end]
    return max(before, key=lambda s: s.start).span_id if before else None


def build(db: Engine, execution_id: str) -> ExecutionTrace | None:
    """The trace of an execution that has ended (``None`` while it runs, or when it is gone)."""
    with db.connect() as conn:
        ex = conn.execute(select(_EX).where(_EX.c.id == execution_id)).first()
        if ex is None or ex.status not in TERMINAL:
            return None
        steps = conn.execute(select(_ST).where(_ST.c.execution_id == execution_id).order_by(_ST.c.seq)).all()
        parent_step = None
        if ex.parent_execution_id:
            parent_step = conn.execute(select(_ST.c.id).where(
                _ST.c.execution_id == ex.parent_execution_id, _ST.c.child_execution_id == execution_id)
                .order_by(_ST.c.seq.desc()).limit(1)).scalar()
    usage = _usage(db, execution_id)
    trace_id = trace_id_of(execution_id)
    start = _aware(ex.started_at or ex.created_at)
    end = max(start, _aware(ex.completed_at or ex.updated_at))
    code, message = _error(ex.error)
    common = {"flowwright.execution.id": ex.id, "flowwright.workspace.id": ex.workspace_id}
    if ex.workflow_id:
        common["flowwright.workflow.id"] = ex.workflow_id
    root_attrs: dict[str, Any] = {
        **common, "flowwright.workflow.name": ex.workflow_name, "flowwright.execution.status": ex.status,
        "flowwright.execution.trigger": ex.trigger, "flowwright.execution.failed_steps": ex.failed_steps,
        "flowwright.execution.dry_run": bool(ex.dry_run),
    }
    if ex.workflow_version is not None:
        root_attrs["flowwright.workflow.version"] = ex.workflow_version
    if ex.parent_execution_id:
        root_attrs["flowwright.parent_execution.id"] = ex.parent_execution_id
    if code:
        root_attrs["error.type"] = code
    links = ((trace_id_of(ex.parent_execution_id), span_id_of(parent_step)),) if parent_step else ()
    root = SpanRecord(f"execution {ex.workflow_name}".strip(), span_id_of(ex.id), None, _ns(start), _ns(end),
                      root_attrs, error=message or code if ex.status in ERROR_STATUSES else None, links=links)
    trace = ExecutionTrace(trace_id, [root])
    attempts = _steps(list(steps), end)
    loops = [s for s in attempts if s.row.node_type == "loop"]
    operations = _operations(ex.definition)
    for step in attempts:
        trace.spans.append(_step_span(step, _loop_parent(step, loops) or root.span_id, common, operations))
    for row in usage:
        call_end = _aware(row.created_at)
        call_start = call_end - timedelta(milliseconds=row.latency_ms or 0)
        parent = _call_parent(row.node_id, call_start, call_end, attempts) or root.span_id
        failed = row.outcome not in ("ok", "cache_hit")
        trace.spans.append(SpanRecord(f"{row.operation} {row.model}", span_id_of(row.id), parent, _ns(call_start),
                                      _ns(call_end), row.attributes(), kind="client",
                                      error=(row.error or row.outcome)[:500] if failed else None))
    return trace


def _step_span(step: _Step, parent: int, common: dict[str, Any], operations: dict[str, str]) -> SpanRecord:
    row = step.row
    code, message = _error(row.error)
    attrs: dict[str, Any] = {
        **common, "flowwright.node.id": row.node_id, "flowwright.node.type": row.node_type,
        "flowwright.step.id": row.id, "flowwright.step.attempt": row.attempt, "flowwright.step.status": row.status,
        "flowwright.step.final": bool(row.final),
    }
    if row.node_id in operations:
        attrs["flowwright.node.operation"] = operations[row.node_id]
    if row.loop_path:
        attrs["flowwright.loop_path"] = row.loop_path
    if row.branch:
        attrs["flowwright.step.branch"] = row.branch
    if row.child_execution_id:
        attrs["flowwright.child_execution.id"] = row.child_execution_id
    if code:
        attrs["error.type"] = code
    failed = row.status in ERROR_STATUSES
    return SpanRecord(f"node {row.node_id}", step.span_id, parent, _ns(step.start), _ns(step.end), attrs,
                      error=(message or code or row.status) if failed else None)


def _usage(db: Engine, execution_id: str) -> list[Any]:
    """The execution's model calls (``llm_usage`` rows), oldest first."""
    if "llm_usage" not in set(inspect(db).get_table_names()):
        return []
    from sqlmodel import Session, col
    from sqlmodel import select as select_rows

    from app.llm.tracker import UsageRow

    query = (select_rows(UsageRow).where(UsageRow.execution_id == execution_id)
             .order_by(col(UsageRow.created_at), col(UsageRow.attempt)))
    with Session(db) as session:
        return list(session.exec(query))
