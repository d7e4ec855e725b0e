"""Errors of the model gateway. Each has a stable ``code``; the HTTP status is what the API answers."""

from __future__ import annotations

from typing import Any

from engine.errors import FlowwrightError


class ModelError(FlowwrightError):
    """A model call failed. ``retryable`` says whether the same request may succeed later."""

    code = "model_error"
    status = 502
    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, model: str | None = None, **details: Any) -> None:
        if model is not None:
            details["model"] = model
        super().__init__(message, code=code, **details)
        self.model = model


class BudgetExceededError(ModelError):
    """The workspace's budget would be exceeded by this call; it was refused before being sent.

    ``details``: ``limit`` (``daily_usd`` | ``monthly_usd`` | ``daily_tokens`` | ``monthly_tokens``),
    ``limit_value``, ``spent`` and ``estimate`` (in the limit's unit), ``workspace_id``.
    """

    code = "budget_exceeded"
    status = 429


class ModelRateLimitedError(ModelError):
    """The provider kept answering 429 until the retry deadline ran out."""

    code = "model_rate_limited"
    status = 429
    retryable = True


class ModelOverloadedError(ModelError):
    """The provider kept answering overloaded / unavailable (503, 529) until the deadline ran out."""

    code = "model_overloaded"
    status = 503
    retryable = True


class ModelTimeoutError(ModelError):
    """A request timed out, or the total deadline of the call ran out."""

    code = "model_timeout"
    status = 504
    retryable = True


class ModelAuthError(ModelError):
    """The provider refused the credentials (401/403). Never retried."""

    code = "model_auth_failed"
    status = 502


class ModelBadRequestError(ModelError):
    """The provider refused the request as malformed (400, context window, unknown model). Never retried."""

    code = "model_bad_request"
    status = 502


class ModelConnectionError(ModelError):
    """The provider could not be reached, or the provider code failed before answering."""

    code = "model_connection_failed"
    status = 502


class ModelOutputInvalidError(ModelError):
    """The model's answer still failed validation after every re-ask.

    ``details``: ``attempts``, ``errors`` (the last validation errors, as text), ``usage``.
    """

    code = "model_output_invalid"
    status = 502


class ModelRequestsBlockedError(ModelError):
    """The kill switch is on (``FLOWWRIGHT_ALLOW_MODEL_REQUESTS=false``, the default under pytest):
    only the local model and the scripted fake may be called."""

    code = "model_requests_blocked"
    status = 503


class LocalModelNotInstalledError(ModelError):
    """The built-in local model (``app.copilot.local_model``) is not available."""

    code = "local_model_not_installed"
    status = 503
