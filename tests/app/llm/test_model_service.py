"""The llm connector's ModelService on the gateway: task tags, schemas, attribution, typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.llm.fake_provider import FakeModel, fake_model
from app.llm.gateway import Gateway
from app.llm.local_provider import set_local_handler, task_of
from app.llm.model_service import GatewayModelService
from app.settings import Settings
from connectors.errors import ConnectorError
from connectors.llm import CONNECTOR, ClassifyInput, ExtractInput, ModelService, SummarizeInput
from connectors.services import ConnectorServices
from engine.db import make_engine

META = {"workspace_id": "ws1", "execution_id": "ex1", "node_id": "n1", "connector": "llm", "operation": "x"}


@dataclass
class Ctx:
    services: ConnectorServices
    workspace_id: str = "ws1"
    execution_id: str | None = "ex1"
    node_id: str | None = "n1"
    credential: Any = None
    dry_run: bool = False
    resumed: bool = False
    logs: list[str] = field(default_factory=list)

    def log(self, level: str, message: str, **metadata: Any) -> None:
        self.logs.append(message)

    async def evaluate(self, expression: str) -> Any:
        raise NotImplementedError


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    config = Settings(data_dir=tmp_path)
    return Gateway(config, make_engine(config.resolved_database_url), sleep=lambda _s: None)


@pytest.fixture
def seen() -> Iterator[list[tuple[str | None, dict[str, Any] | None, list[dict[str, Any]]]]]:
    calls: list[tuple[str | None, dict[str, Any] | None, list[dict[str, Any]]]] = []

    def handler(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
        task = task_of(messages)
        calls.append((task, schema, messages))
        if task == "classify":
            return json.dumps({"label": schema["properties"]["label"]["enum"][-1]})  # type: ignore[index]
        if task == "extract":
            return json.dumps({"order-id": "A-7", "email": None})
        return f"{task} answer"

    previous = set_local_handler(handler)
    yield calls
    set_local_handler(previous)


def operation(name: str) -> Any:
    return next(op for op in CONNECTOR.operations if op.name == name)


async def test_operations_run_through_the_gateway_with_task_tags(gateway: Gateway, seen: list[Any]) -> None:
    service = GatewayModelService(gateway)
    assert isinstance(service, ModelService)
    ctx = Ctx(services=ConnectorServices(model=service))

    label = await operation("classify").run(ClassifyInput(text="server down!", labels=["urgent", "normal"]), ctx)
    assert (label.label, label.model) == ("normal", "local/flowwright-planner")
    task, schema, messages = seen[-1]
    assert task == "classify" and schema["properties"]["label"]["enum"] == ["urgent", "normal"]
    assert "labels: urgent, normal" in messages[0]["content"]

    found = await operation("extract").run(
        ExtractInput(text="order A-7", fields={"order-id": "the order number", "email": "sender"}), ctx)
    assert found.data == {"order-id": "A-7", "email": None}
    assert set(seen[-1][1]["properties"]) == {"order-id", "email"}

    summary = await operation("summarize").run(SummarizeInput(text="long text " * 20, max_words=12), ctx)
    assert summary.summary == "summarize answer"
    assert "at most 12 words" in seen[-1][2][0]["content"]
    assert await service.complete("hi", ctx_meta=META) == "complete answer"

    rows = gateway.tracker.rows(workspace_id="ws1")
    assert {(r.execution_id, r.node_id) for r in rows} == {("ex1", "n1")}
    assert gateway.tracker.totals("ws1", execution_id="ex1")["tokens"] == sum(r.total_tokens for r in rows)
    assert gateway.tracker.totals("ws1", execution_id="other") == {"tokens": 0, "cost_usd": 0.0}
    assert [(r.purpose, r.template) for r in rows] == [
        ("llm-node", "llm.classify@1"), ("llm-node", "llm.extract@1"), ("llm-node", "llm.summarize@1"),
        ("llm-node", "llm.complete@1")]


async def test_a_label_outside_the_list_is_re_asked(gateway: Gateway) -> None:
    fake = fake_model()
    fake.reset()
    fake.enqueue('{"label": "maybe"}', '{"label": "spam"}')
    service = GatewayModelService(gateway, model="fake/labeller")
    assert await service.classify("buy now", ["spam", "ham"], ctx_meta=META) == "spam"
    assert [r.outcome for r in gateway.tracker.rows()] == ["parse_error", "ok"]
    fake.reset()


async def test_gateway_errors_reach_the_step_with_their_code(gateway: Gateway) -> None:
    fake = fake_model()
    fake.reset()
    fake.enqueue(FakeModel.auth_error())
    ctx = Ctx(services=ConnectorServices(model=GatewayModelService(gateway, model="fake/broken")))
    with pytest.raises(ConnectorError) as info:
        await operation("classify").run(ClassifyInput(text="x", labels=["a", "b"]), ctx)
    assert info.value.code == "model_auth_failed" and info.value.retryable is False

    gateway.budgets.set("ws1", daily_tokens=1)
    with pytest.raises(ConnectorError) as budget:
        await operation("summarize").run(SummarizeInput(text="x y z", max_words=10), ctx)
    assert budget.value.code == "budget_exceeded"
    assert budget.value.details["limit"] == "daily_tokens"
    fake.reset()


def test_wiring_hands_steps_the_gateway_and_its_usage_tracker(tmp_path: Path) -> None:
    from app.wiring import Container

    built = Container(Settings(data_dir=tmp_path), vault=False)
    try:
        model = built.connector_services.model
        assert isinstance(model, GatewayModelService)
        assert model.name == "local/flowwright-planner"
        assert built.runtime.usage is built.gateway.tracker
        assert built.gateway.tracker.totals("default") == {"tokens": 0, "cost_usd": 0.0}
    finally:
        built.close()
