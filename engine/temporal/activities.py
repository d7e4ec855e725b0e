"""The activities of the Temporal interpreter: Flowwright's node code, run by Flowwright workers.

Each activity drives a short-lived :class:`~engine.execution_run.ExecutionRun` of the execution
over a :class:`~engine.temporal.recorder.SharedRecorder`, so a node writes the same step rows,
logs and events (``node.started``, ``node.completed``, ``node.retrying``...) through the same
``ExecutionRun``/``NodeRunner`` code as on the local runtime: the connector call, credentials
from the vault, redaction, rate limits and the step output limit are that code's.

An action or guardrail activity runs **one attempt**; Temporal schedules the next one. A
failure another attempt may fix (``engine.retry.is_retryable``) is raised as a retryable
``ApplicationError`` whose ``next_retry_delay`` is the node's backoff (a connector's
``Retry-After`` honoured); the last attempt applies the node's ``on_error``: ``continue`` and
``route`` settle it (the activity returns the checkpoint), ``fail`` raises the non-retryable
``NodeFailed`` that fails the execution.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from temporalio import activity
from temporalio.exceptions import ApplicationError

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
from engine.context import Scope
from engine.errors import FlowwrightError, LoopLimitError, NodeFailed, Parked
from engine.execution_run import Checkpoint, ExecutionRun, RuntimeLimits
from engine.execution_store import (
    ExecutionRow,
    ExecutionStore,
    approvals_cancel,
    aware,
    dumps,
    loads,
    now,
    steps_update_where,
)
from engine.execution_views import duration_ms
from engine.expression_pool import Evaluator
from engine.node_runner import NodeRunner, error_payload
from engine.retry import is_retryable
from engine.scheduler_graph import GraphRun, _truthy
from engine.subworkflows import DEFAULT_MAX_DEPTH, WorkflowVersions
from engine.temporal import interpreter as names
from engine.temporal.children import AwaitChild, ChildStarter, Handoff, TemporalSubworkflows, mark_paused
from engine.temporal.recorder import SharedRecorder
from engine.workflow import LoopNode, Node, RetryPolicy, Workflow

DEFINITION_CACHE = 256
_NODE: TypeAdapter[Node] = TypeAdapter(Node)


def parse_node(data: dict[str, Any]) -> Node:
    """A node of the stored definition, as the workflow input carries it."""
    return _NODE.validate_python(data)


class _AttemptFailed(Exception):
    """One attempt failed; the activity decides between another attempt and ``on_error``."""

    def __init__(self, exc: Exception, step_id: str | None, started: Any) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.step_id = step_id
        self.started = started


class _Suspended(Handoff):
    """The operation suspended itself (``core.delay``): the workflow sleeps on a durable timer and
    calls the node again."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until.isoformat())
        self.until = until


class _OneAttempt(NodeRunner):
    """A node runner that makes one attempt and leaves retries to Temporal, and a suspension's
    sleep to a Temporal timer (``resuming``: the timer fired; go on at once)."""

    def __init__(self, run: ExecutionRun, *, resuming: bool = False) -> None:
        super().__init__(run)
        self.resuming = resuming

    async def _with_retries(self, node: Any, loop_path: str, attempt_fn: Any) -> Checkpoint:  # noqa: ARG002 - NodeRunner's signature
        from engine.node_runner import _Attempt

        current = _Attempt()
        try:
            result: Checkpoint = await attempt_fn(current)
            return result
        except Handoff as handoff:
            handoff.step_id, handoff.attempt = current.step_id, current.number
            raise
        except Exception as exc:
            raise _AttemptFailed(exc, current.step_id, current.started) from exc

    async def sleep_until(self, until: datetime) -> None:
        """Not here: the suspended row is written; the workflow's durable timer does the waiting."""
        if self.resuming:
            self.resuming = False
            return
        raise _Suspended(until)


@dataclass(frozen=True)
class _Execution:
    row: ExecutionRow
    workflow: Workflow


def retry_delay(policy: RetryPolicy, attempt: int, exc: BaseException) -> float:
    """Seconds before attempt ``attempt + 1``: the node's backoff, at least a ``Retry-After``."""
    cap = max(policy.max_delay_s, 0.0)
    if policy.backoff == "fixed":
        delay = policy.initial_delay_s + (random.uniform(0, policy.initial_delay_s * 0.25) if policy.jitter else 0)
    else:
        delay = policy.initial_delay_s * 2 ** (attempt - 1)
        if policy.jitter:
            delay += random.uniform(0, policy.initial_delay_s * 0.5)
    delay = min(delay, cap) if cap > 0 else 0.0
    retry_after = getattr(exc, "retry_after_s", None)
    if isinstance(retry_after, int | float) and retry_after > delay:
        delay = float(retry_after)
    return delay


class InterpreterActivities:
    """The activities, bound to one worker process's collaborators (built by ``app/wiring``).

    Args:
        store: the execution store every worker shares.
        registry: the connector catalog (per workspace when it has imported connectors).
        bus: this process's event bus (an embedded worker's events reach local listeners live).
    """

    def __init__(
        self, store: ExecutionStore, registry: OperationCatalog, *, bus: ev.EventBus | None = None,
        credentials: CredentialResolver | None = None, rate_limiter: ConnectorRateLimiter | None = None,
        services: ConnectorServices | None = None, usage: UsageTotals | None = None,
        rate_limits: RateLimitStore | None = None, limits: RuntimeLimits | None = None,
        expressions: Evaluator | None = None, heartbeat_s: float = 2.0, breakers: CircuitBreakers | None = None,
        children: ChildStarter | None = None, workflows: WorkflowVersions | None = None,
        subworkflow_max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.store = store
        self.registry = registry
        self.bus = bus or ev.EventBus()
        self.credentials = credentials
        self.rate_limiter = rate_limiter
        self.services = services if services is not None else ConnectorServices()
        self.usage = usage
        self.rate_limits = rate_limits
        self.limits = limits or RuntimeLimits()
        self.expressions = expressions or Evaluator(self.limits.expression_time_limit_ms,
                                                    self.limits.expression_output_limit_bytes)
        self.heartbeat_s = heartbeat_s
        self.breakers = breakers
        self.children = children  # core.run_workflow: creates child rows (None, or no workflows: unavailable)
        self.workflows = workflows
        self.subworkflow_max_depth = subworkflow_max_depth
        self._executions: OrderedDict[str, _Execution] = OrderedDict()

    def all(self) -> list[Any]:
        """The activity callables to register with a Temporal worker."""
        return [self.begin, self.node, self.state, self.skip, self.lost, self.loop, self.child, self.finish]

    # -- the execution and its run --

    async def _execution(self, execution_id: str) -> _Execution:
        cached = self._executions.get(execution_id)
        if cached is not None:
            self._executions.move_to_end(execution_id)
            return cached
        row = await asyncio.to_thread(self.store.get, execution_id)
        found = _Execution(row, Workflow.model_validate_json(row.definition))
        self._executions[execution_id] = found
        while len(self._executions) > DEFINITION_CACHE:
            self._executions.popitem(last=False)
        return found

    def _catalog(self, workspace_id: str) -> OperationCatalog:
        for_workspace = getattr(self.registry, "for_workspace", None)
        catalog: OperationCatalog = for_workspace(workspace_id) if for_workspace is not None else self.registry
        return catalog

    @contextlib.asynccontextmanager
    async def _run(self, execution_id: str, child: dict[str, Any] | None = None) -> AsyncIterator[ExecutionRun]:
        """An ExecutionRun of the execution over a shared recorder (``child``: the interpreter's
        word on the child a resumed ``core.run_workflow`` step goes on with)."""
        execution = await self._execution(execution_id)
        row = execution.row
        recorder = SharedRecorder(self.store, execution_id, self.bus)
        subworkflows = TemporalSubworkflows(self.children, self.workflows, self.bus, resume=child,
                                            max_depth=self.subworkflow_max_depth) \
            if self.children is not None and self.workflows is not None else None
        run = ExecutionRun(
            execution_id=execution_id, workflow=execution.workflow, workspace_id=row.workspace_id,
            workflow_id=row.workflow_id, trigger_input=loads(row.input), dry_run=bool(row.dry_run),
            store=recorder, bus=ev.EventBus(), limits=self.limits,  # type: ignore[arg-type]
            registry=self._catalog(row.workspace_id), services=self.services, credentials=self.credentials,
            rate_limiter=self.rate_limiter, usage=self.usage, rate_limits=self.rate_limits,
            started_at=aware(row.started_at) or now(), expressions=self.expressions, breakers=self.breakers,
            subworkflows=subworkflows,
        )
        await run.seed_secrets()  # the redactor knows every secret of the workflow before anything is written
        try:
            yield run
        finally:
            await recorder.flush()

    # -- activities --

    @activity.defn(name=names.BEGIN)
    async def begin(self, inp: dict[str, Any]) -> dict[str, Any]:
        """The execution starts (or restarts) on Temporal: ``execution.started`` (``resumed``
        when it ran before), status ``running``; returns the checkpoints already stored (a
        retried or forked execution reuses them)."""
        execution_id = inp["execution_id"]
        self._executions.pop(execution_id, None)  # a retry may run a new definition snapshot
        steps = await asyncio.to_thread(self.store.steps, execution_id)
        async with self._run(execution_id) as run:
            run.store.write(steps_update_where(execution_id, ["running"], status="interrupted", completed_at=now()))
            if (await self._execution(execution_id)).row.status == "pending":
                run.emit(ev.EXECUTION_STARTED, workflow_name=run.workflow.name, dry_run=run.dry_run)
            else:
                run.emit(ev.EXECUTION_RESUMED)
            run.store.set_state(execution_id, "running", durable=False)
        checkpoints = [
            {"node_id": s.node_id, "loop_path": s.loop_path, "status": s.status, "output": loads(s.output),
             "branch": s.branch, "error": loads(s.error)}
            for s in steps if s.final
        ]
        attempts: dict[tuple[str, str], int] = {}
        for s in steps:
            attempts[(s.loop_path, s.node_id)] = max(attempts.get((s.loop_path, s.node_id), 0), s.attempt)
        return {"checkpoints": checkpoints,
                "attempts": [{"loop_path": k[0], "node_id": k[1], "attempt": n} for k, n in attempts.items()]}

    @activity.defn(name=names.NODE)
    async def node(self, inp: dict[str, Any]) -> dict[str, Any]:
        """Run one node (an attempt of an action or guardrail; a structural node at once).
        ``children`` in the result: child executions the interpreter is to start."""
        try_ = activity.info().attempt if activity.in_activity() else 1
        resume = inp.get("resume") if try_ == 1 else None  # a retry after it is a new attempt
        child = (resume or {}).get("child")
        async with self._heartbeats(), self._run(inp["execution_id"], child) as run:
            result = await self._node(run, inp, try_, resume)
            if isinstance(run.subworkflows, TemporalSubworkflows) and run.subworkflows.launches:
                result["children"] = run.subworkflows.launch_list()
            return result

    async def _node(self, run: ExecutionRun, inp: dict[str, Any], try_: int,
                    resume: dict[str, Any] | None) -> dict[str, Any]:
        node = parse_node(inp["node"])
        loop_path = inp["loop_path"]
        key = (loop_path, node.id)
        scope = _scope(run, inp["scope"])
        graph = GraphRun(run, [node], [], scope, loop_path)
        graph.settled = {src: Checkpoint("completed", value, None) for src, value in inp["inputs"].items()}
        graph.arrivals[node.id] = list(inp["inputs"])
        if node.type not in names.ACTIVITY_TYPES:
            run.attempts[key] = int(inp.get("attempt_base") or 0)
            return await self._settle_structural(graph, node)
        base = int(inp.get("attempt_base") or 0)
        # the node's attempts so far: earlier calls (a suspension or a child in between) and Temporal's retries
        attempt = int(inp.get("tries_before") or 0) + try_
        max_attempts = int(inp.get("max_attempts") or 1)
        run.attempts[key] = base + attempt - 1
        if try_ > 1:
            await self._note_interrupted(run, node.id, loop_path)
        if resume is not None:  # the durable timer of a suspension fired, or the child ended
            until = resume.get("until")
            run.suspended[key] = (resume["step_id"], datetime.fromisoformat(until) if until else None)
            run.attempts[key] = int(resume["attempt"])
        if node.type == "guardrail":
            approvals = await asyncio.to_thread(self.store.approvals, None, execution_id=run.execution_id,
                                                status=None)
            for approval in approvals:
                if approval.node_id == node.id and approval.loop_path == loop_path:
                    run.approval_rows[key] = approval
        graph.runner = _OneAttempt(run, resuming=bool(resume and resume.get("until")))
        try:
            checkpoint = await graph._execute_node(node)
        except _AttemptFailed as failed:
            return await self._attempt_failed(run, node, loop_path, failed, base + attempt, attempt, max_attempts)
        except Parked:  # an approval guardrail asked a person (its row and event are written)
            return {"status": "waiting"}
        except _Suspended as suspended:
            return {"status": "suspended", "until": suspended.until.isoformat(), "step_id": suspended.step_id,
                    "attempt": suspended.attempt, "try": attempt}
        except AwaitChild as waiting:  # the interpreter waits for the child workflow, then resumes
            await run.store.flush()
            return {"status": "child", "child_id": waiting.child_id, "step_id": waiting.step_id,
                    "attempt": waiting.attempt, "try": attempt}
        return _checkpoint_dict(checkpoint)

    @activity.defn(name=names.CHILD)
    async def child(self, inp: dict[str, Any]) -> None:
        """A step that waited for a child stops waiting: ``paused`` (its execution paused)."""
        async with self._run(inp["execution_id"]) as run:
            if inp["op"] == "paused":
                mark_paused(run, inp["step_id"])

    @activity.defn(name=names.STATE)
    async def state(self, inp: dict[str, Any]) -> None:
        """The execution's status follows the walk: ``paused`` (``execution.paused``), ``waiting``
        (``execution.waiting`` with the guardrails that wait) or ``running`` again (``resumed``)."""
        execution_id, status = inp["execution_id"], inp["status"]
        async with self._run(execution_id) as run:
            if status == "paused":
                run.emit(ev.EXECUTION_PAUSED)
            elif status == "waiting":
                run.emit(ev.EXECUTION_WAITING, approvals=inp.get("approvals") or [])
            else:
                run.emit(ev.EXECUTION_RESUMED)
            run.store.update_execution(execution_id, status=status)

    @activity.defn(name=names.SKIP)
    async def skip(self, inp: dict[str, Any]) -> None:
        """Record skipped nodes (``node.skipped``, one final row each)."""
        async with self._run(inp["execution_id"]) as run:
            loop_path = inp["loop_path"]
            where = {"loop_path": loop_path} if loop_path else {}
            for skipped in inp["skips"]:
                run.settled_row(skipped["node_id"], skipped["node_type"], loop_path, status="skipped", attempt=0)
                run.emit(ev.NODE_SKIPPED, skipped["node_id"], **where)

    @activity.defn(name=names.LOST)
    async def lost(self, inp: dict[str, Any]) -> dict[str, Any]:
        """A node's activity never reported back (timed out, or failed outside the node code):
        fail the node with ``error`` and apply its ``on_error``."""
        async with self._run(inp["execution_id"]) as run:
            node = parse_node(inp["node"])
            loop_path = inp["loop_path"]
            await self._note_interrupted(run, node.id, loop_path)
            error = {**inp["error"], "node_id": node.id}
            runner = NodeRunner(run)
            try:
                checkpoint = await runner.handle_failure(node, loop_path, error, None, now())
            except NodeFailed as failure:
                await run.store.flush()
                raise _node_failed(failure.error) from None
            return _checkpoint_dict(checkpoint)

    @activity.defn(name=names.LOOP)
    async def loop(self, inp: dict[str, Any]) -> dict[str, Any]:
        """A loop node's own rows: ``start`` (evaluate the items, the loop's step row and
        ``node.started``), ``check`` (a while loop's condition), ``complete``/``fail``/
        ``max_iterations`` (its end), ``wait``/``waited`` (a durable wait between iterations)."""
        async with self._run(inp["execution_id"]) as run:
            node = parse_node(inp["node"])
            assert isinstance(node, LoopNode)
            loop_path, op = inp["loop_path"], inp["op"]
            runner = NodeRunner(run)
            where = {"loop_path": loop_path} if loop_path else {}
            try:
                if op == "start":
                    run.attempts[(loop_path, node.id)] = int(inp.get("attempt_base") or 0)
                    step_id, started = run.step_started(node.id, "loop", loop_path,
                                                        run.next_attempt((loop_path, node.id)), None)
                    run.emit(ev.NODE_STARTED, node.id, **where)
                    step = {"id": step_id, "started": started.isoformat()}
                    if node.config.while_ is not None:
                        return {"step": step}
                    graph = GraphRun(run, [node], [], _scope(run, inp["scope"]), loop_path)
                    try:
                        items = await graph._loop_items(node)
                    except Exception as exc:
                        error = error_payload(exc, node.id, 1)
                        run.step_finished(step_id, started, status="failed", error=error, durable=False)
                        return {"checkpoint": _checkpoint_dict(
                            await runner.handle_failure(node, loop_path, error, step_id, started))}
                    return {"step": step, "items": items}
                if op == "wait":
                    run.attempts[(loop_path, node.id)] = int(inp.get("attempt_base") or 0)
                    until = datetime.fromisoformat(inp["until"])
                    wait_id, started = run.step_started(node.id, "wait", loop_path,
                                                        run.next_attempt((loop_path, node.id)),
                                                        {"delay_s": inp["delay_s"]})
                    run.step_finished(wait_id, started, status="suspended", resume_at=until)
                    run.emit(ev.NODE_SUSPENDED, node.id, until=until.isoformat(), loop_path=loop_path)
                    return {"step": {"id": wait_id, "started": started.isoformat()}}
                step_id = inp["step"]["id"]
                started = datetime.fromisoformat(inp["step"]["started"])
                if op == "waited":
                    output = {"waited_until": inp["until"]}
                    run.step_finished(step_id, started, status="completed", output=output, final=True)
                    return _checkpoint_dict(Checkpoint("completed", output, None))
                if op == "check":
                    assert node.config.while_ is not None
                    data = {**_scope(run, inp["scope"]).data(), "previous": inp.get("previous"),
                            "iteration": inp["iteration"]}
                    try:
                        again = _truthy(await run.expressions.evaluate(node.config.while_, data))
                    except Exception as exc:
                        return await self._loop_failed(run, runner, node, loop_path, step_id, started,
                                                       error_payload(exc, node.id, 1))
                    return {"again": again}
                if op == "max_iterations":
                    message = (f"loop {node.id} ran {node.config.max_iterations} times (max_iterations) and its "
                               "while condition still held")
                    if node.config.on_max_iterations == "fail":
                        error = error_payload(LoopLimitError(message, node_id=node.id,
                                                             max_iterations=node.config.max_iterations), node.id, 1)
                        return await self._loop_failed(run, runner, node, loop_path, step_id, started, error)
                    run.log("warning", f"{message}; stopping", node_id=node.id, loop_path=loop_path)
                    return {}
                if op == "fail":
                    return await self._loop_failed(run, runner, node, loop_path, step_id, started, inp["error"])
                try:
                    return _checkpoint_dict(await runner.complete(node, loop_path, step_id, started, inp["output"]))
                except FlowwrightError as exc:  # the list of results is over the step output limit
                    return await self._loop_failed(run, runner, node, loop_path, step_id, started,
                                                   error_payload(exc, node.id, 1))
            except NodeFailed as failure:
                await run.store.flush()
                raise _node_failed(failure.error) from None

    async def _loop_failed(self, run: ExecutionRun, runner: NodeRunner, node: Any, loop_path: str, step_id: str,
                           started: datetime, error: dict[str, Any]) -> dict[str, Any]:
        run.step_finished(step_id, started, status="failed", error=error, durable=False)
        checkpoint = await runner.handle_failure(node, loop_path, error, step_id, started)
        return {"failed": True, **_checkpoint_dict(checkpoint)}

    @activity.defn(name=names.FINISH)
    async def finish(self, inp: dict[str, Any]) -> None:
        """Record the execution's end and emit ``execution.<status>``."""
        execution_id = inp["execution_id"]
        async with self._run(execution_id) as run:
            status, output, error = inp["status"], inp.get("output"), inp.get("error")
            if output is not None:
                output = run.redact(output)
            completed = now()
            duration = duration_ms(run.started_at, completed)
            failed = int(inp.get("failed_steps") or 0)
            if status in ("timed_out", "cancelled"):  # attempts cut off by the workflow's timeout or a cancel
                run.store.write(steps_update_where(execution_id, ["running", "waiting", "suspended"], status=status,
                                                   completed_at=now()))
                run.store.write(approvals_cancel(execution_id))
            run.store.set_state(execution_id, status, output=dumps(output) if output is not None else None,
                                error=dumps(error) if error is not None else None, completed_at=completed,
                                duration_ms=duration, failed_steps=failed)
            data: dict[str, Any] = {"duration_ms": duration, "failed_steps": failed}
            if error is not None:
                data["error"] = error
            run.emit(f"execution.{status}", **data)
        self._executions.pop(execution_id, None)

    # -- helpers --

    async def _settle_structural(self, graph: GraphRun, node: Any) -> dict[str, Any]:
        try:
            checkpoint = await graph._execute_node(node)
        except NodeFailed as failure:
            await graph.run.store.flush()
            raise _node_failed(failure.error) from None
        return _checkpoint_dict(checkpoint)

    async def _attempt_failed(self, run: ExecutionRun, node: Any, loop_path: str, failed: _AttemptFailed,
                              attempt: int, try_: int, max_attempts: int) -> dict[str, Any]:
        """``attempt``: the step row's number; ``try_``: Temporal's attempt of this activity."""
        exc = failed.exc
        error = error_payload(exc, node.id, attempt)
        if is_retryable(exc) and try_ < max_attempts:
            delay = retry_delay(node.retry or RetryPolicy(max_attempts=max_attempts), try_, exc)
            run.emit(ev.NODE_RETRYING, node.id, attempt=attempt, next_attempt=attempt + 1, delay_s=round(delay, 3),
                     error=run.redact(error), **({"loop_path": loop_path} if loop_path else {}))
            await run.store.flush()
            raise ApplicationError(error.get("message", "attempt failed"), error, type=str(error.get("code")),
                                   next_retry_delay=timedelta(seconds=delay))
        try:
            checkpoint = await NodeRunner(run).handle_failure(node, loop_path, error, failed.step_id, failed.started)
        except NodeFailed as failure:
            await run.store.flush()
            raise _node_failed(failure.error) from None
        return _checkpoint_dict(checkpoint)

    async def _note_interrupted(self, run: ExecutionRun, node_id: str, loop_path: str) -> None:
        """Attempts of this node still ``running`` were cut off (their worker died)."""
        steps = await asyncio.to_thread(self.store.steps, run.execution_id)
        for step in steps:
            if step.node_id == node_id and step.loop_path == loop_path and step.status == "running":
                from engine.execution_store import step_update

                run.store.write(step_update(step.id, status="interrupted", completed_at=now()))
                run.interrupted.add((loop_path, node_id))

    @contextlib.asynccontextmanager
    async def _heartbeats(self) -> AsyncIterator[None]:
        """Heartbeat while the node runs: a dead worker is noticed within the heartbeat timeout,
        and a cancellation reaches the activity."""
        if not activity.in_activity() or activity.info().is_local:
            yield
            return

        async def beat() -> None:
            while True:
                activity.heartbeat()
                await asyncio.sleep(self.heartbeat_s)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _scope(run: ExecutionRun, payload: dict[str, Any]) -> Scope:
    scope = Scope(trigger=payload.get("trigger"), execution=run.execution_scope,
                  item=payload.get("item"), index=payload.get("index"))
    scope.nodes = dict(payload.get("nodes") or {})
    return scope


def _checkpoint_dict(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"status": checkpoint.status, "output": checkpoint.output, "branch": checkpoint.branch,
            "error": checkpoint.error}


def _node_failed(error: dict[str, Any]) -> ApplicationError:
    return ApplicationError(str(error.get("message", "node failed")), error, type=names.NODE_FAILED, non_retryable=True)
