"""The FastAPI application factory and its lifespan (recovery, scheduler, shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from app.api.api_docs import install_docs
from app.api.errors import install_error_handlers
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the collaborators, resume executions whose process died, run the scheduler."""
    from app.wiring import build_services
    from engine.cron_scheduler import CronScheduler

    settings: Settings = app.state.settings
    services = app.state.services = build_services(settings)
    runtime = services.runtime
    resumed = await runtime.recover()
    if resumed:
        log.info("resumed %d execution(s) interrupted by a restart: %s", len(resumed), ", ".join(resumed))

    async def start_scheduled(row: Any, version: Any, payload: dict[str, str]) -> str:
        execution_id: str = await runtime.start(
            version.definition_dict(), payload, workspace_id=row.workspace_id, workflow_id=row.id,
            workflow_version=version.version, trigger="schedule")
        return execution_id

    scheduler = CronScheduler(services.workflow_store, services.db, start_scheduled,
                              poll_s=settings.scheduler_poll_s)
    app.state.scheduler = scheduler
    stop = asyncio.Event()
    ticker = asyncio.create_task(scheduler.run_forever(stop)) if settings.scheduler_enabled else None
    try:
        yield
    finally:
        stop.set()
        if ticker is not None:
            await ticker
        await runtime.aclose()
        services.close()
        app.state.services = None


def create_app(settings: Settings | None = None) -> FastAPI:
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
    app.state.services = None
    install_error_handlers(app)
    install_docs(app)

    from app.api.routes import chat, credentials, executions, hooks, insights, workflows

    app.include_router(workflows.router)
    app.include_router(executions.router)
    app.include_router(hooks.router)
    app.include_router(credentials.router)
    app.include_router(insights.router)
    app.include_router(chat.router)

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
        """Liveness: 200 with the service's status and version."""
        return {"status": "ok", "service": "flowwright", "version": app.version}

    return app
