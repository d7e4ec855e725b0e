"""Context injection: relevant operations by embedding search, a token budget, duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.copilot.context import ContextBuilder, Retriever, WorkflowSummary, catalog_entries, default_embedder
from connectors.registry import Registry, default_registry
from prompts.loader import load, load_examples

REGISTRY = default_registry(plugins=False)
# Embedding a catalog costs ~50 ms a text on a quiet laptop core: the embedding tests use a few
# connectors, the rest of the suite the lexical fallback.
SMALL = Registry([c for c in REGISTRY if c.name in ("slack", "email", "datastore")])


@pytest.fixture(scope="module")
def embedder() -> object:
    found = default_embedder()
    if found is None:  # pragma: no cover - the MiniLM weights are a declared dependency
        pytest.skip("embedding model not installed")
    return found


@pytest.mark.slow
def test_embedding_search_picks_the_relevant_operations(embedder: object, tmp_path: Path) -> None:
    examples = load_examples("copilot")[:3]
    builder = ContextBuilder(SMALL, Retriever(embedder, tmp_path), examples=examples)
    ctx = builder.build("post a message to the #sales Slack channel")
    assert ctx.retrieval == "embedding"
    assert (ctx.operations[0].connector, ctx.operations[0].operation) == ("slack", "post_message")
    ctx = builder.build("send an email to bob@example.com")
    assert ("email", "send") in [(o.connector, o.operation) for o in ctx.operations[:3]]
    assert list(tmp_path.glob("copilot-vectors-*.npy"))  # vectors kept on disk for the next process
    assert ctx.examples and len(ctx.examples) <= 3


@pytest.mark.slow
def test_duplicates_by_similarity(embedder: object) -> None:
    builder = ContextBuilder(SMALL, Retriever(embedder))
    workflows = [WorkflowSummary("a", "Weekly sales email", "Every Monday, fetch the sales and email the total."),
                 WorkflowSummary("b", "Disk alert", "When disk usage is high, page the on-call engineer.")]
    ctx = builder.build("every monday, fetch the sales and email the total", workflows=workflows)
    assert ctx.duplicates == ["Weekly sales email"]
    assert [w.name for w in ctx.workflows] == ["Weekly sales email", "Disk alert"]


def test_budget_keeps_the_current_plan_and_the_top_operations() -> None:
    builder = ContextBuilder(REGISTRY, Retriever(None), examples=load_examples("copilot"), budget_tokens=600)
    plan = {"name": "x", "steps": [{"id": f"s{i}", "type": "action"} for i in range(20)]}
    workflows = [WorkflowSummary(str(i), f"Workflow {i}", "does a thing " * 10) for i in range(30)]
    ctx = builder.build("post to slack", workflows=workflows, current_plan=plan)
    assert ctx.current_plan is not None and '"s19"' in ctx.current_plan
    assert len(ctx.operations) >= 6
    assert ctx.left_out  # the budget cut something
    big = ContextBuilder(REGISTRY, Retriever(None), examples=load_examples("copilot"), budget_tokens=20_000)
    full = big.build("post to slack", workflows=workflows)
    assert len(full.operations) >= len(ctx.operations) and len(full.workflows) > len(ctx.workflows)
    assert len(full.examples) > len(ctx.examples)
    assert full.tokens <= 20_000


def test_lexical_fallback_and_rendering() -> None:
    builder = ContextBuilder(REGISTRY, Retriever(None), examples=load_examples("copilot"))
    ctx = builder.build("query the orders table in the database", preferences={"timezone": "Asia/Tokyo"})
    assert ctx.retrieval == "lexical"
    assert ctx.operations[0].connector == "database"
    text = load("copilot.context").render(**ctx.variables())
    assert "`database.query`" in text and "- timezone: Asia/Tokyo" in text and "## Examples" in text
    assert "## Current workflow" not in text


def test_refinement_prefers_edit_examples() -> None:
    builder = ContextBuilder(REGISTRY, Retriever(None), examples=load_examples("copilot"))
    ctx = builder.build("also send it to bob@example.com", current_plan={"name": "x"})
    assert ctx.examples and all(e["current_plan"] for e in ctx.examples)


def test_catalog_entries_mark_required_fields_and_destructive_operations() -> None:
    entries = {f"{e.connector}.{e.operation}": e for e in catalog_entries(REGISTRY)}
    assert "url*" in entries["http.request"].fields
    assert entries["database.execute"].destructive and not entries["database.query"].destructive


def test_credentials_are_offered_by_name_and_type_with_the_connectors_that_read_them() -> None:
    class Ref:
        def __init__(self, name: str, type_: str) -> None:
            self.name, self.type = name, type_

    builder = ContextBuilder(REGISTRY, Retriever(None))
    ctx = builder.build("post to slack", credentials=[Ref("bot", "api_key"), Ref("nothing", "none")])
    assert ctx.credentials == [{"name": "bot", "type": "api_key", "connectors": "http, slack"}]
    text = load("copilot.context").render(**ctx.variables())
    assert "## Credentials in this workspace" in text and "- `bot` (api_key) — for http, slack" in text
    assert "## Credentials" not in load("copilot.context").render(**builder.build("post to slack").variables())
