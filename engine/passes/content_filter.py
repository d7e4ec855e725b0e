"""Pass: a ``content_filter`` guardrail after each model step whose output an outbound action
sends out (an email, a Slack message, an HTTP call...).

The filter goes right after the model step, so its input is exactly the model's output and every
later step — the outbound one included — runs only once the output has been checked.
"""

from __future__ import annotations

from typing import Any

from engine.passes.graph import Editor, guardrail, node_refs
from engine.passes.operations import is_llm, is_outbound
from engine.workflow import Workflow


def apply(workflow: Workflow, catalog: Any = None) -> Workflow:
    """Insert a content filter after every model step read by an outbound action."""
    edit = Editor(workflow)
    llm_ids = {n["id"] for n, _, _ in edit.all_nodes() if is_llm(n)}
    if not llm_ids:
        return workflow
    readers: dict[str, list[str]] = {}
    for node, _, _ in edit.all_nodes():
        if is_outbound(catalog, node):
            for ref in node_refs(node.get("config")) & llm_ids:
                readers.setdefault(ref, []).append(node["id"])
    changed = False
    for node, graph, _ in list(edit.all_nodes()):
        if node["id"] not in readers:
            continue
        if any(g.get("kind") == "content_filter" for g in edit.guard_chain_after(graph, node["id"])):
            continue
        targets = ", ".join(sorted(set(readers[node["id"]])))
        reason = (f"Blocks prompt injection, system-prompt leaks, secrets and unsafe content in the output of "
                  f"{node['id']} before {targets} sends it out.")
        guard = guardrail(edit.unique_id(f"filter_{node['id']}"), "content_filter", {}, reason,
                          "Filter model output")
        edit.insert_after(graph, node["id"], guard)
        changed = True
    return edit.result() if changed else workflow
