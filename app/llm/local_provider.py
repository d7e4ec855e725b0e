"""``local/flowwright-planner``: the built-in offline model, registered with litellm as a custom provider.

The provider is plumbing only; the intelligence is a *handler*::

    def respond(messages: list[dict], response_schema: dict | None) -> str

which returns JSON text when a schema is given and plain text otherwise. The default handler is
``app.copilot.local_model.respond`` (imported lazily; if that module is absent, calls fail with
``local_model_not_installed``). ``set_local_handler(fn)`` plugs another one (tests, the app).

How the schema reaches the handler. The gateway drives instructor in ``TOOLS`` mode, so the
response schema arrives as a clean JSON Schema in ``tools[0].function.parameters`` and the answer
goes back as a tool call named after the tool, exactly as OpenAI would answer. ``JSON`` and
``MD_JSON`` modes (selectable with ``FLOWWRIGHT_MODEL_STRUCTURED_MODE``) embed the schema in the
system prompt as text; the provider then recovers it from after instructor's ``json_schema:``
marker and answers with plain content. Tasks of llm nodes (complete/classify/extract/summarize)
carry a first system message starting with ``[flowwright:task=<name>]`` so a handler can dispatch.

Token counts are honest, not invented: litellm's ``token_counter`` with tiktoken's ``cl100k_base``
(bundled with litellm, no download) over the messages and tools sent, and over the text returned.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import threading
from collections.abc import Callable
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import ModelResponse, Usage

from app.llm.errors import LocalModelNotInstalledError

LocalHandler = Callable[[list[dict[str, Any]], dict[str, Any] | None], str]

LOCAL_MODEL = "local/flowwright-planner"
TASK_TAG = re.compile(r"^\[flowwright:task=([a-z_][a-z0-9_-]*)\]")
_SCHEMA_MARKER = "json_schema:"


def task_of(messages: list[dict[str, Any]]) -> str | None:
    """The ``[flowwright:task=<name>]`` tag of the first system message, if any."""
    if messages and messages[0].get("role") == "system":
        match = TASK_TAG.match(_text_of(messages[0]))
        if match:
            return match.group(1)
    return None


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def request_schema(messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The response JSON Schema a request asks for, and the tool name to answer with (tools mode)."""
    tools = optional_params.get("tools") or []
    if tools:
        chosen = optional_params.get("tool_choice")
        name = chosen.get("function", {}).get("name") if isinstance(chosen, dict) else None
        for tool in tools:
            function = tool.get("function", {})
            if name is None or function.get("name") == name:
                return dict(function.get("parameters") or {}), function.get("name")
    for message in messages:
        if message.get("role") != "system":
            continue
        text = _text_of(message)
        at = text.find(_SCHEMA_MARKER)
        if at < 0:
            continue
        brace = text.find("{", at)
        if brace < 0:
            continue
        try:
            schema, _ = json.JSONDecoder().raw_decode(text[brace:])
        except json.JSONDecodeError:
            continue
        if isinstance(schema, dict):
            return schema, None
    response_format = optional_params.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        return dict(response_format.get("json_schema", {}).get("schema") or {}), None
    return None, None


def count_prompt_tokens(model: str, messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> int:
    """Tokens of the request (messages and tool definitions) with litellm's tokenizer."""
    return int(litellm.token_counter(model=model, messages=messages, tools=optional_params.get("tools")))


def count_text_tokens(model: str, text: str) -> int:
    return int(litellm.token_counter(model=model, text=text, count_response_tokens=True)) if text else 0


def build_response(
    model: str, text: str, tool_name: str | None, *, prompt_tokens: int, completion_tokens: int,
) -> ModelResponse:
    """An OpenAI-shaped ``ModelResponse``: a tool call when answering a tool, plain content otherwise."""
    if tool_name is not None:
        message: dict[str, Any] = {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": tool_name, "arguments": text}}],
        }
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": text}
        finish = "stop"
    return ModelResponse(
        choices=[{"index": 0, "message": message, "finish_reason": finish}],
        model=model,
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                            total_tokens=prompt_tokens + completion_tokens),
    )


def default_handler(messages: list[dict[str, Any]], response_schema: dict[str, Any] | None) -> str:
    """``app.copilot.local_model.respond``, imported on first use."""
    try:
        local_model = importlib.import_module("app.copilot.local_model")
    except ModuleNotFoundError as exc:
        if exc.name not in {"app.copilot.local_model", "app.copilot"}:
            raise
        raise LocalModelNotInstalledError(
            "local model not installed: app.copilot.local_model is missing", model=LOCAL_MODEL
        ) from exc
    return str(local_model.respond(messages, response_schema))


class LocalProvider(CustomLLM):
    """litellm custom provider ``local``: hands the request to the handler, wraps its answer."""

    def __init__(self) -> None:
        super().__init__()
        self._handler: LocalHandler = default_handler
        self._lock = threading.Lock()

    @property
    def handler(self) -> LocalHandler:
        return self._handler

    def set_handler(self, handler: LocalHandler | None) -> LocalHandler:
        """Install ``handler`` (``None``: the default); returns the previous one so callers can restore it."""
        with self._lock:
            previous, self._handler = self._handler, handler or default_handler
        return previous

    def completion(self, model: str, messages: list[dict[str, Any]], *_args: Any,
                   optional_params: dict[str, Any] | None = None, **_kwargs: Any) -> ModelResponse:
        optional_params = optional_params or {}
        schema, tool_name = request_schema(messages, optional_params)
        text = self._handler([dict(m) for m in messages], schema)
        full_model = f"local/{model}"
        return build_response(
            full_model, text, tool_name,
            prompt_tokens=count_prompt_tokens(full_model, messages, optional_params),
            completion_tokens=count_text_tokens(full_model, text),
        )

    async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:
        return await asyncio.to_thread(self.completion, *args, **kwargs)


_PROVIDER = LocalProvider()


def local_provider() -> LocalProvider:
    """The provider instance registered with litellm."""
    return _PROVIDER


def set_local_handler(handler: LocalHandler | None) -> LocalHandler:
    """Plug the function that answers for ``local/…`` models; ``None`` restores the default.

    Returns the previous handler."""
    return _PROVIDER.set_handler(handler)
