"""The FastAPI application factory and its lifespan (recovery, scheduler, shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import FastAPI

from app.api.api_docs import install_docs
from app.api.errors import install_error_handlers
from app.api.readiness import CopilotReadiness
from app.api.request_limits import RequestLimitMiddleware, RequestLimits
from app.settings import Settings, get_settings
from app.wiring import Container

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the container, resume executions whose process died, run the schedulers (cron and
    polling triggers), the OAuth
    refresh job, the retention sweeper and the insight rollups' refresh; close it all."""
    from app.insights import rollups
    from engine.worker import Worker

    settings: Settings = app.state.settings
    container = app.state.container = Container.open(settings)
    container.remote = app.state.dispatch == "queue"
    issued = await asyncio.to_thread(container.api_keys.bootstrap, settings.data_dir)
    if issued is not None:  # the first start: the one time this key is shown
        sys.stderr.write(f"\nFirst start: created the workspace 'default' and an admin API key (shown once, also "
                         f"in {settings.data_dir / 'admin.key'}, mode 0600):\n\n    {issued.token}\n\n"
                         "Send it as `Authorization: Bearer <key>`; make more with `flowwright api-keys create`.\n\n")
    runtime = container.runtime
    heart: Worker | None = None
    if app.state.warm_copilot:  # the first chat should not be the one that loads the models
        app.state.copilot_readiness.start(lambda: container.copilot.warm_up())
    if container.remote:  # worker processes drive executions; orphans go back to the queue for them
        queued = await asyncio.to_thread(container.queue.enqueue_orphans, settings.worker_heartbeat_s * 1.5)
        if queued:
            log.info("queued %d execution(s) interrupted by a restart: %s", len(queued), ", ".join(queued))
    else:
        resumed = await runtime.recover()
        if resumed:
            log.info("resumed %d execution(s) interrupted by a restart: %s", len(resumed), ", ".join(resumed))
        # heartbeats for the executions this process drives: if it dies, a live worker adopts them
        heart = Worker(runtime, container.queue, capacity=0, heartbeat_s=settings.worker_heartbeat_s, kind="api")
    stop = asyncio.Event()
    ticker = asyncio.create_task(container.scheduler.run_forever(stop)) if settings.scheduler_enabled else None
    polling = asyncio.create_task(container.poll_scheduler.run_forever(stop)) if settings.scheduler_enabled else None
    beating = asyncio.create_task(heart.run(stop)) if heart is not None else None
    tokens = container.token_manager
    refreshing = asyncio.create_task(tokens.run(settings.oauth_refresh_poll_s)) \
        if tokens is not None and settings.oauth_refresh_poll_s > 0 else None
    sweeping = asyncio.create_task(container.retention.run(settings.retention_interval_s, stop)) \
        if settings.retention_interval_s > 0 and container.retention.enabled else None
    rolling = asyncio.create_task(rollups.run(container.db, settings.insights_rollup_interval_s, stop,
                                              keep_hourly_days=settings.insights_hourly_rollup_days)) \
        if settings.insights_rollup_interval_s > 0 else None
    try:
        yield
    finally:
        stop.set()
        if rolling is not None:
            await asyncio.gather(rolling, return_exceptions=True)
        if refreshing is not None:
            refreshing.cancel()
            await asyncio.gather(refreshing, return_exceptions=True)
        if ticker is not None:
            await ticker
        if polling is not None:
            await asyncio.gather(polling, return_exceptions=True)
        if sweeping is not None:
            await asyncio.gather(sweeping, return_exceptions=True)
        if beating is not None:
            await asyncio.gather(beating, return_exceptions=True)
        await container.aclose()
        app.state.container = None


def create_app(settings: Settings | None = None, *, dispatch: Literal["inline", "queue"] = "inline",
               warm_copilot: bool = False) -> FastAPI:
    """The service. ``dispatch="queue"`` (``flowwright serve``): executions go to the durable
    queue and worker processes drive them; ``"inline"``: this process drives what it starts.
    ``warm_copilot``: load the copilot in a background thread at start (``/health`` says when it
    is ready)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Flowwright",
        description="Describe an automation in a chat; get a validated, guarded, runnable workflow.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from local assets by install_docs (FastAPI's own pages use a CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.dispatch = dispatch
    app.state.container = None
    app.state.warm_copilot = warm_copilot
    app.state.copilot_readiness = readiness = CopilotReadiness()
    install_error_handlers(app)
    app.add_middleware(RequestLimitMiddleware, limits=RequestLimits(
        max_body_bytes=settings.max_body_bytes, webhook_max_body_bytes=settings.webhook_max_body_bytes,
        max_json_depth=settings.max_json_depth, openapi_max_bytes=settings.openapi_max_bytes))
    from app.api.edge import EdgeMiddleware, EdgePolicy, split_list

    cors = split_list(settings.cors_origins)
    if cors:  # off unless configured; keys travel in a header, so no credentials (cookies) are allowed
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cors, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
                           expose_headers=["Retry-After"], max_age=600)
    app.add_middleware(EdgeMiddleware, policy=EdgePolicy.from_settings(
        public_url=settings.public_url, trusted_hosts=settings.trusted_hosts, cors_origins=settings.cors_origins))
    install_docs(app)

    from fastapi import Depends

    from app.api.deps import get_caller
    from app.api.routes import (
        access,
        audit,
        chat,
        circuits,
        connectors,
        credentials,
        dead_letters,
        executions,
        hooks,
        insights,
        metrics,
        oauth,
        workflows,
    )

    # Every /v1 route needs a key (the routes then ask for the role they need); webhooks are
    # capability URLs and need none.
    keyed = [Depends(get_caller)]
    for router in (workflows.router, executions.router, dead_letters.router, circuits.router,
                   credentials.router, insights.router, chat.router,
                   connectors.router, access.router, audit.router):
        app.include_router(router, dependencies=keyed)
    app.include_router(hooks.router)
    # /metrics asks for the metrics token or an admin key itself (a Prometheus job holds no fw_ key)
    app.include_router(metrics.router)
    # The provider's redirect back carries no key: its single-use state parameter is the
    # capability. Every other OAuth route asks for its role itself.
    app.include_router(oauth.router)

    from pathlib import Path

    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    web = Path(__file__).parent / "web"
    app.mount("/app", StaticFiles(directory=web), name="web")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        """The web page: chat with the copilot, see the workflow, run it and watch it live."""
        return FileResponse(web / "index.html")

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, str]:
        """Liveness: 200 with the service's status and version, and the copilot's readiness
        (``cold``: loads on first use; ``warming``; ``ready``; ``failed``: loads on first use)."""
        return {"status": "ok", "service": "flowwright", "version": app.version, "copilot": readiness.state}

    return app
