"""What a connector operation may use besides its input and its credential: ``ctx.services``.

A connector (a built-in or a third-party plugin) gets exactly this typed facade — never the
settings, the raw database engine or the registry. The app's composition root (``app/wiring.py``)
builds one per process; tests build their own with the parts they need.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from connectors.database_target import DatabasePolicy
from connectors.ssrf import HttpClients
from connectors.table_store import Datastore


@runtime_checkable
class ModelService(Protocol):
    """What the llm steps need from a model. All methods are async and raise ``FlowwrightError``
    subclasses (a ``retryable`` attribute tells the engine whether to try again)."""

    @property
    def name(self) -> str:
        """Shown in step outputs, e.g. ``openai/gpt-4o-mini`` or ``local-heuristics``."""
        ...

    async def complete(self, prompt: str, *, system: str | None = None, max_tokens: int | None = None,
                       temperature: float | None = None, ctx_meta: Mapping[str, Any]) -> str:
        """Free text for ``prompt`` (with an optional ``system`` message)."""
        ...

    async def classify(self, text: str, labels: Sequence[str], *, instructions: str | None = None,
                       ctx_meta: Mapping[str, Any]) -> str:
        """Exactly one of ``labels`` (the caller maps case and spacing; anything else is an error)."""
        ...

    async def extract(self, text: str, fields: Mapping[str, str], *, ctx_meta: Mapping[str, Any]) -> dict[str, Any]:
        """A value (or ``None``) for each field name; ``fields`` maps names to descriptions."""
        ...

    async def summarize(self, text: str, max_words: int, *, ctx_meta: Mapping[str, Any]) -> str:
        """A summary of at most about ``max_words`` words."""
        ...


@runtime_checkable
class InsightService(Protocol):
    """What the ``insights.report`` step needs: the workspace's insight report, rendered."""

    async def report(self, workspace_id: str, *, days: float, workflow_id: str | None,
                     attach: str) -> Mapping[str, Any]:
        """``{"subject", "text", "totals", "findings", "attachments": [{"filename", "content_type",
        "content_base64"}]}`` for the last ``days`` (``attach``: ``pdf``, ``html`` or ``none``)."""
        ...


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ConnectorServices:
    """The collaborators a connector may use.

    Attributes:
        http: the HTTP client factory; every client goes through the host policy (SSRF guard).
        model: the model service for the ``llm`` steps (without one they use local heuristics).
        datastore: Flowwright's own tables, for the ``datastore`` steps.
        clock: the current time (timezone-aware).
        tls: the TLS trust used by non-HTTP clients (SMTP); ``None`` is the system's.
        endpoints: base-URL overrides by connector name (a self-hosted or loopback Slack API:
            ``{"slack": "http://127.0.0.1:9000/api"}``).
        databases: where ``database`` credentials may point (SQLite directories, never
            Flowwright's own database or data directory); non-HTTP hosts (PostgreSQL, SMTP) go
            through ``http.policy`` like HTTP ones.
        insights: the insight reports, for the ``insights.report`` steps (``None``: not here).
    """

    http: HttpClients = field(default_factory=HttpClients)
    model: ModelService | None = None
    datastore: Datastore | None = None
    clock: Callable[[], datetime] = utc_now
    tls: ssl.SSLContext | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)
    databases: DatabasePolicy = field(default_factory=DatabasePolicy)
    insights: InsightService | None = None


__all__ = ["ConnectorServices", "DatabasePolicy", "HttpClients", "InsightService", "ModelService", "utc_now"]
