"""The durable workflow runtime: the public async API over executions.

``start`` creates an execution (durably) and drives it in a task; ``wait`` awaits its end;
``pause``/``resume``/``cancel``/``retry``/``approve``/``reject`` move it through the state
machine (``engine.execution_state``); ``events`` replays an execution's stream from any sequence
number and then follows it live; ``recover`` resumes every execution whose process died.

With a queue (``engine.queue``) the runtime either drives what it starts and records it in the
queue as claimed by this process (``remote=False``: ``flowwright run``, a worker), or it only
enqueues (``remote=True``: the API process under ``flowwright serve``); ``engine.dispatch`` holds
that side, including control calls that reach the driving worker through the queue row.

Durability: every node's result is committed before a dependent node starts, so a process killed
at any point resumes from the last checkpoint and no completed node runs again (a node that was
in flight when the process died runs again — at-least-once, as in every durable engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.services import ConnectorServices
from engine import events as ev
from engine.approval_decisions import Decision, record_decision, reload_decisions
from engine.circuit_breaker import CircuitBreakers
from engine.collaborators import (
    ConnectorRateLimiter,
    CredentialResolver,
    OperationCatalog,
    RateLimitStore,
    UsageTotals,
)
from engine.context import Scope
from engine.dead_letters import create_table as create_dead_letter_table
from engine.dispatch import Dispatch
from engine.errors import ConflictError, ControlSignal, NodeFailed, NotFoundError, Parked, Paused
from engine.event_stream import follow_events, publish_offline
from engine.execution_run import ExecutionRun, RuntimeLimits
from engine.execution_slots import take_slot
from engine.execution_state import check_transition
from engine.execution_store import (
    STEP_INSERT,
    ExecutionRow,
    ExecutionStore,
    StepRow,
    approvals_cancel,
    aware,
    dumps,
    loads,
    new_id,
    now,
    steps_update_where,
)
from engine.execution_views import approval_dict, describe_execution, duration_ms
from engine.expression_pool import Evaluator, ExpressionPool, default_workers
from engine.ownership import current_owner, owner_alive
from engine.queue import ExecutionQueue
from engine.scheduler_graph import GraphRun
from engine.subworkflows import DEFAULT_MAX_DEPTH, ParentLink, Subworkflows, WorkflowVersions
from engine.trigger_input import InputInvalidError, check_trigger_input
from engine.workflow import Workflow, iter_graph_nodes

log = logging.getLogger(__name__)

__all__ = ["CredentialResolver", "InputInvalidError", "Runtime", "RuntimeLimits", "approval_dict", "describe_execution"]


class Runtime:
    """Runs workflows durably. One instance per process; all methods run on one event loop."""

    def __init__(
        self, store: ExecutionStore, registry: OperationCatalog, *, credentials: CredentialResolver | None = None,
        rate_limiter: ConnectorRateLimiter | None = None, services: ConnectorServices | None = None,
        usage: UsageTotals | None = None, rate_limits: RateLimitStore | None = None,
        limits: RuntimeLimits | None = None, bus: ev.EventBus | None = None,
        queue: ExecutionQueue | None = None, remote: bool = False, owner: str | None = None,
        workflows: WorkflowVersions | None = None, subworkflow_max_depth: int = DEFAULT_MAX_DEPTH,
        breakers: CircuitBreakers | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.credentials = credentials
        self.rate_limiter = rate_limiter
        self.services = services if services is not None else ConnectorServices()
        self.usage = usage
        self.rate_limits = rate_limits
        self.breakers = breakers
        self.limits = limits or RuntimeLimits()
        self.expression_pool = ExpressionPool(
            workers=self.limits.expression_workers or default_workers(),
            memory_limit_mb=self.limits.expression_memory_limit_mb)
        self.expressions = Evaluator(self.limits.expression_time_limit_ms,
                                     self.limits.expression_output_limit_bytes, pool=self.expression_pool)
        self.bus = bus or ev.EventBus()
        self.owner = owner or current_owner()
        self.queue = queue
        create_dead_letter_table(store.engine)  # a failed run may write its dead letter
        self.dispatch = Dispatch(store, queue, owner=self.owner, remote=remote)
        self.remote = self.dispatch.remote
        self.on_stop: list[Callable[[str, str | None], None]] = []  # (execution id, status) when a drive ends
        self._tasks: dict[str, asyncio.Task[str | None]] = {}
        self._runs: dict[str, ExecutionRun] = {}
        self._status: dict[str, str] = {}
        self._cancelling: set[str] = set()
        self._recheck: set[str] = set()
        self._slot_freed = asyncio.Event()  # an execution stopped here: waiters for a slot look again
        self.closing = False  # set by aclose: a shutdown, not a cancel (children are left to recovery)
        # core.run_workflow steps need the workflow store to find the workflows they run
        self.subworkflows = Subworkflows(self, workflows, max_depth=subworkflow_max_depth) if workflows else None

    # -- starting --

    async def start(
        self, workflow: Workflow | dict[str, Any], input: Any = None, *, workspace_id: str = "default",
        user_id: str | None = None, workflow_id: str | None = None, workflow_version: int | None = None,
        trigger: str | None = None, dry_run: bool = False, priority: int = 0,
        seed: Callable[[str], list[dict[str, Any]]] | None = None, parent: ParentLink | None = None,
        execution_id: str | None = None, writes: Sequence[tuple[Any, dict[str, Any]]] = (),
    ) -> str:
        """Create an execution (committed before this returns) and start driving it (or, on a
        remote runtime, queue it for a worker; ``priority``: higher is claimed first). ``seed``
        gives, for the new id, step rows the run starts with as checkpoints (a fork's reused
        results, ``engine.execution_fork``); ``parent`` links a sub-workflow's execution to the
        step that runs it. ``execution_id`` chooses the new execution's id (a polling trigger's
        id derived from the item: a second start of the same item fails on the primary key);
        ``writes`` are statements committed in the same transaction as the execution row (the
        polling trigger's cursor advance)."""
        wf = self._parse(workflow, workspace_id)
        check_trigger_input(wf, input)
        execution_id = execution_id or new_id("ex")
        started = now()
        # a limit is per saved workflow: a file run shares its slots with nobody
        limit = (wf.max_concurrent_executions or self.limits.workflow_max_concurrent or None) if workflow_id else None
        row: dict[str, Any] = {
            "id": execution_id, "workspace_id": workspace_id, "user_id": user_id, "workflow_id": workflow_id,
            "workflow_version": workflow_version, "workflow_name": wf.name,
            "definition": dumps(wf.to_json_dict()), "trigger": trigger or (wf.trigger.kind if wf.trigger else "manual"),
            "status": "pending", "input": dumps(input), "dry_run": dry_run,
            "node_count": len(iter_graph_nodes(wf.nodes)), "owner": None if self.remote else self.owner,
            "created_at": started,
            "started_at": started, "deadline_at": started + timedelta(seconds=wf.timeout_s) if wf.timeout_s else None,
            "updated_at": started, "max_concurrent": limit, **(parent.columns() if parent else {}),
        }
        inserted = self.store.insert_execution(row)
        for stmt, params in writes:  # queued in this same turn: the writer commits them with the row
            self.store.write(stmt, params)
        seeded = [StepRow(**step) for step in seed(execution_id)] if seed is not None else []
        for step in seeded:  # committed with the execution, before a worker can claim it
            self.store.write(STEP_INSERT, step.model_dump())
        queued = self.dispatch.enqueue_new(execution_id, workspace_id, workflow_id=workflow_id, priority=priority,
                                           max_concurrent=limit)
        await inserted
        if queued is not None:
            await queued
        if self.remote:
            return execution_id
        run = self._new_run(ExecutionRow(**row), wf)
        if seeded:
            run.load_steps(seeded, [])
        self._status[execution_id] = "pending"
        self._launch(run)
        return execution_id

    async def run(self, workflow: Workflow | dict[str, Any], input: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Start an execution and wait for its end; returns :meth:`describe`'s result."""
        execution_id = await self.start(workflow, input, **kwargs)
        return await self.wait(execution_id)

    async def wait(self, execution_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the execution stops in this process (ends, pauses or waits); describe it."""
        task = self._tasks.get(execution_id)
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), timeout)
        elif self.remote:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.dispatch.await_stopped(execution_id), timeout)
        return await self.describe(execution_id)

    async def join(self, execution_id: str) -> str:
        """Wait until the execution stops in this process; return its status (no store read
        when it was driven here)."""
        task = self._tasks.get(execution_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                status = await asyncio.shield(task)
                if status is not None:
                    return status
        elif self.remote:
            return await self.dispatch.await_stopped(execution_id)
        return (await self.get(execution_id)).status

    # -- reading --

    async def get(self, execution_id: str, workspace_id: str | None = None) -> ExecutionRow:
        await self.store.flush()
        return await asyncio.to_thread(self.store.get, execution_id, workspace_id)

    async def describe(self, execution_id: str, workspace_id: str | None = None) -> dict[str, Any]:
        """The execution as JSON (the ``run --json`` / ``executions show --json`` shape)."""
        await self.store.flush()
        return await asyncio.to_thread(describe_execution, self.store, execution_id, workspace_id)

    async def events(
        self, execution_id: str, after_seq: int = 0, *, workspace_id: str | None = None,
    ) -> AsyncIterator[ev.Event]:
        """Every event after ``after_seq``, then the live ones, until the execution ends.

        With ``workspace_id``, an execution of another workspace raises ``NotFoundError``.
        """
        if workspace_id is not None:
            await self.get(execution_id, workspace_id)
        async for event in follow_events(self.store, self.bus, execution_id, after_seq,
                                         driven_here=self._tasks.__contains__):
            yield event

    # -- control --

    async def pause(self, execution_id: str) -> None:
        """Start no new node; running ones finish and are checkpointed; ``resume`` continues."""
        status = await self._current_status(execution_id)
        check_transition(status, "paused", execution_id)
        run = self._runs.get(execution_id)
        if run is not None:
            self._status[execution_id] = "paused"
            run.stop_event.set()
            run.emit(ev.EXECUTION_PAUSED)
            await self.store.update_execution(execution_id, status="paused")
        elif await self.dispatch.ask_worker(execution_id, "pause"):
            return
        else:
            await self.store.update_execution(execution_id, status="paused")
            await publish_offline(self.store, self.bus, execution_id, ev.EXECUTION_PAUSED)

    async def resume(self, execution_id: str) -> None:
        """Continue a paused execution from its checkpoints."""
        await self._settle_task(execution_id)
        row = await self.get(execution_id)
        check_transition(row.status, "running", execution_id)
        if row.status != "paused":
            raise ConflictError(f"execution {execution_id} is {row.status}, not paused", code="illegal_transition")
        await self._relaunch(row)

    async def retry(self, execution_id: str) -> None:
        """Re-run a failed (or timed-out) execution from its failed nodes, reusing completed outputs."""
        await self._settle_task(execution_id)
        row = await self.get(execution_id)
        if row.status not in ("failed", "timed_out"):
            raise ConflictError(f"only failed or timed-out executions can be retried; {execution_id} is {row.status}",
                                code="illegal_transition", execution_id=execution_id)
        wf = Workflow.model_validate_json(row.definition)
        deadline = now() + timedelta(seconds=wf.timeout_s) if wf.timeout_s else None
        await self.store.update_execution(execution_id, error=None, completed_at=None, duration_ms=None, deadline_at=deadline)
        row.deadline_at = deadline
        await self._relaunch(row)

    async def cancel(self, execution_id: str) -> None:
        """Stop in-flight nodes (asyncio cancellation) and mark the rest cancelled."""
        status = await self._current_status(execution_id)
        check_transition(status, "cancelled", execution_id)
        task = self._tasks.get(execution_id)
        if task is not None and not task.done():
            self._cancelling.add(execution_id)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            return
        if await self.dispatch.ask_worker(execution_id, "cancel"):
            return
        completed = now()
        await self.store.write(steps_update_where(execution_id, ["running", "waiting", "suspended"], status="cancelled"),
                               None, durable=True)
        await self.store.write(
            approvals_cancel(execution_id), None, durable=True,
        )
        row = await self.get(execution_id)
        await self.store.update_execution(execution_id, status="cancelled", completed_at=completed,
                                          duration_ms=duration_ms(row.started_at, completed))
        await publish_offline(self.store, self.bus, execution_id, ev.EXECUTION_CANCELLED)
        if self.subworkflows is not None:  # a paused parent's children run on: they follow it
            await self.subworkflows.cancel_children(execution_id)

    async def approve(self, execution_id: str, node_id: str, by: str | None = None, *, loop_path: str | None = None) -> None:
        """Approve a guardrail that waits for a person; the node runs again with the decision."""
        await self._decide(execution_id, node_id, "approved", by, loop_path)

    async def reject(self, execution_id: str, node_id: str, by: str | None = None, *, loop_path: str | None = None) -> None:
        """Reject a waiting guardrail: the node fails (its ``on_error`` applies)."""
        await self._decide(execution_id, node_id, "rejected", by, loop_path)

    async def approvals(self, workspace_id: str | None = None, execution_id: str | None = None) -> list[dict[str, Any]]:
        """Pending approvals as JSON."""
        await self.store.flush()
        rows = await asyncio.to_thread(self.store.approvals, workspace_id, execution_id=execution_id)
        return [approval_dict(r) for r in rows]

    async def recover(self, *, workspace_id: str | None = None) -> list[str]:
        """Resume every running/pending execution whose driving process is gone; returns their ids."""
        rows = await asyncio.to_thread(self.store.list, workspace_id, status=["running", "pending"], limit=100_000)
        resumed = []
        for row in sorted(rows, key=lambda r: aware(r.created_at) or now()):
            if row.id in self._tasks or owner_alive(row.owner):
                continue
            if not await asyncio.to_thread(self.store.claim, row.id, row.owner, self.owner):
                continue  # another process took it first
            if row.status == "pending" and not row.max_concurrent:  # a limited one waits for its slot
                await self.store.update_execution(row.id, status="running")
                row.status = "running"
            await self.dispatch.requeue(row, claimed=True)
            await self._launch_from_row(row)
            resumed.append(row.id)
        return resumed

    async def drive(self, execution_id: str) -> str | None:
        """Drive an execution this process claimed from the queue, to its end or until it pauses
        or waits; returns its status then (``None``: it was not runnable — it has ended, is
        driven here already, or does not exist)."""
        try:
            row = await self.get(execution_id)
        except NotFoundError:
            return None
        if row.status not in ("pending", "running") or execution_id in self._tasks:
            return None
        await self.store.update_execution(execution_id, owner=self.owner)
        row.owner = self.owner
        await self._launch_from_row(row)
        return await self.join(execution_id)

    async def relaunch_waiting(self, execution_id: str) -> None:
        """Run a waiting execution again (a decision arrived while it was parking)."""
        row = await self.get(execution_id)
        if row.status == "waiting" and execution_id not in self._tasks:
            await self._relaunch(row)

    async def abandon(self, execution_id: str) -> None:
        """Stop driving an execution without writing anything (another worker owns it now)."""
        task = self._tasks.get(execution_id)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def driving(self) -> list[str]:
        """The executions this process drives right now."""
        return list(self._tasks)

    async def aclose(self) -> None:
        """Stop driving (shutdown): running executions stay ``running`` for ``recover``."""
        self.closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.store.flush()
        await self.expression_pool.aclose()

    # -- internals: launching --

    def _parse(self, workflow: Workflow | dict[str, Any], workspace_id: str) -> Workflow:
        if isinstance(workflow, Workflow):
            return workflow
        from engine.validation import parse_workflow

        return parse_workflow(workflow, self.catalog(workspace_id))

    def catalog(self, workspace_id: str) -> OperationCatalog:
        """The registry as a workspace sees it (with its imported connectors, when the registry has any)."""
        for_workspace = getattr(self.registry, "for_workspace", None)
        catalog: OperationCatalog = for_workspace(workspace_id) if for_workspace is not None else self.registry
        return catalog

    def _new_run(self, row: ExecutionRow, wf: Workflow) -> ExecutionRun:
        return ExecutionRun(
            execution_id=row.id, workflow=wf, workspace_id=row.workspace_id, workflow_id=row.workflow_id,
            trigger_input=loads(row.input), dry_run=bool(row.dry_run), store=self.store, bus=self.bus,
            limits=self.limits, registry=self.catalog(row.workspace_id), services=self.services, credentials=self.credentials,
            rate_limiter=self.rate_limiter, usage=self.usage, rate_limits=self.rate_limits,
            started_at=aware(row.started_at) or now(),
            expressions=self.expressions, subworkflows=self.subworkflows, breakers=self.breakers,
            max_concurrent=row.max_concurrent,
        )

    def _launch(self, run: ExecutionRun, *, deadline: datetime | None = None) -> None:
        self._runs[run.execution_id] = run
        self.bus.open(run.execution_id)
        if deadline is None and run.workflow.timeout_s:
            deadline = run.started_at + timedelta(seconds=run.workflow.timeout_s)
        task = asyncio.create_task(self._drive(run, deadline=deadline), name=f"execution {run.execution_id}")
        self._tasks[run.execution_id] = task

    async def _launch_from_row(self, row: ExecutionRow) -> None:
        wf = Workflow.model_validate_json(row.definition)
        # Attempts still ``running`` belong to a driver that is gone (this one drives nothing of
        # this execution yet): record that a crash cut them off.
        await self.store.write(steps_update_where(row.id, ["running"], status="interrupted", completed_at=now()),
                               None, durable=True)
        steps, approvals, seq = await asyncio.to_thread(self._load, row.id)
        run = self._new_run(row, wf)
        run.seq = seq
        run.load_steps(steps, approvals)
        self._status[row.id] = row.status
        self._launch(run, deadline=aware(row.deadline_at))

    def _load(self, execution_id: str) -> tuple[list[StepRow], list[Any], int]:
        steps = self.store.steps(execution_id)
        approvals = self.store.approvals(execution_id=execution_id, status=None)
        return steps, approvals, self.store.max_seq(execution_id)

    async def _relaunch(self, row: ExecutionRow) -> None:
        await self.store.update_execution(row.id, status="running", owner=self.dispatch.claim_owner)
        row.status = "running"
        await self.dispatch.requeue(row)
        if self.remote:
            return
        await self._launch_from_row(row)

    async def _settle_task(self, execution_id: str) -> None:
        task = self._tasks.get(execution_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(task)

    async def _current_status(self, execution_id: str) -> str:
        if execution_id in self._status:
            return self._status[execution_id]
        return (await self.get(execution_id)).status

    async def _decide(self, execution_id: str, node_id: str, decision: Decision,
                      by: str | None, loop_path: str | None) -> None:
        pending = await record_decision(self.store, execution_id, node_id, decision, by, loop_path)
        run = self._runs.get(execution_id)
        if run is not None and self._status.get(execution_id) == "running":
            for approval in pending:  # the live run picks the decision up before it parks
                run.approval_rows[(approval.loop_path, approval.node_id)] = approval
                run.emit(ev.LOG, node_id, level="info", message=f"{decision} by {by or 'someone'}")
            self._recheck.add(execution_id)
            return
        if await self.dispatch.tell_decided(execution_id):
            return  # a worker drives it: it reloads the decisions before it parks
        await self._settle_task(execution_id)
        row = await self.get(execution_id)
        check_transition(row.status, "running", execution_id)
        await self._relaunch(row)

    async def reload_decisions(self, execution_id: str) -> None:
        """Take the approval decisions another process recorded into the live run (a worker
        calls it on a ``decide`` request)."""
        run = self._runs.get(execution_id)
        if run is not None and await reload_decisions(self.store, run):
            self._recheck.add(execution_id)

    # -- internals: driving --

    async def _take_slot(self, run: ExecutionRun) -> None:
        """A new execution of a limited workflow waits here for a slot (engine.execution_slots)."""
        if not run.max_concurrent or self._status.get(run.execution_id) != "pending":
            return
        await take_slot(self.store.engine, run.execution_id, self._slot_freed, lambda: run.emit(
            ev.LOG, level="info", message=f"waiting for a free slot: this workflow runs at most "
                                          f"{run.max_concurrent} execution(s) at once"))

    def _announce(self, run: ExecutionRun) -> None:
        """The execution (re)starts in this process: ``execution.started`` or ``execution.resumed``."""
        execution_id = run.execution_id
        if self._status.get(execution_id) == "pending":
            self._status[execution_id] = "running"
            run.emit(ev.EXECUTION_STARTED, workflow_name=run.workflow.name, dry_run=run.dry_run)
            # Fire-and-forget (not awaited): the group-commit writer orders it before every later
            # write of this execution, and a crash before it commits leaves the row `pending`,
            # which recovery resumes the same way as `running`.
            run.store.set_state(execution_id, "running", durable=False)
        else:
            self._status[execution_id] = "running"
            run.emit(ev.EXECUTION_RESUMED)

    async def _drive(self, run: ExecutionRun, *, deadline: datetime | None) -> str | None:
        execution_id = run.execution_id
        final: str | None = None

        def new_graph() -> GraphRun:
            return GraphRun(run, run.workflow.nodes, run.workflow.edges,
                            Scope(trigger=run.trigger_input, execution=run.execution_scope))

        graph = new_graph()
        cm: asyncio.Timeout | None = None
        try:
            await run.seed_secrets()
            await self._take_slot(run)
            self._announce(run)
            while True:
                try:
                    if deadline is not None:
                        cm = asyncio.timeout(max(0.0, (deadline - datetime.now(UTC)).total_seconds()))
                        async with cm:
                            await graph.execute()
                    else:
                        await graph.execute()
                    break
                except Parked:
                    if execution_id in self._recheck:
                        self._recheck.discard(execution_id)
                        graph = new_graph()  # settled nodes come back from the checkpoints
                        continue  # a decision came in while other branches ran: go again
                    raise
            await self._finish(run, "completed", output=run.redact(graph.result()))
        except Paused:
            self._status[execution_id] = "paused"
        except Parked:
            self._status[execution_id] = "waiting"
            await run.store.set_state(execution_id, "waiting")
            run.emit(ev.EXECUTION_WAITING, approvals=[k[1] for k, a in run.approval_rows.items() if a.status == "pending"])
        except NodeFailed as failure:
            await self._finish(run, "failed", error=failure.error)
        except TimeoutError:
            if cm is None or not cm.expired():
                await self._finish(run, "failed", error={"code": "internal_error", "message": "unexpected timeout"})
            else:
                run.mark_stopped("timed_out")
                await self._finish(run, "timed_out", error={
                    "code": "workflow_timeout", "message": f"the workflow ran longer than {run.workflow.timeout_s} s"})
        except asyncio.CancelledError:
            if execution_id not in self._cancelling:
                raise  # shutdown: the execution stays running for recovery
            self._cancelling.discard(execution_id)
            run.mark_stopped("cancelled")
            await self._finish(run, "cancelled")
        except ControlSignal as stray:  # a signal no part of the graph handles (a bug): fail, do not hang
            log.error("execution %s: unhandled %s", execution_id, type(stray).__name__)
            await self._finish(run, "failed", error={"code": "internal_error",
                                                      "message": f"unhandled {type(stray).__name__}"})
        except Exception as exc:  # a bug must not leave the execution running forever
            log.exception("execution %s crashed", execution_id)
            message = run.redact.text(f"{type(exc).__name__}: {exc}")  # an exception text may quote a secret
            await self._finish(run, "failed", error={"code": "internal_error", "message": message})
        finally:
            final = self._status.get(execution_id)
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.flush())
            self._tasks.pop(execution_id, None)
            self._runs.pop(execution_id, None)
            self._status.pop(execution_id, None)
            self._recheck.discard(execution_id)
            self.bus.close(execution_id)
            self.bus.wake(execution_id)
            self._notify_stopped(execution_id, final)
        return final

    def _notify_stopped(self, execution_id: str, final: str | None) -> None:
        self._slot_freed.set()
        for callback in self.on_stop:
            callback(execution_id, final)

    async def _finish(self, run: ExecutionRun, status: str, *, output: Any = None, error: Any = None) -> None:
        self._status[run.execution_id] = status
        await run.finish(status, output=output, error=error)
