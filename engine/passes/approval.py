"""Pass: an ``approval`` guardrail before steps that delete data or move money, and before loops
that send messages in bulk.

A destructive step is one the catalog marks ``destructive`` (``Operation.destructive``),
``database.execute``, or a step whose operation, endpoint or id names a refund, payment, charge,
transfer or delete. A step inside a loop is guarded by one approval in front of the outermost
loop — one decision per run, not one per item. A bulk send is an email/SMS send inside a loop
that may run more than ``BULK_SEND_THRESHOLD`` times.
"""

from __future__ import annotations

from typing import Any

from engine.passes.graph import Editor, NodeDict, guardrail
from engine.passes.loops import DEFAULT_MAX_ITEMS
from engine.passes.operations import is_destructive, is_send
from engine.workflow import Workflow

BULK_SEND_THRESHOLD = 100


def apply(workflow: Workflow, catalog: Any = None) -> Workflow:
    """Insert an approval before each destructive step (or its outermost loop) lacking one."""
    edit = Editor(workflow)
    wanted: dict[str, list[str]] = {}  # top-level node id -> why
    for node, _, owner in edit.all_nodes():
        if node.get("type") != "action":
            continue
        why = is_destructive(catalog, node)
        if why is None and owner is not None and is_send(node):
            loop = _outermost(edit, owner)
            cap = _cap(loop)
            if cap > BULK_SEND_THRESHOLD:
                why = (f"{node['id']} sends {node.get('connector')} messages for each of up to {cap} items "
                       f"(more than {BULK_SEND_THRESHOLD})")
        if why is None:
            continue
        target = node if owner is None else _outermost(edit, owner)
        if owner is not None and not why.startswith(node["id"]):
            why = f"{node['id']} runs for each item of {target['id']}: {why}"
        wanted.setdefault(target["id"], []).append(why)
    changed = False
    for target_id, reasons in wanted.items():
        if edit.guard_before(edit.data, target_id, "approval") is not None:
            continue
        reason = f"Waits for a person to approve before {target_id} runs, because {'; '.join(reasons)}."
        config = {"message": f"Approve {target_id}? {'; '.join(reasons)}."}
        edit.insert_before(edit.data, target_id,
                           guardrail(edit.unique_id(f"approve_{target_id}"), "approval", config, reason,
                                     "Ask for approval"))
        changed = True
    return edit.result() if changed else workflow


def _outermost(edit: Editor, loop: NodeDict) -> NodeDict:
    """The top-level loop that contains ``loop`` (itself when it is at the top level)."""
    parents = {n["id"]: owner for n, _, owner in edit.all_nodes() if owner is not None}
    while loop["id"] in parents:
        loop = parents[loop["id"]]
    return loop


def _cap(loop: NodeDict) -> int:
    config = loop.get("config") or {}
    return int(config.get("max_items") or DEFAULT_MAX_ITEMS)
