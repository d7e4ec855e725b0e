"""The deterministic repair pass."""

from __future__ import annotations

from app.copilot.repair import repair
from connectors.registry import default_registry
from tests.engine.workflows import digest, minimal

REGISTRY = default_registry(plugins=False)


def test_repairs_what_validation_can_name() -> None:
    doc = minimal()
    doc["nodes"][1]["connector"] = "cor"  # did you mean 'core'?
    doc["nodes"][1]["config"]["colour"] = "red"
    doc["nodes"].append({"id": "lost", "type": "action", "connector": "core", "operation": "log",
                         "config": {"message": "x"}, "on_error": "route"})
    doc["edges"] += [{"source": "say", "target": "ghost"}, {"source": "start", "target": "say"}]
    result = repair(doc, REGISTRY)
    assert result.ok, [p.to_dict() for p in result.problems]
    assert result.document["nodes"][1]["connector"] == "core"
    assert "colour" not in result.document["nodes"][1]["config"]
    assert {"source": "start", "target": "lost"} in result.document["edges"]
    assert result.document["nodes"][2]["on_error"] == "fail"
    assert len(result.fixed) >= 5
    assert doc["nodes"][1]["connector"] == "cor"  # the input is left alone


def test_timezone_branch_and_cycle() -> None:
    doc = digest()
    doc["nodes"][0]["config"]["timezone"] = "Europe/Berln"
    doc["edges"].append({"source": "fetch_sales", "target": "send_digest", "branch": "yes"})
    doc["edges"].append({"source": "send_digest", "target": "fetch_sales"})
    result = repair(doc, REGISTRY)
    assert result.ok, [p.to_dict() for p in result.problems]
    assert result.document["nodes"][0]["config"]["timezone"] == "Europe/Berlin"


def test_what_cannot_be_fixed_is_reported() -> None:
    doc = minimal()
    doc["nodes"][1]["config"]["message"] = "{{ nodes.nowhere.x }}"
    result = repair(doc, REGISTRY)
    assert not result.ok and result.problems[0].code == "unknown_reference"


def test_misspelt_output_field_trigger_field_and_label_take_the_suggestion() -> None:
    doc = {"name": "t", "nodes": [
        {"id": "hook", "type": "trigger", "kind": "webhook", "config": {"input_schema": {
            "type": "object", "properties": {"amount": {"type": "number"}, "text": {"type": "string"}}}}},
        {"id": "fetch", "type": "action", "connector": "http", "operation": "request",
         "config": {"url": "https://api.example.com/x"}},
        {"id": "big", "type": "condition", "config": {"expression": "trigger.body.amout > 10 and nodes.fetch.statuss = 200"}},
        {"id": "triage", "type": "action", "connector": "llm", "operation": "classify",
         "config": {"text": "{{ trigger.body.text }}", "labels": ["sales", "support"]}},
        {"id": "route", "type": "switch", "config": {"value": "nodes.triage.label",
                                                    "cases": [{"name": "sales", "equals": "Sales"}]}},
        {"id": "tell", "type": "action", "connector": "core", "operation": "log",
         "config": {"message": "{{ nodes.fetch.statuss }} / {{ nodes.fetch.statusses }}"}},
    ], "edges": [{"source": "hook", "target": "fetch"}, {"source": "fetch", "target": "big"},
                 {"source": "big", "target": "triage", "branch": "true"}, {"source": "triage", "target": "route"},
                 {"source": "route", "target": "tell", "branch": "sales"}]}
    result = repair(doc, REGISTRY)
    assert result.ok, [p.to_dict() for p in result.problems]
    nodes = result.document["nodes"]
    assert nodes[2]["config"]["expression"] == "trigger.body.amount > 10 and nodes.fetch.status = 200"
    assert nodes[4]["config"]["cases"][0]["equals"] == "sales"
    assert nodes[5]["config"]["message"] == "{{ nodes.fetch.status }} / {{ nodes.fetch.status }}"
    assert any("classify label 'sales'" in note for note in result.fixed)
