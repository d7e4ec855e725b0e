"""The one place where Flowwright errors become HTTP JSON."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from engine.errors import FlowwrightError
from engine.validation import format_loc


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FlowwrightError)
    async def _flowwright(_: Request, exc: FlowwrightError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"error": exc.to_dict()})

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
