"""The in-memory state of one execution while this process drives it.

It owns the execution's event sequence, its checkpoints (the final step rows loaded from the
store, reused instead of re-running a node), the concurrency cap, the pause flag and the
redactor, and it is the only writer of the execution's step rows, logs and events.
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connectors.services import ConnectorServices
from engine import events as ev
from engine.circuit_breaker import CircuitBreakers
from engine.collaborators import (
    ConnectorRateLimiter,
    CredentialResolver,
    OperationCatalog,
    RateLimitStore,
    UsageTotals,
)
from engine.dead_letters import CIRCUIT_OPEN, RETRIES_EXHAUSTED, entry_statements
from engine.execution_store import (
    EVENT_INSERT,
    LOG_INSERT,
    STEP_FINISH,
    STEP_INSERT,
    ExecutionStore,
    StepRow,
    aware,
    dumps,
    loads,
    new_id,
    now,
    step_update,
)
from engine.execution_views import duration_ms
from engine.expression_pool import Evaluator
from engine.redaction import Redactor
from engine.workflow import ActionNode, Workflow, iter_graph_nodes

if TYPE_CHECKING:
    from engine.subworkflows import Subworkflows


@dataclass(frozen=True)
class RuntimeLimits:
    """Per-execution limits (from the settings)."""

    max_concurrency: int = 16
    step_output_limit_bytes: int = 1024 * 1024
    expression_time_limit_ms: int = 1000
    expression_output_limit_bytes: int = 1024 * 1024
    expression_memory_limit_mb: int = 256
    expression_workers: int = 0  # 0: one per two CPUs (engine.expression_pool.default_workers)
    workflow_max_concurrent: int = 0  # a saved workflow's max_concurrent_executions when it sets none (0: no limit)


@dataclass(frozen=True)
class Checkpoint:
    """A settled node as recorded in its final step row."""

    status: str  # completed | skipped | failed (handled by on_error)
    output: Any
    branch: str | None
    error: Any = None

    @property
    def scope_value(self) -> Any:
        """What the node contributes to ``nodes.<id>``: its output, or its error when routed."""
        if self.status == "failed":
            return self.error if self.branch == "error" else None
        return self.output


class ExecutionRun:
    """State and writes of one execution being driven by this process."""

    def __init__(
        self, *, execution_id: str, workflow: Workflow, workspace_id: str, workflow_id: str | None,
        trigger_input: Any, dry_run: bool, store: ExecutionStore, bus: ev.EventBus, limits: RuntimeLimits,
        registry: OperationCatalog, services: ConnectorServices, credentials: CredentialResolver | None,
        rate_limiter: ConnectorRateLimiter | None, usage: UsageTotals | None, rate_limits: RateLimitStore | None,
        started_at: datetime,
        expressions: Evaluator | None = None,
        subworkflows: Subworkflows | None = None, breakers: CircuitBreakers | None = None,
        max_concurrent: int | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.max_concurrent = max_concurrent  # the workflow's concurrency limit (engine.execution_slots)
        self.workflow = workflow
        self.workspace_id = workspace_id
        self.workflow_id = workflow_id
        self.trigger_input = trigger_input
        self.dry_run = dry_run
        self.store = store
        self.bus = bus
        self.limits = limits
        self.expressions = expressions or Evaluator(limits.expression_time_limit_ms,
                                                    limits.expression_output_limit_bytes)
        self.registry = registry
        self.services = services
        self.credentials = credentials
        self.rate_limiter = rate_limiter
        self.usage = usage
        self.rate_limits = rate_limits
        self.breakers = breakers
        self.started_at = started_at
        self.subworkflows = subworkflows  # runs core.run_workflow's children (None: no workflow store)
        self.redact = Redactor()
        self.semaphore = asyncio.Semaphore(workflow.max_concurrency or limits.max_concurrency)
        self.stop_event = asyncio.Event()  # set when pausing: start nothing new, wake sleepers
        self.seq = 0
        self.step_seq = 0
        self.checkpoints: dict[tuple[str, str], Checkpoint] = {}
        self.attempts: dict[tuple[str, str], int] = {}
        self.suspended: dict[tuple[str, str], tuple[str, datetime | None]] = {}  # None: go on at once
        self.approval_rows: dict[tuple[str, str], Any] = {}
        self.live_steps: dict[str, tuple[str, str]] = {}  # step id -> (loop_path, node_id) running now
        self.interrupted: set[tuple[str, str]] = set()  # nodes whose last attempt a crash cut off
        self.execution_scope = {
            "id": execution_id, "workflow_name": workflow.name, "workflow_id": workflow_id,
            "started_at": started_at.isoformat(), "dry_run": dry_run,
        }

    @property
    def pausing(self) -> bool:
        return self.stop_event.is_set()

    def failed_steps(self) -> int:
        """How many node runs (a loop body's node once per item) settled as failed, their failure
        handled by an error route or ``on_error: continue``."""
        return sum(1 for c in self.checkpoints.values() if c.status == "failed")

    # -- loading checkpoints --

    def load_steps(self, steps: list[StepRow], approvals: list[Any]) -> None:
        last: dict[tuple[str, str], StepRow] = {}
        for row in steps:
            key = (row.loop_path, row.node_id)
            if key not in last or row.attempt >= last[key].attempt:
                last[key] = row
        self.interrupted = {k for k, r in last.items() if r.status in ("running", "interrupted") and not r.final}
        for row in steps:
            key = (row.loop_path, row.node_id)
            self.step_seq = max(self.step_seq, row.seq)
            if row.attempt > self.attempts.get(key, 0):
                self.attempts[key] = row.attempt
            if row.final:
                self.checkpoints[key] = Checkpoint(row.status, loads(row.output), row.branch, loads(row.error))
            elif row.status == "suspended" and row.resume_at is not None:
                self.suspended[key] = (row.id, aware(row.resume_at))
            elif key in self.suspended and row.status != "suspended":
                self.suspended.pop(key, None)
        for approval in approvals:
            self.approval_rows[(approval.loop_path, approval.node_id)] = approval

    # -- events and logs --

    def emit(self, type_: str, node_id: str | None = None, *, raw: str | None = None, **data: Any) -> ev.Event:
        """Persist and publish an event. ``raw`` is ``data`` already serialized (and redacted)."""
        self.seq += 1
        if self.redact and raw is None:
            data = self.redact(data)
        event = ev.Event(self.execution_id, self.seq, type_, now(), node_id, data)
        self.store.write(EVENT_INSERT, {
            "execution_id": self.execution_id, "seq": event.seq, "type": type_, "node_id": node_id,
            "data": raw if raw is not None else (dumps(data) if data else None), "created_at": event.at,
        })
        self.bus.publish(event)
        return event

    def log(self, level: str, message: str, *, node_id: str | None = None, loop_path: str = "", **metadata: Any) -> None:
        message = self.redact.text(message) if self.redact else message
        metadata = self.redact(metadata) if self.redact else metadata
        self.store.write(LOG_INSERT, {
            "execution_id": self.execution_id, "node_id": node_id, "loop_path": loop_path, "level": level,
            "message": message, "metadata": dumps(metadata) if metadata else None, "created_at": now(),
        })
        data: dict[str, Any] = {"level": level, "message": message}
        if metadata:
            data["metadata"] = metadata
        self.emit(ev.LOG, node_id, **data)

    # -- step rows --

    def next_attempt(self, key: tuple[str, str]) -> int:
        attempt = self.attempts.get(key, 0) + 1
        self.attempts[key] = attempt
        return attempt

    def step_started(
        self, node_id: str, node_type: str, loop_path: str, attempt: int, input_: Any, *, status: str = "running",
    ) -> tuple[str, datetime]:
        """Queue a step row for an attempt that starts now (not awaited: see the store's doc)."""
        step_id = new_id("st")
        started = now()
        self.step_seq += 1
        self.store.write(STEP_INSERT, {
            "id": step_id, "execution_id": self.execution_id, "seq": self.step_seq, "node_id": node_id,
            "node_type": node_type, "loop_path": loop_path, "attempt": attempt, "status": status,
            "input": None if input_ is None else dumps(self.redact(input_)), "output": None, "error": None,
            "branch": None, "final": False, "resume_at": None, "started_at": started, "completed_at": None,
            "duration_ms": None, "child_execution_id": None,
        })
        self.live_steps[step_id] = (loop_path, node_id)
        return step_id, started

    def step_finished(
        self, step_id: str, started: datetime, *, status: str, output: Any = None, error: Any = None,
        branch: str | None = None, final: bool = False, resume_at: datetime | None = None, durable: bool = True,
        output_json: str | None = None,
    ) -> Any:
        """Record an attempt's result; returns an awaitable resolved once it is committed."""
        finished = now()
        if status not in ("suspended", "waiting"):
            self.live_steps.pop(step_id, None)
        return self.store.write(STEP_FINISH, {
            "_id": step_id, "status": status,
            "output": output_json if output_json is not None else (None if output is None else dumps(output)),
            "error": None if error is None else dumps(error),
            "branch": branch, "final": final, "resume_at": resume_at,
            "completed_at": None if status in ("suspended", "waiting") else finished,
            "duration_ms": int((finished - started).total_seconds() * 1000),
        }, durable=durable)

    def settled_row(
        self, node_id: str, node_type: str, loop_path: str, *, status: str, input_: Any = None, output: Any = None,
        branch: str | None = None, attempt: int = 1, final: bool = True,
    ) -> Any:
        """One final row for a node that settles at once (trigger, condition, skip...); durable."""
        step_id = new_id("st")
        at = now()
        self.step_seq += 1
        return self.store.write(STEP_INSERT, {
            "id": step_id, "execution_id": self.execution_id, "seq": self.step_seq, "node_id": node_id,
            "node_type": node_type, "loop_path": loop_path, "attempt": attempt, "status": status,
            "input": None if input_ is None else dumps(self.redact(input_)),
            "output": None if output is None else dumps(output), "error": None, "branch": branch, "final": final,
            "resume_at": None, "started_at": at, "completed_at": at, "duration_ms": 0, "child_execution_id": None,
        }, durable=True)

    # -- the start and the end --

    async def seed_secrets(self) -> None:
        """Resolve the workflow's credentials up front so that the redactor knows every secret
        before any node runs (an output echoing one is then never stored in clear). Errors are
        left for the node that needs the credential to report."""
        if self.credentials is None or self.dry_run:
            return
        names = {n.credential for _, n in iter_graph_nodes(self.workflow.nodes)
                 if isinstance(n, ActionNode) and n.credential is not None}
        for name in sorted(names):
            try:
                resolve = self.credentials.resolve
                value = await resolve(self.workspace_id, name) if inspect.iscoroutinefunction(resolve) else \
                    await asyncio.to_thread(resolve, self.workspace_id, name)
            except Exception:  # reported by the node that uses it
                continue
            if isinstance(value, dict):
                self.redact.add_credential(value)

    def mark_stopped(self, status: str) -> None:
        """Mark the in-flight attempts ``cancelled`` / ``timed_out``. A node that never started has
        no attempt, so it gets no row (a row is an attempt; an invented one would read as a run)."""
        for step_id in list(self.live_steps):
            self.store.write(step_update(step_id, status=status, completed_at=now()))
        self.live_steps.clear()

    async def finish(self, status: str, *, output: Any = None, error: Any = None) -> None:
        """Record the execution's end (committed before this returns) and emit ``execution.<status>``."""
        completed = now()
        duration = duration_ms(self.started_at, completed)
        failed = self.failed_steps()
        reason = None
        if status == "failed" and isinstance(error, dict) and not self.dry_run:
            reason = RETRIES_EXHAUSTED if error.get("retries_exhausted") else \
                CIRCUIT_OPEN if error.get("code") == "circuit_open" else None
        if reason is not None:
            for statement in entry_statements(self.execution_id, self.workspace_id, self.workflow_id,
                                              self.workflow.name, reason, error):
                self.store.write(statement)  # committed with (before) the execution's end below
        await self.store.set_state(
            self.execution_id, status, output=dumps(output) if output is not None else None,
            error=dumps(error) if error is not None else None, completed_at=completed, duration_ms=duration,
            failed_steps=failed,
        )
        data: dict[str, Any] = {"duration_ms": duration, "failed_steps": failed}
        if error is not None:
            data["error"] = error
        self.emit(f"execution.{status}", **data)
