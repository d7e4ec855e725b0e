"""Limits every request body meets before any route sees it: a size limit and a JSON depth limit.

An ASGI middleware (not a dependency) so that it holds for every route, and so that the size is
counted while the body streams in — a chunked upload is cut off at the limit instead of being read
whole first. A body over the limit is answered 413 at once, without reading the rest; a JSON body
nested deeper than the limit is answered 422 with the JSON path where it goes too deep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import re2
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.json_depth import too_deep

WEBHOOK_PREFIX = "/v1/hooks/"
OPENAPI_IMPORT_PATH = "/v1/connectors/import"
# strings (skipped whole, so brackets inside them do not count), keys, brackets and commas
_SPACE = re2.compile(rb"\s*")
_TOKEN = re2.compile(rb'"(?:[^"\\]|\\.)*"(?:\s*:)?|[\[\]{},]')


@dataclass(frozen=True)
class RequestLimits:
    """The limits, from the settings (``FLOWWRIGHT_MAX_BODY_BYTES`` and friends)."""

    max_body_bytes: int
    webhook_max_body_bytes: int
    max_json_depth: int
    openapi_max_bytes: int = 2 * 1024 * 1024

    def body_limit(self, path: str) -> tuple[int, str]:
        """The byte limit for a request path and the setting that sets it."""
        if path.startswith(WEBHOOK_PREFIX):
            return self.webhook_max_body_bytes, "FLOWWRIGHT_WEBHOOK_MAX_BODY_BYTES"
        if path == OPENAPI_IMPORT_PATH:
            return self.openapi_max_bytes, "FLOWWRIGHT_OPENAPI_MAX_BYTES"
        return self.max_body_bytes, "FLOWWRIGHT_MAX_BODY_BYTES"


class RequestLimitMiddleware:
    """Reads each request body (up to its limit), checks it, then hands it to the application."""

    def __init__(self, app: ASGIApp, limits: RequestLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "content-length" not in headers and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (GET, SSE): nothing to hold back
            return
        limit, setting = self.limits.body_limit(scope["path"])
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refuse before reading a byte of it
            await _too_large(limit, setting)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away mid-body
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(limit, setting)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if (path := json_too_deep(body, headers.get("content-type", ""), self.limits.max_json_depth)) is not None:
            await _error(422, "json_too_deep", f"the JSON body nests deeper than {self.limits.max_json_depth} "
                         f"levels at {path} (FLOWWRIGHT_MAX_JSON_DEPTH)", path=path,
                         limit=self.limits.max_json_depth)(scope, receive, send)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def json_too_deep(body: bytes, content_type: str, limit: int) -> str | None:
    """The JSON path where a JSON body first nests deeper than ``limit``, or ``None`` (also for a
    body that is not JSON at all: the route reports that in its own words)."""
    start = _SPACE.match(body).end()  # always matches (an empty run of spaces)
    if body[start:start + 1] not in (b"{", b"[") or (content_type and "json" not in content_type.lower()):
        return None
    if body.count(b"[") + body.count(b"{") <= limit:  # cannot be that deep: skip the parse
        return None
    try:
        value = json.loads(body)
    except RecursionError:  # deeper than the parser goes: find the place by scanning tokens
        return _scan(body, limit)
    except ValueError:
        return None
    return too_deep(value, limit)


def _scan(body: bytes, limit: int) -> str:
    """The path at which raw JSON text first exceeds ``limit`` levels (linear: RE2 tokens)."""
    frames: list[list[Any]] = []  # [kind, path, key-or-index]
    pending_key: str | None = None
    for match in _TOKEN.finditer(body):
        token = match.group()
        if token in (b"{", b"["):
            if frames:
                parent = frames[-1]
                here = f"{parent[1]}.{pending_key}" if parent[0] == "{" else f"{parent[1]}[{parent[2]}]"
            else:
                here = "$"
            if len(frames) + 1 > limit:
                return here
            frames.append([token.decode(), here, 0])
            pending_key = None
        elif token in (b"}", b"]"):
            if frames:
                frames.pop()
        elif token == b",":
            if frames and frames[-1][0] == "[":
                frames[-1][2] += 1
        elif token.endswith(b":"):
            try:
                pending_key = json.loads(token[:-1].rstrip())
            except ValueError:
                pending_key = "?"
    return "$"


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives back what was already read, then listens to the client again."""
    queue = list(messages)

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


def _too_large(limit: int, setting: str) -> JSONResponse:
    response = _error(413, "body_too_large", f"the request body is larger than {limit} bytes ({setting})",
                      limit_bytes=limit, setting=setting)
    response.headers["connection"] = "close"  # the rest of the body is never read
    return response


def _error(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message, "details": details}})
