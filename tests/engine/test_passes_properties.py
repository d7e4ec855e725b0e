"""Properties of the passes on generated workflows: the output validates, a second run changes
nothing, the input is never mutated, and stripping then re-running gives the same workflow."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.passes import PASSES, run_passes
from engine.passes.strip import strip_inserted
from engine.validation import validate_workflow
from engine.workflow import Workflow
from tests.engine.passes_catalog import catalog

CATALOG = catalog()

STEP_KINDS = ("llm_trigger", "llm_parent", "slack", "http_get", "refund", "email", "log", "sql", "condition", "loop")


def _ref(parent: str | None, field: str) -> str:
    if parent is not None and parent.endswith("_log"):
        field = "message"  # core.log is the real connector: its output has message and level only
    return f"{{{{ nodes.{parent}.{field} }}}}" if parent else f"{{{{ trigger.body.{field} }}}}"


def _step(kind: str, sid: str, parent: str | None) -> dict[str, Any]:
    def act(connector: str, operation: str, **config: Any) -> dict[str, Any]:
        return {"id": sid, "type": "action", "connector": connector, "operation": operation, "config": config}

    if kind == "llm_trigger":
        return act("llm", "summarize", text="{{ trigger.body.message }}")
    if kind == "llm_parent":
        return act("llm", "classify", text=_ref(parent, "text"), labels=["a", "b"])
    if kind == "slack":
        return act("slack", "post_message", channel="#x", text=_ref(parent, "text"))
    if kind == "http_get":
        return act("http", "request", url="https://api.example.com/items")
    if kind == "refund":
        return act("http", "request", method="POST", url="https://api.example.com/refunds")
    if kind == "email":
        return act("email", "send", to=["a@example.com"], subject="s", body=_ref(parent, "text"))
    if kind == "log":
        return act("core", "log", message="x")
    if kind == "sql":
        return act("database", "execute", sql="update t set x = 1")
    if kind == "condition":
        return {"id": sid, "type": "condition", "config": {"expression": "true"}}
    body = [{"id": f"{sid}_send", "type": "action", "connector": "email", "operation": "send",
             "config": {"to": ["{{ item.email }}"], "subject": "s", "body": "b"}}]
    return {"id": sid, "type": "loop", "config": {"items": _ref(parent, "rows")}, "body": {"nodes": body, "edges": []}}


@st.composite
def workflows(draw: st.DrawFn) -> Workflow:
    trigger_kind = draw(st.sampled_from(["manual", "webhook", "schedule"]))
    trigger: dict[str, Any] = {"id": "start", "type": "trigger", "kind": trigger_kind}
    if trigger_kind == "schedule":
        trigger["config"] = {"cron": "0 9 * * 1"}
    nodes: list[dict[str, Any]] = [trigger]
    edges: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 7))):
        parent_index = draw(st.integers(0, len(nodes) - 1))
        parent = nodes[parent_index]
        kind = draw(st.sampled_from(STEP_KINDS))
        sid = f"s{i}_{kind}"
        ref_parent = parent["id"] if parent["type"] == "action" else None
        nodes.append(_step(kind, sid, ref_parent))
        edge: dict[str, Any] = {"source": parent["id"], "target": sid}
        if parent["type"] == "condition":
            edge["branch"] = draw(st.sampled_from(["true", "false"]))
        edges.append(edge)
    return Workflow.model_validate({"name": "Generated", "nodes": nodes, "edges": edges})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
def test_passes_keep_workflows_valid_and_are_idempotent(workflow: Workflow) -> None:
    assert validate_workflow(workflow.to_json_dict(), CATALOG).ok
    snapshot = workflow.to_json_dict()
    for _, apply in PASSES:
        once = apply(workflow, CATALOG)
        assert apply(once, CATALOG) == once
        assert validate_workflow(once.to_json_dict(), CATALOG).ok
    assert workflow.to_json_dict() == snapshot
    result = run_passes(workflow, CATALOG)
    assert validate_workflow(result.workflow.to_json_dict(), CATALOG).ok
    assert run_passes(result.workflow, CATALOG).workflow == result.workflow
    assert run_passes(strip_inserted(result.workflow), CATALOG).workflow == result.workflow
    for change in result.inserted:
        assert change.reason
