"""The cost model's rates (a setting: ``FLOWWRIGHT_INSIGHTS_COST_RATES``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CostRates(BaseModel):
    """The seeds' cost model: base + per node + per second + per external call + per 1K tokens (USD).

    Set with ``FLOWWRIGHT_INSIGHTS_COST_RATES='{"per_external_call": 0.002}'``.
    """

    base: float = Field(0.0, ge=0, description="Per execution.")
    per_node: float = Field(0.0001, ge=0, description="Per node run.")
    per_second: float = Field(0.00001, ge=0, description="Per second of node work (waits by design excluded).")
    per_external_call: float = Field(0.001, ge=0, description="Per attempt of a step that reaches another host.")
    per_1k_tokens: float = Field(0.002, ge=0, description="Per 1,000 model tokens.")
