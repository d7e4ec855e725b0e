"""The data-flow rules of validation (engine/output_fields.py): each asserts the code, the JSON
path and the did-you-mean hint, and that the open outputs are exempt."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.registry import default_registry
from engine.errors import Problem
from engine.validation import validate_workflow

REGISTRY = default_registry(plugins=False)


def workflow(*nodes: dict[str, Any], trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    """A chain: the trigger, then each node after the previous one."""
    first = trigger or {"id": "start", "type": "trigger", "kind": "manual"}
    chain = [first, *nodes]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in zip(chain, chain[1:], strict=False)]
    return {"name": "t", "nodes": chain, "edges": edges}


def fetch(**extra: Any) -> dict[str, Any]:
    return {"id": "fetch", "type": "action", "connector": "http", "operation": "request",
            "config": {"url": "https://api.example.com/x"}, **extra}


def log(message: str, node_id: str = "note") -> dict[str, Any]:
    return {"id": node_id, "type": "action", "connector": "core", "operation": "log", "config": {"message": message}}


def found(data: dict[str, Any]) -> list[Problem]:
    return validate_workflow(data, REGISTRY).problems


def test_unknown_output_field_has_path_and_did_you_mean() -> None:
    problems = found(workflow(fetch(), log("status {{ nodes.fetch.statu }}")))
    assert [(p.code, p.path, p.hint) for p in problems] == [
        ("unknown_output_field", "$.nodes[2].config.message", "did you mean 'status'?")]
    assert problems[0].extra["node_id"] == "fetch" and "status" in problems[0].extra["fields"]
    assert "http.request" in problems[0].message


def test_condition_expression_is_checked_bare() -> None:
    condition = {"id": "is_up", "type": "condition", "config": {"expression": "nodes.fetch.status_code = 200"}}
    problems = found(workflow(fetch(), condition))
    assert [(p.code, p.path, p.hint) for p in problems] == [
        ("unknown_output_field", "$.nodes[2].config.expression", "did you mean 'status'?")]


def test_plain_text_without_template_is_not_an_expression() -> None:
    assert found(workflow(fetch(), log("see nodes.fetch.whatever in the docs"))) == []


def test_open_outputs_are_exempt_below_their_open_point() -> None:
    extract = {"id": "pull", "type": "action", "connector": "llm", "operation": "extract",
               "config": {"text": "{{ nodes.fetch.body.text }}", "fields": {"amount": "the amount"}}}
    setter = {"id": "values", "type": "action", "connector": "core", "operation": "set",
              "config": {"values": {"a": 1}}}
    text = ("{{ nodes.fetch.body.deep.anything }} {{ nodes.pull.data.amount.value }} {{ nodes.values.whatever }}"
            " {{ nodes.fetch.headers.`content-type` }}")
    assert found(workflow(fetch(), extract, setter, log(text))) == []


def test_backtick_and_string_literals() -> None:
    assert found(workflow(fetch(), log("{{ 'nodes.fetch.nope' & nodes.fetch.`url` }}"))) == []
    problems = found(workflow(fetch(), log("{{ nodes.fetch.`Status` }}")))
    assert [(p.code, p.hint) for p in problems] == [("unknown_output_field", "did you mean 'status'?")]


def test_error_route_offers_the_error_fields() -> None:
    wf = workflow(fetch(on_error="route"))
    wf["nodes"].append(log("{{ nodes.fetch.message }} ({{ nodes.fetch.code }})", "report"))
    wf["edges"].append({"source": "fetch", "target": "report", "branch": "error"})
    assert found(wf) == []
    wf["nodes"][0:2] = [wf["nodes"][0], fetch()]  # without on_error: route the error fields are not there
    wf["edges"] = [e for e in wf["edges"] if e.get("branch") != "error"] + [{"source": "fetch", "target": "report"}]
    assert {p.code for p in found(wf)} == {"unknown_output_field"}


def test_structural_outputs_and_loop_bodies() -> None:
    check = {"id": "big", "type": "condition", "config": {"expression": "nodes.fetch.status > 300"}}
    loop = {"id": "each", "type": "loop", "config": {"items": "{{ nodes.fetch.body.items }}"},
            "body": {"nodes": [log("{{ nodes.big.result }} {{ nodes.big.outcome }}", "inner")], "edges": []}}
    wf = workflow(fetch(), check, loop)
    wf["edges"][-1]["branch"] = "true"
    problems = found(wf)
    assert [(p.code, p.path) for p in problems] == [("unknown_output_field", "$.nodes[3].body.nodes[0].config.message")]
    assert "a condition" in problems[0].message


def test_nodes_without_a_model_are_not_checked() -> None:
    loop = {"id": "each", "type": "loop", "config": {"items": "{{ [1, 2] }}"},
            "body": {"nodes": [log("x", "inner")], "edges": []}}
    assert found(workflow(loop, log("{{ nodes.each.anything }} {{ nodes.start.body.x }}"))) == []


def classify_then_switch(*cases: Any, value: str = "nodes.triage.label") -> dict[str, Any]:
    classify = {"id": "triage", "type": "action", "connector": "llm", "operation": "classify",
                "config": {"text": "{{ trigger.body.text }}", "labels": ["sales", "Senior", "support"]}}
    switch = {"id": "route", "type": "switch",
              "config": {"value": value, "cases": [{"name": f"c{i}", "equals": c} for i, c in enumerate(cases)]}}
    return workflow(classify, switch)


def test_switch_case_that_differs_from_the_label_in_case_or_spelling() -> None:
    problems = found(classify_then_switch("sales", "senior", "sale", "refunds"))
    assert [(p.code, p.path, p.hint) for p in problems] == [
        ("switch_case_not_label", "$.nodes[2].config.cases[1].equals", "did you mean 'Senior'?"),
        ("switch_case_not_label", "$.nodes[2].config.cases[2].equals", "did you mean 'sales'?"),
        ("switch_case_not_label", "$.nodes[2].config.cases[3].equals", None),
    ]
    assert "'sales', 'Senior', 'support'" in problems[0].message and problems[0].extra["classify_node"] == "triage"


def test_switch_on_lowercased_label_compares_lowercase() -> None:
    assert found(classify_then_switch("senior", "sales", value="$lowercase(nodes.triage.label)")) == []
    problems = found(classify_then_switch("Senior", value="$lowercase(nodes.triage.label)"))
    assert [(p.code, p.hint) for p in problems] == [("switch_case_not_label", "did you mean 'senior'?")]


def test_switch_on_something_else_is_not_checked() -> None:
    assert found(classify_then_switch("anything", value="nodes.triage.label & '!'")) == []


WEBHOOK = {"id": "hook", "type": "trigger", "kind": "webhook",
           "config": {"method": "POST", "input_schema": {"type": "object", "properties": {
               "amount": {"type": "number"}, "email": {"type": "string"}}}}}


def test_condition_on_undeclared_trigger_field() -> None:
    condition = {"id": "big", "type": "condition", "config": {"expression": "trigger.body.amout > 100"}}
    problems = found(workflow(condition, trigger=WEBHOOK))
    assert [(p.code, p.path, p.hint) for p in problems] == [
        ("undeclared_trigger_field", "$.nodes[1].config.expression", "did you mean 'amount'?")]
    assert "amount, email" in problems[0].message


def test_switch_on_undeclared_trigger_field_and_declared_ones() -> None:
    switch = {"id": "by", "type": "switch", "config": {"value": "trigger.body.plan", "cases": [{"name": "a", "equals": 1}]}}
    assert [p.code for p in found(workflow(switch, trigger=WEBHOOK))] == ["undeclared_trigger_field"]
    ok = {"id": "big", "type": "condition", "config": {"expression": "trigger.body.amount > 1 and trigger.body.email"}}
    assert found(workflow(ok, trigger=WEBHOOK)) == []


@pytest.mark.parametrize("schema", [
    None, {"type": "object"}, {"type": "object", "properties": {}},
    {"type": "object", "properties": {"amount": {}}, "additionalProperties": True},
])
def test_trigger_fields_without_declared_properties_are_not_checked(schema: dict[str, Any] | None) -> None:
    trigger = {"id": "hook", "type": "trigger", "kind": "webhook", "config": {"input_schema": schema}}
    condition = {"id": "big", "type": "condition", "config": {"expression": "trigger.body.other > 100"}}
    assert found(workflow(condition, trigger=trigger)) == []


def test_mangled_documents_never_raise() -> None:
    for data in ({"nodes": [{"id": "x", "type": "switch", "config": {"value": "nodes.x.label", "cases": 3}}]},
                 {"nodes": [{"id": "a", "type": "action", "config": {"m": "{{ nodes.a.b }}"}}, None, 5]},
                 {"nodes": {"not": "a list"}}):
        assert all(p.code != "internal" for p in found(data))
