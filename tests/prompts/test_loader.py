"""Prompt templates are versioned files; examples are data that compile into valid workflows."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.copilot.plan import CopilotResponse, EditPlan, WorkflowPlan, apply_edits, compile_plan
from connectors.registry import default_registry
from engine.validation import validate_workflow
from prompts.loader import PromptError, available, load, load_examples, parse_template


def test_every_template_has_name_version_and_renders_its_variables() -> None:
    names = {t.name for t in available()}
    assert {"copilot.system", "copilot.context", "copilot.reask"} <= names
    system = load("copilot.system")
    assert system.ref == ("copilot.system", "2")
    text = system.render(today="2026-01-02", timezone="Asia/Tokyo")
    assert "Asia/Tokyo" in text and "2026-01-02" in text and "{{ }}" in text


def test_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(PromptError, match="timezone"):
        load("copilot.system").render(today="x")


def test_versions_pick_the_highest_or_an_exact_one(tmp_path: Path) -> None:
    one = parse_template("---\nname: t\nversion: 1\n---\nv1 {{ x }}\n")
    assert one.render(x="a") == "v1 a\n"
    with pytest.raises(PromptError, match="no version"):
        load("copilot.system", 99)
    with pytest.raises(PromptError, match="no prompt template"):
        load("nope")
    with pytest.raises(PromptError, match="front matter"):
        parse_template("no front matter")
    with pytest.raises(PromptError, match="'name' and 'version'"):
        parse_template("---\nname: t\n---\nbody")


def test_reask_lists_problems_with_hints() -> None:
    text = load("copilot.reask").render(problems=[
        {"path": "$.nodes[1].connector", "message": "unknown connector 'htttp'", "code": "unknown_connector",
         "hint": "did you mean 'http'?"},
        {"path": "$.edges[0]", "message": "dangling", "code": "dangling_edge"},
    ])
    assert "- $.nodes[1].connector: unknown connector 'htttp' (did you mean 'http'?) [unknown_connector]" in text
    assert "- $.edges[0]: dangling [dangling_edge]" in text


def test_examples_are_valid_replies_that_compile_and_validate() -> None:
    registry = default_registry()
    examples = load_examples("copilot")
    assert len(examples) >= 8
    plans: dict[str, WorkflowPlan] = {}
    for example in examples:
        reply = CopilotResponse.model_validate(example["response"]).reply
        if isinstance(reply, WorkflowPlan):
            plans[reply.name] = reply
    for example in examples:
        reply = CopilotResponse.model_validate(example["response"]).reply
        if isinstance(reply, EditPlan):
            reply_plan = apply_edits(plans[example["current_plan"]], reply)
        elif isinstance(reply, WorkflowPlan):
            reply_plan = reply
        else:
            continue
        result = validate_workflow(compile_plan(reply_plan, registry), registry)
        assert result.ok, (example["request"], [p.to_dict() for p in result.problems])
