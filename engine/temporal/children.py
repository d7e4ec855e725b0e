"""Sub-workflows on the Temporal backend, on the activity side: a ``core.run_workflow`` step's
child execution is created by the step's activity and run by the interpreter as a Temporal
child workflow (``engine.temporal.child_calls``).

The step runs through the same :class:`~engine.subworkflows.Subworkflows` code as on the local
runtime (the child's row linked to its parent's node, the step row naming the child, joining the
child an earlier attempt started, the depth limit, the child's failure as ``subworkflow_failed``)
with two differences, both made here:

- starting a child creates its execution row but starts no Temporal workflow: the activity
  returns the child's *launch* (its workflow input) and the interpreter starts it as a child
  workflow, so Temporal links the two, cancels a waited child with its parent and abandons a
  fire-and-forget one;
- a step that waits does not wait inside the activity: while the child runs, the activity ends
  with :class:`AwaitChild` (the step row stays ``running``), the interpreter waits for the child
  workflow, then calls the node again to go on in the same step row (``resume``), which finds the
  child ended and completes or fails the step with its output or error.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from engine import events as ev
from engine.event_stream import publish_offline
from engine.execution_run import ExecutionRun
from engine.execution_state import TERMINAL
from engine.execution_store import ExecutionRow, ExecutionStore, dumps, now, step_update
from engine.execution_views import duration_ms
from engine.subworkflows import DEFAULT_MAX_DEPTH, ChildCall, ParentLink, Subworkflows, WorkflowVersions
from engine.workflow import Workflow


class Handoff(BaseException):
    """The node's activity hands the rest of its attempt to the interpreter (a durable timer, a
    child workflow). A ``BaseException``, as the engine's control signals are: the attempt's error
    handling must not take it for a failure. ``step_id``/``attempt``: the attempt's step row."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.step_id: str | None = None
        self.attempt = 1


class AwaitChild(Handoff):
    """The step waits for child execution ``child_id``, which has not ended yet."""

    def __init__(self, child_id: str) -> None:
        super().__init__(child_id)
        self.child_id = child_id


class ChildStarter(Protocol):
    """Creates a child execution without starting it (``TemporalRuntime.create_child``)."""

    store: ExecutionStore

    async def create_child(self, workflow: Workflow, input: Any, *, workspace_id: str, workflow_id: str | None,
                           workflow_version: int | None, trigger: str, dry_run: bool,
                           parent: ParentLink) -> tuple[str, dict[str, Any]]: ...

    def launch_of(self, row: ExecutionRow) -> dict[str, Any]: ...

    async def cancel(self, execution_id: str) -> None: ...


class _Runtime:
    """The :class:`~engine.subworkflows.ChildRuntime` of one activity: ``start`` creates the row
    and keeps the launch for the interpreter."""

    closing = False

    def __init__(self, starter: ChildStarter, bus: ev.EventBus, launches: dict[str, dict[str, Any]]) -> None:
        self.starter = starter
        self.store = starter.store
        self.bus = bus
        self.launches = launches

    async def start(self, workflow: Workflow | dict[str, Any], input: Any = None, *, workspace_id: str = "default",
                    user_id: str | None = None, workflow_id: str | None = None,  # noqa: ARG002 - the protocol's
                    workflow_version: int | None = None, trigger: str | None = None, dry_run: bool = False,
                    parent: ParentLink | None = None) -> str:
        assert isinstance(workflow, Workflow) and parent is not None
        child_id, launch = await self.starter.create_child(
            workflow, input, workspace_id=workspace_id, workflow_id=workflow_id, workflow_version=workflow_version,
            trigger=trigger or "subworkflow", dry_run=dry_run, parent=parent)
        self.launches[child_id] = launch
        return child_id

    async def get(self, execution_id: str, workspace_id: str | None = None) -> ExecutionRow:
        return await asyncio.to_thread(self.store.get, execution_id, workspace_id)

    async def cancel(self, execution_id: str) -> None:
        await self.starter.cancel(execution_id)


class TemporalSubworkflows(Subworkflows):
    """:class:`Subworkflows` for one node activity (see the module doc).

    Args:
        starter: creates child rows (the worker's ``TemporalRuntime``).
        workflows: the workspace's workflows.
        bus: the activity's event bus.
        resume: the interpreter's word on the child this call goes on with (``{"status"}``:
            ``completed``, ``failed``, ``cancelled`` or ``poll``), when it is a resumed call.
    """

    def __init__(self, starter: ChildStarter, workflows: WorkflowVersions, bus: ev.EventBus, *,
                 max_depth: int = DEFAULT_MAX_DEPTH, resume: dict[str, Any] | None = None) -> None:
        self.launches: dict[str, dict[str, Any]] = {}
        super().__init__(_Runtime(starter, bus, self.launches), workflows, max_depth=max_depth)
        self.starter = starter
        self.resume = resume

    def launch_list(self) -> list[dict[str, Any]]:
        """The children the interpreter is to start (each once; it skips those it started)."""
        return list(self.launches.values())

    def _joined(self, run: ExecutionRun, call: ChildCall, child_id: str) -> None:
        if self.resume is None:  # a resumed call goes on with its own child: nothing to say
            super()._joined(run, call, child_id)

    def _existing_child(self, execution_id: str, call: ChildCall) -> ExecutionRow | None:
        child = super()._existing_child(execution_id, call)
        if child is not None and child.status == "pending" and child.id not in self.launches:
            # created by an attempt whose worker died before the interpreter heard of it: the
            # interpreter starts it (or finds it started)
            self.launches[child.id] = self.starter.launch_of(child)
        return child

    async def _wait(self, run: ExecutionRun, child_id: str) -> ExecutionRow:  # noqa: ARG002 - Subworkflows'
        row = await asyncio.to_thread(self.store.get, child_id)
        if row.status in TERMINAL:
            return row
        ended = (self.resume or {}).get("status")
        if ended in ("completed", "failed", "cancelled", "timed_out"):
            # the child workflow ended without recording its end (terminated on Temporal, or it
            # failed outside the interpreter): record it as the child's end
            status = "cancelled" if ended == "cancelled" else "failed"
            error = None if status == "cancelled" else {
                "code": "backend_error",
                "message": f"the child's Temporal workflow ended: {(self.resume or {}).get('message') or ended}"}
            completed = now()
            await self.store.set_state(child_id, status, error=dumps(error) if error else None, completed_at=completed,
                                       duration_ms=duration_ms(row.started_at, completed))
            await publish_offline(self.store, self.runtime.bus, child_id, f"execution.{status}",
                                  **({"error": error} if error else {}))
            return await asyncio.to_thread(self.store.get, child_id)
        raise AwaitChild(child_id)

    @property
    def store(self) -> ExecutionStore:
        return self.starter.store


def mark_paused(run: ExecutionRun, step_id: str) -> None:
    """The parent paused while its step waited for a child: the step is ``paused`` (the child runs
    on; the resumed step joins it), as on the local runtime."""
    run.store.write(step_update(step_id, status="paused", completed_at=now()))


__all__ = ["AwaitChild", "ChildStarter", "Handoff", "TemporalSubworkflows", "mark_paused"]
