"""The ``ModelService`` of the ``llm`` connector (``connectors.llm``), implemented on the gateway.

Each operation is one gateway call with purpose ``llm-node``, attributed to the step's workspace,
so usage, cost, budgets, backoff and the kill switch apply to workflow steps exactly as to the
copilot. The first system message starts with ``[flowwright:task=<operation>]`` so the local model
knows which task it is doing; hosted models read the plain-language instructions after it.

classify and extract are structured calls (instructor + validation re-asks): classify's response
model has a ``label`` restricted to the labels (a JSON Schema ``enum``), extract's has one optional
property per requested field. The semantic cache is not used for steps: two texts that embed
closely can still deserve different labels or field values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from app.llm.gateway import Gateway

PURPOSE = "llm-node"
TEMPLATE_VERSION = 1


def _tag(task: str, instructions: str) -> dict[str, str]:
    return {"role": "system", "content": f"[flowwright:task={task}] {instructions}".rstrip()}


def _attribution(ctx_meta: Mapping[str, Any]) -> dict[str, Any]:
    return {"workspace_id": str(ctx_meta.get("workspace_id") or "default"),
            "workflow_id": ctx_meta.get("workflow_id"), "user_id": ctx_meta.get("user_id"),
            "execution_id": ctx_meta.get("execution_id"), "node_id": ctx_meta.get("node_id")}


def classification_model(labels: Sequence[str]) -> type[BaseModel]:
    """``{"label": one of labels}`` as a pydantic model (its JSON Schema lists the labels as an enum)."""
    label_type: Any = Literal[tuple(labels)]
    return create_model("Classification", label=(label_type, Field(description="Exactly one of the labels.")))


def extraction_model(fields: Mapping[str, str]) -> type[BaseModel]:
    """One optional property per field (names kept as given through aliases; null when not found)."""
    definitions: dict[str, Any] = {
        f"field_{i}": (Any, Field(None, alias=name, description=description or name))
        for i, (name, description) in enumerate(fields.items())
    }
    return create_model("Extraction", __config__=ConfigDict(populate_by_name=True, extra="ignore"),
                        **definitions)


class GatewayModelService:
    """``connectors.llm.ModelService`` over a :class:`Gateway` (async: calls run in a worker thread)."""

    def __init__(self, gateway: Gateway, *, model: str | None = None) -> None:
        self.gateway = gateway
        self._model = model

    @property
    def name(self) -> str:
        return self._model or self.gateway.model

    async def complete(self, prompt: str, *, system: str | None = None, max_tokens: int | None = None,
                       temperature: float | None = None, ctx_meta: Mapping[str, Any]) -> str:
        messages = [_tag("complete", system or "Answer the request."), {"role": "user", "content": prompt}]
        result = await self.gateway.acomplete(
            messages, purpose=PURPOSE, template=("llm.complete", TEMPLATE_VERSION), model=self._model,
            max_tokens=max_tokens, temperature=temperature, **_attribution(ctx_meta))
        return result.text

    async def classify(self, text: str, labels: Sequence[str], *, instructions: str | None = None,
                       ctx_meta: Mapping[str, Any]) -> str:
        listed = ", ".join(labels)
        system = f"Classify the text into exactly one of the labels.\nlabels: {listed}"
        if instructions:
            system += f"\n{instructions}"
        result = await self.gateway.agenerate(
            [_tag("classify", system), {"role": "user", "content": text}], classification_model(labels),
            purpose=PURPOSE, template=("llm.classify", TEMPLATE_VERSION), model=self._model, cache=False,
            **_attribution(ctx_meta))
        return str(result.value.label)  # type: ignore[attr-defined]

    async def extract(self, text: str, fields: Mapping[str, str], *, ctx_meta: Mapping[str, Any]) -> dict[str, Any]:
        described = "\n".join(f"- {name}: {description}" for name, description in fields.items())
        system = ("Extract these fields from the text; use null for a field the text does not contain.\n"
                  f"fields: {', '.join(fields)}\n{described}")
        result = await self.gateway.agenerate(
            [_tag("extract", system), {"role": "user", "content": text}], extraction_model(fields),
            purpose=PURPOSE, template=("llm.extract", TEMPLATE_VERSION), model=self._model, cache=False,
            **_attribution(ctx_meta))
        data: dict[str, Any] = result.value.model_dump(by_alias=True)
        return {name: data.get(name) for name in fields}

    async def summarize(self, text: str, max_words: int, *, ctx_meta: Mapping[str, Any]) -> str:
        system = f"Summarize the text in at most {max_words} words."
        result = await self.gateway.acomplete(
            [_tag("summarize", system), {"role": "user", "content": text}], purpose=PURPOSE,
            template=("llm.summarize", TEMPLATE_VERSION), model=self._model,
            max_tokens=max(64, max_words * 3), **_attribution(ctx_meta))
        return result.text
