"""The model gateway: every model call in Flowwright goes through ``Gateway.generate`` or ``.complete``.

Path of a structured call::

    semantic cache lookup ─hit─> validated value (a zero-cost usage row with the tokens saved)
        │ miss
        ▼
    instructor (TOOLS mode by default; re-asks with the validation errors, ``max_retries`` times)
        │ each attempt calls ``Gateway._send``:
        ▼
    kill switch → budget check (estimate = prompt tokens + max_tokens) → litellm.completion
        with tenacity backoff on 429 / overloaded / timeouts (Retry-After honoured), bounded by
        the call's deadline → one usage row per provider request (cost from litellm's price map)
        │
        ▼
    validated value stored in the semantic cache

Errors are typed (``app.llm.errors``) with stable codes. litellm and instructor are imported on
first use, never at module import, so importing this module is cheap.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from app.llm.backoff import BackoffWait, is_transient, redact_provider_text, stop_at_deadline, typed_error
from app.llm.budgets import BudgetStore, Estimate
from app.llm.errors import ModelError, ModelOutputInvalidError, ModelTimeoutError
from app.llm.killswitch import ensure_allowed
from app.llm.pricing import price
from app.llm.providers import LOCAL_PROVIDER, OFFLINE_PROVIDERS, load_litellm, provider_of
from app.llm.tracker import UsageRow, UsageTracker

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from app.settings import Settings

T = TypeVar("T", bound=BaseModel)
Message = dict[str, Any]
MAX_TRANSPORT_ATTEMPTS = 8  # per instructor attempt; the deadline usually stops retries first


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, int]:
        return {"gen_ai.usage.input_tokens": self.prompt_tokens, "gen_ai.usage.output_tokens": self.completion_tokens,
                "cached_tokens": self.cached_tokens, "total_tokens": self.total_tokens}


@dataclass(frozen=True)
class GenerateResult(Generic[T]):
    """A validated structured answer and what it took to get it."""

    value: T
    raw: Any  # the last litellm ModelResponse; None on a cache hit
    attempts: int  # provider requests made (0 on a cache hit)
    usage: Usage  # summed over every attempt
    cost_usd: float
    cost_unknown: bool
    cache_hit: bool
    latency_ms: float
    model: str
    call_id: str


@dataclass(frozen=True)
class CompletionResult:
    """A plain-text answer and what it took to get it."""

    text: str
    raw: Any
    attempts: int
    usage: Usage
    cost_usd: float
    cost_unknown: bool
    latency_ms: float
    model: str
    call_id: str
    cache_hit: bool = False


class SemanticCacheLike(Protocol):
    """What the gateway needs from ``app.llm.semantic_cache.SemanticCache``."""

    def lookup(self, partition: dict[str, Any], text: str,
               validate: Callable[[str], bool] | None = None) -> Any: ...

    def store(self, partition: dict[str, Any], text: str, value_json: str, *, usage_tokens: int = 0) -> Any: ...


class LazyCache:
    """A semantic cache opened on the first call that uses it: the gateway is built at start-up,
    but chroma and the embedder load only when a cached call comes (the llm steps never ask)."""

    def __init__(self, open_cache: Callable[[], SemanticCacheLike | None]) -> None:
        self._open = open_cache
        self._cache: SemanticCacheLike | None = None
        self._opened = False

    def _get(self) -> SemanticCacheLike | None:
        if not self._opened:
            self._cache, self._opened = self._open(), True
        return self._cache

    def lookup(self, partition: dict[str, Any], text: str, validate: Callable[[str], bool] | None = None) -> Any:
        """The cached answer for ``text`` in ``partition`` (``None`` on a miss)."""
        cache = self._get()
        return None if cache is None else cache.lookup(partition, text, validate)

    def store(self, partition: dict[str, Any], text: str, value_json: str, *, usage_tokens: int = 0) -> Any:
        """Keep ``value_json`` as the answer for ``text``."""
        cache = self._get()
        return None if cache is None else cache.store(partition, text, value_json, usage_tokens=usage_tokens)

    def open(self) -> None:
        """Open the cache now (a service warming up), not on the first call."""
        self._get()

    def invalidate_template(self, name: str, keep_version: str | int | None = None) -> int:
        """Drop the entries of ``name``'s other template versions."""
        invalidate = getattr(self._get(), "invalidate_template", None)
        return int(invalidate(name, keep_version)) if invalidate is not None else 0


@dataclass
class _Call:
    """State of one gateway call, shared by its attempts (held in a context variable)."""

    call_id: str
    model: str
    purpose: str
    workspace_id: str
    user_id: str | None
    conversation_id: str | None
    workflow_id: str | None
    execution_id: str | None
    node_id: str | None
    template: str | None
    deadline: float
    max_tokens: int
    strict: bool = False  # the response schema keeps OpenAI's strict rules: ask the provider to hold to it
    rows: list[UsageRow] = field(default_factory=list)
    error: ModelError | None = None
    last_parse_error: str | None = None

    def row(self, **values: Any) -> UsageRow:
        return UsageRow(call_id=self.call_id, workspace_id=self.workspace_id, user_id=self.user_id,
                        conversation_id=self.conversation_id, workflow_id=self.workflow_id,
                        execution_id=self.execution_id, node_id=self.node_id, purpose=self.purpose,
                        model=self.model, template=self.template, attempt=len(self.rows) + 1, **values)

    def spent(self) -> Estimate:
        return Estimate(tokens=sum(r.total_tokens for r in self.rows), cost_usd=sum(r.cost_usd for r in self.rows))


_current_call: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("flowwright_llm_call", default=None)


def _request_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


class Gateway:
    """The one door to models. Collaborators come in through the constructor.

    Args:
        settings: model name, API base/key, timeouts, deadline, defaults, kill switch.
        engine: the SQLAlchemy engine holding the usage and budget tables (created here).
        cache: the semantic cache (``None``: no caching).
        sleep, clock: injectable for tests (backoff sleeps, deadline arithmetic).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        cache: SemanticCacheLike | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.tracker = UsageTracker(engine)
        self.budgets = BudgetStore(engine, self.tracker)
        self.cache = cache
        self._sleep = sleep
        self._clock = clock
        self._instructor: Any = None
        self._templates_seen: set[tuple[str, str | int]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Gateway:
        """A gateway on the settings' database (the semantic cache is passed in by the caller)."""
        from engine.db import make_engine

        settings.ensure_data_dir()
        return cls(settings, make_engine(settings.resolved_database_url), **kwargs)

    @property
    def model(self) -> str:
        return self.settings.model

    # -- public API ---------------------------------------------------------------------------------

    def generate(
        self,
        messages: Sequence[Message],
        response_model: type[T],
        *,
        purpose: str,
        workspace_id: str,
        user_id: str | None = None,
        conversation_id: str | None = None,
        workflow_id: str | None = None,
        execution_id: str | None = None,
        node_id: str | None = None,
        template: tuple[str, str | int] | None = None,
        max_retries: int = 2,
        validation_context: dict[str, Any] | None = None,
        cache: bool = True,
        entity_text: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        strict: bool = False,
    ) -> GenerateResult[T]:
        """A validated ``response_model`` instance for ``messages``.

        Validators on ``response_model`` (which see ``validation_context``) may raise to make the
        model try again with the error in its prompt, up to ``max_retries`` re-asks. With
        ``cache`` the semantic cache is consulted first (``entity_text``: the text whose concrete
        values must match, default the last user message) and a validated answer is stored.
        ``strict`` says ``response_model``'s schema keeps OpenAI's strict structured-output rules:
        in tools mode the tool is then sent with ``strict: true`` (unless
        ``FLOWWRIGHT_MODEL_STRICT_OUTPUT`` is off), so the provider holds the answer to the schema.

        Raises:
            BudgetExceededError, ModelRequestsBlockedError, ModelRateLimitedError, ModelTimeoutError,
            ModelAuthError, ModelBadRequestError, ModelOutputInvalidError, ... (all ``ModelError``).
        """
        started = self._clock()
        call = self._new_call(model, purpose, workspace_id, user_id, conversation_id, workflow_id, template, max_tokens,
                              execution_id=execution_id, node_id=node_id)
        call.strict = strict and self.settings.model_strict_output
        temperature = self.settings.model_temperature if temperature is None else temperature
        partition: dict[str, Any] = {}
        cache_text = entity_text if entity_text is not None else _request_text(messages)
        use_cache = cache and self.cache is not None and bool(cache_text)
        if use_cache:
            from app.llm.semantic_cache import make_partition

            if template is not None:
                self._retire_old_template_versions(template)

            partition = make_partition(
                model=call.model,
                params={"temperature": temperature, "max_tokens": call.max_tokens,
                        "mode": self.settings.model_structured_mode},
                template=template[0] if template else "", template_version=template[1] if template else "",
                response_schema=response_model, workspace=workspace_id,
            )
            hit = self._cache_lookup(partition, cache_text, response_model, validation_context)
            if hit is not None:
                value, saved_tokens = hit
                latency = (self._clock() - started) * 1000
                self.tracker.record([call.row(outcome="cache_hit", cache_hit=True, latency_ms=latency,
                                              saved_tokens=saved_tokens)])
                return GenerateResult(value=value, raw=None, attempts=0, usage=Usage(), cost_usd=0.0,
                                      cost_unknown=False, cache_hit=True, latency_ms=latency, model=call.model,
                                      call_id=call.call_id)

        client, mode_kwargs = self._instructor_client()
        from instructor.core.exceptions import InstructorRetryException
        from instructor.core.hooks import Hooks

        hooks = Hooks()
        hooks.on("parse:error", self._on_parse_error)
        token = _current_call.set(call)
        try:
            value, raw = client.chat.completions.create_with_completion(
                model=call.model, messages=_jinja_verbatim(messages) if validation_context else [dict(m) for m in messages],
                response_model=response_model,
                max_retries=max_retries, context=validation_context, hooks=hooks,
                max_tokens=call.max_tokens, temperature=temperature, **mode_kwargs, **self._endpoint_kwargs(call.model),
            )
        except InstructorRetryException as exc:
            if call.error is not None:
                raise call.error from exc
            raise ModelOutputInvalidError(
                f"{call.model}: the answer did not validate after {len(call.rows)} attempt(s): "
                f"{call.last_parse_error or exc}",
                model=call.model, attempts=len(call.rows), errors=call.last_parse_error,
                usage=self._usage(call).to_dict(), cost_usd=sum(r.cost_usd for r in call.rows),
            ) from exc
        except ModelError:
            raise
        except Exception as exc:
            if call.error is not None:
                raise call.error from exc
            raise typed_error(exc, call.model) from exc
        finally:
            _current_call.reset(token)
            self.tracker.record(call.rows)

        usage = self._usage(call)
        cost, unknown = sum(r.cost_usd for r in call.rows), any(r.cost_unknown for r in call.rows)
        if use_cache and self.cache is not None:
            # instructor returned it, so it passed the response model's validators: safe to store.
            self.cache.store(partition, cache_text, value.model_dump_json(), usage_tokens=usage.total_tokens)
        return GenerateResult(value=value, raw=raw, attempts=len(call.rows), usage=usage, cost_usd=cost,
                              cost_unknown=unknown, cache_hit=False,
                              latency_ms=(self._clock() - started) * 1000, model=call.model, call_id=call.call_id)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        purpose: str,
        workspace_id: str,
        user_id: str | None = None,
        conversation_id: str | None = None,
        workflow_id: str | None = None,
        execution_id: str | None = None,
        node_id: str | None = None,
        template: tuple[str, str | int] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> CompletionResult:
        """Plain text for ``messages`` (same tracking, budgets, backoff and kill switch; no cache)."""
        started = self._clock()
        call = self._new_call(model, purpose, workspace_id, user_id, conversation_id, workflow_id, template, max_tokens,
                              execution_id=execution_id, node_id=node_id)
        temperature = self.settings.model_temperature if temperature is None else temperature
        token = _current_call.set(call)
        try:
            raw = self._send(model=call.model, messages=[dict(m) for m in messages], max_tokens=call.max_tokens,
                             temperature=temperature, **self._endpoint_kwargs(call.model))
        finally:
            _current_call.reset(token)
            self.tracker.record(call.rows)
        text = raw.choices[0].message.content or ""
        return CompletionResult(
            text=text, raw=raw, attempts=len(call.rows), usage=self._usage(call),
            cost_usd=sum(r.cost_usd for r in call.rows), cost_unknown=any(r.cost_unknown for r in call.rows),
            latency_ms=(self._clock() - started) * 1000, model=call.model, call_id=call.call_id,
        )

    def warm_up(self, messages: Sequence[Message], response_model: type[BaseModel]) -> None:
        """Load what the first call would load (litellm and instructor, the semantic cache and its
        embedder, the built-in model's data, by answering ``messages`` once) without sending a request
        to a provider or recording usage: nothing is spent, so nothing is tracked."""
        self._instructor_client()
        if isinstance(self.cache, LazyCache):
            self.cache.open()
        if provider_of(self.model) == LOCAL_PROVIDER:
            from app.llm.local_provider import local_provider

            local_provider().handler([dict(m) for m in messages], response_model.model_json_schema())

    async def agenerate(self, messages: Sequence[Message], response_model: type[T], **kwargs: Any) -> GenerateResult[T]:
        """``generate`` in a worker thread (the provider call, SQLite and embeddings all block)."""
        return await asyncio.to_thread(functools.partial(self.generate, messages, response_model, **kwargs))

    async def acomplete(self, messages: Sequence[Message], **kwargs: Any) -> CompletionResult:
        """``complete`` in a worker thread."""
        return await asyncio.to_thread(self.complete, messages, **kwargs)

    def estimate_tokens(self, messages: Sequence[Message], *, model: str | None = None,
                        tools: list[dict[str, Any]] | None = None) -> int:
        """Prompt tokens of a request, counted with litellm's bundled tokenizers (no download)."""
        litellm = load_litellm()
        return int(litellm.token_counter(model=model or self.model, messages=list(messages), tools=tools))

    # -- internals ----------------------------------------------------------------------------------

    def _new_call(self, model: str | None, purpose: str, workspace_id: str, user_id: str | None,
                  conversation_id: str | None, workflow_id: str | None,
                  template: tuple[str, str | int] | None, max_tokens: int | None, *,
                  execution_id: str | None = None, node_id: str | None = None) -> _Call:
        return _Call(
            call_id=f"llm_{uuid.uuid4().hex[:20]}", model=model or self.model, purpose=purpose,
            workspace_id=workspace_id, user_id=user_id, conversation_id=conversation_id, workflow_id=workflow_id,
            execution_id=execution_id, node_id=node_id, template=f"{template[0]}@{template[1]}" if template else None,
            deadline=self._clock() + self.settings.model_deadline_s,
            max_tokens=max_tokens or self.settings.model_max_tokens,
        )

    def _instructor_client(self) -> tuple[Any, dict[str, Any]]:
        """The instructor client over ``_send`` (built once) and the per-call kwargs of the mode.

        TOOLS mode sends the schema as a function definition and reads a tool call back: the most
        reliable mode on OpenAI-compatible providers, and a clean JSON Schema for the local model.
        litellm 1.106 imports its MCP gateway (the optional ``mcp`` package) for any request with
        tools; ``_skip_mcp_handler`` skips that branch, which only serves MCP tool servers."""
        load_litellm()
        import instructor

        mode_name = self.settings.model_structured_mode
        mode = {"tools": instructor.Mode.TOOLS, "json": instructor.Mode.JSON, "md_json": instructor.Mode.MD_JSON}[mode_name]
        if self._instructor is None:
            self._instructor = instructor.from_litellm(self._send, mode=mode)
        return self._instructor, ({"_skip_mcp_handler": True} if mode_name == "tools" else {})

    def _endpoint_kwargs(self, model: str) -> dict[str, Any]:
        if provider_of(model) in OFFLINE_PROVIDERS:
            return {}
        kwargs: dict[str, Any] = {}
        if self.settings.model_api_base:
            kwargs["api_base"] = self.settings.model_api_base
        if self.settings.model_api_key:
            kwargs["api_key"] = self.settings.model_api_key
        return kwargs

    def _on_parse_error(self, error: Exception, **_: Any) -> None:
        call = _current_call.get()
        if call is None or not call.rows:
            return
        text = str(error)
        call.rows[-1].outcome = "parse_error"
        call.rows[-1].error = text[:2000]
        call.last_parse_error = text[:2000]

    def _send(self, **kwargs: Any) -> Any:
        """One instructor attempt: kill switch, budget, then litellm with backoff. Records each request."""
        call = _current_call.get()
        if call is None:  # pragma: no cover - only reachable by misuse
            raise RuntimeError("Gateway._send called outside a gateway call")
        try:
            return self._send_in(call, kwargs)
        except ModelError as exc:
            call.error = exc
            raise

    def _send_in(self, call: _Call, kwargs: dict[str, Any]) -> Any:
        litellm = load_litellm()
        model = kwargs["model"]
        ensure_allowed(model, allowed=self.settings.allow_model_requests)
        if call.strict and kwargs.get("tools"):
            kwargs["tools"] = _strict_tools(kwargs["tools"])
        prompt_estimate = int(litellm.token_counter(model=model, messages=kwargs["messages"], tools=kwargs.get("tools")))
        wanted_tokens = prompt_estimate + int(kwargs.get("max_tokens") or call.max_tokens)
        wanted_cost, _ = price(model, prompt_estimate, int(kwargs.get("max_tokens") or call.max_tokens))
        spent = call.spent()
        self.budgets.check(call.workspace_id, Estimate(tokens=wanted_tokens + spent.tokens,
                                                       cost_usd=wanted_cost + spent.cost_usd), model=model)

        from tenacity import Retrying, retry_if_exception

        retrying = Retrying(
            stop=stop_at_deadline(call.deadline, self._clock, MAX_TRANSPORT_ATTEMPTS),
            wait=BackoffWait(), retry=retry_if_exception(is_transient), sleep=self._sleep, reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    remaining = call.deadline - self._clock()
                    if remaining <= 0:
                        raise ModelTimeoutError(f"{model}: deadline of {self.settings.model_deadline_s:g}s passed",
                                                model=model, deadline_s=self.settings.model_deadline_s)
                    kwargs["timeout"] = min(self.settings.model_timeout_s, remaining)
                    kwargs["max_retries"] = 0  # no hidden retries in the provider SDK: the policy is here
                    return self._request(call, litellm, kwargs)
        except ModelError:
            raise
        except Exception as exc:
            raise typed_error(exc, model) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(self, call: _Call, litellm: Any, kwargs: dict[str, Any]) -> Any:
        model = kwargs["model"]
        started = time.perf_counter()
        try:
            response = litellm.completion(**kwargs)
        except Exception as exc:
            latency = (time.perf_counter() - started) * 1000
            typed = typed_error(exc, model)
            error_text = redact_provider_text(str(exc), self.settings.model_api_key)[:2000]
            call.rows.append(call.row(outcome=typed.code, error=error_text, latency_ms=latency))
            raise
        latency = (time.perf_counter() - started) * 1000
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", 0) or 0)
        cost, unknown = price(model, prompt, completion, usage)
        call.rows.append(call.row(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
                                  cost_usd=cost, cost_unknown=unknown, latency_ms=latency))
        return response

    @staticmethod
    def _usage(call: _Call) -> Usage:
        return Usage(prompt_tokens=sum(r.prompt_tokens for r in call.rows),
                     completion_tokens=sum(r.completion_tokens for r in call.rows),
                     cached_tokens=sum(r.cached_tokens for r in call.rows))

    # -- semantic cache -------------------------------------------------------------------------------

    def _retire_old_template_versions(self, template: tuple[str, str | int]) -> None:
        """The first time this gateway uses a template version, drop the cache entries of its other
        versions (they could never be served again: the version is part of the partition)."""
        if template in self._templates_seen or self.cache is None:
            return
        self._templates_seen.add(template)
        invalidate = getattr(self.cache, "invalidate_template", None)
        if invalidate is not None:
            invalidate(template[0], keep_version=template[1])

    def _cache_lookup(self, partition: dict[str, Any], text: str, response_model: type[T],
                      validation_context: dict[str, Any] | None) -> tuple[T, int] | None:
        assert self.cache is not None

        def validate(value_json: str) -> bool:
            try:
                response_model.model_validate_json(value_json, context=validation_context)
            except ValidationError:
                return False
            return True

        hit = self.cache.lookup(partition, text, validate)
        if hit is None:
            return None
        try:
            value = response_model.model_validate_json(hit.value_json, context=validation_context)
        except ValidationError:  # e.g. a validator that depends on this call's context refuses it
            return None
        return value, int(getattr(hit, "tokens_saved", 0) or 0)


def _strict_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tools with OpenAI's ``strict: true`` on each function (copies: instructor caches the
    schema dicts it builds). litellm passes the flag on to OpenAI-compatible APIs and leaves it out
    of the formats of providers that have none."""
    out = []
    for tool in tools:
        function = tool.get("function")
        out.append({**tool, "function": {**function, "strict": True}} if isinstance(function, Mapping) else dict(tool))
    return out


def _jinja_verbatim(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """instructor renders every message as a Jinja template when given a validation context;
    wrap text contents in ``{% raw %}`` so that workflow expressions (``{{ trigger.x }}``) and user
    text reach the model exactly as written."""
    out = []
    for message in messages:
        copy = dict(message)
        content = copy.get("content")
        if isinstance(content, str) and ("{" in content or "%" in content):
            escaped = content.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}")
            copy["content"] = "{% raw %}" + escaped + "{% endraw %}"
        out.append(copy)
    return out
