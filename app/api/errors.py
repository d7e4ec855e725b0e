"""The one place where Flowwright errors become HTTP JSON."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from engine.database_faults import DatabaseBusyError, busy_error, describe, is_transient
from engine.errors import FlowwrightError
from engine.validation import format_loc

log = logging.getLogger(__name__)


def _json(exc: FlowwrightError) -> JSONResponse:
    headers: dict[str, str] | None = getattr(exc, "http_headers", None)  # WWW-Authenticate, Retry-After
    if isinstance(exc, DatabaseBusyError):
        headers = {**(headers or {}), "Retry-After": str(exc.retry_after_s)}
    return JSONResponse(status_code=exc.status, content={"error": exc.to_dict()}, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FlowwrightError)
    async def _flowwright(_: Request, exc: FlowwrightError) -> JSONResponse:
        return _json(exc)

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # A locked file, a restarting server or an exhausted pool passes: 503 with Retry-After.
        # Anything else is our bug: 500 JSON; the SQL and its parameters go to the log only.
        if is_transient(exc):
            log.warning("%s %s: %s", request.method, request.url.path, describe(exc))
            return _json(busy_error(exc))
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse(status_code=500, content={"error": {
            "code": "internal_error", "message": f"internal error: {describe(exc)} (details are in the service log)"}})

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"code": f"schema.{e.get('type', 'invalid')}", "path": format_loc(e.get("loc", ())), "message": e.get("msg")}
            for e in exc.errors()
        ]
        return JSONResponse(
            status_code=422,
            content={"error": {"code": "request_invalid", "message": "the request is invalid",
                               "details": {"problems": problems}}},
        )
