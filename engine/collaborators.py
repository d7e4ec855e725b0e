"""The runtime's collaborators, as ``Protocol``s: what the engine needs from the parts the app
builds (the connector registry, the credential vault, the connector rate limiter, the model
usage tracker, the guardrails' rate-limit store). ``app/wiring.py`` passes the real ones in."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from connectors.contract import Connector, Operation, RateLimit


class OperationCatalog(Protocol):
    """Looks connectors and operations up by name (``connectors.registry.Registry``)."""

    def get(self, name: str) -> Connector | None: ...

    def operation(self, connector: str, operation: str) -> Operation | None: ...

    def suggest_connector(self, name: str) -> str | None: ...

    def suggest_operation(self, connector: str, operation: str) -> str | None: ...


class CredentialResolver(Protocol):
    """Resolves a workspace's named credential (the vault, or the OAuth token manager over it,
    whose ``resolve`` is a coroutine)."""

    def resolve(self, workspace_id: str, name: str) -> dict[str, Any] | Awaitable[dict[str, Any]]: ...


@runtime_checkable
class ReauthorizingCredentials(Protocol):
    """A resolver that can renew a credential after the remote side answered 401 (OAuth 2.0)."""

    async def refresh_after_unauthorized(self, workspace_id: str, name: str) -> dict[str, Any] | None:
        """The step's new view of the credential, or ``None`` when it cannot be renewed."""
        ...


class ConnectorRateLimiter(Protocol):
    """Waits for a token of a connector's (or operation's) rate limit, per workspace."""

    async def acquire(self, workspace_id: str, key: str, limit: RateLimit) -> None: ...


class UsageTotals(Protocol):
    """Model usage so far (the budget guardrail reads it): ``{"tokens", "cost_usd"}`` of a workspace,
    optionally of one execution and/or since a moment; sync or async."""

    def totals(self, workspace_id: str, *, execution_id: str | None = None,
               since: datetime | None = None) -> Mapping[str, Any] | Awaitable[Mapping[str, Any]]: ...


class RateLimitStore(Protocol):
    """Counts calls per key in a sliding window (the rate-limit guardrail)."""

    def acquire(self, key: str, limit: int, window_s: float, now: float) -> float:
        """Record a call and return 0 when allowed; otherwise record nothing and return the
        seconds until a slot frees."""
        ...


__all__ = ["ConnectorRateLimiter", "CredentialResolver", "ReauthorizingCredentials", "OperationCatalog", "RateLimitStore", "UsageTotals"]
