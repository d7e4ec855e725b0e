"""The runtime on the Temporal backend (``FLOWWRIGHT_BACKEND=temporal``).

:class:`TemporalRuntime` keeps :class:`~engine.runtime.Runtime`'s public API and its execution
rows: ``start`` creates the execution exactly as the local runtime does (validation, the row,
seeded checkpoints), then starts the interpreter workflow (``engine.temporal.interpreter``) with
the execution id as the workflow id, on the task queue of the execution's workspace. Workers
(``flowwright worker --backend temporal``, or the one :meth:`TemporalRuntime.embedded_worker`
runs inside ``flowwright run``) execute it; their activities write the step rows and events
back to the shared store, which ``describe``, ``events`` (SSE), stats and insights read as
they always do.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import CancelledError as TemporalCancelled
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from engine import events as ev
from engine.approval_decisions import Decision, record_decision
from engine.errors import BackendUnavailable, ConflictError
from engine.event_stream import follow_events
from engine.execution_run import ExecutionRun
from engine.execution_state import TERMINAL, check_transition
from engine.execution_store import ExecutionRow, ExecutionStore, aware, dumps, loads, now
from engine.execution_views import duration_ms
from engine.runtime import Runtime
from engine.subworkflows import DEFAULT_MAX_DEPTH, ParentLink
from engine.temporal.activities import InterpreterActivities
from engine.temporal.interpreter import WORKFLOW_NAME, FlowwrightInterpreter
from engine.workflow import Workflow

log = logging.getLogger(__name__)

STOP_POLL_MAX_S = 1.0
UNSTARTED_WAIT_S = 30.0  # how long following an execution waits for its workflow to exist (a child not started yet)
# set while create_child runs Runtime.start: the launch is kept (the interpreter starts the child), not started
_CHILD_LAUNCH: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("child_launch", default=None)
CONTROL_TIMEOUT_S = 30.0  # how long pause/cancel wait for the workflow to record the change


@dataclass(frozen=True)
class TemporalOptions:
    """Where and how executions run on Temporal (from the settings).

    Attributes:
        address: the Temporal frontend, ``host:port``.
        namespace: the Temporal namespace.
        task_queue_prefix: task queues are ``<prefix>-<workspace id>`` (one per workspace).
        heartbeat_timeout_s: a node activity whose worker went silent this long runs again elsewhere.
    """

    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue_prefix: str = "flowwright"
    heartbeat_timeout_s: float = 10.0
    per_workspace: bool = True  # False: every workspace on the one queue ``<prefix>`` (tests, tiny setups)

    def task_queue(self, workspace_id: str) -> str:
        """The task queue of a workspace's executions."""
        return f"{self.task_queue_prefix}-{workspace_id}" if self.per_workspace else self.task_queue_prefix


async def connect(options: TemporalOptions) -> Client:
    """A client of the Temporal service; ``BackendUnavailable`` names the address when it is down."""
    try:
        return await Client.connect(options.address, namespace=options.namespace)
    except Exception as exc:  # the SDK raises RuntimeError for a refused connection
        raise BackendUnavailable(
            f"cannot reach the Temporal service at {options.address} (FLOWWRIGHT_TEMPORAL_ADDRESS): {exc}",
            address=options.address) from None


class TemporalRuntime(Runtime):
    """A :class:`Runtime` whose executions run as Temporal workflows (see the module doc).

    Args:
        store: the execution store (shared with every worker).
        registry: the connector catalog (for validation here, and for the embedded worker).
        options: the Temporal options.
        client: a connected Temporal client (``None``: connect on first use, so building the
            runtime needs no server).
        kwargs: the rest of :class:`Runtime`'s collaborators (the embedded worker's activities use them).
    """

    def __init__(self, store: ExecutionStore, registry: Any, *, options: TemporalOptions,
                 client: Client | None = None, **kwargs: Any) -> None:
        kwargs.pop("queue", None)
        kwargs.pop("remote", None)
        super().__init__(store, registry, **kwargs)
        self._client = client
        self._connecting = asyncio.Lock()
        self.options = options
        self._starts: dict[str, asyncio.Future[None]] = {}

    async def client(self) -> Client:
        """The Temporal client (connected on first use; ``BackendUnavailable`` when it cannot be)."""
        async with self._connecting:
            if self._client is None:
                self._client = await connect(self.options)
            return self._client

    # -- starting and following --

    async def start(self, workflow: Any, input: Any = None, **kwargs: Any) -> str:
        """Create the execution and start its interpreter workflow (see :meth:`Runtime.start`);
        ``BackendUnavailable`` (the execution is then failed) when Temporal refuses it."""
        execution_id = await super().start(workflow, input, **kwargs)
        started = self._starts.pop(execution_id, None)
        if started is not None:
            await started
        return execution_id

    def _payload(self, execution_id: str, definition: dict[str, Any], input: Any,
                 deadline: datetime | None) -> dict[str, Any]:
        """The interpreter workflow's input for an execution."""
        return {
            "execution_id": execution_id, "definition": definition, "input": input,
            "deadline": deadline.isoformat() if deadline is not None else None,
            "options": {"heartbeat_timeout_s": self.options.heartbeat_timeout_s,
                        "max_concurrency": self.limits.max_concurrency},
        }

    def _launch(self, run: ExecutionRun, *, deadline: datetime | None = None) -> None:
        execution_id = run.execution_id
        if deadline is None and run.workflow.timeout_s:
            deadline = run.started_at + timedelta(seconds=run.workflow.timeout_s)
        payload = self._payload(execution_id, run.workflow.to_json_dict(), run.trigger_input, deadline)
        keep = _CHILD_LAUNCH.get()
        if keep is not None:  # a child: its parent's interpreter starts it as a child workflow
            keep.update(payload)
            return
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._starts[execution_id] = started
        task = asyncio.create_task(self._follow(execution_id, run.workspace_id, payload, started),
                                   name=f"temporal execution {execution_id}")
        self._tasks[execution_id] = task

    async def _follow(self, execution_id: str, workspace_id: str, payload: dict[str, Any],
                      started: asyncio.Future[None]) -> str | None:
        try:
            try:
                client = await self.client()
                handle: WorkflowHandle[Any, Any] = await client.start_workflow(
                    WORKFLOW_NAME, payload, id=execution_id, task_queue=self.options.task_queue(workspace_id),
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                )
            except (RPCError, RuntimeError, BackendUnavailable) as exc:
                error = exc if isinstance(exc, BackendUnavailable) else BackendUnavailable(
                    f"Temporal did not start execution {execution_id}: {exc}", address=self.options.address)
                await self._fail_unstarted(execution_id, error)
                started.set_exception(error)
                return "failed"
            started.set_result(None)
            return await self._until_stopped(execution_id, handle)
        finally:
            if not started.done():
                started.cancel()
            self._tasks.pop(execution_id, None)
            self._status.pop(execution_id, None)
            self._notify_stopped(execution_id, None)

    async def create_child(self, workflow: Workflow, input: Any, *, workspace_id: str, workflow_id: str | None,
                           workflow_version: int | None, trigger: str, dry_run: bool,
                           parent: ParentLink) -> tuple[str, dict[str, Any]]:
        """Create a sub-workflow's execution (as :meth:`start` does: validated, linked to its
        parent) without starting its workflow; returns its id and its launch, the child
        workflow's input, which the parent's interpreter starts (``engine.temporal.child_calls``)."""
        launch: dict[str, Any] = {}
        token = _CHILD_LAUNCH.set(launch)
        try:
            child_id = await Runtime.start(self, workflow, input, workspace_id=workspace_id, workflow_id=workflow_id,
                                           workflow_version=workflow_version, trigger=trigger, dry_run=dry_run,
                                           parent=parent)
        finally:
            _CHILD_LAUNCH.reset(token)
        self._status.pop(child_id, None)
        return child_id, {**launch, "detached": parent.detached}

    def launch_of(self, row: ExecutionRow) -> dict[str, Any]:
        """The launch of a child execution created earlier (its row is all it needs)."""
        payload = self._payload(row.id, loads(row.definition), loads(row.input), aware(row.deadline_at))
        return {**payload, "detached": bool(row.detached)}

    async def wait(self, execution_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the execution stops (ends, pauses or waits); describe it. An execution
        this process did not start (a sub-workflow's child, one started elsewhere) is followed
        on Temporal."""
        if execution_id not in self._tasks and (await self.get(execution_id)).status in ("pending", "running"):
            self._refollow(execution_id)
        return await super().wait(execution_id, timeout)

    async def _result(self, handle: WorkflowHandle[Any, Any]) -> Any:
        """The workflow's result; a workflow not started yet (a child whose parent starts it in a
        moment) is waited for, a while."""
        waited = 0.0
        while True:
            try:
                return await handle.result()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND or waited >= UNSTARTED_WAIT_S:
                    raise
            await asyncio.sleep(0.1)
            waited += 0.1

    async def _until_stopped(self, execution_id: str, handle: WorkflowHandle[Any, Any]) -> str:
        """Until the workflow ends, or the execution pauses or waits for a person."""
        result = asyncio.ensure_future(self._result(handle))
        parked = asyncio.ensure_future(self._parked(execution_id, handle))
        try:
            await asyncio.wait({result, parked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (result, parked):
                waiter.cancel()
            await asyncio.gather(result, parked, return_exceptions=True)
        ended = result.done() and not result.cancelled()
        failure = result.exception() if ended else None
        row = await self.get(execution_id)
        if isinstance(failure, RPCError):  # not followed to its end (the service answered with an error)
            return row.status
        if ended and row.status not in TERMINAL:
            # the workflow ended without recording an end (terminated, or failed outside the interpreter)
            reason = failure.cause if isinstance(failure, WorkflowFailureError) and failure.cause else failure
            cancelled = isinstance(reason, TemporalCancelled)
            status = "cancelled" if cancelled else "failed"
            error = None if cancelled else {
                "code": "backend_error", "message": f"the Temporal workflow ended: {reason or 'without a result'}"}
            completed = now()
            await self.store.set_state(execution_id, status, error=dumps(error) if error else None,
                                       completed_at=completed, duration_ms=duration_ms(row.started_at, completed))
            from engine.event_stream import publish_offline

            await publish_offline(self.store, self.bus, execution_id, f"execution.{status}",
                                  **({"error": error} if error else {}))
            return status
        return row.status

    async def _parked(self, execution_id: str, handle: WorkflowHandle[Any, Any]) -> None:
        """Until the execution is paused or waiting and no node of it runs any more (the end
        itself comes from the workflow's result, not from here)."""
        delay = 0.2
        while True:
            await asyncio.sleep(delay)
            delay = min(STOP_POLL_MAX_S, delay * 1.5)
            status = (await asyncio.to_thread(self.store.get, execution_id)).status
            if status in ("paused", "waiting"):
                try:
                    if await handle.query("quiet"):
                        return
                except RPCError:  # the workflow just closed, or no worker answers yet: look again
                    continue

    def _refollow(self, execution_id: str) -> None:
        """Follow a running workflow again (after resume or a decision) so that ``wait`` waits."""
        if execution_id in self._tasks:
            return

        async def follow() -> str | None:
            try:
                handle = (await self.client()).get_workflow_handle(execution_id)
                return await self._until_stopped(execution_id, handle)
            finally:
                self._tasks.pop(execution_id, None)
                self._notify_stopped(execution_id, None)

        self._tasks[execution_id] = asyncio.create_task(follow(), name=f"temporal execution {execution_id}")

    async def _fail_unstarted(self, execution_id: str, error: BackendUnavailable) -> None:
        completed = now()
        row = await self.get(execution_id)
        await self.store.set_state(execution_id, "failed", error=dumps(error.to_dict()), completed_at=completed,
                                   duration_ms=duration_ms(row.started_at, completed))
        from engine.event_stream import publish_offline

        await publish_offline(self.store, self.bus, execution_id, ev.EXECUTION_FAILED, error=error.to_dict())

    async def events(self, execution_id: str, after_seq: int = 0, *,
                     workspace_id: str | None = None) -> AsyncIterator[ev.Event]:
        """Every event after ``after_seq``, then the live ones (read back from the store, and
        from this process's bus when an embedded worker runs the execution), until it ends."""
        if workspace_id is not None:
            await self.get(execution_id, workspace_id)
        async for event in follow_events(self.store, self.bus, execution_id, after_seq,
                                         driven_here=lambda _id: False):
            yield event

    # -- control --

    async def cancel(self, execution_id: str) -> None:
        """Cancel the execution's workflow (in-flight activities are cancelled at their next
        heartbeat) and wait until its end is recorded."""
        row = await self.get(execution_id)
        check_transition(row.status, "cancelled", execution_id)
        handle = (await self.client()).get_workflow_handle(execution_id)
        try:
            await handle.cancel()
        except RPCError as exc:
            raise BackendUnavailable(f"Temporal did not cancel execution {execution_id}: {exc}",
                                     address=self.options.address) from None
        await self._await_status(execution_id, lambda status: status in TERMINAL)

    async def pause(self, execution_id: str) -> None:
        """Start no new node; running ones finish (signal ``pause``; returns once the execution
        is recorded ``paused``)."""
        row = await self.get(execution_id)
        check_transition(row.status, "paused", execution_id)
        await self._signal(execution_id, "pause")
        await self._await_status(execution_id, lambda status: status == "paused" or status in TERMINAL)

    async def resume(self, execution_id: str) -> None:
        """Continue a paused execution (signal ``resume``)."""
        row = await self.get(execution_id)
        check_transition(row.status, "running", execution_id)
        if row.status != "paused":
            raise ConflictError(f"execution {execution_id} is {row.status}, not paused", code="illegal_transition")
        await self._signal(execution_id, "resume")
        await self._await_status(execution_id, lambda status: status != "paused")
        self._refollow(execution_id)

    async def retry(self, execution_id: str) -> None:
        """Re-run a failed or timed-out execution from its failed nodes: a new run of its
        workflow (same workflow id) that starts from the stored checkpoints."""
        task = self._tasks.get(execution_id)
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(task)
        await super().retry(execution_id)
        started = self._starts.pop(execution_id, None)
        if started is not None:
            await started

    async def _decide(self, execution_id: str, node_id: str, decision: Decision, by: str | None,
                      loop_path: str | None) -> None:
        pending = await record_decision(self.store, execution_id, node_id, decision, by, loop_path)
        for approval in pending:  # the decision is stored first; the signal wakes the guardrail
            await self._signal(execution_id, "decide", {"node_id": approval.node_id, "loop_path": approval.loop_path})
        self._refollow(execution_id)

    async def _signal(self, execution_id: str, name: str, arg: Any = None) -> None:
        handle = (await self.client()).get_workflow_handle(execution_id)
        try:
            if arg is None:
                await handle.signal(name)
            else:
                await handle.signal(name, arg)
        except RPCError as exc:
            raise BackendUnavailable(f"Temporal did not take the {name} of execution {execution_id}: {exc}",
                                     address=self.options.address) from None

    async def recover(self, *, workspace_id: str | None = None) -> list[str]:  # noqa: ARG002 - Runtime's signature
        """Nothing to recover here: Temporal keeps every execution's workflow, and a worker that
        died loses only its in-flight attempts, which run again on another worker."""
        return []

    async def _await_status(self, execution_id: str, done: Any, timeout_s: float = CONTROL_TIMEOUT_S) -> str:
        delay, waited = 0.02, 0.0
        while True:
            status = (await asyncio.to_thread(self.store.get, execution_id)).status
            if done(status):
                return status
            if waited >= timeout_s:
                raise ConflictError(f"execution {execution_id} did not react within {timeout_s:.0f} s (its "
                                    "Temporal workers may be down)", code="worker_unresponsive",
                                    execution_id=execution_id)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(0.25, delay * 1.5)

    # -- workers --

    def activities(self) -> InterpreterActivities:
        """The interpreter's activities over this runtime's collaborators and bus."""
        return InterpreterActivities(
            self.store, self.registry, bus=self.bus, credentials=self.credentials, rate_limiter=self.rate_limiter,
            services=self.services, usage=self.usage, rate_limits=self.rate_limits, limits=self.limits,
            expressions=self.expressions, breakers=self.breakers,
            children=self, workflows=self.subworkflows.workflows if self.subworkflows is not None else None,
            subworkflow_max_depth=self.subworkflows.max_depth if self.subworkflows is not None else DEFAULT_MAX_DEPTH,
        )

    @contextlib.asynccontextmanager
    async def embedded_worker(self, workspaces: Iterable[str] = ("default",)) -> AsyncIterator[list[Worker]]:
        """Run Temporal workers for ``workspaces`` in this process while the block runs
        (``flowwright run FILE`` on the temporal backend)."""
        workers = build_workers(await self.client(), self.options, self.activities(), workspaces)
        async with contextlib.AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            yield workers

    async def aclose(self) -> None:
        """Stop following executions (they go on running on Temporal) and close the pools."""
        self.closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.store.flush()
        await self.expression_pool.aclose()


def build_workers(client: Client, options: TemporalOptions, activities: InterpreterActivities,
                  workspaces: Iterable[str], *, max_concurrent_activities: int = 100) -> list[Worker]:
    """One Temporal worker per workspace task queue, running the interpreter and its activities."""
    return [
        Worker(client, task_queue=queue, workflows=[FlowwrightInterpreter],
               activities=activities.all(), max_concurrent_activities=max_concurrent_activities,
               graceful_shutdown_timeout=timedelta(seconds=5))
        for queue in dict.fromkeys(options.task_queue(w) for w in workspaces)
    ]


__all__ = ["TemporalOptions", "TemporalRuntime", "build_workers", "connect"]
