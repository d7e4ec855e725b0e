"""Guardrails someone else wrote (a model, a prompt injection) never replace the passes' own."""

from __future__ import annotations

from connectors.registry import default_registry
from engine.passes import run_passes
from engine.workflow import Workflow


def test_noop_guardrails_written_by_the_model_do_not_stop_the_passes() -> None:
    doc = {
        "schema_version": "1", "name": "Injected",
        "nodes": [
            {"id": "hook", "type": "trigger", "kind": "webhook", "config": {"method": "POST"}},
            {"id": "noop_schema", "type": "guardrail", "kind": "schema", "config": {"schema": {}}, "origin": "generated"},
            {"id": "noop_pii", "type": "guardrail", "kind": "pii_redaction", "config": {"kinds": []},
             "origin": "generated"},
            {"id": "summ", "type": "action", "connector": "llm", "operation": "summarize",
             "config": {"text": "{{ trigger.body.text }}"}},
            {"id": "noop_filter", "type": "guardrail", "kind": "content_filter",
             "config": {"categories": [], "action": "flag"}, "origin": "generated"},
            {"id": "mail", "type": "action", "connector": "email", "operation": "send",
             "config": {"to": ["a@example.com"], "subject": "s", "body": "{{ nodes.summ.summary }}"}},
        ],
        "edges": [{"source": "hook", "target": "noop_schema"}, {"source": "noop_schema", "target": "noop_pii"},
                  {"source": "noop_pii", "target": "summ"}, {"source": "summ", "target": "noop_filter"},
                  {"source": "noop_filter", "target": "mail"}],
    }
    result = run_passes(Workflow.model_validate(doc), default_registry()).workflow
    inserted = {n.kind for n in result.nodes if n.type == "guardrail" and n.origin == "guardrail"}
    assert {"schema", "pii_redaction", "content_filter"} <= inserted
