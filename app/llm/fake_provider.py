"""``fake/<anything>``: a scripted model for tests, registered with litellm as a custom provider.

Tests enqueue what the model answers, in order, and every call goes through the real litellm and
instructor code (exception mapping, tool-call parsing, validation re-asks)::

    fake = fake_model()
    fake.enqueue(FakeModel.rate_limited(retry_after=0.5), '{"name": "x"}')

An item is a string (the answer: a tool call's arguments when the request carries tools, plain
content otherwise), a dict or list (JSON-encoded), a :class:`FakeReply` (to fix the usage), or an
exception (raised as the provider's error). ``requests`` records what was sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import litellm
from litellm import exceptions as litellm_errors
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import ModelResponse

from app.llm.local_provider import build_response, count_prompt_tokens, count_text_tokens, request_schema


@dataclass(frozen=True)
class FakeReply:
    """An answer with optional fixed token counts (otherwise counted like the local model)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class FakeRequest:
    model: str
    messages: list[dict[str, Any]]
    optional_params: dict[str, Any] = field(default_factory=dict)

    @property
    def schema(self) -> dict[str, Any] | None:
        return request_schema(self.messages, self.optional_params)[0]


class FakeModelExhaustedError(RuntimeError):
    """The test asked the fake model more often than it enqueued answers."""


def _http_response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {},
                          request=httpx.Request("POST", "https://fake.invalid/v1/chat/completions"))


class FakeModel(CustomLLM):
    """litellm custom provider ``fake``: answers from a queue."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[Any] = deque()
        self._lock = threading.Lock()
        self.requests: list[FakeRequest] = []

    def enqueue(self, *items: str | dict[str, Any] | list[Any] | FakeReply | BaseException) -> FakeModel:
        with self._lock:
            self._queue.extend(items)
        return self

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    @property
    def pending(self) -> int:
        return len(self._queue)

    @staticmethod
    def set_price(model: str, *, input_per_token: float, output_per_token: float) -> None:
        """Give a ``fake/…`` model a price in litellm's cost map (to test cost tracking and USD budgets)."""
        litellm.register_model({model: {"input_cost_per_token": input_per_token,
                                        "output_cost_per_token": output_per_token,
                                        "litellm_provider": "fake", "mode": "chat"}})

    # -- provider errors, shaped as litellm raises them for real providers ----------------------

    @staticmethod
    def rate_limited(retry_after: float | None = None, *, header: str = "retry-after") -> litellm_errors.RateLimitError:
        headers = {header: f"{retry_after:g}"} if retry_after is not None else {}
        return litellm_errors.RateLimitError("rate limit reached", llm_provider="fake", model="fake",
                                      response=_http_response(429, headers))

    @staticmethod
    def overloaded(status: int = 529) -> Exception:
        if status == 503:
            return litellm_errors.ServiceUnavailableError("service unavailable", llm_provider="fake", model="fake",
                                                   response=_http_response(503))
        return litellm_errors.InternalServerError("overloaded", llm_provider="fake", model="fake",
                                           response=_http_response(status))

    @staticmethod
    def timeout() -> litellm_errors.Timeout:
        return litellm_errors.Timeout("request timed out", model="fake", llm_provider="fake")

    @staticmethod
    def auth_error() -> litellm_errors.AuthenticationError:
        return litellm_errors.AuthenticationError("invalid api key", llm_provider="fake", model="fake",
                                           response=_http_response(401))

    @staticmethod
    def bad_request() -> litellm_errors.BadRequestError:
        return litellm_errors.BadRequestError("bad request", model="fake", llm_provider="fake",
                                       response=_http_response(400))

    # -- litellm entry points ---------------------------------------------------------------------

    def completion(self, model: str, messages: list[dict[str, Any]], *_args: Any,
                   optional_params: dict[str, Any] | None = None, **_kwargs: Any) -> ModelResponse:
        optional_params = optional_params or {}
        full_model = f"fake/{model}"
        with self._lock:
            self.requests.append(FakeRequest(full_model, [dict(m) for m in messages], dict(optional_params)))
            if not self._queue:
                raise FakeModelExhaustedError(f"fake model asked {len(self.requests)} times; enqueue more answers")
            item = self._queue.popleft()
        if isinstance(item, BaseException):
            raise item
        reply = item if isinstance(item, FakeReply) else FakeReply(
            item if isinstance(item, str) else json.dumps(item))
        _, tool_name = request_schema(messages, optional_params)
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = count_prompt_tokens(full_model, messages, optional_params)
        completion = reply.completion_tokens
        if completion is None:
            completion = count_text_tokens(full_model, reply.text)
        return build_response(full_model, reply.text, tool_name, prompt_tokens=prompt, completion_tokens=completion)

    async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:
        return await asyncio.to_thread(self.completion, *args, **kwargs)


_FAKE = FakeModel()


def fake_model() -> FakeModel:
    """The fake provider instance registered with litellm (answers every ``fake/…`` model)."""
    return _FAKE
