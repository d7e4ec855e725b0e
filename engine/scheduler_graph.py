"""Scheduling one graph instance (the workflow, or one loop iteration's body).

Join rule (DESIGN.md): a node runs once all its incoming edges are settled and at least one was
taken; a node none of whose incoming edges was taken is ``skipped``, and the skip propagates.
``merge`` with mode ``first`` runs as soon as its first input arrives. Independent branches run
concurrently; a node that is already settled in the store (a checkpoint) is reused, not re-run.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta
from typing import Any

from engine import events as ev
from engine.context import Scope
from engine.errors import ControlSignal, FlowwrightError, LoopLimitError, NodeFailed, Parked, Paused
from engine.execution_run import Checkpoint, ExecutionRun
from engine.execution_store import now
from engine.expressions import is_whole_template
from engine.node_runner import NodeRunner, error_payload
from engine.workflow import (
    ActionNode,
    ConditionNode,
    Edge,
    GuardrailNode,
    LoopNode,
    MergeNode,
    Node,
    SwitchNode,
    TriggerNode,
)


def child_path(parent: str, loop_id: str, index: int) -> str:
    """The loop path of item ``index`` of loop ``loop_id``: ``each[2]``, ``each[2].inner[0]``."""
    own = f"{loop_id}[{index}]"
    return f"{parent}.{own}" if parent else own


class GraphRun:
    """Runs the nodes of one graph instance to the end (or until it fails, pauses or parks)."""

    def __init__(self, run: ExecutionRun, nodes: list[Node], edges: list[Edge], scope: Scope, loop_path: str = "") -> None:
        self.run = run
        self.scope = scope
        self.loop_path = loop_path
        self.nodes: dict[str, Node] = {n.id: n for n in nodes}
        self.order = [n.id for n in nodes]
        self.incoming: dict[str, list[int]] = {n: [] for n in self.nodes}
        self.outgoing: dict[str, list[int]] = {n: [] for n in self.nodes}
        self.edges = edges
        for i, edge in enumerate(edges):
            self.outgoing[edge.source].append(i)
            self.incoming[edge.target].append(i)
        self.edge_taken: list[bool | None] = [None] * len(edges)
        self.arrivals: dict[str, list[str]] = {}  # node -> sources of taken edges, in arrival order
        self.settled: dict[str, Checkpoint] = {}
        self.launched: set[str] = set()
        self.runner = NodeRunner(run)

    # -- the loop --

    async def execute(self) -> dict[str, Checkpoint]:
        """Run the graph to its end; raises ``Paused`` or ``Parked`` when it stopped before."""
        ready: deque[str] = deque(n for n in self.order if not self.incoming[n])
        tasks: dict[asyncio.Task[Checkpoint], str] = {}
        stops: set[type[ControlSignal]] = set()  # why branches stopped (pausing, waiting for a person)
        try:
            while True:
                await self._launch_ready(ready, tasks, stops)
                if not tasks:
                    break
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._collect(task, tasks.pop(task), ready, stops)
        finally:
            if tasks:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        if Paused in stops or (ready and self.run.pausing):
            raise Paused()
        if Parked in stops:
            raise Parked()
        return self.settled

    async def _launch_ready(self, ready: deque[str], tasks: dict[asyncio.Task[Checkpoint], str],
                            stops: set[type[ControlSignal]]) -> None:
        """Start every ready node (settle checkpointed ones; run a lone node without a task)."""
        while ready and not self.run.pausing:
            node_id = ready.popleft()
            checkpoint = self.run.checkpoints.get((self.loop_path, node_id))
            if checkpoint is not None:
                self._settle(node_id, checkpoint, ready)
                continue
            if not tasks and not ready:  # the only runnable node: no task needed
                try:
                    checkpoint = await self._execute_node(self.nodes[node_id])
                except (Parked, Paused) as stop:
                    stops.add(type(stop))
                    continue
                self._settle(node_id, checkpoint, ready)
                continue
            task = asyncio.create_task(self._execute_node(self.nodes[node_id]))
            tasks[task] = node_id

    def _collect(self, task: asyncio.Task[Checkpoint], node_id: str, ready: deque[str],
                 stops: set[type[ControlSignal]]) -> None:
        """Settle a finished node task (or note why it stopped; re-raise a failure)."""
        exc = task.exception()
        if isinstance(exc, Parked | Paused):
            stops.add(type(exc))
        elif exc is not None:
            raise exc
        else:
            self._settle(node_id, task.result(), ready)

    def result(self) -> Any:
        """The graph's result: its single sink's output, or an object keyed by sink id."""
        sinks = [n for n in self.order if not self.outgoing[n]]
        if len(sinks) == 1:
            checkpoint = self.settled.get(sinks[0])
            return checkpoint.scope_value if checkpoint and checkpoint.status != "skipped" else None
        return {
            n: self.settled[n].scope_value for n in sinks
            if n in self.settled and self.settled[n].status != "skipped"
        }

    # -- settling and the join rule --

    def _settle(self, node_id: str, checkpoint: Checkpoint, ready: deque[str]) -> None:
        self.settled[node_id] = checkpoint
        self.run.checkpoints[(self.loop_path, node_id)] = checkpoint
        skipped = checkpoint.status == "skipped"
        if not skipped:
            self.scope.nodes[node_id] = checkpoint.scope_value
        for i in self.outgoing[node_id]:
            edge = self.edges[i]
            taken = not skipped and edge.branch == checkpoint.branch
            self.edge_taken[i] = taken
            if taken:
                self.arrivals.setdefault(edge.target, []).append(node_id)
            self._consider(edge.target, ready)

    def _consider(self, node_id: str, ready: deque[str]) -> None:
        if node_id in self.launched:
            return
        states = [self.edge_taken[i] for i in self.incoming[node_id]]
        node = self.nodes[node_id]
        first_wins = isinstance(node, MergeNode) and node.config.mode == "first"
        if first_wins and any(states):
            self.launched.add(node_id)
            ready.append(node_id)
        elif all(s is not None for s in states):
            self.launched.add(node_id)
            if any(states):
                ready.append(node_id)
            else:
                self._skip(node, ready)

    def _skip(self, node: Node, ready: deque[str]) -> None:
        key = (self.loop_path, node.id)
        checkpoint = self.run.checkpoints.get(key)
        if checkpoint is None:
            checkpoint = Checkpoint("skipped", None, None)
            self.run.settled_row(node.id, node.type, self.loop_path, status="skipped", attempt=0)
            self.run.emit(ev.NODE_SKIPPED, node.id, **self._where())
        self._settle(node.id, checkpoint, ready)

    def _where(self) -> dict[str, Any]:
        return {"loop_path": self.loop_path} if self.loop_path else {}

    def _inputs(self, node_id: str) -> dict[str, Any]:
        sources = self.arrivals.get(node_id, [])
        return {s: self.settled[s].scope_value for s in sources}

    # -- node kinds --

    async def _execute_node(self, node: Node) -> Checkpoint:
        if isinstance(node, ActionNode):
            return await self.runner.run_action(node, self.scope, self.loop_path)
        if isinstance(node, GuardrailNode):
            inputs = self._inputs(node.id)
            if not self.incoming[node.id] and self.scope.index is not None:
                data = self.scope.item  # a loop body's first node guards the item itself
            else:
                data = next(iter(inputs.values())) if len(inputs) == 1 else inputs
            return await self.runner.run_guardrail(node, data, self.scope, self.loop_path)
        if isinstance(node, LoopNode):
            return await self._loop(node)
        self.run.emit(ev.NODE_STARTED, node.id, attempt=1, **self._where())
        try:
            output, branch = await self._evaluate_structural(node)
        except Exception as exc:  # an expression error: the node fails like any other
            return await self.runner.structural_failure(node, self.loop_path, error_payload(exc, node.id, 1))
        await self.run.settled_row(node.id, node.type, self.loop_path, status="completed", output=output, branch=branch)
        self.run.emit(ev.NODE_COMPLETED, node.id, output=output, **({"branch": branch} if branch else {}), **self._where())
        return Checkpoint("completed", output, branch)

    async def _evaluate_structural(self, node: Node) -> tuple[Any, str | None]:
        expressions = self.run.expressions
        if isinstance(node, TriggerNode):
            return self.run.trigger_input, None
        if isinstance(node, ConditionNode):
            value = await expressions.evaluate(node.config.expression, self.scope.data())
            result = _truthy(value)
            return {"result": result}, "true" if result else "false"
        if isinstance(node, SwitchNode):
            value = await expressions.evaluate(node.config.value, self.scope.data())
            case = next((c.name for c in node.config.cases if _equals(c.equals, value)), "default")
            return {"value": value, "case": case}, case
        if isinstance(node, MergeNode):
            inputs = self._inputs(node.id)
            if node.config.mode == "first":
                first = next(iter(inputs), None)
                inputs = {first: inputs[first]} if first is not None else {}
            return inputs, None
        raise TypeError(f"unexpected node type {node.type}")

    async def _loop(self, node: LoopNode) -> Checkpoint:
        if node.config.while_ is not None:
            return await self._while(node)
        run = self.run
        step_id, started = run.step_started(node.id, "loop", self.loop_path, run.next_attempt((self.loop_path, node.id)), None)
        run.emit(ev.NODE_STARTED, node.id, **self._where())
        try:
            items = await self._loop_items(node)
        except Exception as exc:
            error = error_payload(exc, node.id, 1)
            run.step_finished(step_id, started, status="failed", error=error, durable=False)
            return await self.runner.handle_failure(node, self.loop_path, error, step_id, started)
        config = node.config
        if config.batch_size:
            units: list[Any] = [items[i:i + config.batch_size] for i in range(0, len(items), config.batch_size)]
        else:
            units = items
        limit = asyncio.Semaphore(config.max_concurrency)
        results: list[Any] = [None] * len(units)
        stopped: list[type[ControlSignal]] = []

        async def one(index: int, item: Any) -> None:
            async with limit:
                if run.pausing:
                    stopped.append(Paused)
                    return
                body = GraphRun(
                    run, node.body.nodes, node.body.edges,
                    Scope(trigger=self.scope.trigger, execution=self.scope.execution, outer=self.scope, item=item, index=index),
                    child_path(self.loop_path, node.id, index),
                )
                try:
                    await body.execute()
                except (Parked, Paused) as exc:
                    stopped.append(type(exc))
                    return
                results[index] = body.result()

        try:
            async with asyncio.TaskGroup() as group:
                for index, item in enumerate(units):
                    group.create_task(one(index, item))
        except BaseExceptionGroup as group_exc:
            failure = _first(group_exc, NodeFailed)
            if failure is None:
                raise
            error = {**failure.error, "loop_node_id": node.id}
            run.step_finished(step_id, started, status="failed", error=error, durable=False)
            return await self.runner.handle_failure(node, self.loop_path, error, step_id, started)
        except asyncio.CancelledError:
            run.step_finished(step_id, started, status="cancelled", durable=False)
            raise
        if stopped:
            if Paused in stopped:
                run.step_finished(step_id, started, status="paused", durable=False)
                raise Paused()
            run.step_finished(step_id, started, status="waiting", durable=False)
            raise Parked()
        try:
            return await self.runner.complete(node, self.loop_path, step_id, started, results)
        except FlowwrightError as exc:  # the list of results is over the step output limit
            error = error_payload(exc, node.id, 1)
            run.step_finished(step_id, started, status="failed", error=error, durable=False)
            return await self.runner.handle_failure(node, self.loop_path, error, step_id, started)

    async def _while(self, node: LoopNode) -> Checkpoint:
        """A while-loop: the body runs (``item`` = the previous iteration's result, ``index`` = the
        iteration), then ``while`` decides on another one, over ``previous`` and ``iteration``; at
        most ``max_iterations``, ``delay_s`` apart (a durable wait). Each iteration's body nodes are
        checkpointed under their own loop path, so a resumed loop replays them without re-running."""
        run = self.run
        config = node.config
        assert config.while_ is not None and config.max_iterations is not None
        step_id, started = run.step_started(node.id, "loop", self.loop_path, run.next_attempt((self.loop_path, node.id)), None)
        run.emit(ev.NODE_STARTED, node.id, **self._where())
        results: list[Any] = []
        previous: Any = None
        try:
            for iteration in range(config.max_iterations):
                path = child_path(self.loop_path, node.id, iteration)
                if iteration and config.delay_s:
                    await self._iteration_wait(node, path, config.delay_s)
                if run.pausing:
                    raise Paused()
                scope = Scope(trigger=self.scope.trigger, execution=self.scope.execution, outer=self.scope,
                              item=previous, index=iteration)
                body = GraphRun(run, node.body.nodes, node.body.edges, scope, path)
                await body.execute()
                previous = body.result()
                results.append(previous)
                data = {**scope.data(), "previous": previous, "iteration": iteration + 1}
                if not _truthy(await run.expressions.evaluate(config.while_, data)):
                    break
            else:
                message = (f"loop {node.id} ran {config.max_iterations} times (max_iterations) and its while "
                           f"condition still held")
                if config.on_max_iterations == "fail":
                    raise LoopLimitError(message, node_id=node.id, max_iterations=config.max_iterations)
                run.log("warning", f"{message}; stopping", node_id=node.id, loop_path=self.loop_path)
        except (Paused, Parked) as exc:
            run.step_finished(step_id, started, status="paused" if isinstance(exc, Paused) else "waiting", durable=False)
            raise
        except asyncio.CancelledError:
            run.step_finished(step_id, started, status="cancelled", durable=False)
            raise
        except NodeFailed as failure:
            error = {**failure.error, "loop_node_id": node.id}
            run.step_finished(step_id, started, status="failed", error=error, durable=False)
            return await self.runner.handle_failure(node, self.loop_path, error, step_id, started)
        except Exception as exc:  # the while expression failed, or the loop hit max_iterations
            error = error_payload(exc, node.id, 1)
            run.step_finished(step_id, started, status="failed", error=error, durable=False)
            return await self.runner.handle_failure(node, self.loop_path, error, step_id, started)
        output = results if config.output == "list" else previous
        try:
            return await self.runner.complete(node, self.loop_path, step_id, started, output)
        except FlowwrightError as exc:  # the list of results is over the step output limit
            error = error_payload(exc, node.id, 1)
            run.step_finished(step_id, started, status="failed", error=error, durable=False)
            return await self.runner.handle_failure(node, self.loop_path, error, step_id, started)

    async def _iteration_wait(self, node: LoopNode, path: str, delay_s: float) -> None:
        """The durable wait before an iteration: a ``suspended`` step row (``node_type`` ``wait``,
        the iteration's loop path) says when to wake, so a restart keeps the original wake-up time."""
        run = self.run
        key = (path, node.id)
        if key in run.checkpoints:
            return
        resume = run.suspended.pop(key, None)
        if resume is not None:
            wait_id, resumed_until = resume
            until = resumed_until or now()
            started = now()
        else:
            until = now() + timedelta(seconds=delay_s)
            wait_id, started = run.step_started(node.id, "wait", path, run.next_attempt(key), {"delay_s": delay_s})
            await run.step_finished(wait_id, started, status="suspended", resume_at=until)
            run.emit(ev.NODE_SUSPENDED, node.id, until=until.isoformat(), loop_path=path)
        if not run.dry_run:
            await self.runner.sleep_until(until)
        output = {"waited_until": until.isoformat()}
        await run.step_finished(wait_id, started, status="completed", output=output, final=True)
        run.checkpoints[key] = Checkpoint("completed", output, None)

    async def _loop_items(self, node: LoopNode) -> list[Any]:
        expressions = self.run.expressions
        source = node.config.items or "[]"
        if "{{" in source:
            if not is_whole_template(source):
                raise ValueError("loop items must be one {{ }} expression or a bare expression")
            items = await expressions.render(source, self.scope.data())
        else:
            items = await expressions.evaluate(source, self.scope.data())
        if items is None:
            items = []
        elif not isinstance(items, list):
            items = [items]  # JSONata yields a single value for a one-item sequence
        if node.config.max_items is not None and len(items) > node.config.max_items:
            self.run.log("warning", f"loop {node.id}: {len(items)} items, only the first {node.config.max_items} run",
                         node_id=node.id, loop_path=self.loop_path)
            items = items[: node.config.max_items]
        return list(items)


def _truthy(value: Any) -> bool:
    """JSONata's boolean cast: empty strings, arrays and objects, 0 and null are false."""
    if isinstance(value, list):
        return any(_truthy(v) for v in value)
    return bool(value)


def _equals(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value or (type(expected) is type(value) and expected == value)
    return bool(expected == value)


def _first(group: BaseExceptionGroup, kind: type[NodeFailed]) -> NodeFailed | None:
    for exc in group.exceptions:
        if isinstance(exc, kind):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first(exc, kind)
            if found is not None:
                return found
    return None
