"""Sub-workflows in the interpreter: the child executions of ``core.run_workflow`` steps run as
Temporal child workflows of the parent's interpreter workflow.

A step's activity creates the child's execution row and hands back its *launch* (the child
interpreter's input, ``engine.temporal.children``); :meth:`ChildCalls.launch` starts it as a
child workflow whose id is the child's execution id, on the parent's task queue. A waited child
is cancelled with its parent (``REQUEST_CANCEL`` when the parent closes, and explicitly by
:meth:`ChildCalls.stop_waiting` before the parent records its end, so the child's end is
recorded first, as on the local runtime); a fire-and-forget child (``wait: false``) is abandoned:
it outlives its parent. A child started before this workflow run (a retried parent) is not this
run's child: its end is polled for instead.

Loaded into Temporal's workflow sandbox with the interpreter: the standard library and
``temporalio`` only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import CancelledError, ChildWorkflowError, WorkflowAlreadyStartedError

POLL_MIN_S = 1.0
POLL_MAX_S = 30.0


class ChildCalls:
    """The child workflows one interpreter run started, by child execution id."""

    def __init__(self, workflow_name: str) -> None:
        self.workflow_name = workflow_name
        self.handles: dict[str, workflow.ChildWorkflowHandle[Any, Any]] = {}
        self.waited: set[str] = set()  # children some step waits for (cancelled with the parent)
        self.cancelled: set[str] = set()
        self.elsewhere: dict[str, float] = {}  # started before this run: child id -> next poll delay
        self.waiting = 0  # steps waiting for a child right now

    async def launch(self, launches: list[dict[str, Any]], node_id: str) -> None:
        """Start the children this workflow has not started yet."""
        for launch in launches:
            child_id = launch["execution_id"]
            if child_id in self.handles or child_id in self.elsewhere:
                continue
            detached = bool(launch.get("detached"))
            try:
                self.handles[child_id] = await workflow.start_child_workflow(
                    self.workflow_name, launch, id=child_id, task_queue=workflow.info().task_queue,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON if detached
                    else workflow.ParentClosePolicy.REQUEST_CANCEL,
                    cancellation_type=workflow.ChildWorkflowCancellationType.ABANDON if detached
                    else workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
                    static_summary=f"sub-workflow of {node_id}",
                )
            except WorkflowAlreadyStartedError:
                self.elsewhere[child_id] = POLL_MIN_S

    async def outcome(self, child_id: str, pausing: Callable[[], bool]) -> dict[str, Any] | None:
        """Until the child ends: ``{"status": "completed" | "failed" | "cancelled", "message"?}``
        (the child's own end is in the store; this is what Temporal says), ``{"status": "poll"}``
        for a child started elsewhere (look at its row again), or ``None`` when the parent pauses."""
        self.waited.add(child_id)
        self.waiting += 1
        try:
            handle = self.handles.get(child_id)
            if handle is None:
                delay = self.elsewhere.get(child_id, POLL_MIN_S)
                self.elsewhere[child_id] = min(delay * 2, POLL_MAX_S)
                try:
                    await workflow.wait_condition(pausing, timeout=timedelta(seconds=delay))
                except TimeoutError:
                    return {"status": "poll"}
                return None
            await workflow.wait_condition(lambda: handle.done() or pausing())
            if not handle.done():
                return None
        except asyncio.CancelledError:  # the step stops waiting (a cancel, a timeout, a sibling failed)
            self._cancel(child_id)
            raise
        finally:
            self.waiting -= 1
        return _outcome(handle)

    async def stop_waiting(self) -> None:
        """Before the parent records its end (not completed): cancel every waited child still
        running and wait until each has ended (its end is recorded first)."""
        if not self.waited:
            return
        await workflow.wait_condition(lambda: self.waiting == 0)  # cancelled steps let go first
        running = [self.handles[c] for c in sorted(self.waited) if c in self.handles and not self.handles[c].done()]
        for handle in running:
            self._cancel(handle.id)
        if running:
            await workflow.wait(running)

    def _cancel(self, child_id: str) -> None:
        handle = self.handles.get(child_id)
        if handle is not None and not handle.done() and child_id not in self.cancelled:
            self.cancelled.add(child_id)
            handle.cancel()


def _outcome(handle: workflow.ChildWorkflowHandle[Any, Any]) -> dict[str, Any]:
    if handle.cancelled():
        return {"status": "cancelled"}
    error = handle.exception()
    if error is None:
        return {"status": "completed"}
    cause = error.cause if isinstance(error, ChildWorkflowError) else error
    if isinstance(cause, CancelledError):
        return {"status": "cancelled"}
    return {"status": "failed", "message": str(cause or error)}


__all__ = ["ChildCalls"]
