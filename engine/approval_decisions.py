"""A person's decision on a guardrail that waits for approval: recorded, then taken up by a run.

The decision is written first (the approval row and the guardrail's waiting step row), so it
survives whatever happens to the process driving the execution; a live run then takes it into
its ``approval_rows`` before it parks, or a relaunched run reads it with its checkpoints.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from engine.errors import NotFoundError
from engine.execution_run import ExecutionRun
from engine.execution_store import ExecutionStore, approval_decide, waiting_step_decided

Decision = Literal["approved", "rejected"]


async def record_decision(
    store: ExecutionStore, execution_id: str, node_id: str, decision: Decision, by: str | None,
    loop_path: str | None,
) -> list[Any]:
    """Record ``decision`` on every pending approval of ``node_id`` (in ``loop_path``, or in every
    loop iteration when ``None``); returns those approval rows, updated.

    Raises:
        NotFoundError: the execution has no such pending approval (``approval_not_found``), or
            does not exist.
    """
    await store.flush()
    pending = [a for a in await asyncio.to_thread(store.approvals, None, execution_id=execution_id)
               if a.node_id == node_id and (loop_path is None or a.loop_path == loop_path)]
    if not pending:
        await asyncio.to_thread(store.get, execution_id)  # NotFoundError when the execution does not exist
        raise NotFoundError(f"execution {execution_id} has no pending approval for node {node_id}",
                            code="approval_not_found", execution_id=execution_id, node_id=node_id)
    for approval in pending:
        await store.write(approval_decide(approval.id, decision, by), None, durable=True)
        await store.write(waiting_step_decided(execution_id, node_id, approval.loop_path, decision), None,
                          durable=True)
        approval.status = decision
    return pending


async def reload_decisions(store: ExecutionStore, run: ExecutionRun) -> bool:
    """Take the decisions another process recorded into the live ``run``; ``True`` when one was new."""
    await store.flush()
    rows = await asyncio.to_thread(store.approvals, None, execution_id=run.execution_id, status=None)
    changed = False
    for approval in rows:
        key = (approval.loop_path, approval.node_id)
        current = run.approval_rows.get(key)
        if approval.status != "pending" and (current is None or current.status == "pending"):
            run.approval_rows[key] = approval
            changed = True
    return changed
