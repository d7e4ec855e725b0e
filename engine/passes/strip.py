"""Undo the passes' insertions: the workflow as the author (or the model) wrote it.

Refinement works on this form — the copilot edits what the user asked for and the passes then
run again on the result — so inserted guardrails never pile up, and a guardrail stays in place
however a chat message asks for it to go. Removing a node joins its incoming edges to its
outgoing ones; reads of a removed redaction node go back to ``trigger``; steps routed to a
removed failure handler get their default ``on_error`` back. Retry and timeout defaults and
``max_items`` caps are kept: they are plain fields and the passes would add them again anyway.
"""

from __future__ import annotations

from typing import Any

from engine.passes.graph import Editor, Graph, rewrite_refs
from engine.workflow import Workflow


def strip_inserted(workflow: Workflow) -> Workflow:
    """The workflow without the nodes the passes inserted (``origin: "guardrail"``)."""
    edit = Editor(workflow)
    removed = {n["id"]: n for n, _, _ in edit.all_nodes() if n.get("origin") == "guardrail" and n.get("type") != "trigger"}
    if not removed:
        return workflow
    for graph, _ in list(edit.graphs()):
        _remove_from(graph, set(removed))
    redactions = [nid for nid, n in removed.items() if n.get("kind") == "pii_redaction"]
    for node, _, _ in edit.all_nodes():
        for nid in redactions:
            if "config" in node:
                node["config"] = rewrite_refs(node["config"], f"nodes.{nid}", "trigger")
    return edit.result()


def _remove_from(graph: Graph, removed: set[str]) -> None:
    nodes = graph.get("nodes", [])
    edges: list[dict[str, Any]] = graph.get("edges", [])
    local = [n["id"] for n in nodes if n["id"] in removed]
    for nid in local:
        into = [e for e in edges if e["target"] == nid]
        out = [e for e in edges if e["source"] == nid]
        kept = [e for e in edges if e["source"] != nid and e["target"] != nid]
        for a in into:
            if a.get("branch") == "error":
                continue  # the error route into a removed handler disappears with it
            for b in out:
                if b.get("branch") == "error":
                    continue
                edge = {"source": a["source"], "target": b["target"]}
                if a.get("branch"):
                    edge["branch"] = a["branch"]
                if edge not in kept:
                    kept.append(edge)
        edges[:] = kept
    graph["nodes"] = [n for n in nodes if n["id"] not in removed]
    routed = {e["source"] for e in edges if e.get("branch") == "error"}
    for node in graph["nodes"]:
        if node.get("on_error") == "route" and node["id"] not in routed:
            node.pop("on_error", None)


__all__ = ["strip_inserted"]
