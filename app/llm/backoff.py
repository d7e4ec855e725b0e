"""Which provider errors are worth retrying, how long to wait, and the typed error each becomes.

Retried (tenacity, exponential backoff with full jitter, ``Retry-After`` honoured when the provider
sends it, all bounded by the call's deadline): 429 rate limits, overloaded / unavailable answers
(502, 503, 504, 529), and timeouts. Never retried: authentication and permission errors, bad
requests (malformed, context window, content policy, unknown model), and anything else.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable
from typing import Any

from tenacity import RetryCallState

from app.llm.errors import (
    ModelAuthError,
    ModelBadRequestError,
    ModelConnectionError,
    ModelError,
    ModelOverloadedError,
    ModelRateLimitedError,
    ModelTimeoutError,
)

OVERLOADED_STATUSES = frozenset({502, 503, 504, 529})
MAX_RETRY_AFTER_S = 300.0


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return status
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def find_model_error(exc: BaseException) -> ModelError | None:
    """A typed error raised inside a provider (litellm wraps it; the original is in the chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ModelError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms``, ``retry-after`` seconds or HTTP date)."""
    headers: Any = None
    response = getattr(exc, "response", None)
    if response is not None:
        headers = getattr(response, "headers", None)
    if not headers:
        headers = getattr(exc, "litellm_response_headers", None)
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    try:
        if "retry-after-ms" in lower:
            return min(max(float(lower["retry-after-ms"]) / 1000.0, 0.0), MAX_RETRY_AFTER_S)
        if "retry-after" in lower:
            value = lower["retry-after"].strip()
            try:
                seconds = float(value)
            except ValueError:
                parsed = email.utils.parsedate_to_datetime(value)
                seconds = parsed.timestamp() - time.time()
            return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def is_transient(exc: BaseException) -> bool:
    """True for errors another attempt may fix: 429, overloaded/unavailable, timeouts."""
    from litellm import exceptions as litellm

    if find_model_error(exc) is not None:
        return False
    if isinstance(exc, litellm.RateLimitError | litellm.Timeout | litellm.ServiceUnavailableError):
        return True
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError | litellm.BadRequestError
                  | litellm.NotFoundError):
        return False
    if isinstance(exc, litellm.InternalServerError | litellm.APIError):
        return _status(exc) in OVERLOADED_STATUSES or "overload" in str(exc).lower()
    return False


_KEY_IN_TEXT = re.compile(r"(?i)((?:api[_-]?)?key=|authorization:\s*bearer\s+|x-api-key:\s*)[^&\s'\"]+")
_SECRET_KEYS = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{20,})")


def redact_provider_text(text: str, *secrets: str | None) -> str:
    """Provider error texts can carry the request URL (``?key=...``) or the key itself; mask them."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _KEY_IN_TEXT.sub(lambda m: m.group(1) + "***", text)
    return _SECRET_KEYS.sub("***", text)


def typed_error(exc: BaseException, model: str) -> ModelError:
    """The stable, typed error a provider exception becomes."""
    from litellm import exceptions as litellm

    found = find_model_error(exc)
    if found is not None:
        return found
    message = redact_provider_text(str(exc).removeprefix("litellm."))
    status = _status(exc)
    details: dict[str, Any] = {"provider_status": status} if status is not None else {}
    if isinstance(exc, litellm.RateLimitError):
        wait = retry_after_s(exc)
        if wait is not None:
            details["retry_after_s"] = wait
        return ModelRateLimitedError(f"{model}: rate limited: {message}", model=model, **details)
    if isinstance(exc, litellm.Timeout):
        return ModelTimeoutError(f"{model}: request timed out: {message}", model=model, **details)
    # litellm maps some providers' 401 bodies ("invalid_request_error") to BadRequestError: trust the status.
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError) or status in (401, 403):
        return ModelAuthError(f"{model}: the provider refused the credentials: {message}", model=model, **details)
    if isinstance(exc, litellm.BadRequestError | litellm.NotFoundError):
        return ModelBadRequestError(f"{model}: bad request: {message}", model=model, **details)
    if is_transient(exc):
        return ModelOverloadedError(f"{model}: provider overloaded or unavailable: {message}", model=model, **details)
    if isinstance(exc, litellm.APIConnectionError):
        return ModelConnectionError(f"{model}: {message.splitlines()[0] if message else 'connection failed'}",
                                    model=model, **details)
    return ModelError(f"{model}: {message}", model=model, **details)


class BackoffWait:
    """tenacity wait: ``Retry-After`` when the provider sent one, else exponential with jitter."""

    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if exc is not None:
            asked = retry_after_s(exc)
            if asked is not None:
                return asked
        # Same formula as tenacity's wait_exponential_jitter, whose parameter names vary across releases.
        exponent = min(retry_state.attempt_number - 1, 32)
        return float(min(self.initial_s * 2**exponent + random.uniform(0, self.initial_s), self.max_s))


def stop_at_deadline(deadline: float, clock: Callable[[], float], max_attempts: int) -> Callable[[RetryCallState], bool]:
    """Stop when attempts run out or the next sleep would end past the deadline."""

    def stop(retry_state: RetryCallState) -> bool:
        if retry_state.attempt_number >= max_attempts:
            return True
        return clock() + (retry_state.upcoming_sleep or 0.0) >= deadline

    return stop


__all__ = ["BackoffWait", "find_model_error", "is_transient", "retry_after_s",
           "stop_at_deadline", "typed_error"]
