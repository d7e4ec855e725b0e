"""The response schema hosted models get: OpenAI's strict rules, at most 4k tokens, and replies in
the strict form (every property present, JSON objects as text) read like plain ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.copilot.plan import CopilotResponse, response_schema
from app.copilot.response_schema import MAX_SCHEMA_TOKENS, estimate_tokens, strict_problems, strict_schema
from app.llm.fake_provider import FakeModel
from app.llm.local_provider import count_text_tokens
from prompts.loader import load_examples
from tests.app.copilot.scripted import fake, pipeline, strict_form

__all__ = ["fake"]  # the fixture


def test_copilot_schema_keeps_the_strict_rules() -> None:
    assert strict_problems(response_schema()) == []


def test_copilot_schema_fits_in_4k_tokens() -> None:
    schema = response_schema()
    text = json.dumps(schema, separators=(",", ":"))
    assert estimate_tokens(schema) <= MAX_SCHEMA_TOKENS
    assert count_text_tokens("openai/gpt-4o-mini", text) <= MAX_SCHEMA_TOKENS  # tiktoken, via litellm


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, "additionalProperties"),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}, "required"),
    ({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}, "required": ["a"],
      "additionalProperties": False}, "unsupported keyword 'oneOf'"),
    ({"type": "object", "properties": {"a": {"type": "string", "minLength": 2}}, "required": ["a"],
      "additionalProperties": False}, "unsupported keyword 'minLength'"),
    ({"type": "object", "properties": {"a": {"description": "anything"}}, "required": ["a"],
      "additionalProperties": False}, "needs a type"),
    ({"anyOf": [{"type": "object"}]}, "root"),
])
def test_rule_violations_are_named(schema: dict[str, Any], expected: str) -> None:
    assert any(expected in p for p in strict_problems(schema))


def test_free_objects_and_untyped_values_become_strict() -> None:
    schema = strict_schema({"type": "object", "title": "T", "properties": {
        "config": {"type": "object", "additionalProperties": True, "description": "Input."},
        "equals": {"description": "Anything."}, "n": {"type": "integer", "default": 1, "minimum": 1},
    }, "required": ["config"]})
    assert strict_problems(schema) == []
    props = schema["properties"]
    assert props["config"] == {"type": "string", "description": "Input. A JSON object written as a string."}
    assert props["equals"]["type"] == ["string", "number", "boolean", "null"]
    assert props["n"] == {"type": ["integer", "null"]}


# --- replies in the strict form -----------------------------------------------------------------


def plain_value(value: dict[str, Any]) -> dict[str, Any]:
    return CopilotResponse.model_validate(value).model_dump(mode="json")


def test_every_example_reply_reads_the_same_in_the_strict_form() -> None:
    schema = response_schema()
    for example in load_examples("copilot"):
        strict = strict_form(example["response"], schema, schema)
        assert "null" in json.dumps(strict) or example["response"]["reply"]["kind"] == "question"
        assert plain_value(strict) == plain_value(example["response"]), example["request"]


def test_a_hosted_model_gets_the_strict_schema_and_its_strict_reply_becomes_a_workflow(
        tmp_path: Any, fake: FakeModel) -> None:
    plain = {"reply": {"kind": "workflow", "name": "Status alert", "trigger": {"kind": "schedule", "cron": "*/5 * * * *"},
                       "steps": [
                           {"type": "action", "id": "check", "connector": "http", "operation": "request",
                            "config": {"url": "https://status.example.com/health"}},
                           {"type": "condition", "id": "down", "expression": "nodes.check.status != 200"},
                           {"type": "action", "id": "alert", "after": ["down"], "branch": "true", "connector": "slack",
                            "operation": "post_message", "config": {"channel": "#oncall", "text": "down"}}]}}
    schema = response_schema()
    fake.enqueue(json.dumps(strict_form(plain, schema, schema)))
    result = pipeline(tmp_path).run("check the status page every 5 minutes; alert #oncall when down", workspace_id="w")
    assert result.kind == "workflow" and result.valid, result.problems
    assert [n.id for n in result.workflow.nodes if n.type != "guardrail"][:4] == ["trigger", "check", "down", "alert"]
    tool = fake.requests[0].optional_params["tools"][0]["function"]
    assert tool["name"] == "CopilotResponse"
    assert strict_problems({"type": "object", **tool["parameters"]}) == []
