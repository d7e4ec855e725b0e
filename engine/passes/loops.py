"""Pass: loops over external data get a ``max_items`` cap and, when their body calls something
external, a ``rate_limit`` guardrail at the start of the body.

A loop is over external data when its items come from the trigger (webhook or caller data) or
from an external step's output. The rate limit is the connector's declared limit when the catalog
has one, otherwise ``DEFAULT_RATE`` calls per second.
"""

from __future__ import annotations

from typing import Any

from engine.passes.graph import Editor, NodeDict, guardrail, is_inserted_guard, node_refs, refers_to
from engine.passes.operations import op_info
from engine.workflow import Workflow

DEFAULT_MAX_ITEMS = 1000
DEFAULT_RATE = (10, 1.0)  # requests, per seconds


def apply(workflow: Workflow, catalog: Any = None) -> Workflow:
    """Cap loops over external data and rate-limit their external calls."""
    edit = Editor(workflow)
    external_ids = {n["id"] for n, _, _ in edit.all_nodes()
                    if n.get("type") == "action" and op_info(catalog, n).external}
    changed = False
    for loop, _, _ in list(edit.all_nodes()):
        if loop.get("type") != "loop":
            continue
        config = loop.setdefault("config", {})
        items = config.get("items", "")
        source = "the trigger" if refers_to(items, "trigger") or refers_to(f"{{{{ {items} }}}}", "trigger") else None
        if source is None:
            outer = (node_refs(items) | node_refs(f"{{{{ {items} }}}}")) & external_ids
            source = ", ".join(sorted(outer)) if outer else None
        if source is None:
            continue
        if config.get("max_items") is None:
            config["max_items"] = DEFAULT_MAX_ITEMS
            loop["reason"] = loop.get("reason") or (
                f"max_items {DEFAULT_MAX_ITEMS} added: the items come from {source}, which may return any number."
            )
            changed = True
        changed |= _rate_limit_body(edit, loop, catalog, source)
    return edit.result() if changed else workflow


def _rate_limit_body(edit: Editor, loop: NodeDict, catalog: Any, source: str) -> bool:
    body = loop.get("body") or {}
    calls = [n for n in body.get("nodes", []) if n.get("type") == "action" and op_info(catalog, n).external]
    if not calls:
        return False
    body.setdefault("edges", [])
    starts = [n for n in body["nodes"] if not edit.incoming(body, n["id"])]
    if len(starts) == 1 and is_inserted_guard(starts[0]) and starts[0].get("kind") == "rate_limit":
        return False
    limits = [op_info(catalog, n).rate_limit for n in calls]
    known = [lim for lim in limits if lim is not None]
    requests, per = min(known, key=lambda lim: lim[0] / lim[1]) if known else DEFAULT_RATE
    names = ", ".join(n["id"] for n in calls)
    reason = (f"Keeps {names} under {requests} calls per {per:g}s while looping over data from {source}.")
    guard = guardrail(edit.unique_id(f"rate_limit_{loop['id']}"), "rate_limit",
                      {"max": requests, "per_seconds": per, "scope": "workflow"}, reason, "Rate limit")
    body["nodes"].insert(0, guard)
    body["edges"].extend({"source": guard["id"], "target": s["id"]} for s in starts)
    return True
