"""Errors of authentication and authorisation. Each has a stable ``code``; ``http_headers`` go on
the HTTP answer (``WWW-Authenticate``, ``Retry-After``)."""

from __future__ import annotations

from typing import Any

from engine.errors import FlowwrightError


class AuthError(FlowwrightError):
    """Root of the auth errors."""

    code = "auth_error"
    status = 401
    http_headers: dict[str, str] | None = None


class UnauthenticatedError(AuthError):
    """No API key, a malformed one, or one that is unknown, revoked or expired."""

    code = "unauthenticated"
    status = 401
    http_headers = {"WWW-Authenticate": 'Bearer realm="flowwright"'}


class ForbiddenError(AuthError):
    """The key is valid but its role does not allow this request (``details.required``)."""

    code = "forbidden"
    status = 403


class RateLimitedError(AuthError):
    """The key made more requests than ``FLOWWRIGHT_RATE_LIMIT`` allows; ``retry_after_s`` says when
    to try again."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: int, **details: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)
        self.http_headers = {"Retry-After": str(retry_after_s)}


class AuthInputError(AuthError):
    """A workspace name, role or expiry given to the key commands is not valid (``details.field``)."""

    code = "auth_input_invalid"
    status = 422
