"""The kill switch: with ``FLOWWRIGHT_ALLOW_MODEL_REQUESTS=false`` (what the test suite sets) any call
to a real provider raises before anything is sent; only ``local/`` and ``fake/`` models answer."""

from __future__ import annotations

from app.llm.errors import ModelRequestsBlockedError
from app.llm.providers import OFFLINE_PROVIDERS, provider_of


def ensure_allowed(model: str, *, allowed: bool) -> None:
    """Raise ``ModelRequestsBlockedError`` unless real requests are allowed or ``model`` is offline."""
    if allowed or provider_of(model) in OFFLINE_PROVIDERS:
        return
    raise ModelRequestsBlockedError(
        f"refusing to call {model!r}: real model requests are disabled (FLOWWRIGHT_ALLOW_MODEL_REQUESTS=false); "
        "use local/flowwright-planner or a fake/ model", model=model,
    )
