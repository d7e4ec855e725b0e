"""Retry policy: which errors another attempt may fix, and how long to wait (tenacity)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError
from tenacity import RetryCallState, wait_exponential_jitter, wait_fixed, wait_random

from connectors.errors import ConnectorError
from engine.errors import FlowwrightError, GuardrailViolation
from engine.expressions import ExpressionEvaluationError, ExpressionSyntaxError
from engine.workflow import RetryPolicy

NO_RETRY = RetryPolicy(max_attempts=1, backoff="fixed", initial_delay_s=0, max_delay_s=0, jitter=False)
RETRYABLE_HTTP = frozenset({408, 429})


class NodeTimeoutError(ConnectorError):
    """A node attempt ran longer than its ``timeout_s`` (retryable)."""

    code = "node_timeout"
    status = 504


def is_retryable(exc: BaseException) -> bool:
    """Validation and expression errors, guardrail refusals and errors a connector marks
    permanent (4xx other than 408/429 included) are never retried; unknown errors are."""
    if isinstance(exc, ValidationError | ExpressionEvaluationError | ExpressionSyntaxError | GuardrailViolation):
        return False
    if isinstance(exc, asyncio.CancelledError):
        return False
    if isinstance(exc, ConnectorError):
        if not exc.retryable:
            return False
        status = exc.details.get("status_code") or exc.details.get("status")
        if isinstance(status, int) and 400 <= status < 500 and status not in RETRYABLE_HTTP:
            return False
        return True
    if isinstance(exc, FlowwrightError):
        return exc.status >= 500
    return isinstance(exc, Exception)


def make_wait(policy: RetryPolicy) -> Any:
    """A tenacity wait: fixed or exponential (with optional jitter), capped by ``max_delay_s``,
    and never shorter than a connector's ``retry_after_s``."""
    cap = max(policy.max_delay_s, 0.0)
    if policy.backoff == "fixed":
        base: Any = wait_fixed(min(policy.initial_delay_s, cap))
        if policy.jitter and policy.initial_delay_s > 0:
            base = base + wait_random(0, policy.initial_delay_s * 0.25)
    else:
        base = wait_exponential_jitter(
            initial=policy.initial_delay_s, max=cap, exp_base=2,
            jitter=policy.initial_delay_s * 0.5 if policy.jitter else 0,
        )

    def wait(state: RetryCallState) -> float:
        delay = min(float(base(state)), cap) if cap > 0 else 0.0
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(exc, "retry_after_s", None)
        if isinstance(retry_after, int | float) and retry_after > delay:
            delay = float(retry_after)
        return delay

    return wait
