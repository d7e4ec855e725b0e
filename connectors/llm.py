"""The ``llm`` connector: complete, classify, extract, summarize — through the model gateway.

``connectors/`` never imports litellm: the app hands in a :class:`ModelService` as
``ctx.services.model`` (``app/llm`` implements it on the gateway, so token and cost tracking,
budgets, backoff and the semantic cache apply to these steps too). Without one, the steps use
``connectors.llm_local.LocalHeuristics`` — deterministic text heuristics, not a language model;
every output names the ``model`` that produced it so nobody mistakes one for the other.

Every call passes ``ctx_meta``: ``workspace_id``, ``execution_id``, ``node_id``, ``connector``
and ``operation``, for attribution of usage and cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.contract import AuthType, Connector, Operation, OperationContext, RateLimit
from connectors.errors import ConnectorError
from connectors.services import ModelService
from engine.errors import FlowwrightError


def _service(ctx: OperationContext) -> ModelService:
    service = ctx.services.model
    if service is not None:
        return service
    from connectors.llm_local import LocalHeuristics

    return LocalHeuristics()


def _meta(ctx: OperationContext, operation: str) -> dict[str, Any]:
    return {"workspace_id": ctx.workspace_id, "execution_id": ctx.execution_id, "node_id": ctx.node_id,
            "connector": "llm", "operation": operation}


async def _call(coro: Any, operation: str) -> Any:
    """Await a model call; gateway errors become connector errors with the same code."""
    try:
        return await coro
    except ConnectorError:
        raise
    except FlowwrightError as exc:
        raise ConnectorError(f"llm.{operation}: {exc.message}", code=exc.code,
                             retryable=bool(getattr(exc, "retryable", False)), **exc.details) from exc


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompleteInput(_In):
    prompt: str = Field(min_length=1, max_length=200_000)
    system: str | None = Field(None, max_length=50_000, description="Instructions that frame the answer.")
    max_tokens: int | None = Field(None, ge=1, le=32_000)
    temperature: float | None = Field(None, ge=0, le=2)


class CompleteOutput(BaseModel):
    text: str
    model: str


class ClassifyInput(_In):
    text: str = Field(min_length=1, max_length=200_000)
    labels: list[str] = Field(min_length=2, max_length=100, description="The possible labels; the answer is one of them.")
    instructions: str | None = Field(None, max_length=10_000)

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[str]) -> list[str]:
        cleaned = [label.strip() for label in labels]
        if any(not label for label in cleaned):
            raise ValueError("labels may not be empty")
        if len({label.lower() for label in cleaned}) != len(cleaned):
            raise ValueError("labels must be distinct")
        return cleaned


class ClassifyOutput(BaseModel):
    label: str
    model: str


class ExtractInput(_In):
    text: str = Field(min_length=1, max_length=200_000)
    fields: dict[str, str] = Field(min_length=1, max_length=50,
                                   description="Field name -> what it is (e.g. {'email': 'the sender email'}).")


class ExtractOutput(BaseModel):
    data: dict[str, Any] = Field(description="Each requested field, null when not found.")
    model: str


class SummarizeInput(_In):
    text: str = Field(min_length=1, max_length=500_000)
    max_words: int = Field(100, ge=5, le=2000)


class SummarizeOutput(BaseModel):
    summary: str
    model: str


def _name(service: Any) -> str:
    return str(getattr(service, "name", None) or type(service).__name__)


async def _complete(inp: CompleteInput, ctx: OperationContext) -> CompleteOutput:
    service = _service(ctx)
    text = await _call(service.complete(inp.prompt, system=inp.system, max_tokens=inp.max_tokens,
                                        temperature=inp.temperature, ctx_meta=_meta(ctx, "complete")), "complete")
    return CompleteOutput(text=str(text), model=_name(service))


async def _classify(inp: ClassifyInput, ctx: OperationContext) -> ClassifyOutput:
    service = _service(ctx)
    answer = await _call(service.classify(inp.text, inp.labels, instructions=inp.instructions,
                                          ctx_meta=_meta(ctx, "classify")), "classify")
    wanted = " ".join(str(answer).split()).strip(" .'\"").lower()
    for label in inp.labels:
        if label.lower() == wanted:
            return ClassifyOutput(label=label, model=_name(service))
    raise ConnectorError(f"llm.classify: the model answered {str(answer)[:80]!r}, which is not one of the labels",
                         code="llm_bad_output")


async def _extract(inp: ExtractInput, ctx: OperationContext) -> ExtractOutput:
    service = _service(ctx)
    found = await _call(service.extract(inp.text, inp.fields, ctx_meta=_meta(ctx, "extract")), "extract")
    if not isinstance(found, Mapping):
        raise ConnectorError("llm.extract: the model did not answer with an object", code="llm_bad_output")
    return ExtractOutput(data={name: found.get(name) for name in inp.fields}, model=_name(service))


async def _summarize(inp: SummarizeInput, ctx: OperationContext) -> SummarizeOutput:
    service = _service(ctx)
    summary = await _call(service.summarize(inp.text, inp.max_words, ctx_meta=_meta(ctx, "summarize")), "summarize")
    return SummarizeOutput(summary=str(summary), model=_name(service))


_LIMIT = RateLimit(requests=30, per_seconds=60.0)

CONNECTOR = Connector(
    name="llm",
    title="AI model",
    description="Ask the configured model to write, classify, extract fields or summarize — with the same "
    "budgets, cost tracking and cache as the copilot.",
    category="ai",
    icon="✨",
    auth=AuthType.NONE,
    operations=(
        Operation("complete", "Generate text for a `prompt` (optional `system` instructions, `max_tokens`).",
                  CompleteInput, CompleteOutput, _complete, idempotent=False, external=True, rate_limit=_LIMIT,
                  replay_safe=lambda _: True),  # a repeated completion costs tokens, it changes nothing
        Operation("classify", "Pick exactly one of `labels` for `text` (e.g. urgent / normal / spam).",
                  ClassifyInput, ClassifyOutput, _classify, idempotent=True, external=True, rate_limit=_LIMIT),
        Operation("extract", "Pull named `fields` (name -> description) out of `text`; missing ones are null.",
                  ExtractInput, ExtractOutput, _extract, idempotent=True, external=True, rate_limit=_LIMIT),
        Operation("summarize", "Summarize `text` in at most `max_words` words.",
                  SummarizeInput, SummarizeOutput, _summarize, idempotent=True, external=True, rate_limit=_LIMIT),
    ),
)
