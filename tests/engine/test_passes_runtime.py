"""Guarded workflows run on the real runtime: what the passes insert does what it says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.registry import default_registry
from engine.passes import run_passes
from engine.validation import parse_workflow
from tests.engine.runtime_helpers import runtime_at

REGISTRY = default_registry(plugins=False)


def guarded(nodes: list[dict[str, Any]], trigger: dict[str, Any]) -> Any:
    ids = [trigger["id"], *(n["id"] for n in nodes)]
    doc = {"name": "guarded", "nodes": [trigger, *nodes],
           "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:], strict=False)]}
    return run_passes(parse_workflow(doc, REGISTRY), REGISTRY).workflow


def step(result: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(s for s in result["steps"] if s["node_id"] == node_id)


async def test_model_steps_see_redacted_trigger_data(tmp_path: Path) -> None:
    workflow = guarded(
        [{"id": "summarize", "type": "action", "connector": "llm", "operation": "summarize",
          "config": {"text": "{{ trigger.body.message }}"}},
         {"id": "keep", "type": "action", "connector": "core", "operation": "transform",
          "config": {"expression": "{'summary': nodes.summarize.summary, 'reply_to': trigger.body.email}"}}],
        {"id": "hook", "type": "trigger", "kind": "manual"},
    )
    message = "Please call me at +44 20 7946 0958 or mail jane.doe@example.com about card 4111 1111 1111 1111."
    async with runtime_at(tmp_path / "x.db", registry=REGISTRY) as rt:
        result = await rt.run(workflow, {"body": {"message": message, "email": "jane.doe@example.com"}})
    assert result["status"] == "completed", result["error"]
    redacted = step(result, "redact_pii")["output"]["body"]["message"]
    assert "jane.doe@example.com" not in redacted and "[REDACTED_EMAIL]" in redacted
    assert "[REDACTED_CARD]" in redacted and "[REDACTED_PHONE]" in redacted
    summary = step(result, "summarize")["output"]["summary"]
    assert "jane.doe@example.com" not in summary and "4111" not in summary
    assert step(result, "keep")["output"]["value"]["reply_to"] == "jane.doe@example.com"  # non-model steps keep the real data


async def test_destructive_step_waits_for_approval(tmp_path: Path) -> None:
    workflow = guarded(
        [{"id": "purge", "type": "action", "connector": "datastore", "operation": "delete",
          "config": {"table": "uploads", "all": True}}],
        {"id": "start", "type": "trigger", "kind": "manual"},
    )
    assert any(n.id == "approve_purge" for n in workflow.nodes)
    async with runtime_at(tmp_path / "x.db", registry=REGISTRY) as rt:
        execution_id = await rt.start(workflow, {}, workspace_id="w")
        result = await rt.wait(execution_id)
    assert result["status"] == "waiting"
    assert step(result, "approve_purge")["status"] == "waiting"
    assert not any(s["node_id"] == "purge" for s in result["steps"])
