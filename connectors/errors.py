"""Errors raised by connectors. The engine's retry policy reads ``retryable`` and ``retry_after_s``."""

from __future__ import annotations

from typing import Any

from engine.errors import ControlSignal, FlowwrightError


class ConnectorError(FlowwrightError):
    """An operation failed. ``retryable`` tells the engine whether another attempt may succeed."""

    code = "connector_error"
    status = 502
    retryable: bool = True

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        retry_after_s: float | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, code=code, **details)
        if retryable is not None:
            self.retryable = retryable
        self.retry_after_s = retry_after_s


class PermanentError(ConnectorError):
    """A failure another attempt cannot fix (bad input, 4xx other than 408/429, refused target)."""

    code = "permanent_error"
    retryable = False


class RateLimitedError(ConnectorError):
    """The remote side (or our own token bucket) said slow down; retry after ``retry_after_s``."""

    code = "rate_limited"
    retryable = True


class CredentialError(PermanentError):
    """A credential is missing, of the wrong type, or cannot be decrypted."""

    code = "credential_error"


class SsrfBlockedError(PermanentError):
    """An outbound request targeted an address that SSRF protection refuses."""

    code = "ssrf_blocked"
    status = 400


class Suspend(ControlSignal):
    """Raised by an operation to suspend the execution durably until ``until`` (an aware datetime).

    The engine checkpoints, releases the worker and resumes the node after that time — also after
    a restart. The operation is then called again with ``ctx.resumed`` set.
    """

    def __init__(self, until: Any, output: Any = None) -> None:
        super().__init__(f"suspended until {until}")
        self.until = until
        self.output = output


class ApprovalRequired(ControlSignal):
    """Raised (by the approval guardrail) to put the execution in ``waiting`` until a person
    approves or rejects. The engine checkpoints and calls the node again with the decision."""

    def __init__(self, reason: str, details: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details
