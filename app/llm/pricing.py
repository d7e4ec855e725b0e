"""Prices from litellm's bundled cost map (never downloaded). The local model is free; a model the
map does not know costs 0 and is flagged ``cost_unknown``."""

from __future__ import annotations

from typing import Any

from app.llm.providers import LOCAL_PROVIDER, load_litellm, provider_of


def price(model: str, prompt_tokens: int, completion_tokens: int, usage: Any = None) -> tuple[float, bool]:
    """``(cost_usd, cost_unknown)`` of a request (``usage``: litellm's Usage, for cached-token prices)."""
    if provider_of(model) == LOCAL_PROVIDER:
        return 0.0, False
    litellm = load_litellm()
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, usage_object=usage,
        )
    except Exception:  # litellm raises several types for unmapped models; all mean "unknown price"
        return 0.0, True
    return float(prompt_cost) + float(completion_cost), False
