"""Builds copilot chats the way the pipeline does (the real prompt templates) for the local model."""

from __future__ import annotations

import json
from typing import Any

from app.copilot.local_model import respond
from app.copilot.plan import CopilotResponse, EditPlan, Question, WorkflowPlan, compile_plan, response_schema
from connectors.registry import default_registry
from engine.validation import validate_workflow
from prompts.loader import load

REGISTRY = default_registry(plugins=False)
SCHEMA = response_schema()
TODAY = "2026-11-22"


def chat(text: str, *, plan: WorkflowPlan | None = None, preferences: dict[str, str] | None = None,
         history: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    prefs = {"timezone": "UTC", **(preferences or {})}
    system = load("copilot.system").render(today=TODAY, timezone=prefs["timezone"])
    current = (json.dumps(plan.model_dump(mode="json", exclude_none=True, exclude_defaults=True))
               if plan is not None else None)
    operations = [{"connector": c.name, "operation": op.name, "description": op.description, "fields": "",
                   "destructive": op.destructive} for c in REGISTRY for op in c.operations]
    context = load("copilot.context").render(operations=operations, workflows=[], duplicates=[], preferences=prefs,
                                             current_plan=current, examples=[])
    return [{"role": "system", "content": system}, {"role": "system", "content": context}, *(history or []),
            {"role": "user", "content": text}]


def reply(text: str, **kw: Any) -> WorkflowPlan | Question | EditPlan:
    answer = respond(chat(text, **kw), SCHEMA)
    return CopilotResponse.model_validate_json(answer).reply


def workflow(text: str, **kw: Any) -> dict[str, Any]:
    """The compiled, validated workflow for a request (fails the test if it is a question or invalid)."""
    plan = reply(text, **kw)
    assert isinstance(plan, WorkflowPlan), f"expected a workflow, got {plan!r}"
    document = compile_plan(plan, REGISTRY)
    result = validate_workflow(document, REGISTRY)
    assert result.ok, [p.to_dict() for p in result.problems]
    return document


def actions(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action node, loop bodies included."""
    out = []
    for node in document["nodes"]:
        if node["type"] == "action":
            out.append(node)
        if node["type"] == "loop":
            out.extend(actions({"nodes": node["body"]["nodes"]}))
    return out


def ops(document: dict[str, Any]) -> list[str]:
    return [f"{n['connector']}.{n['operation']}" for n in actions(document)]


def node(document: dict[str, Any], op: str) -> dict[str, Any]:
    return next(n for n in actions(document) if f"{n['connector']}.{n['operation']}" == op)


def of_type(document: dict[str, Any], node_type: str) -> list[dict[str, Any]]:
    return [n for n in document["nodes"] if n["type"] == node_type]


def edges(document: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(e["source"], e["target"], e.get("branch")) for e in document["edges"]}
