from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from connectors.errors import ConnectorError
from connectors.llm import CONNECTOR, ModelService
from connectors.llm_local import LocalHeuristics
from connectors.services import ConnectorServices
from engine.errors import FlowwrightError
from tests.connectors.conftest import Ctx

ops = {op.name: op for op in CONNECTOR.operations}


async def run(name: str, ctx: Ctx, **config):
    op = ops[name]
    return await op.run(op.input_model.model_validate(config), ctx)


class ScriptedModel:
    """A ModelService that records calls and answers from a script (as app/llm's gateway would)."""

    name = "scripted"

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def complete(self, prompt: str, *, system: str | None = None, max_tokens: int | None = None,
                       temperature: float | None = None, ctx_meta: Mapping[str, Any]) -> str:
        self.calls.append(("complete", {"prompt": prompt, "system": system, "meta": dict(ctx_meta)}))
        return self.answers["complete"]

    async def classify(self, text: str, labels: Sequence[str], *, instructions: str | None = None,
                       ctx_meta: Mapping[str, Any]) -> str:
        self.calls.append(("classify", {"labels": list(labels)}))
        answer = self.answers["classify"]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def extract(self, text: str, fields: Mapping[str, str], *, ctx_meta: Mapping[str, Any]) -> dict[str, Any]:
        return self.answers["extract"]

    async def summarize(self, text: str, max_words: int, *, ctx_meta: Mapping[str, Any]) -> str:
        return self.answers["summarize"]


class BudgetExceeded(FlowwrightError):
    code = "budget_exceeded"
    retryable = False


async def test_service_is_used_with_attribution() -> None:
    model = ScriptedModel({"complete": "Hello!", "classify": " Urgent. ", "extract": {"email": "a@b.co", "x": 1},
                           "summarize": "short"})
    assert isinstance(model, ModelService)
    ctx = Ctx(services=ConnectorServices(model=model))
    out = await run("complete", ctx, prompt="Say hi", system="Be brief")
    assert (out.text, out.model) == ("Hello!", "scripted")
    assert model.calls[0][1]["meta"] == {"workspace_id": "ws_test", "execution_id": "ex_test", "node_id": "node",
                                         "connector": "llm", "operation": "complete"}
    assert (await run("classify", ctx, text="t", labels=["urgent", "normal"])).label == "urgent"
    out = await run("extract", ctx, text="t", fields={"email": "sender", "phone": "phone"})
    assert out.data == {"email": "a@b.co", "phone": None}  # only requested fields, missing ones null
    assert (await run("summarize", ctx, text="t", max_words=10)).summary == "short"


async def test_bad_label_and_gateway_errors() -> None:
    ctx = Ctx(services=ConnectorServices(model=ScriptedModel({"classify": "maybe"})))
    with pytest.raises(ConnectorError) as err:
        await run("classify", ctx, text="t", labels=["yes", "no"])
    assert err.value.code == "llm_bad_output" and err.value.retryable
    ctx = Ctx(services=ConnectorServices(model=ScriptedModel({"classify": BudgetExceeded("over budget", limit="daily_usd")})))
    with pytest.raises(ConnectorError) as err:
        await run("classify", ctx, text="t", labels=["yes", "no"])
    assert err.value.code == "budget_exceeded" and not err.value.retryable
    assert err.value.details["limit"] == "daily_usd"


def test_labels_validated() -> None:
    with pytest.raises(ValueError, match="distinct"):
        ops["classify"].input_model.model_validate({"text": "t", "labels": ["A", "a"]})


# -- the local heuristics (used without a model service) ------------------------------------------

TICKET = """Hi team,

My name is Jane Doe and our production dashboard has been down since this morning. This is urgent:
customers cannot log in and we are losing orders. Please call me back as soon as possible.

Order number: 48213
Total: $1,249.90
Email: jane.doe@example.com
Phone: +1 415 555 0134
Deadline: 2026-03-14

Thanks,
Jane Doe"""


async def test_local_fallback_is_deterministic_and_labelled() -> None:
    ctx = Ctx()
    a = await run("summarize", ctx, text=TICKET, max_words=30)
    b = await run("summarize", ctx, text=TICKET, max_words=30)
    assert a == b and a.model == "local-heuristics"
    assert len(a.summary.split()) <= 30 and "down" in a.summary
    out = await run("classify", ctx, text=TICKET, labels=["normal", "urgent", "spam"])
    assert out.label == "urgent"
    out = await run("extract", ctx, text=TICKET, fields={
        "email": "customer email", "phone": "phone number", "total": "order amount",
        "order_number": "the order id", "deadline": "due date", "customer_name": "customer's name",
        "favorite_color": "their favourite colour"})
    assert out.data == {"email": "jane.doe@example.com", "phone": "+1 415 555 0134", "total": 1249.9,
                        "order_number": 48213, "deadline": "2026-03-14", "customer_name": "Jane Doe",
                        "favorite_color": None}


async def test_local_patterns_without_labels() -> None:
    local = LocalHeuristics()
    text = "Please reach me at bob@example.org before March 3, 2026 about the $300 invoice. See https://x.example/a."
    got = await local.extract(text, {"contact": "email address", "when": "meeting date", "price": "amount",
                                     "site": "link"}, ctx_meta={})
    assert got == {"contact": "bob@example.org", "when": "March 3, 2026", "price": 300, "site": "https://x.example/a."[:-1]}
    assert await local.classify("I love it, thanks, great work", ["negative", "positive", "neutral"], ctx_meta={}) == "positive"
    assert await local.classify("zzz qqq", ["spam", "other"], ctx_meta={}) == "other"
    assert await local.classify("The invoice charged my card twice", ["bug", "billing"], ctx_meta={}) == "billing"


async def test_local_summary_keeps_order_and_limit() -> None:
    text = ("Sales rose 12% in EMEA. The weather was mild. EMEA sales were driven by new customers in Germany. "
            "Lunch was pizza. Sales in APAC fell slightly.")
    summary = await LocalHeuristics().summarize(text, 20, ctx_meta={})
    assert len(summary.split()) <= 20
    assert summary.startswith("Sales rose 12% in EMEA.") and "pizza" not in summary
    long_sentence = " ".join(["word"] * 50) + "."
    assert (await LocalHeuristics().summarize(long_sentence, 5, ctx_meta={})).endswith("…")
