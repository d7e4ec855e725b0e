"""Assembling the engine from the settings: database engine, stores, connector registry,
credential vault, rate limiter, the ``services`` mapping operations receive, and the runtime.

The CLI and the service both call :func:`build_services`; nothing here holds module-level state.
Other parts add their collaborators to :func:`_collaborators` (small edits).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from app.settings import Settings


@dataclass
class Services:
    """Everything the service and the CLI share, built once per process."""

    settings: Settings
    db: Any  # sqlalchemy Engine
    registry: Any
    execution_store: Any
    workflow_store: Any
    vault: Any = None
    rate_limiter: Any = None
    services: dict[str, Any] = field(default_factory=dict)
    _runtime: Any = None

    @property
    def runtime(self) -> Any:
        """The workflow runtime (built on first use, inside the event loop that drives it)."""
        if self._runtime is None:
            self._runtime = build_runtime(self.settings, services=self)
        return self._runtime

    def close(self) -> None:
        self.execution_store.close()
        self.db.dispose()


def _collaborators(settings: Settings, built: Services) -> dict[str, Any]:
    """The ``services`` mapping handed to every operation (``ctx.services``)."""
    model, usage = _model_service(settings, built.db)
    return {"settings": settings, "db": built.db, "registry": built.registry,
            # connectors (see connectors.contract.OperationContext)
            "db_engine": built.db, "http_allow_hosts": settings.http_allow_hosts,
            # the llm connector's ModelService (connectors/llm.py), on the model gateway, and the
            # gateway's usage tracker (read by the budget guardrail: totals(workspace_id, execution_id|since))
            "model": model, "usage": usage}


def _model_service(settings: Settings, db: Any) -> tuple[Any, Any]:
    """The gateway-backed ``ModelService`` and its ``UsageTracker`` (litellm is imported on first call)."""
    from app.llm.gateway import Gateway
    from app.llm.model_service import GatewayModelService

    gateway = Gateway(settings, db)
    return GatewayModelService(gateway), gateway.tracker


def _vault(settings: Settings, db: Any) -> Any:
    if importlib.util.find_spec("connectors.vault") is None:
        return None
    from connectors.vault import KeySource, Vault

    keys = KeySource(settings.master_key(), data_dir=settings.data_dir, file_managed=settings.secret_key is None,
                     previous_keys=_previous_keys(settings))
    return Vault(db, keys)


def _previous_keys(settings: Settings) -> list[str]:
    value = getattr(settings, "previous_secret_keys", None) or ""
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    return list(value)


def _rate_limiter() -> Any:
    if importlib.util.find_spec("connectors.ratelimit") is None:
        return None
    from connectors.ratelimit import RateLimiter

    return RateLimiter()


def build_services(settings: Settings, *, vault: bool = True) -> Services:
    """Build the shared collaborators. ``vault=False`` skips the credential vault (dry runs)."""
    from connectors.registry import default_registry
    from engine.db import make_engine
    from engine.execution_store import ExecutionStore
    from engine.workflow_store import WorkflowStore

    if settings.database_url is None:
        settings.ensure_data_dir()
    db = make_engine(settings.resolved_database_url)
    built = Services(
        settings=settings, db=db, registry=default_registry(), execution_store=ExecutionStore(db),
        workflow_store=WorkflowStore(db), vault=_vault(settings, db) if vault else None,
        rate_limiter=_rate_limiter(),
    )
    built.services = _collaborators(settings, built)
    return built


def build_runtime(settings: Settings, *, services: Services | None = None) -> Any:
    """The workflow runtime over ``services`` (built from ``settings`` when not given)."""
    from engine.execution_run import RuntimeLimits
    from engine.runtime import Runtime

    built = services or build_services(settings)
    limits = RuntimeLimits(
        max_concurrency=settings.max_concurrency, step_output_limit_bytes=settings.step_output_limit_bytes,
        expression_time_limit_ms=settings.expression_time_limit_ms,
        expression_output_limit_bytes=settings.step_output_limit_bytes,
    )
    runtime = Runtime(built.execution_store, built.registry, credentials=built.vault, rate_limiter=built.rate_limiter,
                      services=built.services, limits=limits)
    built._runtime = runtime
    return runtime
