"""`flowwright serve`: the HTTP service."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (FLOWWRIGHT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (FLOWWRIGHT_PORT).")] = None,
) -> None:
    """Start the Flowwright service (API, OpenAPI page at /docs)."""
    import uvicorn

    from app.api.server import create_app
    from app.cli.output import fail
    from app.settings import UnsafeSettingsError, get_settings

    settings = get_settings()
    try:
        settings.check_safe()
    except UnsafeSettingsError as exc:
        fail(str(exc))
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level)
