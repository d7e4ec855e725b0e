"""The one generic Temporal workflow that interprets every Flowwright workflow version.

The workflow walks the stored version's graph (its JSON, passed in the workflow input, so the
history holds what ran) with the local runtime's join rule: a node runs once every incoming
edge is settled and one was taken; a node with no taken input is skipped, and so are its
descendants without another taken path. Everything that touches the world runs in activities
(``engine.temporal.activities``): an action or guardrail node is an activity with the node's
retry policy and timeout; trigger, condition, switch and merge nodes, skips and the execution's
start and end are local activities (their expressions are JSONata with time limits, evaluated
outside the sandbox). The walk itself is deterministic: no clock, no randomness, no I/O, and
concurrent branches settle in the order their activities complete, as the history records it.

This module is loaded into Temporal's workflow sandbox: it imports nothing but the standard
library and ``temporalio``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

from engine.temporal.child_calls import ChildCalls

WORKFLOW_NAME = "FlowwrightInterpreter"
BEGIN = "flowwright.begin"
NODE = "flowwright.node"
SKIP = "flowwright.skip"
LOST = "flowwright.lost"
LOOP = "flowwright.loop"
CHILD = "flowwright.child"
STATE = "flowwright.state"
FINISH = "flowwright.finish"
NODE_FAILED = "NodeFailed"  # the ApplicationError type of a node that failed the execution

LOCAL_TIMEOUT = timedelta(seconds=60)
LOCAL_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_interval=timedelta(seconds=5),
                          maximum_attempts=20)
DEFAULT_START_TO_CLOSE_S = 24 * 3600.0  # a node without timeout_s: heartbeats detect a dead worker
TIMEOUT_GRACE_S = 10.0  # the activity's own timer fires first and writes the node's timeout
CRASH_ALLOWANCE = 2  # attempts beyond the node's policy, for attempts a dead worker cut off

ACTIVITY_TYPES = ("action", "guardrail")


class _Settled(Exception):
    """A loop's own evaluation failed and its ``on_error`` was applied: ``checkpoint`` is the
    loop's, or ``failure`` fails the execution (the loop's failure was recorded already)."""

    def __init__(self, checkpoint: dict[str, Any] | None = None, failure: _Failed | None = None) -> None:
        super().__init__("settled")
        self.checkpoint = checkpoint
        self.failure = failure


class _Failed(Exception):
    """A node failed and its ``on_error`` is ``fail``: the execution fails with ``error``."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "node failed"))
        self.error = error


@dataclass
class _Scope:
    trigger: Any
    nodes: dict[str, Any] = field(default_factory=dict)
    item: Any = None
    index: int | None = None
    outer: _Scope | None = None

    def all_nodes(self) -> dict[str, Any]:
        return self.nodes if self.outer is None else {**self.outer.all_nodes(), **self.nodes}

    def payload(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "nodes": self.all_nodes(), "item": self.item, "index": self.index}


def child_path(parent: str, loop_id: str, index: int) -> str:
    """The loop path of item ``index`` of loop ``loop_id`` (as ``engine.scheduler_graph`` names it)."""
    own = f"{loop_id}[{index}]"
    return f"{parent}.{own}" if parent else own


def _key(loop_path: str, node_id: str) -> str:
    return f"{loop_path}\x00{node_id}"


def _scope_value(checkpoint: dict[str, Any]) -> Any:
    if checkpoint["status"] == "failed":
        return checkpoint.get("error") if checkpoint.get("branch") == "error" else None
    return checkpoint.get("output")


@workflow.defn(name=WORKFLOW_NAME)
class FlowwrightInterpreter:
    """Runs one execution of a stored workflow version (workflow id = the execution id)."""

    def __init__(self) -> None:
        self.execution_id = ""
        self.options: dict[str, Any] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.attempts: dict[str, int] = {}
        self.semaphore = asyncio.Semaphore(16)
        self.pausing = False
        self.in_flight = 0  # node activities running now
        self.blocked: dict[str, dict[str, Any]] = {}  # guardrails waiting for a person: key -> where
        self.decisions: set[str] = set()  # keys whose approval was decided (the decision is in the store)
        self.state = "running"  # what the store says, as far as this workflow wrote it
        self.children = ChildCalls(WORKFLOW_NAME)  # core.run_workflow's child workflows

    # -- signals and queries (Runtime.pause/resume/approve/reject) --

    @workflow.signal
    def pause(self) -> None:
        """Start no new node; running ones finish (``execution.paused`` is recorded at once)."""
        self.pausing = True

    @workflow.signal
    def resume(self) -> None:
        """Go on from where the pause stopped (``execution.resumed``)."""
        self.pausing = False

    @workflow.signal
    def decide(self, decision: dict[str, Any]) -> None:
        """An approval of ``{"node_id", "loop_path"}`` was decided (recorded in the store first)."""
        self.decisions.add(_key(decision.get("loop_path") or "", decision["node_id"]))

    @workflow.query
    def quiet(self) -> bool:
        """No node is running (a paused or waiting execution has stopped moving)."""
        return self.in_flight == 0

    @workflow.run
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        """Walk the graph; returns ``{"status"}`` (the outcome is in Flowwright's store)."""
        self.execution_id = inp["execution_id"]
        self.options = inp.get("options") or {}
        definition = inp["definition"]
        limit = definition.get("max_concurrency") or self.options.get("max_concurrency") or 16
        self.semaphore = asyncio.Semaphore(int(limit))
        try:
            begun = await self._local(BEGIN, {"execution_id": self.execution_id})
        except asyncio.CancelledError:  # cancelled before it began
            await self._finish("cancelled", None, None)
            raise
        for checkpoint in begun.get("checkpoints", []):
            self.checkpoints[_key(checkpoint["loop_path"], checkpoint["node_id"])] = checkpoint
        for stored in begun.get("attempts", []):
            self.attempts[_key(stored["loop_path"], stored["node_id"])] = stored["attempt"]
        status, output, error = "completed", None, None
        graph = _Graph(self, definition["nodes"], definition["edges"], _Scope(trigger=inp.get("input")), "")
        supervisor = asyncio.create_task(self._supervise())
        try:
            if inp.get("deadline"):
                remaining = (datetime.fromisoformat(inp["deadline"]) - workflow.now()).total_seconds()
                output = await asyncio.wait_for(graph.execute(), timeout=max(0.0, remaining))
            else:
                output = await graph.execute()
        except _Failed as failure:
            status, error = "failed", failure.error
        except TimeoutError:
            status, error = "timed_out", {"code": "workflow_timeout",
                                          "message": f"the workflow ran longer than {definition.get('timeout_s')} s"}
        except FailureError as exc:  # an activity of the interpreter's own failed for good (its store is down...)
            status, error = "failed", {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
        except asyncio.CancelledError:  # Runtime.cancel: record it, then end as cancelled on Temporal too
            supervisor.cancel()
            await self.children.stop_waiting()
            await self._finish("cancelled", None, None)
            raise
        supervisor.cancel()
        if status != "completed":
            await self.children.stop_waiting()
        await self._finish(status, output, error)
        return {"status": status}

    def _wanted_state(self) -> str:
        if self.pausing:
            return "paused"
        if self.blocked and self.in_flight == 0:
            return "waiting"
        return "running"

    async def _supervise(self) -> None:
        """Keep the store's status in step with the walk: ``paused`` as soon as a pause arrives,
        ``waiting`` once only guardrails waiting for a person are left, ``running`` (resumed) after."""
        while True:
            await workflow.wait_condition(lambda: self._wanted_state() != self.state)
            wanted = self._wanted_state()
            await self._local(STATE, {"execution_id": self.execution_id, "status": wanted, "was": self.state,
                                      "approvals": sorted({b["node_id"] for b in self.blocked.values()})})
            self.state = wanted

    async def _finish(self, status: str, output: Any, error: Any) -> None:
        await self._local(FINISH, {"execution_id": self.execution_id, "status": status, "output": output,
                                   "error": error, "failed_steps": self.failed_steps()})

    def attempt_base(self, loop_path: str, node_id: str) -> int:
        """Attempts of the node already stored (a retried execution numbers on from them)."""
        return int(self.attempts.get(_key(loop_path, node_id), 0))

    async def durable_wait(self, node: dict[str, Any], loop_path: str, delay_s: float) -> None:
        """A durable timer, recorded as a ``wait`` step (suspended, then completed)."""
        key = _key(loop_path, node["id"])
        if key in self.checkpoints:
            return
        base = {"execution_id": self.execution_id, "node": node, "loop_path": loop_path}
        until = workflow.now() + timedelta(seconds=delay_s)
        step = await self._local(LOOP, {**base, "op": "wait", "until": until.isoformat(), "delay_s": delay_s,
                                        "attempt_base": self.attempt_base(loop_path, node["id"])})
        await workflow.sleep(max(0.0, (until - workflow.now()).total_seconds()))
        self.checkpoints[key] = await self._local(LOOP, {**base, "op": "waited", "step": step["step"],
                                                         "until": until.isoformat()})

    def failed_steps(self) -> int:
        return sum(1 for c in self.checkpoints.values() if c["status"] == "failed")

    async def _local(self, name: str, payload: dict[str, Any]) -> Any:
        return await workflow.execute_local_activity(name, payload, start_to_close_timeout=LOCAL_TIMEOUT,
                                                     retry_policy=LOCAL_RETRY)

    async def run_node(self, node: dict[str, Any], scope: _Scope, loop_path: str,
                       inputs: dict[str, Any]) -> dict[str, Any]:
        """One node through its activity; an activity that never reported back fails the node."""
        payload: dict[str, Any] = {"execution_id": self.execution_id, "node": node, "loop_path": loop_path,
                                   "scope": scope.payload(), "inputs": inputs,
                                   "attempt_base": self.attempt_base(loop_path, node["id"])}
        key = _key(loop_path, node["id"])
        while True:
            await workflow.wait_condition(lambda: not self.pausing)
            self.in_flight += 1
            try:
                if node["type"] not in ACTIVITY_TYPES:
                    return await self._call(lambda: self._local(NODE, payload), node, loop_path)
                result = await self._activity(node, loop_path, payload)
            finally:
                self.in_flight -= 1
            launches = result.pop("children", None)
            if launches:  # core.run_workflow created child executions: run them as child workflows
                await self.children.launch(launches, node["id"])
            if result.get("status") == "child":  # wait for the child, then go on in the same step
                self.in_flight += 1
                try:
                    outcome = await self.children.outcome(result["child_id"], lambda: self.pausing)
                finally:
                    self.in_flight -= 1
                payload.pop("resume", None)
                if outcome is None:  # paused: the step is paused; after the resume a new attempt joins the child
                    await self._local(CHILD, {"execution_id": self.execution_id, "op": "paused",
                                              "step_id": result["step_id"]})
                    payload.pop("tries_before", None)
                    payload["attempt_base"] = int(result["attempt"])
                    continue
                payload["resume"] = {"step_id": result["step_id"], "attempt": result["attempt"], "child": outcome}
                payload["tries_before"] = int(result["try"]) - 1
                continue
            if result.get("status") == "waiting":  # an approval guardrail: wait for the decision
                self.blocked[key] = {"node_id": node["id"], "loop_path": loop_path}
                try:
                    await workflow.wait_condition(lambda: key in self.decisions)
                finally:
                    self.blocked.pop(key, None)
                self.decisions.discard(key)
                self.attempts[key] = self.attempt_base(loop_path, node["id"]) + 1
                payload["attempt_base"] = self.attempts[key]
                continue
            if result.get("status") == "suspended":  # core.delay and the like: a durable timer
                until = datetime.fromisoformat(result["until"])
                await workflow.sleep(max(0.0, (until - workflow.now()).total_seconds()))
                payload["resume"] = {"step_id": result["step_id"], "until": result["until"],
                                     "attempt": result["attempt"]}
                payload["tries_before"] = int(result.get("try") or 1) - 1
                continue
            return result

    async def _activity(self, node: dict[str, Any], loop_path: str, payload: dict[str, Any]) -> dict[str, Any]:
        retry = node.get("retry") or {}
        max_attempts = int(retry.get("max_attempts") or 1)
        timeout_s = node.get("timeout_s")
        start_to_close = float(timeout_s) + TIMEOUT_GRACE_S if timeout_s else DEFAULT_START_TO_CLOSE_S
        heartbeat_s = float(self.options.get("heartbeat_timeout_s", 10.0))
        policy = RetryPolicy(
            initial_interval=timedelta(seconds=max(float(retry.get("initial_delay_s") or 1.0), 0.001)),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=max(float(retry.get("max_delay_s") or 60.0), 0.001)),
            maximum_attempts=max_attempts + CRASH_ALLOWANCE,
            non_retryable_error_types=[NODE_FAILED],
        )
        payload["max_attempts"] = max_attempts

        async def call() -> Any:
            async with self.semaphore:
                return await workflow.execute_activity(
                    NODE, payload, task_queue=self.options.get("activity_task_queue") or workflow.info().task_queue,
                    start_to_close_timeout=timedelta(seconds=start_to_close),
                    heartbeat_timeout=timedelta(seconds=heartbeat_s), retry_policy=policy,
                    summary=f"{node['id']}{' @ ' + loop_path if loop_path else ''}",
                )

        return await self._call(call, node, loop_path)

    async def _call(self, call: Any, node: dict[str, Any], loop_path: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await call()
            return result
        except (ActivityError, ApplicationError) as exc:
            # an activity's failure comes as ActivityError; a local activity's may come unwrapped
            cause = exc.cause if isinstance(exc, ActivityError) else exc
            if isinstance(cause, CancelledError):  # this branch was cancelled (a sibling failed, a cancel)
                raise asyncio.CancelledError() from None
            if isinstance(cause, ApplicationError) and cause.type == NODE_FAILED:
                raise _Failed(_error_of(cause)) from None
            message = str(cause or exc)
            code = "node_timeout" if "timeout" in type(cause).__name__.lower() or "timed out" in message.lower() \
                else "activity_failed"
            lost = {"execution_id": self.execution_id, "node": node, "loop_path": loop_path,
                    "error": {"code": code, "message": f"the node's activity did not report back: {message}"}}
            try:
                settled: dict[str, Any] = await self._local(LOST, lost)
            except (ActivityError, ApplicationError) as again:
                inner = again.cause if isinstance(again, ActivityError) else again
                if isinstance(inner, ApplicationError) and inner.type == NODE_FAILED:
                    raise _Failed(_error_of(inner)) from None
                raise
            return settled


def _error_of(failure: ApplicationError) -> dict[str, Any]:
    details = failure.details[0] if failure.details else None
    return details if isinstance(details, dict) else {"code": "node_error", "message": failure.message}


class _Graph:
    """One graph instance (the workflow, or one loop iteration's body) being walked."""

    def __init__(self, owner: FlowwrightInterpreter, nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                 scope: _Scope, loop_path: str) -> None:
        self.owner = owner
        self.scope = scope
        self.loop_path = loop_path
        self.nodes = {n["id"]: n for n in nodes}
        self.order = [n["id"] for n in nodes]
        self.edges = edges
        self.incoming: dict[str, list[int]] = {n: [] for n in self.nodes}
        self.outgoing: dict[str, list[int]] = {n: [] for n in self.nodes}
        for i, edge in enumerate(edges):
            self.outgoing[edge["source"]].append(i)
            self.incoming[edge["target"]].append(i)
        self.edge_taken: list[bool | None] = [None] * len(edges)
        self.arrivals: dict[str, list[str]] = {}
        self.settled: dict[str, dict[str, Any]] = {}
        self.launched: set[str] = set()
        self.skips: list[dict[str, Any]] = []

    async def execute(self) -> Any:
        """Walk to the end; returns the graph's result (its sink's output, or keyed by sink)."""
        ready = [n for n in self.order if not self.incoming[n]]
        done: asyncio.Queue[tuple[str, dict[str, Any] | None, BaseException | None]] = asyncio.Queue()
        running: dict[str, asyncio.Task[None]] = {}

        async def one(node_id: str) -> None:
            try:
                checkpoint = await self._node(node_id)
            except BaseException as exc:  # handed to the walk, which re-raises it
                await done.put((node_id, None, exc))
                return
            await done.put((node_id, checkpoint, None))

        try:
            while True:
                while ready:
                    node_id = ready.pop(0)
                    existing = self.owner.checkpoints.get(_key(self.loop_path, node_id))
                    if existing is not None:
                        self._settle(node_id, existing, ready)
                        continue
                    running[node_id] = asyncio.create_task(one(node_id))
                await self._flush_skips()
                if not running:
                    break
                node_id, checkpoint, error = await done.get()
                running.pop(node_id, None)
                if error is not None:
                    raise error
                assert checkpoint is not None
                self._settle(node_id, checkpoint, ready)
        finally:
            for task in running.values():
                task.cancel()
        return self.result()

    def result(self) -> Any:
        sinks = [n for n in self.order if not self.outgoing[n]]
        if len(sinks) == 1:
            checkpoint = self.settled.get(sinks[0])
            return _scope_value(checkpoint) if checkpoint and checkpoint["status"] != "skipped" else None
        return {n: _scope_value(self.settled[n]) for n in sinks
                if n in self.settled and self.settled[n]["status"] != "skipped"}

    async def _node(self, node_id: str) -> dict[str, Any]:
        node = self.nodes[node_id]
        await workflow.wait_condition(lambda: not self.owner.pausing)  # a pause starts nothing new
        if node["type"] == "loop":
            return await self._loop(node)
        inputs = {s: _scope_value(self.settled[s]) for s in self.arrivals.get(node_id, [])}
        return await self.owner.run_node(node, self.scope, self.loop_path, inputs)

    async def _loop(self, node: dict[str, Any]) -> dict[str, Any]:
        """A for-each loop: the body once per item (or batch), at most ``max_concurrency`` at once,
        results in item order; a while loop: the body again while its condition holds."""
        owner = self.owner
        config = node.get("config") or {}
        base = {"execution_id": owner.execution_id, "node": node, "loop_path": self.loop_path}
        start = {**base, "op": "start", "scope": self.scope.payload(),
                 "attempt_base": owner.attempt_base(self.loop_path, node["id"])}
        started = await owner._call(lambda: owner._local(LOOP, start), node, self.loop_path)
        if "checkpoint" in started:  # the items expression failed; on_error settled it
            checkpoint: dict[str, Any] = started["checkpoint"]
            return checkpoint
        base["step"] = started["step"]
        try:
            if config.get("while") is not None:
                output = await self._while(node, config, base)
            else:
                output = await self._for_each(node, config, started["items"])
        except _Settled as settled:
            if settled.failure is not None:
                raise settled.failure from None
            assert settled.checkpoint is not None
            return settled.checkpoint
        except _Failed as failure:
            error = {**failure.error, "loop_node_id": node["id"]}
            ended: dict[str, Any] = await owner._call(
                lambda: owner._local(LOOP, {**base, "op": "fail", "error": error}), node, self.loop_path)
            return ended
        return await owner._call(lambda: owner._local(LOOP, {**base, "op": "complete", "output": output}),
                                 node, self.loop_path)

    async def _for_each(self, node: dict[str, Any], config: dict[str, Any], items: list[Any]) -> list[Any]:
        batch = config.get("batch_size")
        units = [items[i:i + batch] for i in range(0, len(items), batch)] if batch else list(items)
        limit = asyncio.Semaphore(int(config.get("max_concurrency") or 1))
        results: list[Any] = [None] * len(units)
        body = node.get("body") or {}

        async def one(index: int, item: Any) -> None:
            async with limit:
                graph = _Graph(self.owner, body.get("nodes", []), body.get("edges", []),
                               _Scope(trigger=self.scope.trigger, item=item, index=index, outer=self.scope),
                               child_path(self.loop_path, node["id"], index))
                results[index] = await graph.execute()

        tasks = [asyncio.create_task(one(i, item)) for i, item in enumerate(units)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        return results

    async def _own(self, node: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        """A loop activity call whose failure is the loop's own (not its body's)."""
        try:
            return await self.owner._call(lambda: self.owner._local(LOOP, payload), node, self.loop_path)
        except _Failed as failure:
            raise _Settled(failure=failure) from None

    async def _while(self, node: dict[str, Any], config: dict[str, Any], base: dict[str, Any]) -> Any:
        body = node.get("body") or {}
        results: list[Any] = []
        previous: Any = None
        for iteration in range(int(config.get("max_iterations") or 1)):
            path = child_path(self.loop_path, node["id"], iteration)
            if iteration and config.get("delay_s"):
                await self.owner.durable_wait(node, path, float(config["delay_s"]))
            scope = _Scope(trigger=self.scope.trigger, item=previous, index=iteration, outer=self.scope)
            graph = _Graph(self.owner, body.get("nodes", []), body.get("edges", []), scope, path)
            previous = await graph.execute()
            results.append(previous)
            check = {**base, "op": "check", "scope": scope.payload(), "previous": previous, "iteration": iteration + 1}
            go_on = await self._own(node, check)
            if go_on.get("failed"):
                raise _Settled(go_on)
            if not go_on.get("again"):
                break
        else:
            ended = await self._own(node, {**base, "op": "max_iterations"})
            if ended.get("failed"):
                raise _Settled(ended)
        return results if config.get("output", "list") == "list" else previous

    def _settle(self, node_id: str, checkpoint: dict[str, Any], ready: list[str]) -> None:
        self.settled[node_id] = checkpoint
        self.owner.checkpoints[_key(self.loop_path, node_id)] = {**checkpoint, "node_id": node_id,
                                                                 "loop_path": self.loop_path}
        skipped = checkpoint["status"] == "skipped"
        if not skipped:
            self.scope.nodes[node_id] = _scope_value(checkpoint)
        for i in self.outgoing[node_id]:
            edge = self.edges[i]
            taken = not skipped and edge.get("branch") == checkpoint.get("branch")
            self.edge_taken[i] = taken
            if taken:
                self.arrivals.setdefault(edge["target"], []).append(node_id)
            self._consider(edge["target"], ready)

    def _consider(self, node_id: str, ready: list[str]) -> None:
        if node_id in self.launched:
            return
        states = [self.edge_taken[i] for i in self.incoming[node_id]]
        node = self.nodes[node_id]
        first_wins = node["type"] == "merge" and (node.get("config") or {}).get("mode") == "first"
        if first_wins and any(states):
            self.launched.add(node_id)
            ready.append(node_id)
        elif all(s is not None for s in states):
            self.launched.add(node_id)
            if any(states):
                ready.append(node_id)
            else:
                self._skip(node, ready)

    def _skip(self, node: dict[str, Any], ready: list[str]) -> None:
        key = _key(self.loop_path, node["id"])
        checkpoint = self.owner.checkpoints.get(key)
        if checkpoint is None:
            checkpoint = {"status": "skipped", "output": None, "branch": None, "error": None}
            self.skips.append({"node_id": node["id"], "node_type": node["type"]})
        self._settle(node["id"], checkpoint, ready)

    async def _flush_skips(self) -> None:
        if self.skips:
            skips, self.skips = self.skips, []
            await self.owner._local(SKIP, {"execution_id": self.owner.execution_id, "loop_path": self.loop_path,
                                           "skips": skips})
