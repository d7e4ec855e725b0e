"""Graph passes: one test group per pass, plus the runner and strip_inserted."""

from __future__ import annotations

from typing import Any

import pytest

from engine.passes import approval, content_filter, error_path, input_schema, loops, pii, retries, run_passes
from engine.passes.strip import strip_inserted
from engine.validation import validate_workflow
from engine.workflow import Workflow
from tests.engine.passes_catalog import catalog

CATALOG = catalog()


def wf(nodes: list[dict[str, Any]], edges: list[tuple[str, str]] | list[dict[str, Any]] | None = None,
       trigger: dict[str, Any] | None = None) -> Workflow:
    """A workflow: the trigger, then ``nodes`` chained in order unless ``edges`` are given."""
    trig = trigger or {"id": "start", "type": "trigger", "kind": "manual"}
    if edges is None:
        ids = [trig["id"], *(n["id"] for n in nodes)]
        edges = list(zip(ids, ids[1:], strict=False))
    edge_dicts = [e if isinstance(e, dict) else {"source": e[0], "target": e[1]} for e in edges]
    return Workflow.model_validate({"name": "T", "nodes": [trig, *nodes], "edges": edge_dicts})


def action(node_id: str, connector: str, operation: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "action", "connector": connector, "operation": operation, "config": config}


WEBHOOK = {"id": "hook", "type": "trigger", "kind": "webhook", "config": {"method": "POST"}}


def data(workflow: Workflow) -> dict[str, Any]:
    return workflow.to_json_dict()


def node(workflow: Workflow, node_id: str) -> dict[str, Any]:
    def find(nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
        for n in nodes:
            if n["id"] == node_id:
                return n
            if n.get("type") == "loop":
                found = find(n["body"]["nodes"])
                if found:
                    return found
        return None

    found = find(data(workflow)["nodes"])
    assert found is not None, node_id
    return found


def edges(workflow: Workflow) -> set[tuple[str, str, str | None]]:
    return {(e["source"], e["target"], e.get("branch")) for e in data(workflow)["edges"]}


def check(before: Workflow, apply: Any) -> Workflow:
    """Apply a pass: the result validates, the input is untouched, a second run changes nothing."""
    snapshot = data(before)
    after = apply(before, CATALOG)
    assert data(before) == snapshot
    result = validate_workflow(data(after), CATALOG)
    assert result.ok, [p.to_dict() for p in result.problems]
    assert apply(after, CATALOG) == after
    for n in data(after)["nodes"]:
        if n.get("origin") == "guardrail":
            assert n.get("reason")
    return after


# --- input schema ----------------------------------------------------------------------------


def test_schema_after_webhook_from_fields_read() -> None:
    before = wf([action("say", "slack", "post_message", channel="#a", text="{{ trigger.body.name }} {{ trigger.body.email }}")],
                trigger=WEBHOOK)
    after = check(before, input_schema.apply)
    guard = node(after, "check_input")
    assert guard["kind"] == "schema" and guard["origin"] == "guardrail"
    assert guard["config"] == {"schema": {"type": "object", "properties": {"email": {}, "name": {}},
                                          "required": ["email", "name"]}, "path": "body"}
    assert edges(after) == {("hook", "check_input", None), ("check_input", "say", None)}


def test_schema_types_fields_from_their_use() -> None:
    before = wf([
        {"id": "big", "type": "condition", "config": {"expression": "trigger.body.amount > 1000"}},
        action("mail", "email", "send", to="{{ trigger.body.email }}", subject="s", body="{{ trigger.body.note }}"),
    ], [("hook", "big"), {"source": "big", "target": "mail", "branch": "true"}], trigger=WEBHOOK)
    schema = node(check(before, input_schema.apply), "check_input")["config"]["schema"]
    assert schema["properties"] == {"amount": {"type": "number"}, "email": {"type": "string", "format": "email"},
                                    "note": {}}


def test_schema_uses_input_schema_and_skips_other_triggers() -> None:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
    trigger = {**WEBHOOK, "config": {"method": "POST", "input_schema": schema}}
    after = check(wf([action("a", "core", "log", message="{{ trigger.body.id }}")], trigger=trigger), input_schema.apply)
    assert node(after, "check_input")["config"]["schema"] == schema
    manual = wf([action("a", "core", "log", message="x")])
    assert input_schema.apply(manual, CATALOG) is manual


# --- pii -------------------------------------------------------------------------------------


def test_pii_redaction_before_model_reading_trigger() -> None:
    before = wf([
        action("summarize", "llm", "summarize", text="{{ trigger.body.message & ' ' & trigger.body.email }}"),
        action("reply", "email", "send", to=["{{ trigger.body.email }}"], subject="Re", body="{{ nodes.summarize.text }}"),
    ], trigger=WEBHOOK)
    after = check(before, pii.apply)
    assert node(after, "redact_pii")["kind"] == "pii_redaction"
    assert node(after, "summarize")["config"]["text"] == (
        "{{ nodes.redact_pii.body.message & ' ' & nodes.redact_pii.body.email }}")
    assert node(after, "reply")["config"]["to"] == ["{{ trigger.body.email }}"]  # the real address
    assert ("hook", "redact_pii", None) in edges(after)


def test_pii_redaction_comes_after_the_schema_check_and_ignores_quotes() -> None:
    before = wf([action("classify", "llm", "classify", text="{{ 'trigger: ' & trigger.text }}")], trigger=WEBHOOK)
    after = check(input_schema.apply(before, CATALOG), pii.apply)
    assert ("check_input", "redact_pii", None) in edges(after)
    assert node(after, "classify")["config"]["text"] == "{{ 'trigger: ' & nodes.redact_pii.text }}"


def test_pii_redaction_not_needed_without_model_steps_on_trigger_data() -> None:
    before = wf([action("a", "http", "request", url="{{ trigger.body.url }}")], trigger=WEBHOOK)
    assert pii.apply(before, CATALOG) is before


# --- content filter --------------------------------------------------------------------------


def test_content_filter_on_model_output_sent_out() -> None:
    before = wf([
        action("draft", "llm", "complete", prompt="write a haiku"),
        action("log_it", "core", "log", message="{{ nodes.draft.text }}"),
        action("post", "slack", "post_message", channel="#x", text="{{ nodes.draft.text }}"),
    ])
    after = check(before, content_filter.apply)
    guard = node(after, "filter_draft")
    assert guard["kind"] == "content_filter" and "post" in guard["reason"]
    assert ("draft", "filter_draft", None) in edges(after)
    assert ("filter_draft", "log_it", None) in edges(after)


def test_content_filter_not_for_internal_use() -> None:
    before = wf([action("draft", "llm", "complete", prompt="p"), action("keep", "datastore", "insert", row="{{ nodes.draft }}")])
    assert content_filter.apply(before, CATALOG) is before


# --- approval --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "why"),
    [
        (action("refund", "stripe", "create_refund", amount=10), "destructive"),
        (action("run_sql", "database", "execute", sql="delete from t"), "destructive"),
        (action("wipe", "http", "request", method="DELETE", url="https://x.example/a/1"), "DELETE"),
        (action("pay", "http", "request", method="POST", url="https://x.example/payments"), "payment"),
    ],
)
def test_approval_before_destructive_steps(step: dict[str, Any], why: str) -> None:
    after = check(wf([action("look", "http", "request", url="https://x.example"), step]), approval.apply)
    guard = node(after, f"approve_{step['id']}")
    assert guard["kind"] == "approval" and why in guard["reason"]
    assert ("look", guard["id"], None) in edges(after)
    assert (guard["id"], step["id"], None) in edges(after)


def test_approval_keeps_branches_and_ignores_reads() -> None:
    before = wf(
        [{"id": "big", "type": "condition", "config": {"expression": "true"}},
         action("refund", "stripe", "create_refund"), action("read", "http", "request", url="https://x.example")],
        [("start", "big"), {"source": "big", "target": "refund", "branch": "true"},
         {"source": "big", "target": "read", "branch": "false"}],
    )
    after = check(before, approval.apply)
    assert ("big", "approve_refund", "true") in edges(after)
    assert not any(n["id"] == "approve_read" for n in data(after)["nodes"])


def test_approval_before_loop_for_bulk_sends_and_destructive_body() -> None:
    loop = {"id": "each", "type": "loop", "config": {"items": "{{ trigger.rows }}"},
            "body": {"nodes": [action("mail", "email", "send", to=["{{ item.email }}"], subject="s", body="b")], "edges": []}}
    after = check(wf([loop]), approval.apply)
    assert "bulk" not in node(after, "approve_each")["reason"]
    assert "mail" in node(after, "approve_each")["reason"]
    small = {**loop, "config": {"items": "{{ trigger.rows }}", "max_items": 20}}
    assert approval.apply(wf([small]), CATALOG) == wf([small])


# --- loops -----------------------------------------------------------------------------------


def test_loop_over_external_data_gets_cap_and_rate_limit() -> None:
    before = wf([
        action("fetch", "http", "request", url="https://x.example/users"),
        {"id": "each", "type": "loop", "config": {"items": "{{ nodes.fetch.body }}"},
         "body": {"nodes": [action("ping", "slack", "post_message", channel="#a", text="{{ item.name }}"),
                            action("log_it", "core", "log", message="x")],
                  "edges": [{"source": "ping", "target": "log_it"}]}},
    ])
    after = check(before, loops.apply)
    each = node(after, "each")
    assert each["config"]["max_items"] == loops.DEFAULT_MAX_ITEMS
    guard = node(after, "rate_limit_each")
    assert guard["config"] == {"max": 1, "per_seconds": 1.0, "scope": "workflow"}  # slack's declared limit
    assert {(e["source"], e["target"]) for e in each["body"]["edges"]} == {("rate_limit_each", "ping"), ("ping", "log_it")}


def test_loop_over_computed_data_left_alone() -> None:
    before = wf([{"id": "each", "type": "loop", "config": {"items": "[1, 2, 3]"},
                  "body": {"nodes": [action("a", "core", "log", message="x")], "edges": []}}])
    assert loops.apply(before, CATALOG) is before


# --- retries and timeouts --------------------------------------------------------------------


def test_retries_and_timeouts_on_external_calls() -> None:
    before = wf([
        action("fetch", "http", "request", url="https://x.example"),
        {**action("mine", "http", "request", url="https://x.example"), "retry": {"max_attempts": 7}, "timeout_s": 5},
        action("refund", "stripe", "create_refund"),
        action("compute", "core", "transform", expression="1"),
    ])
    after = check(before, retries.apply)
    assert node(after, "fetch")["retry"]["max_attempts"] == 3
    assert node(after, "fetch")["retry"]["backoff"] == "exponential"
    assert node(after, "fetch")["timeout_s"] == 30.0
    assert node(after, "mine")["retry"] == {"max_attempts": 7} and node(after, "mine")["timeout_s"] == 5
    assert node(after, "refund")["retry"]["max_attempts"] == 2
    assert "retry" not in node(after, "compute")


# --- error path ------------------------------------------------------------------------------


def test_error_path_routes_external_failures_to_a_log_step() -> None:
    before = wf([
        action("fetch", "http", "request", url="https://x.example"),
        {**action("careful", "http", "request", url="https://x.example"), "on_error": "fail"},
        {"id": "each", "type": "loop", "config": {"items": "[1]"},
         "body": {"nodes": [action("ping", "http", "request", url="https://x.example")], "edges": []}},
        action("done", "core", "log", message="ok"),
    ])
    after = check(before, error_path.apply)
    handler = node(after, "report_failure")
    assert handler["connector"] == "core" and handler["operation"] == "log" and handler["config"]["level"] == "error"
    assert {e for e in edges(after) if e[2] == "error"} == {("fetch", "report_failure", "error"),
                                                           ("each", "report_failure", "error")}
    assert node(after, "fetch")["on_error"] == "route"
    assert node(after, "careful")["on_error"] == "fail"  # the author's choice stands
    assert "on_error" not in node(after, "ping")


# --- all passes, and back --------------------------------------------------------------------


def support_flow() -> Workflow:
    return wf([
        action("summarize", "llm", "summarize", text="{{ trigger.body.message }}"),
        action("post", "slack", "post_message", channel="#support", text="{{ nodes.summarize.text }}"),
        action("refund", "stripe", "create_refund", amount="{{ trigger.body.amount }}"),
    ], trigger=WEBHOOK)


def test_run_passes_reports_every_change() -> None:
    result = run_passes(support_flow(), CATALOG)
    assert validate_workflow(data(result.workflow), CATALOG).ok
    inserted = {(c.node_id, c.kind) for c in result.inserted}
    assert inserted == {("check_input", "schema"), ("redact_pii", "pii_redaction"),
                        ("filter_summarize", "content_filter"), ("approve_refund", "approval"),
                        ("report_failure", "core.log")}
    changed = [(c.pass_name, c.node_id, c.reason) for c in result.changes if c.action == "changed"]
    assert ("retries", "post", "retry with exponential backoff added; timeout added") in changed
    assert ("error_path", "post", "failures routed to the error path") in changed
    assert run_passes(result.workflow, CATALOG).changes == []


def test_prompted_removal_cannot_drop_guardrails() -> None:
    """Whatever the model produced, the passes put the guardrails back."""
    guarded = run_passes(support_flow(), CATALOG).workflow
    stripped = strip_inserted(guarded)
    assert not any(n.get("origin") == "guardrail" for n in data(stripped)["nodes"])
    assert run_passes(stripped, CATALOG).workflow == guarded


def test_strip_restores_the_authored_workflow() -> None:
    original = support_flow()
    stripped = strip_inserted(run_passes(original, CATALOG).workflow)
    assert validate_workflow(data(stripped), CATALOG).ok
    assert node(stripped, "summarize")["config"] == {"text": "{{ trigger.body.message }}"}
    assert edges(stripped) == edges(original)
    assert "on_error" not in node(stripped, "post")
    assert strip_inserted(original) is original
