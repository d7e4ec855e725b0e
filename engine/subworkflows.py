"""Sub-workflows at run time: a ``core.run_workflow`` step runs another workflow of the same
workspace as a child execution linked to its parent.

The child is a real execution (its own row, steps, events and stream) whose row names the parent
execution, node and loop path; the parent's step row names the child (``child_execution_id``).
The link is what makes the step durable: before starting a child, a step looks for one its node
already started (a crash or a pause between "child started" and "step checkpointed"), and joins
it instead of starting another, so recovery never re-runs a child that completed. Only a child
whose failure a parent attempt already recorded is replaced by a new one (a retry).

Waiting (the default) ends when the child ends: its output becomes the step's ``output``; a
failed, timed-out or cancelled child fails the step (``subworkflow_failed``, retryable, so a
``retry`` policy runs a new child). ``wait: false`` starts the child and goes on at once
(fire and forget: the child is ``detached`` and outlives its parent's cancellation). A waited
child is cancelled when its step stops waiting for it — the parent is cancelled or timed out, or
another branch failed — but not when the process shuts down (both then resume on recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

from engine import events as ev
from engine.errors import ConflictError, NotFoundError, Paused, SubworkflowError, SubworkflowFailed
from engine.execution_run import ExecutionRun
from engine.execution_state import TERMINAL
from engine.execution_store import ExecutionRow, ExecutionStore, loads, now, step_update
from engine.workflow import Workflow

DEFAULT_MAX_DEPTH = 8
MAX_POLL_S = 30.0
_UNSUCCESSFUL = frozenset({"failed", "cancelled", "timed_out"})


class WorkflowVersionLike(Protocol):
    """A stored workflow version (``engine.workflow_store.WorkflowVersionRow``)."""

    @property
    def version(self) -> int: ...

    @property
    def definition(self) -> str: ...


class WorkflowStatusLike(Protocol):
    @property
    def status(self) -> str: ...


class WorkflowVersions(Protocol):
    """Workflows by workspace and id (``engine.workflow_store.WorkflowStore``); raises
    ``NotFoundError`` for a workflow (or version) the workspace does not have."""

    def get(self, workspace_id: str, workflow_id: str) -> WorkflowStatusLike: ...

    def version(self, workspace_id: str, workflow_id: str, version: int | None = None) -> WorkflowVersionLike: ...


@dataclass(frozen=True)
class ParentLink:
    """Where a child execution comes from: written on its row."""

    execution_id: str
    node_id: str
    loop_path: str
    detached: bool

    def columns(self) -> dict[str, Any]:
        return {"parent_execution_id": self.execution_id, "parent_node_id": self.node_id,
                "parent_loop_path": self.loop_path, "detached": self.detached}


class ChildRuntime(Protocol):
    """What starting and following children needs from the runtime (``engine.runtime.Runtime``)."""

    store: ExecutionStore
    bus: ev.EventBus
    closing: bool

    async def start(
        self, workflow: Workflow | dict[str, Any], input: Any = None, *, workspace_id: str = "default",
        user_id: str | None = None, workflow_id: str | None = None, workflow_version: int | None = None,
        trigger: str | None = None, dry_run: bool = False, parent: ParentLink | None = None,
    ) -> str: ...

    async def get(self, execution_id: str, workspace_id: str | None = None) -> ExecutionRow: ...

    async def cancel(self, execution_id: str) -> None: ...


@dataclass(frozen=True)
class ChildCall:
    """One ``core.run_workflow`` attempt: what to run, and the step that runs it."""

    node_id: str
    loop_path: str
    step_id: str | None
    workflow_id: str
    version: int | None
    input: Any
    wait: bool


class Subworkflows:
    """Starts, joins and cancels the child executions of ``core.run_workflow`` steps."""

    def __init__(self, runtime: ChildRuntime, workflows: WorkflowVersions, *, max_depth: int = DEFAULT_MAX_DEPTH,
                 poll_s: float = 1.0) -> None:
        self.runtime = runtime
        self.workflows = workflows
        self.max_depth = max_depth
        self.poll_s = poll_s

    async def run(self, run: ExecutionRun, *, node_id: str, loop_path: str, step_id: str | None, workflow_id: str,
                  version: int | None, input: Any, wait: bool) -> dict[str, Any]:
        """Run (or join) the child of one attempt; the step's output (see the module doc)."""
        call = ChildCall(node_id, loop_path, step_id, workflow_id, version, input, wait)
        await run.store.flush()  # an earlier attempt's failure row is queued, not committed, yet
        child = await asyncio.to_thread(self._existing_child, run.execution_id, call)
        if child is None:
            child_id, version = await self._start(run, call)
            run.emit(ev.NODE_CHILD_STARTED, call.node_id, child_execution_id=child_id, workflow_id=call.workflow_id,
                     version=version, wait=call.wait, **_where(call))
        else:
            child_id, version = child.id, child.workflow_version
            self._joined(run, call, child_id)
        if call.step_id is not None:
            await run.store.write(step_update(call.step_id, child_execution_id=child_id), None, durable=True)
        result: dict[str, Any] = {"execution_id": child_id, "workflow_id": call.workflow_id, "version": version}
        if not call.wait:
            return {**result, "status": "started", "output": None}
        try:
            row = await self._wait(run, child_id)
        except Paused:  # this attempt stops waiting; the resumed step joins the same child
            if call.step_id is not None:
                run.live_steps.pop(call.step_id, None)
                run.store.write(step_update(call.step_id, status="paused", completed_at=now()))
            raise
        except asyncio.CancelledError:
            if not self.runtime.closing:  # the step gave up on the child; at shutdown both resume later
                with contextlib.suppress(ConflictError, NotFoundError):
                    await asyncio.shield(self.runtime.cancel(child_id))
            raise
        if row.status != "completed":
            error = loads(row.error) or {}
            message = error.get("message") if isinstance(error, dict) else None
            raise SubworkflowFailed(
                f"sub-workflow {call.workflow_id} (execution {child_id}) ended {row.status}"
                + (f": {message}" if message else ""),
                child_execution_id=child_id, child_status=row.status, child_error=error or None,
            )
        return {**result, "status": "completed", "output": loads(row.output)}

    async def cancel_children(self, execution_id: str) -> None:
        """Cancel the waited-for children of an execution that is not driven here (they follow it)."""
        children = await asyncio.to_thread(self.runtime.store.children, execution_id)
        for child in children:
            if child.status not in TERMINAL and not child.detached:
                with contextlib.suppress(ConflictError, NotFoundError):
                    await self.runtime.cancel(child.id)

    # -- internals --

    def _joined(self, run: ExecutionRun, call: ChildCall, child_id: str) -> None:
        """This attempt takes over a child an earlier one started (logged)."""
        run.log("info", f"joined sub-workflow execution {child_id}, started before this attempt",
                node_id=call.node_id, loop_path=call.loop_path)

    def _existing_child(self, execution_id: str, call: ChildCall) -> ExecutionRow | None:
        store = self.runtime.store
        mine = [c for c in store.children(execution_id)
                if c.parent_node_id == call.node_id and (c.parent_loop_path or "") == call.loop_path]
        if not mine:
            return None
        latest = mine[-1]
        if latest.status not in _UNSUCCESSFUL:
            return latest  # completed, or still going: join it
        recorded = any(s.child_execution_id == latest.id and s.status == "failed" for s in store.steps(execution_id))
        return None if recorded else latest  # an unrecorded failure is this attempt's outcome

    async def _start(self, run: ExecutionRun, call: ChildCall) -> tuple[str, int]:
        await self._check_depth(run)
        try:
            row = await asyncio.to_thread(self.workflows.get, run.workspace_id, call.workflow_id)
            stored = await asyncio.to_thread(self.workflows.version, run.workspace_id, call.workflow_id, call.version)
        except NotFoundError:
            what = f"version {call.version} of workflow" if call.version is not None else "workflow"
            raise SubworkflowError(f"{what} {call.workflow_id} does not exist in this workspace",
                                   workflow_id=call.workflow_id, version=call.version) from None
        if row.status == "archived":
            raise SubworkflowError(f"workflow {call.workflow_id} is archived", workflow_id=call.workflow_id)
        workflow = Workflow.model_validate_json(stored.definition)
        link = ParentLink(run.execution_id, call.node_id, call.loop_path, detached=not call.wait)
        child_id = await self.runtime.start(
            workflow, call.input, workspace_id=run.workspace_id, workflow_id=call.workflow_id,
            workflow_version=stored.version, trigger="subworkflow", dry_run=run.dry_run, parent=link,
        )
        return child_id, stored.version

    async def _check_depth(self, run: ExecutionRun) -> None:
        """Refuse a child deeper than ``max_depth`` (a guard for cycles validation cannot see:
        a current version changed later, or an id computed at run time)."""
        chain = [run.execution_id]
        row = await self.runtime.get(run.execution_id)
        while row.parent_execution_id is not None and len(chain) <= self.max_depth:
            chain.append(row.parent_execution_id)
            row = await self.runtime.get(row.parent_execution_id)
        if len(chain) > self.max_depth:
            raise SubworkflowError(
                f"sub-workflows nest deeper than {self.max_depth} levels: "
                + " → ".join(reversed(chain)), code="subworkflow_depth", chain=list(reversed(chain)),
            )

    async def _wait(self, run: ExecutionRun, child_id: str) -> ExecutionRow:
        """Until the child ends; a pause of the parent stops waiting (the child goes on, and the
        resumed step joins it again)."""
        queue = self.runtime.bus.subscribe(child_id)
        delay = self.poll_s
        try:
            while True:
                row = await self.runtime.get(child_id)
                if row.status in TERMINAL:
                    return row
                if run.pausing:
                    raise Paused()
                if await _next_change(queue, run.stop_event, delay):
                    delay = self.poll_s
                else:  # nothing heard (the child may run in another process): poll less often
                    delay = min(delay * 2, MAX_POLL_S)
        finally:
            self.runtime.bus.unsubscribe(child_id, queue)


async def _next_change(queue: asyncio.Queue[ev.Event | None], stop: asyncio.Event, timeout: float) -> bool:
    """Wait for the child's terminal event, a wake-up (it stopped), the parent pausing, or the
    timeout; True unless it was the timeout."""

    async def settled() -> None:
        while True:
            item = await queue.get()
            if item is None or item.terminal:
                return

    waiters = [asyncio.ensure_future(settled()), asyncio.ensure_future(stop.wait())]
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    return bool(done)


def _where(call: ChildCall) -> dict[str, Any]:
    return {"loop_path": call.loop_path} if call.loop_path else {}
