"""The copilot on a hosted model: ``openai/gpt-4o-mini`` through litellm's real OpenAI client and real
HTTP, against a loopback server that behaves like OpenAI's strict structured outputs — it refuses a
tool schema that breaks the strict rules and answers with arguments that match the schema it got.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest

from app.copilot.context import ContextBuilder, Retriever
from app.copilot.pipeline import Pipeline
from app.copilot.response_schema import strict_problems
from app.llm.gateway import Gateway
from engine.db import make_engine
from prompts.loader import load_examples
from tests.app.copilot.scripted import REGISTRY, settings, strict_form
from tests.app.llm.openai_stub import OpenAIStub, Reply, bad_request, tool_call_completion

REQUEST = "check https://status.example.com/health every 5 minutes; if it doesn't return 200, alert #oncall"


def _plan(reference: str) -> dict[str, Any]:
    return {"reply": {
        "kind": "workflow", "name": "Status alert", "explanation": "Checks the status page every 5 minutes.",
        "trigger": {"kind": "schedule", "cron": "*/5 * * * *"},
        "steps": [
            {"type": "action", "id": "check", "connector": "http", "operation": "request",
             "config": {"url": "https://status.example.com/health", "expected_status": [200, 500, 502, 503, 504]}},
            {"type": "condition", "id": "down", "expression": f"{reference} != 200"},
            {"type": "action", "id": "alert", "after": ["down"], "branch": "true", "connector": "slack",
             "operation": "post_message", "config": {"channel": "#oncall", "text": "The status page is down"}},
        ]}}


def strict_openai(plan: dict[str, Any]) -> Callable[[dict[str, Any]], Reply]:
    """What OpenAI does with a strict tool: refuse a schema outside the rules, else answer with
    arguments that match it (its decoding is constrained to the schema)."""

    def respond(request: dict[str, Any]) -> Reply:
        function = request["tools"][0]["function"]
        if function.get("strict") is not True:
            return bad_request("this test server only answers strict tools")
        schema = {"type": "object", **function["parameters"]}
        problems = strict_problems(schema)
        if problems:
            return bad_request(f"Invalid schema for function '{function['name']}': {problems[0]}")
        arguments = strict_form(plan, schema, schema)
        jsonschema.Draft202012Validator(schema).validate(arguments)
        return 200, {}, tool_call_completion(function["name"], arguments, prompt_tokens=5000, completion_tokens=400)

    return respond


@pytest.fixture
def hosted() -> Iterator[Callable[..., tuple[Pipeline, OpenAIStub]]]:
    stubs: list[OpenAIStub] = []

    def make(tmp_path: Any, replies: list[Any], **overrides: Any) -> tuple[Pipeline, OpenAIStub]:
        stub = OpenAIStub(replies)
        stubs.append(stub)
        config = settings(tmp_path, model="openai/gpt-4o-mini", model_api_base=stub.url, model_api_key="sk-test",
                          allow_model_requests=True, **overrides)
        gateway = Gateway(config, make_engine(config.resolved_database_url))
        context = ContextBuilder(REGISTRY, Retriever(None), examples=load_examples("copilot"))
        return Pipeline(gateway, REGISTRY, context, use_cache=False), stub

    yield make
    for stub in stubs:
        stub.close()


def test_a_strict_hosted_model_builds_the_workflow_and_fixes_a_wrong_reference_on_the_reask(
        tmp_path: Any, hosted: Callable[..., tuple[Pipeline, OpenAIStub]]) -> None:
    pipeline, stub = hosted(tmp_path, [strict_openai(_plan("nodes.check.status_code")),
                                       strict_openai(_plan("nodes.check.status"))])
    result = pipeline.run(REQUEST, workspace_id="w")

    assert result.kind == "workflow" and result.valid, result.problems
    assert result.reasks == 1 and result.model == "openai/gpt-4o-mini"
    nodes = {n.id: n for n in result.workflow.nodes}
    assert nodes["down"].config.expression == "nodes.check.status != 200"
    assert nodes["check"].config["expected_status"] == [200, 500, 502, 503, 504]
    assert (result.usage["prompt_tokens"], result.usage["completion_tokens"], result.usage["attempts"]) == (10_000, 800, 2)
    assert result.usage["cost_usd"] > 0

    first, second = (r["json"] for r in stub.requests)
    assert stub.requests[0]["auth"] == "Bearer sk-test"
    assert first["tool_choice"]["function"]["name"] == "CopilotResponse"
    prompt = "\n".join(str(m.get("content")) for m in first["messages"])
    assert "Output: status: integer, ok: boolean" in prompt  # the catalog says what a step's output holds
    reask = json.dumps(second["messages"][len(first["messages"]):])
    assert "unknown_output_field" in reask and "status_code" in reask


def test_a_provider_refusing_the_schema_is_a_clear_error_not_a_retry(
        tmp_path: Any, hosted: Callable[..., tuple[Pipeline, OpenAIStub]]) -> None:
    refusal = bad_request("Invalid schema for function 'CopilotResponse': 'additionalProperties' is required")
    pipeline, stub = hosted(tmp_path, [refusal, refusal])
    result = pipeline.run(REQUEST, workspace_id="w")
    assert result.kind == "error" and result.error is not None
    assert result.error["code"] == "model_bad_request" and "Invalid schema" in result.error["message"]
    assert len(stub.requests) == 1


def test_strict_output_off_sends_the_same_schema_without_the_flag(
        tmp_path: Any, hosted: Callable[..., tuple[Pipeline, OpenAIStub]]) -> None:
    plan = _plan("nodes.check.status")
    pipeline, stub = hosted(tmp_path, [lambda request: (200, {}, tool_call_completion(
        "CopilotResponse", json.dumps(plan)))], model_strict_output=False)
    result = pipeline.run(REQUEST, workspace_id="w")
    assert result.kind == "workflow" and result.valid, result.problems  # the plain form is read too
    function = stub.requests[0]["json"]["tools"][0]["function"]
    assert "strict" not in function and strict_problems({"type": "object", **function["parameters"]}) == []
