"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from app.api.errors import install_error_handlers
from app.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Flowwright",
        description="Describe an automation in a chat; get a validated, guarded, runnable workflow.",
        version="0.1.0",
    )
    app.state.settings = settings
    install_error_handlers(app)

    from app.api.routes import workflows

    app.include_router(workflows.router)

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, str]:
        """Liveness: 200 with the service's status and version."""
        return {"status": "ok", "service": "flowwright", "version": app.version}

    return app
