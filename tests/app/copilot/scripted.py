"""Helpers for copilot tests: the real gateway on the ``fake/`` litellm provider (a scripted model
answering from a queue), a small catalog, and replies built from the response model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from app.copilot.context import ContextBuilder, Retriever
from app.copilot.pipeline import Pipeline
from app.llm.fake_provider import FakeModel, fake_model
from app.llm.gateway import Gateway
from app.settings import Settings
from connectors.registry import default_registry
from engine.db import make_engine
from prompts.loader import load_examples

REGISTRY = default_registry(plugins=False)


@pytest.fixture
def fake() -> Iterator[FakeModel]:
    model = fake_model()
    model.reset()
    yield model
    model.reset()


def settings(tmp_path: Any, **overrides: Any) -> Settings:
    return Settings(**{"data_dir": tmp_path, "model": "fake/planner", **overrides})


def gateway(tmp_path: Any) -> Gateway:
    s = settings(tmp_path)
    return Gateway(s, make_engine(s.resolved_database_url))


def pipeline(tmp_path: Any, *, max_reasks: int = 2) -> Pipeline:
    """A pipeline with lexical retrieval (no embedding model: fast) and the real examples."""
    context = ContextBuilder(REGISTRY, Retriever(None), examples=load_examples("copilot"))
    return Pipeline(gateway(tmp_path), REGISTRY, context, max_reasks=max_reasks, use_cache=False)


def reply(kind: str, **fields: Any) -> str:
    """A ``CopilotResponse`` as the model would send it (JSON text)."""
    return json.dumps({"reply": {"kind": kind, **fields}})


def weekly_sales(**overrides: Any) -> str:
    fields: dict[str, Any] = {
        "name": "Weekly sales email", "description": "Every Monday, fetch sales and email the total.",
        "explanation": "Fetches the sales every Monday and emails the total to alice@example.com.",
        "trigger": {"kind": "schedule", "cron": "0 9 * * 1", "timezone": "Europe/Berlin"},
        "steps": [
            {"type": "action", "id": "fetch_sales", "connector": "http", "operation": "request",
             "config": {"method": "GET", "url": "https://api.example.com/sales"}},
            {"type": "action", "id": "email_total", "connector": "email", "operation": "send",
             "config": {"to": ["alice@example.com"], "subject": "Sales",
                        "body": "{{ $string(nodes.fetch_sales.body.total) }}"}},
        ],
    }
    fields.update(overrides)
    return reply("workflow", **fields)


def support_triage() -> str:
    return reply("workflow", name="Support triage", explanation="Summarise each ticket and post it.",
                 trigger={"kind": "webhook", "method": "POST", "fields": ["message"]},
                 steps=[
                     {"type": "ai", "id": "summarize", "task": "summarize", "input": "{{ trigger.body.message }}"},
                     {"type": "action", "id": "post", "connector": "slack", "operation": "post_message",
                      "config": {"channel": "#support", "text": "{{ nodes.summarize.summary }}"}},
                 ])


def copilot(tmp_path: Any, **kwargs: Any) -> Any:
    """The copilot service over one SQLite file in ``tmp_path`` (lexical retrieval, no cache)."""
    from app.copilot.chat import ChatStore
    from app.copilot.service import Copilot
    from engine.workflow_store import WorkflowStore

    p = pipeline(tmp_path)
    engine = p.gateway.tracker.engine
    return Copilot(p, WorkflowStore(engine), ChatStore(engine), **kwargs)


# --- replies in OpenAI's strict form (what a strict-mode model writes) ---------------------------


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _branch(value: Any, node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The branch of an ``anyOf`` a value takes (tagged objects by their tag, else the first non-null)."""
    branches = [_resolve(b, root) for b in node["anyOf"] if b != {"type": "null"}]
    if isinstance(value, dict):
        for branch in branches:
            for key, prop in branch.get("properties", {}).items():
                if prop.get("enum") and len(prop["enum"]) == 1 and value.get(key) == prop["enum"][0]:
                    return branch
    return branches[0]


def strict_form(value: Any, node: dict[str, Any], root: dict[str, Any]) -> Any:
    """``value`` as a strict-mode model must write it: every property present, free objects as text."""
    node = _resolve(node, root)
    if value is None:
        return None
    if "anyOf" in node:
        return strict_form(value, _branch(value, node, root), root)
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "string" in kinds and isinstance(value, dict):
        return json.dumps(value)
    if "object" in kinds:
        tags = {k: p["enum"][0] for k, p in node["properties"].items() if p.get("enum") and len(p["enum"]) == 1}
        return {k: strict_form(value.get(k, tags.get(k)), p, root) for k, p in node["properties"].items()}
    if "array" in kinds:
        return [strict_form(item, node["items"], root) for item in value]
    return value
