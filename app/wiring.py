"""The composition root: the one place where Flowwright's long-lived objects are built.

:class:`Container` holds the settings, the database engine, the stores, the API keys and the
request rate limit, the connector registry, the credential vault, the one model gateway, the
copilot, the runtime and the scheduler. The FastAPI lifespan (``app/api/server.py``) and the CLI callback (``app/cli/main.py``) open one per
process and close it; routes reach its parts through the typed aliases of ``app/api/deps.py``,
CLI commands through :func:`app.cli.output.container`.

Parts that cost something to build (the gateway's semantic cache and embedder, the copilot, the
runtime, which must be created inside the event loop that drives it) are built on first use.
Connector operations get :attr:`Container.connector_services` — never the settings, the raw
engine or the registry.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from app.auth.keys import KeyStore
from app.auth.rate_limit import RequestLimiter
from app.settings import Settings
from connectors.connector_store import ConnectorStore
from connectors.contract import Connector
from connectors.ratelimit import RateLimiter
from connectors.registry import Registry, default_registry
from connectors.services import ConnectorServices, DatabasePolicy
from connectors.ssrf import HttpClients
from connectors.table_store import Datastore
from connectors.vault import KeySource, Vault
from engine.audit_log import Actor, AuditLog, AuditTrail
from engine.circuit_breaker import BreakerPolicy, CircuitBreakers
from engine.db import make_engine
from engine.dead_letters import DeadLetters
from engine.execution_store import ExecutionStore
from engine.queue import ExecutionQueue
from engine.workflow_store import WorkflowStore

if TYPE_CHECKING:
    from app.api.webhook_replays import SeenSignatures
    from app.copilot.service import Copilot
    from app.insights.schedule import ReportSchedules
    from app.insights.trace_export import TraceExport
    from app.llm.embeddings import Embedder
    from app.llm.gateway import Gateway
    from app.llm.model_service import GatewayModelService
    from app.llm.semantic_cache import SemanticCache
    from connectors.oauth_providers import Provider
    from connectors.oauth_tokens import TokenManager, TokenState
    from engine.cron_scheduler import CronScheduler
    from engine.poll_scheduler import PollScheduler
    from engine.retention import Retention
    from engine.runtime import Runtime
    from engine.temporal.runtime import TemporalOptions
    from engine.workflow_store import WorkflowRow, WorkflowVersionRow

log = logging.getLogger(__name__)

LOCAL_EMBEDDINGS = (None, "local", "all-MiniLM-L6-v2")


class Container:
    """Everything the service and the CLI share, built once per process (see the module docstring).

    Every part is built on first use, so a command that needs only the registry never opens the
    database. Close it with :meth:`aclose` (inside the event loop that ran the runtime) or
    :meth:`close`.

    Args:
        settings: the process's settings.
        vault: ``False`` builds no credential vault (dry runs).
    """

    def __init__(self, settings: Settings, *, vault: bool = True) -> None:
        self.settings = settings
        self.with_vault = vault
        # True under `flowwright serve`: the runtime only queues; worker processes drive (set it
        # before the runtime is built)
        self.remote = False

    @classmethod
    def open(cls, settings: Settings, *, vault: bool = True) -> Container:
        """A container with its database open (fails here, not later, when the data dir is unusable)."""
        container = cls(settings, vault=vault)
        container.db  # noqa: B018 - open the database now
        return container

    # -- storage ------------------------------------------------------------------------------------

    @functools.cached_property
    def db(self) -> Engine:
        """Flowwright's database engine (SQLite in the data dir unless ``FLOWWRIGHT_DATABASE_URL``)."""
        if self.settings.database_url is None:
            from app.data_dir import create_private

            create_private(self.settings.ensure_data_dir() / "flowwright.db")  # before SQLite makes it 0644
        return make_engine(self.settings.resolved_database_url, busy_timeout_s=self.settings.db_busy_timeout_s,
                           pool_timeout_s=self.settings.db_pool_timeout_s)

    @functools.cached_property
    def workflow_store(self) -> WorkflowStore:
        """Workflows and their versions."""
        return WorkflowStore(self.db)

    @functools.cached_property
    def execution_store(self) -> ExecutionStore:
        """Executions, steps, events, logs and approvals (writes are group-committed)."""
        return ExecutionStore(self.db, retry_s=self.settings.db_retry_s)

    @functools.cached_property
    def audit_log(self) -> AuditLog:
        """Who created, changed, activated, ran, approved or deleted what, and when."""
        return AuditLog(self.db)

    def cli_audit(self, workspace: str) -> AuditTrail:
        """The audit trail of a CLI command in ``workspace``: the operating-system user, ``via="cli"``."""
        import getpass

        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a bare container)
            user = "unknown"
        return AuditTrail(self.audit_log, workspace, Actor(user=user, via="cli"))

    @functools.cached_property
    def retention(self) -> Retention:
        """The retention policy (``FLOWWRIGHT_RETENTION_*``) over the execution tables."""
        return self.retention_policy()

    def retention_policy(self, max_age_days: float | None = None, max_per_workflow: int | None = None) -> Retention:
        """The retention policy, with the settings' limits unless others are given (0 turns one off)."""
        from engine.retention import Retention

        self.execution_store  # noqa: B018 - its tables exist before a sweep reads them
        days = self.settings.retention_max_age_days if max_age_days is None else max_age_days
        count = self.settings.retention_max_per_workflow if max_per_workflow is None else max_per_workflow
        return Retention(self.db, max_age=timedelta(days=days) if days else None, max_per_workflow=count,
                         batch=self.settings.retention_batch)

    @functools.cached_property
    def queue(self) -> ExecutionQueue:
        """The durable execution queue and the worker registry."""
        return ExecutionQueue(self.db, max_adoptions=self.settings.max_adoptions)

    @functools.cached_property
    def breakers(self) -> CircuitBreakers:
        """Circuit breakers per workspace and connector host (state shared through the database)."""
        policy = BreakerPolicy(failures=self.settings.breaker_failures, window_s=self.settings.breaker_window_s,
                               open_s=self.settings.breaker_open_s)
        return CircuitBreakers(self.db, policy)

    @functools.cached_property
    def dead_letters(self) -> DeadLetters:
        """Executions that exhausted their retries or whose workers kept dying."""
        return DeadLetters(self.db)

    @functools.cached_property
    def datastore(self) -> Datastore:
        """The tables of the ``datastore`` connector."""
        return Datastore(self.db)

    @functools.cached_property
    def registry(self) -> Registry:
        """The connectors: built-ins and entry-point plugins; each workspace's imported connectors
        come in through :meth:`Registry.for_workspace` (the database is opened on first use)."""
        registry = default_registry()
        # the insight report step: its service is the app's (ctx.services.insights), so the
        # composition root adds it rather than the built-ins every process loads
        from connectors.insights import CONNECTOR as INSIGHTS

        registry.add(INSIGHTS)
        registry.imported = _LazyImports(self)
        return registry

    @functools.cached_property
    def connector_store(self) -> ConnectorStore:
        """The workspaces' imported (OpenAPI) connectors; built-in and plugin names are reserved."""
        return ConnectorStore(self.db, max_bytes=self.settings.openapi_max_bytes,
                              reserved=frozenset(self.registry.names()))

    @functools.cached_property
    def rate_limiter(self) -> RateLimiter:
        """The connectors' rate limits (token buckets per workspace)."""
        return RateLimiter()

    # -- callers ------------------------------------------------------------------------------------

    @functools.cached_property
    def api_keys(self) -> KeyStore:
        """Workspaces, users and API keys."""
        return KeyStore(self.db)

    @functools.cached_property
    def webhook_signatures(self) -> SeenSignatures:
        """The signed webhook deliveries accepted inside their window (replays are refused)."""
        from app.api.webhook_replays import SeenSignatures

        return SeenSignatures(self.db)

    @functools.cached_property
    def request_limiter(self) -> RequestLimiter:
        """The per-key request rate limit (``FLOWWRIGHT_RATE_LIMIT``), counted in this process's
        memory, or in the database with ``FLOWWRIGHT_RATE_LIMIT_STORAGE=database``."""
        if self.settings.rate_limit_storage == "memory":
            return RequestLimiter(self.settings.rate_limit)
        from app.auth.rate_limit_storage import DatabaseStorage

        return RequestLimiter(self.settings.rate_limit, DatabaseStorage(self.db))

    # -- credentials --------------------------------------------------------------------------------

    @functools.cached_property
    def key_source(self) -> KeySource:
        """The master key (and retired keys) protecting the vault."""
        settings = self.settings
        previous = [k.strip() for k in settings.previous_secret_keys.split(",") if k.strip()]
        return KeySource(settings.master_key(), previous_keys=previous, data_dir=settings.data_dir,
                         file_managed=settings.secret_key is None)

    @functools.cached_property
    def vault(self) -> Vault | None:
        """The credential vault (``None`` when the container was opened without one)."""
        return Vault(self.db, self.key_source) if self.with_vault else None

    @functools.cached_property
    def oauth_providers(self) -> dict[str, Provider]:
        """The OAuth 2.0 providers: the shipped ones and ``FLOWWRIGHT_OAUTH_PROVIDERS_FILE``'s."""
        from connectors.oauth_providers import load_providers

        return load_providers(self.settings.oauth_providers_file)

    @functools.cached_property
    def token_manager(self) -> TokenManager | None:
        """OAuth 2.0 tokens over the vault: what steps resolve (refreshed ahead of expiry, the
        access token only), the background refresh job, ``needs_reauth`` (``None`` without a vault)."""
        from connectors.oauth_tokens import TokenManager

        if self.vault is None:
            return None
        settings = self.settings
        return TokenManager(self.vault, self.connector_services.http, ahead_s=settings.oauth_refresh_ahead_s,
                            attempts=settings.oauth_refresh_attempts, backoff_s=settings.oauth_refresh_backoff_s,
                            on_needs_reauth=_needs_reauth_event)

    # -- models -------------------------------------------------------------------------------------

    @functools.cached_property
    def embedder(self) -> Embedder | None:
        """The sentence embedder of the semantic cache and the copilot's retriever (``None``: the
        offline model files are missing; the copilot falls back to lexical search)."""
        from app.copilot.context import default_embedder
        from app.llm.embeddings import embedder_from_settings

        if self.settings.embedding_model in LOCAL_EMBEDDINGS:
            return default_embedder()
        return embedder_from_settings(self.settings)

    @functools.cached_property
    def semantic_cache(self) -> SemanticCache | None:
        """The semantic cache of model answers (``None`` when ``FLOWWRIGHT_CACHE_ENABLED`` is off)."""
        if not self.settings.cache_enabled:
            return None
        from app.llm.semantic_cache import open_cache

        return open_cache(self.settings, self.embedder)

    @functools.cached_property
    def gateway(self) -> Gateway:
        """The one model gateway (usage tracking, budgets, backoff; the semantic cache, opened on
        the first call that asks for it)."""
        from app.llm.gateway import Gateway, LazyCache

        cache = LazyCache(lambda: self.semantic_cache) if self.settings.cache_enabled else None
        return Gateway(self.settings, self.db, cache=cache)

    @functools.cached_property
    def model_service(self) -> GatewayModelService:
        """The llm connector's model, on the gateway."""
        from app.llm.model_service import GatewayModelService

        return GatewayModelService(self.gateway)

    @functools.cached_property
    def report_schedules(self) -> ReportSchedules:
        """The workspaces' scheduled insight reports (each a workflow of its workspace)."""
        from app.insights.schedule import ReportSchedules

        return ReportSchedules(self.db, self.workflow_store, self.registry)

    @functools.cached_property
    def copilot(self) -> Copilot:
        """The copilot on this container's database, registry and gateway."""
        from app.copilot.service import build_copilot

        self.settings.ensure_data_dir()
        # the insights connector is for the scheduled report Flowwright writes itself (app/insights/
        # schedule.py); the copilot does not offer it
        return build_copilot(self.settings, gateway=self.gateway, db=self.db,
                             catalog=self.registry.without("insights"),
                             embedder=self.embedder, use_cache=self.settings.cache_enabled,
                             credentials=self.vault)  # names and types only: steps get the workspace's own

    # -- the engine ---------------------------------------------------------------------------------

    @functools.cached_property
    def connector_services(self) -> ConnectorServices:
        """What connector operations may use (``ctx.services``)."""
        settings = self.settings
        # The database connector never reaches Flowwright's own database or data dir
        # (connectors/database_target.py); SQLite files only under FLOWWRIGHT_DATABASE_FILES.
        databases = DatabasePolicy.of(settings.database_files, refused=[settings.data_dir], own=self.db.url)
        from app.insights.report_service import ReportService

        reports = ReportService(self.db, lambda workspace: self.registry.for_workspace(workspace),
                                settings.insights_cost_rates)
        return ConnectorServices(http=HttpClients.allowing(settings.http_allow_hosts),
                                 model=self.model_service, datastore=self.datastore, databases=databases,
                                 insights=reports)

    @functools.cached_property
    def runtime(self) -> Runtime:
        """The workflow runtime (build it inside the event loop that drives it)."""
        from engine.execution_run import RuntimeLimits
        from engine.runtime import Runtime

        settings = self.settings
        limits = RuntimeLimits(
            max_concurrency=settings.max_concurrency, step_output_limit_bytes=settings.step_output_limit_bytes,
            expression_time_limit_ms=settings.expression_time_limit_ms,
            expression_output_limit_bytes=settings.step_output_limit_bytes,
            expression_memory_limit_mb=settings.expression_memory_limit_mb,
            expression_workers=settings.expression_workers,
            workflow_max_concurrent=settings.workflow_max_concurrent,
        )
        collaborators: dict[str, Any] = {
            "credentials": self.token_manager, "rate_limiter": self.rate_limiter, "services": self.connector_services,
            "usage": self.gateway.tracker, "limits": limits, "workflows": self.workflow_store,
            "breakers": self.breakers,
        }
        if settings.backend == "temporal":
            from engine.temporal.runtime import TemporalRuntime

            runtime: Runtime = TemporalRuntime(self.execution_store, self.registry, options=self.temporal_options,
                                               **collaborators)
        else:
            runtime = Runtime(self.execution_store, self.registry, queue=self.queue, remote=self.remote,
                              **collaborators)
        if self.trace_export is not None:
            runtime.on_stop.append(self.trace_export.on_stop)
        return runtime

    @functools.cached_property
    def trace_export(self) -> TraceExport | None:
        """Exports each ended execution as an OpenTelemetry trace over OTLP/HTTP, when an endpoint
        is configured (``FLOWWRIGHT_OTEL_ENDPOINT``, ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``);
        ``None`` otherwise, and then the SDK is never imported."""
        import os

        from app.insights.traces import traces_endpoint

        endpoint = traces_endpoint(self.settings.otel_endpoint, os.environ)
        if endpoint is None:
            return None
        try:
            from app.insights.trace_export import TraceExport
        except ImportError as exc:
            raise RuntimeError(f"tracing is configured (traces to {endpoint}) but the OpenTelemetry packages are "
                               f"missing ({exc.name}): pip install 'flowwright[otel]'") from exc

        log.info("tracing: exporting execution traces over OTLP/HTTP to %s", endpoint)
        return TraceExport.otlp(self.db, endpoint)

    @property
    def temporal_options(self) -> TemporalOptions:
        """Where the Temporal backend runs executions (``FLOWWRIGHT_TEMPORAL_*``)."""
        from engine.temporal.runtime import TemporalOptions

        settings = self.settings
        return TemporalOptions(address=settings.temporal_address, namespace=settings.temporal_namespace,
                               task_queue_prefix=settings.temporal_task_queue,
                               heartbeat_timeout_s=settings.temporal_heartbeat_timeout_s)

    @functools.cached_property
    def scheduler(self) -> CronScheduler:
        """Fires the schedule triggers of active workflows on :attr:`runtime`."""
        from engine.cron_scheduler import CronScheduler

        runtime = self.runtime

        async def start_scheduled(row: WorkflowRow, version: WorkflowVersionRow, payload: dict[str, Any]) -> str:
            return await runtime.start(
                version.definition_dict(), payload, workspace_id=row.workspace_id, workflow_id=row.id,
                workflow_version=version.version, trigger="schedule")

        return CronScheduler(self.workflow_store, self.db, start_scheduled, poll_s=self.settings.scheduler_poll_s)

    @functools.cached_property
    def poll_scheduler(self) -> PollScheduler:
        """Polls the polling triggers of active workflows and starts their runs on :attr:`runtime`
        (each run committed with its cursor advance)."""
        from collections.abc import Sequence

        from engine.poll_scheduler import PollScheduler

        runtime = self.runtime

        async def start_polled(row: WorkflowRow, version: WorkflowVersionRow, payload: Any, execution_id: str,
                               writes: Sequence[tuple[Any, dict[str, Any]]]) -> str:
            return await runtime.start(
                version.definition_dict(), payload, workspace_id=row.workspace_id, workflow_id=row.id,
                workflow_version=version.version, trigger="poll", execution_id=execution_id, writes=writes)

        self.execution_store  # noqa: B018 - the executions table exists before a poll looks for a run
        return PollScheduler(self.workflow_store, self.db, self.registry.get, start_polled,
                             credentials=self.token_manager, services=self.connector_services,
                             poll_s=self.settings.scheduler_poll_s)

    # -- closing ------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the runtime (if it was built) and close the stores and the database."""
        runtime = self.__dict__.get("runtime")
        if runtime is not None:
            await runtime.aclose()
        tracing = self.__dict__.get("trace_export")
        if tracing is not None:
            await tracing.drain()
        self.close()

    def close(self) -> None:
        """Close the execution store's writer and the database engine (those that were built)."""
        built = self.__dict__
        tracing = built.pop("trace_export", None)
        if tracing is not None:
            tracing.close()  # sends the spans it still batches
        if "execution_store" in built:
            built["execution_store"].close()
        if "db" in built:
            built["db"].dispose()


def _needs_reauth_event(state: TokenState) -> None:
    """The ``credential.needs_reauth`` event: a structured warning (log aggregators alert on it);
    the state stays on the credential, and insights and ``credentials list`` show it."""
    log.warning("credential.needs_reauth workspace=%s credential=%s provider=%s: %s", state.workspace_id,
                state.name, state.provider, state.last_error,
                extra={"event": "credential.needs_reauth", "workspace_id": state.workspace_id,
                       "credential": state.name, "provider": state.provider})


class _LazyImports:
    """The registry's source of imported connectors, opening the store only when asked."""

    def __init__(self, container: Container) -> None:
        self._container = container

    def connectors(self, workspace_id: str) -> list[Connector]:
        return self._container.connector_store.connectors(workspace_id)


__all__ = ["Container"]
