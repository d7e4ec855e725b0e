"""Pass: an error path, so that no failure of an external call is silent.

Every external action (and every loop whose body calls something external) that would simply fail
gets ``on_error: route`` and an ``error`` edge to one ``report_failure`` step per workflow (a
``core.log`` at level error naming the failed steps). Steps whose ``on_error`` the author set
themselves are left alone. Loop bodies are not given their own handler — that would change the
loop's output — the loop itself routes its failure instead.
"""

from __future__ import annotations

from typing import Any

from engine.passes.graph import Editor, NodeDict
from engine.passes.operations import op_info
from engine.workflow import Workflow

HANDLER_ID = "report_failure"


def apply(workflow: Workflow, catalog: Any = None) -> Workflow:
    """Route failures of external calls to a logging step."""
    edit = Editor(workflow)
    routed: list[NodeDict] = []
    explicit = _explicit_on_error(workflow)
    for node in edit.data["nodes"]:
        if node.get("on_error", "fail") != "fail" or node["id"] in explicit:
            continue
        if node.get("type") == "action" and op_info(catalog, node).external:
            routed.append(node)
        elif node.get("type") == "loop" and _body_calls_out(node, catalog):
            routed.append(node)
    if not routed:
        return workflow
    handler = _handler(edit)
    for node in routed:
        node["on_error"] = "route"
        edit.data["edges"].append({"source": node["id"], "target": handler["id"], "branch": "error"})
    previous = [e["source"] for e in edit.data["edges"] if e["target"] == handler["id"] and e.get("branch") == "error"]
    handler["config"]["message"] = (
        f"Workflow {edit.data['name']!r}: a step failed ({' or '.join(previous)}); see this execution's log."
    )
    handler["reason"] = f"Reports failures of {', '.join(previous)} so that no failure goes unnoticed."
    return edit.result()


def _handler(edit: Editor) -> NodeDict:
    existing = edit.by_id(edit.data, HANDLER_ID)
    if existing is not None and existing.get("origin") == "guardrail":
        return existing
    handler: NodeDict = {"id": edit.unique_id(HANDLER_ID), "type": "action", "connector": "core",
                         "operation": "log", "name": "Report failure", "config": {"level": "error", "message": ""},
                         "origin": "guardrail", "reason": ""}
    edit.data["nodes"].append(handler)
    return handler


def _body_calls_out(loop: NodeDict, catalog: Any) -> bool:
    return any(n.get("type") == "action" and op_info(catalog, n).external for n in _all_body_nodes(loop))


def _all_body_nodes(loop: NodeDict) -> list[NodeDict]:
    out: list[NodeDict] = []
    for node in (loop.get("body") or {}).get("nodes", []):
        out.append(node)
        if node.get("type") == "loop":
            out.extend(_all_body_nodes(node))
    return out


def _explicit_on_error(workflow: Workflow) -> set[str]:
    """Top-level nodes whose author wrote ``on_error`` (``fail`` included) — left as they are."""
    return {n.id for n in workflow.nodes if "on_error" in n.model_fields_set}
