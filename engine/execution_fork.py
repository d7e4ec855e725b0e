"""Forking an execution: a new run of a (possibly edited) workflow with the input of an earlier
one, starting at a chosen node and reusing the recorded results of everything upstream of it.

As DBOS's ``fork_workflow``: the nodes upstream of ``from_node`` (its ancestors in the new
version's graph) are not run again; their final step rows — output, branch, handled failure —
are copied into the new execution, where they are checkpoints like any other, and the runtime
drives the rest. ``from_node`` itself and everything that does not lead to it runs. An upstream
node edited since the earlier run keeps its recorded result (fork from it to run it again).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from engine.errors import ConflictError, NotFoundError
from engine.execution_state import TERMINAL
from engine.execution_store import StepRow, loads, new_id
from engine.workflow import Workflow

if TYPE_CHECKING:
    from engine.runtime import Runtime


async def fork(runtime: Runtime, execution_id: str, workflow: Workflow | dict[str, Any], *,
               from_node: str | None = None, workspace_id: str | None = None, user_id: str | None = None,
               workflow_version: int | None = None) -> str:
    """A new execution of ``workflow`` (the current version, say) with a finished execution's
    input and trigger kind: from the start, or from ``from_node`` reusing the recorded results of
    the nodes upstream of it. Returns the new execution's id."""
    from engine.validation import parse_workflow

    source = await runtime.get(execution_id, workspace_id)
    if source.status not in TERMINAL:
        raise ConflictError(f"execution {execution_id} is {source.status}; only a finished one can be re-run",
                            code="illegal_transition", execution_id=execution_id)
    wf = workflow if isinstance(workflow, Workflow) else parse_workflow(workflow, runtime.catalog(source.workspace_id))
    steps: list[StepRow] = []
    seed = None
    if from_node is not None:
        steps = await asyncio.to_thread(runtime.store.steps, execution_id)
        reused_steps(wf, from_node, steps, execution_id)  # a bad node is refused before anything is created
        node = from_node

        def seed(new_id_: str) -> list[dict[str, Any]]:
            return reused_steps(wf, node, steps, new_id_)

    return await runtime.start(wf, loads(source.input), workspace_id=source.workspace_id,
                               user_id=user_id or source.user_id, workflow_id=source.workflow_id,
                               workflow_version=workflow_version, trigger=source.trigger, seed=seed)


def upstream(workflow: Workflow, node_id: str) -> set[str]:
    """The top-level nodes with a path to ``node_id`` (``NotFoundError`` when it is not one)."""
    if node_id not in {n.id for n in workflow.nodes}:
        raise NotFoundError(f"node {node_id!r} is not a top-level node of the workflow (a loop body's node "
                            "cannot be a starting point: fork from its loop)", field="from_node")
    parents: dict[str, list[str]] = {}
    for edge in workflow.edges:
        parents.setdefault(edge.target, []).append(edge.source)
    seen: set[str] = set()
    queue = deque(parents.get(node_id, []))
    while queue:
        current = queue.popleft()
        if current not in seen:
            seen.add(current)
            queue.extend(parents.get(current, []))
    return seen


def reused_steps(workflow: Workflow, from_node: str, steps: list[StepRow], execution_id: str) -> list[dict[str, Any]]:
    """The step rows to copy into the fork ``execution_id``: the final top-level row of each node
    upstream of ``from_node`` that settled in the earlier run, in their recorded order."""
    keep = upstream(workflow, from_node)
    rows = [s for s in steps if s.final and not s.loop_path and s.node_id in keep]
    if not rows and keep:
        raise ConflictError(f"the earlier run recorded no result upstream of {from_node!r} to reuse",
                            field="from_node")
    copied = []
    for seq, step in enumerate(rows, start=1):
        data = step.model_dump()
        data.update(id=new_id("st"), execution_id=execution_id, seq=seq)
        copied.append(data)
    return copied
