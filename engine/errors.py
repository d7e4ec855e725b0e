"""Errors of the engine, and the root every Flowwright error derives from.

Each error carries a stable ``code`` (part of the API: clients branch on it) and typed fields.
They are mapped to HTTP JSON in exactly one place in ``app/`` and to CLI messages in the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class FlowwrightError(Exception):
    """Root of every Flowwright error. ``code`` is stable; ``status`` is the HTTP status it maps to."""

    code: str = "flowwright_error"
    status: int = 500

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON payload shared by the API, the SSE ``error`` event and ``--json`` CLI output."""
        payload: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            payload["details"] = self.details
        return payload


class ControlSignal(BaseException):
    """Base of the runtime's control-flow signals: not errors. They derive from ``BaseException``
    (as ``asyncio.CancelledError`` and DBOS's workflow signals do), so an ``except Exception``
    around a node or inside a connector never swallows one and no handler has to re-raise it."""


class Paused(ControlSignal):
    """The graph stopped launching nodes because the execution is pausing."""


class Parked(ControlSignal):
    """Nothing more can run until a person decides (a guardrail waits for approval)."""


class NodeFailed(ControlSignal):
    """A node failed and its ``on_error`` is ``fail``: the execution stops, failed, with ``error``."""

    def __init__(self, node_id: str, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "node failed"))
        self.node_id = node_id
        self.error = error


@dataclass(frozen=True)
class Problem:
    """One validation problem: a stable code, a JSON path (``$.nodes[2].config.cron``) and a message."""

    code: str
    path: str
    message: str
    hint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "path": self.path, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        if self.extra:
            data.update(self.extra)
        return data


class WorkflowInvalidError(FlowwrightError):
    """A workflow failed validation; ``problems`` lists every problem found, each with its path."""

    code = "workflow_invalid"
    status = 422

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(f"{p.path}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"workflow is invalid: {summary}{more}")
        self.details = {"problems": [p.to_dict() for p in problems]}


class NotFoundError(FlowwrightError):
    """A workflow, version, execution, credential or other object does not exist in this workspace."""

    code = "not_found"
    status = 404


class QueryInvalidError(FlowwrightError):
    """A list's filter, order or cursor is not one it understands (``field`` names the parameter)."""

    code = "query_invalid"
    status = 400


class ConflictError(FlowwrightError):
    """The request conflicts with the current state (an illegal state transition, a duplicate name)."""

    code = "conflict"
    status = 409


class GuardrailViolation(FlowwrightError):
    """A guardrail node refused the data passing through it (``kind`` says which guardrail)."""

    code = "guardrail_violation"
    status = 422


class LoopLimitError(FlowwrightError):
    """A while-loop ran ``max_iterations`` times and its condition still held (``on_max_iterations: fail``)."""

    code = "loop_max_iterations"
    status = 422


class SubworkflowError(FlowwrightError):
    """A ``core.run_workflow`` step could not run its child: the workflow is unknown in this
    workspace or archived (``subworkflow_not_found``), nesting went past the depth limit
    (``subworkflow_depth``), or no workflow store is configured (``subworkflows_unavailable``)."""

    code = "subworkflow_not_found"
    status = 422


class SubworkflowFailed(FlowwrightError):
    """The child execution ended failed, timed out or cancelled; ``details`` name it and carry its
    error. Retryable (status 502): another attempt runs a new child."""

    code = "subworkflow_failed"
    status = 502


class BackendUnavailable(FlowwrightError):
    """The execution backend (the Temporal service) could not be reached or refused the request."""

    code = "backend_unavailable"
    status = 503
