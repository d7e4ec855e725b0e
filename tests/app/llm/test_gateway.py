"""The gateway end to end through real litellm and instructor code, with the local and fake providers."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationInfo, field_validator

from app.llm.errors import (
    BudgetExceededError,
    LocalModelNotInstalledError,
    ModelAuthError,
    ModelBadRequestError,
    ModelOutputInvalidError,
    ModelRateLimitedError,
    ModelRequestsBlockedError,
)
from app.llm.fake_provider import FakeModel, FakeReply, fake_model
from app.llm.gateway import Gateway
from app.llm.local_provider import LOCAL_MODEL, set_local_handler, task_of
from app.settings import Settings
from engine.db import make_engine
from tests.app.llm.openai_stub import OpenAIStub, tool_call_completion


class Step(BaseModel):
    """A small response model whose validator can ask for a re-ask."""

    name: str
    count: int

    @field_validator("count")
    @classmethod
    def _positive(cls, value: int, info: ValidationInfo) -> int:
        minimum = (info.context or {}).get("minimum", 1)
        if value < minimum:
            raise ValueError(f"count must be at least {minimum}")
        return value


class FakeClock:
    """A monotonic clock that only moves when the gateway sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeModel]:
    model = fake_model()
    model.reset()
    yield model
    model.reset()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_gateway(tmp_path: Path, clock: FakeClock, **settings: Any) -> Gateway:
    values: dict[str, Any] = {"data_dir": tmp_path, "model_deadline_s": 60.0, **settings}
    config = Settings(**values)
    return Gateway(config, make_engine(config.resolved_database_url), sleep=clock.sleep, clock=clock)


@pytest.fixture
def gateway(tmp_path: Path, clock: FakeClock) -> Gateway:
    return make_gateway(tmp_path, clock)


@pytest.fixture
def local_answers() -> Iterator[list[tuple[list[dict[str, Any]], dict[str, Any] | None]]]:
    seen: list[tuple[list[dict[str, Any]], dict[str, Any] | None]] = []

    def handler(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
        seen.append((messages, schema))
        return json.dumps({"name": "local", "count": 3}) if schema else "plain answer"

    previous = set_local_handler(handler)
    yield seen
    set_local_handler(previous)


USER = [{"role": "user", "content": "make one step"}]


def test_local_model_goes_through_litellm_and_instructor(gateway: Gateway, local_answers: list[Any]) -> None:
    messages = [{"role": "system", "content": "[flowwright:task=extract] pull the fields"}, *USER]
    result = gateway.generate(messages, Step, purpose="llm-node", workspace_id="ws1", user_id="u1",
                              conversation_id="c1", workflow_id="wf1", template=("extract", 2))

    assert result.value.model_dump() == {"name": "local", "count": 3}
    assert result.model == LOCAL_MODEL and result.attempts == 1 and not result.cache_hit
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.cost_usd == 0.0 and result.cost_unknown is False
    sent_messages, schema = local_answers[0]
    assert schema is not None and schema["properties"].keys() == {"name", "count"}
    assert task_of(sent_messages) == "extract"
    assert result.raw.choices[0].message.tool_calls[0].function.name == "Step"

    (row,) = gateway.tracker.rows(workspace_id="ws1")
    assert (row.outcome, row.attempt, row.purpose, row.template) == ("ok", 1, "llm-node", "extract@2")
    assert (row.user_id, row.conversation_id, row.workflow_id) == ("u1", "c1", "wf1")
    assert row.prompt_tokens == result.usage.prompt_tokens
    attrs = row.attributes()
    assert attrs["gen_ai.request.model"] == LOCAL_MODEL
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.usage.input_tokens"] == row.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == row.completion_tokens
    assert attrs["gen_ai.conversation.id"] == "c1"
    assert "error.type" not in attrs


def test_complete_returns_plain_text(gateway: Gateway, local_answers: list[Any]) -> None:
    result = gateway.complete(USER, purpose="insight", workspace_id="ws1")
    assert result.text == "plain answer"
    assert local_answers[0][1] is None
    assert result.usage.completion_tokens > 0
    assert [r.purpose for r in gateway.tracker.rows()] == ["insight"]


def test_json_mode_hands_the_schema_to_the_local_model(tmp_path: Path, clock: FakeClock,
                                                       local_answers: list[Any]) -> None:
    gateway = make_gateway(tmp_path, clock, model_structured_mode="json")
    result = gateway.generate(USER, Step, purpose="generate", workspace_id="ws1")
    assert result.value.name == "local"
    assert local_answers[0][1]["required"] == ["name", "count"]


def test_validation_errors_are_fed_back_and_every_attempt_is_recorded(gateway: Gateway, fake: FakeModel) -> None:
    fake.enqueue(FakeReply('{"name": "a", "count": 0}', prompt_tokens=100, completion_tokens=10),
                 FakeReply('{"name": "a"}', prompt_tokens=150, completion_tokens=8),
                 FakeReply('{"name": "a", "count": 5}', prompt_tokens=200, completion_tokens=9))
    result = gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m",
                              validation_context={"minimum": 2})

    assert result.value.count == 5
    assert result.attempts == 3
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (450, 27)
    rows = gateway.tracker.rows(call_id=result.call_id)
    assert [(r.attempt, r.outcome) for r in rows] == [(1, "parse_error"), (2, "parse_error"), (3, "ok")]
    assert "count must be at least 2" in (rows[0].error or "")
    reask = fake.requests[1].messages
    assert any("count must be at least 2" in str(m.get("content")) for m in reask)


def test_validation_gives_up_after_max_retries(gateway: Gateway, fake: FakeModel) -> None:
    fake.enqueue(*['{"name": "a", "count": -1}'] * 2)
    with pytest.raises(ModelOutputInvalidError) as info:
        gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m", max_retries=1)
    assert info.value.code == "model_output_invalid"
    assert info.value.details["attempts"] == 2
    assert info.value.details["usage"]["gen_ai.usage.input_tokens"] > 0
    assert [r.outcome for r in gateway.tracker.rows()] == ["parse_error", "parse_error"]


@pytest.mark.parametrize(("header", "value", "expected"), [("retry-after", 7, 7.0), ("retry-after-ms", 1500, 1.5)])
def test_rate_limit_honours_retry_after(gateway: Gateway, fake: FakeModel, clock: FakeClock,
                                        header: str, value: float, expected: float) -> None:
    fake.enqueue(FakeModel.rate_limited(value, header=header), '{"name": "b", "count": 2}')
    result = gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m")
    assert result.value.name == "b"
    assert clock.sleeps == [expected]
    assert [r.outcome for r in gateway.tracker.rows()] == ["model_rate_limited", "ok"]
    assert result.attempts == 2


def test_overload_and_timeouts_back_off_exponentially(gateway: Gateway, fake: FakeModel, clock: FakeClock) -> None:
    fake.enqueue(FakeModel.rate_limited(), FakeModel.overloaded(529), FakeModel.overloaded(503),
                 FakeModel.timeout(), '{"name": "c", "count": 2}')
    result = gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m")
    assert result.value.name == "c"
    assert len(clock.sleeps) == 4
    # exponential with jitter: 0.5·2^n plus up to 0.5 s
    for n, slept in enumerate(clock.sleeps):
        assert 0.5 * 2**n <= slept <= 0.5 * 2**n + 0.5
    assert [r.outcome for r in gateway.tracker.rows()] == [
        "model_rate_limited", "model_overloaded", "model_overloaded", "model_timeout", "ok"]


def test_retries_stop_at_the_deadline(tmp_path: Path, fake: FakeModel, clock: FakeClock) -> None:
    gateway = make_gateway(tmp_path, clock, model_deadline_s=10.0)
    fake.enqueue(FakeModel.rate_limited(4), FakeModel.rate_limited(4), FakeModel.rate_limited(4), "{}")
    with pytest.raises(ModelRateLimitedError) as info:
        gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m")
    assert info.value.details["retry_after_s"] == 4
    assert clock.sleeps == [4.0, 4.0]  # a third wait would end past the 10 s deadline
    assert fake.pending == 1


@pytest.mark.parametrize(("error", "expected"), [(FakeModel.auth_error(), ModelAuthError),
                                                  (FakeModel.bad_request(), ModelBadRequestError)])
def test_auth_and_bad_requests_are_never_retried(gateway: Gateway, fake: FakeModel, clock: FakeClock,
                                                 error: Exception, expected: type[Exception]) -> None:
    fake.enqueue(error, '{"name": "never", "count": 2}')
    with pytest.raises(expected):
        gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m")
    assert clock.sleeps == []
    assert len(fake.requests) == 1
    (row,) = gateway.tracker.rows()
    assert row.outcome == expected.code


def test_kill_switch_refuses_real_providers_before_any_network(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(ModelRequestsBlockedError) as info:
        gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="openai/gpt-4o-mini")
    assert info.value.code == "model_requests_blocked"
    with pytest.raises(ModelRequestsBlockedError):
        gateway.complete(USER, purpose="insight", workspace_id="ws1", model="anthropic/claude-3-5-haiku-latest")
    assert attempts == []
    assert gateway.tracker.rows() == []


def test_offline_calls_touch_no_socket(gateway: Gateway, local_answers: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    gateway.generate(USER, Step, purpose="generate", workspace_id="ws1")
    gateway.complete(USER, purpose="generate", workspace_id="ws1")
    assert attempts == []


def test_budget_refuses_before_sending(gateway: Gateway, fake: FakeModel) -> None:
    fake.enqueue(FakeReply('{"name": "a", "count": 2}', prompt_tokens=300, completion_tokens=50))
    gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m", max_tokens=100)
    gateway.budgets.set("ws1", daily_tokens=500)

    fake.enqueue('{"name": "a", "count": 2}')
    with pytest.raises(BudgetExceededError) as info:
        gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m", max_tokens=200)
    assert info.value.code == "budget_exceeded"
    assert info.value.details["limit"] == "daily_tokens"
    assert info.value.details["spent"] == 350
    assert "daily budget of 500 tokens" in info.value.message
    assert len(fake.requests) == 1  # the refused call was never sent
    # another workspace is not affected
    assert gateway.generate(USER, Step, purpose="generate", workspace_id="ws2", model="fake/m").value.count == 2


def test_cost_comes_from_the_price_map_and_usd_budgets_apply(gateway: Gateway, fake: FakeModel) -> None:
    FakeModel.set_price("fake/priced", input_per_token=1e-6, output_per_token=2e-6)
    fake.enqueue(FakeReply('{"name": "a", "count": 2}', prompt_tokens=1000, completion_tokens=500),
                 FakeReply('{"name": "a", "count": 2}', prompt_tokens=10, completion_tokens=5))
    priced = gateway.generate(USER, Step, purpose="refine", workspace_id="ws1", model="fake/priced")
    assert priced.cost_usd == pytest.approx(0.002)
    assert priced.cost_unknown is False
    unpriced = gateway.generate(USER, Step, purpose="refine", workspace_id="ws1", model="fake/unmapped")
    assert (unpriced.cost_usd, unpriced.cost_unknown) == (0.0, True)

    gateway.budgets.set("ws1", monthly_usd=0.0025)
    with pytest.raises(BudgetExceededError) as info:  # 0.002 spent + (prompt + 1000 max tokens) priced
        gateway.generate(USER, Step, purpose="refine", workspace_id="ws1", model="fake/priced", max_tokens=1000)
    assert info.value.details["limit"] == "monthly_usd"


def test_default_local_handler_reports_a_missing_local_model(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    previous = set_local_handler(None)
    monkeypatch.setitem(sys.modules, "app.copilot.local_model", None)  # import fails as if absent
    try:
        with pytest.raises(LocalModelNotInstalledError) as info:
            gateway.generate(USER, Step, purpose="generate", workspace_id="ws1")
    finally:
        set_local_handler(previous)
    assert info.value.code == "local_model_not_installed"


async def test_async_variants_run_off_the_event_loop(gateway: Gateway, local_answers: list[Any]) -> None:
    result, text = await asyncio.gather(
        gateway.agenerate(USER, Step, purpose="generate", workspace_id="ws1"),
        gateway.acomplete(USER, purpose="generate", workspace_id="ws1"),
    )
    assert result.value.name == "local" and text.text == "plain answer"
    assert len(gateway.tracker.rows()) == 2


class Reminder(BaseModel):
    to: str
    day: str


@pytest.fixture(scope="module")
def embedder() -> Any:
    from app.llm.embeddings import MiniLMEmbedder

    return MiniLMEmbedder()


def test_semantic_cache_serves_validated_answers_and_records_hits(tmp_path: Path, clock: FakeClock, fake: FakeModel,
                                                                  embedder: Any) -> None:
    from app.llm.semantic_cache import SemanticCache

    config = Settings(data_dir=tmp_path)
    cache = SemanticCache(tmp_path, embedder)
    gateway = Gateway(config, make_engine(config.resolved_database_url), cache=cache, sleep=clock.sleep, clock=clock)
    ask = "email alice@x.com every Monday"
    fake.enqueue(FakeReply('{"to": "alice@x.com", "day": "monday"}', prompt_tokens=400, completion_tokens=40))
    first = gateway.generate([{"role": "user", "content": ask}], Reminder, purpose="generate", workspace_id="ws1",
                             model="fake/m", template=("copilot", 3))
    assert not first.cache_hit

    again = gateway.generate([{"role": "user", "content": "Email alice@x.com every Monday."}], Reminder,
                             purpose="generate", workspace_id="ws1", model="fake/m", template=("copilot", 3))
    assert again.cache_hit and again.attempts == 0 and again.cost_usd == 0.0
    assert again.value.to == "alice@x.com"
    assert len(fake.requests) == 1  # served without a provider call
    hit_row = gateway.tracker.rows(call_id=again.call_id)[0]
    assert (hit_row.outcome, hit_row.cache_hit, hit_row.saved_tokens, hit_row.prompt_tokens) == ("cache_hit", True, 440, 0)

    # other values, another template version, another workspace, or cache=False: the model is asked
    fake.enqueue(*['{"to": "bob@y.com", "day": "friday"}'] * 4)
    other = gateway.generate([{"role": "user", "content": "email bob@y.com every Friday"}], Reminder,
                             purpose="generate", workspace_id="ws1", model="fake/m", template=("copilot", 3))
    assert not other.cache_hit or other.value.to == "bob@y.com"
    for kwargs in ({"template": ("copilot", 4)}, {"workspace_id": "ws2", "template": ("copilot", 3)},
                   {"template": ("copilot", 3), "cache": False}):
        call: dict[str, Any] = {"workspace_id": "ws1", **kwargs}
        result = gateway.generate([{"role": "user", "content": ask}], Reminder, purpose="generate", model="fake/m", **call)
        assert not result.cache_hit
    assert [line.cache_hits for line in gateway.tracker.summary()] == [1]

    # a gateway that meets a new template version retires the entries of the old one
    entries = cache.stats().entries
    fresh = Gateway(config, make_engine(config.resolved_database_url), cache=cache, sleep=clock.sleep, clock=clock)
    fake.enqueue('{"to": "alice@x.com", "day": "monday"}')
    fresh.generate([{"role": "user", "content": ask}], Reminder, purpose="generate", workspace_id="ws1",
                   model="fake/m", template=("copilot", 5))
    assert cache.stats().entries < entries

    # only validated answers are stored
    stored = cache.stats().entries
    fake.enqueue(*['{"name": "x", "count": 0}'] * 2)
    with pytest.raises(ModelOutputInvalidError):
        gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m", max_retries=1)
    assert cache.stats().entries == stored



def test_a_real_provider_path_over_loopback_http(tmp_path: Path, clock: FakeClock) -> None:
    """openai/gpt-4o-mini through litellm's real OpenAI client against a loopback server: a 429 with
    Retry-After from real HTTP headers, then a tool call; the price comes from litellm's cost map."""
    stub = OpenAIStub([
        (429, {"retry-after": "3"}, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
        (200, {}, tool_call_completion("Step", {"name": "real", "count": 4})),
        (401, {}, {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}),
    ])
    try:
        gateway = make_gateway(tmp_path, clock, model="openai/gpt-4o-mini", model_api_base=stub.url,
                               model_api_key="sk-test", allow_model_requests=True)
        result = gateway.generate(USER, Step, purpose="generate", workspace_id="ws1")
        assert result.value.model_dump() == {"name": "real", "count": 4}
        assert clock.sleeps == [3.0]
        assert [r.outcome for r in gateway.tracker.rows()] == ["model_rate_limited", "ok"]
        assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (1000, 100)
        assert result.cost_usd > 0 and result.cost_unknown is False
        sent = stub.requests[-1]
        assert sent["path"].endswith("/chat/completions") and sent["auth"] == "Bearer sk-test"
        assert sent["json"]["tools"][0]["function"]["name"] == "Step"
        assert not {"_skip_mcp_handler", "max_retries", "timeout"} & set(sent["json"])
        with pytest.raises(ModelAuthError):
            gateway.generate(USER, Step, purpose="generate", workspace_id="ws1")
        assert len(stub.requests) == 3  # the auth error was not retried
    finally:
        stub.close()


@pytest.mark.parametrize(("strict", "setting", "expected"), [(True, True, True), (True, False, None), (False, True, None)])
def test_strict_output_flags_the_tool_when_the_caller_says_its_schema_keeps_the_rules(
        tmp_path: Path, clock: FakeClock, fake: FakeModel, strict: bool, setting: bool, expected: bool | None) -> None:
    gateway = make_gateway(tmp_path, clock, model_strict_output=setting)
    fake.enqueue('{"name": "a", "count": 0}', '{"name": "a", "count": 2}')
    gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m", strict=strict,
                     validation_context={"minimum": 2})
    for request in fake.requests:  # the re-ask too
        assert request.optional_params["tools"][0]["function"].get("strict") is expected
    fake.enqueue('{"name": "b", "count": 3}')
    gateway.generate(USER, Step, purpose="generate", workspace_id="ws1", model="fake/m")
    assert "strict" not in fake.requests[-1].optional_params["tools"][0]["function"]  # instructor's cached schema is intact


def test_validation_context_never_renders_messages_as_templates(gateway: Gateway, fake: FakeModel) -> None:
    text = "post {{ trigger.body.name }} and {% raw %}literal{% endraw %} to #sales"
    fake.enqueue(FakeReply('{"name": "a", "count": 5}'))
    gateway.generate([{"role": "user", "content": text}], Step, purpose="generate", workspace_id="ws1",
                     model="fake/m", validation_context={"minimum": 2})
    assert fake.requests[0].messages[-1]["content"] == text


def test_provider_error_texts_never_carry_keys() -> None:
    from app.llm.backoff import redact_provider_text

    text = "GeminiException https://g.example/v1:generate?key=AIzaSyA1234567890abcdefghij&alt=sse: sk-proj-abcdefghijkl"
    cleaned = redact_provider_text(text, "explicit-secret-123") + redact_provider_text("x explicit-secret-123", "explicit-secret-123")
    assert "AIzaSy" not in cleaned and "sk-proj-abcdefghijkl" not in cleaned and "explicit-secret-123" not in cleaned
    assert "key=***" in cleaned
