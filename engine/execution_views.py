"""The JSON shapes of executions, steps, events and approvals (``run --json``, the API, SSE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine import events as ev
from engine.execution_store import ExecutionRow, ExecutionStore, StepRow, aware, loads, now


def duration_ms(started: datetime | None, completed: datetime) -> int | None:
    started = aware(started)
    return None if started is None else int((completed - started).total_seconds() * 1000)


def event_from_row(row: Any) -> ev.Event:
    return ev.Event(row.execution_id, row.seq, row.type, aware(row.created_at) or now(), row.node_id, loads(row.data) or {})


def iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value is not None else None


def outcome(status: str, failed_steps: int) -> str:
    """The words a person reads: a completed run whose failures were handled is "completed with
    errors", never plain "completed"."""
    if status == "completed" and failed_steps:
        return "completed with errors"
    return status.replace("_", " ")


def step_dict(step: StepRow) -> dict[str, Any]:
    data: dict[str, Any] = {
        "node_id": step.node_id, "status": step.status, "attempt": step.attempt,
        "input": loads(step.input), "output": loads(step.output), "error": loads(step.error),
        "started_at": iso(step.started_at), "completed_at": iso(step.completed_at),
        "duration_ms": step.duration_ms,
    }
    if step.loop_path:
        data["loop_path"] = step.loop_path
    if step.child_execution_id:
        data["child_execution_id"] = step.child_execution_id
    return data


def child_dict(row: ExecutionRow, children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A sub-workflow execution as its parent lists it (``children``: its own, nested)."""
    data: dict[str, Any] = {
        "id": row.id, "workflow_id": row.workflow_id, "workflow_name": row.workflow_name,
        "workflow_version": row.workflow_version, "status": row.status, "outcome": outcome(row.status, int(row.failed_steps or 0)),
        "node_id": row.parent_node_id, "loop_path": row.parent_loop_path or None, "detached": bool(row.detached)}
    if children:
        data["children"] = children
    return data


# deeper than the runtime lets sub-workflows nest (engine.subworkflows.DEFAULT_MAX_DEPTH): a bound, not a limit
MAX_TREE_DEPTH = 32


def child_tree(store: ExecutionStore, execution_id: str, depth: int = 0) -> list[dict[str, Any]]:
    """The sub-workflow executions under an execution, each with its own ``children``, oldest first."""
    if depth >= MAX_TREE_DEPTH:
        return []
    return [child_dict(c, child_tree(store, c.id, depth + 1)) for c in store.children(execution_id)]


def execution_dict(row: ExecutionRow, steps: list[StepRow], children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    failed = int(row.failed_steps or 0)
    data = {
        "id": row.id, "status": row.status, "failed_steps": failed, "outcome": outcome(row.status, failed),
        "output": loads(row.output), "error": loads(row.error), "duration_ms": row.duration_ms,
        "steps": [step_dict(s) for s in steps],
    }
    if row.parent_execution_id:
        data["parent_execution_id"] = row.parent_execution_id
    if children:
        data["children"] = children
    return data


def execution_summary(row: ExecutionRow) -> dict[str, Any]:
    """One execution as a list item (``executions list --json`` and ``GET /v1/executions``); a
    sub-workflow's execution names its parent."""
    failed = int(row.failed_steps or 0)
    data = {
        "id": row.id, "status": row.status, "failed_steps": failed, "outcome": outcome(row.status, failed),
        "workflow_name": row.workflow_name, "workflow_id": row.workflow_id, "workflow_version": row.workflow_version,
        "workspace_id": row.workspace_id, "user_id": row.user_id, "trigger": row.trigger, "dry_run": bool(row.dry_run),
        "created_at": iso(row.created_at), "completed_at": iso(row.completed_at), "duration_ms": row.duration_ms,
        "error": loads(row.error),
    }
    if row.parent_execution_id:
        data["parent_execution_id"] = row.parent_execution_id
    return data


def describe_execution(store: ExecutionStore, execution_id: str, workspace_id: str | None = None) -> dict[str, Any]:
    """The ``run --json`` shape; a sub-workflow's execution names its parent, a parent lists its
    children, each with its own (the whole tree below it)."""
    row = store.get(execution_id, workspace_id)
    steps = store.steps(execution_id)
    children = child_tree(store, execution_id) if any(s.child_execution_id for s in steps) else []
    return execution_dict(row, steps, children)


def approval_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "execution_id": row.execution_id, "node_id": row.node_id, "loop_path": row.loop_path or None,
        "status": row.status, "reason": row.reason, "details": loads(row.details),
        "requested_at": iso(row.requested_at), "decided_at": iso(row.decided_at), "decided_by": row.decided_by,
    }
