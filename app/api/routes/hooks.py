"""Webhook triggers: ``/v1/hooks/{workflow_id}`` starts a run of an active webhook workflow.

The workflow id is the capability (as n8n's webhook paths are): callers need no workspace
header. The run's ``trigger`` input is the request envelope ``{body, headers, query, method,
path}``; a trigger ``input_schema`` describes the body and a mismatch is a 422 listing each path.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import RuntimeDep, WorkflowStoreDep
from engine.errors import FlowwrightError, NotFoundError

router = APIRouter(prefix="/v1/hooks", tags=["webhooks"])

# Headers that carry credentials of the caller never enter the execution's input.
_DROP_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}
_SECRET_HEADER = re.compile(r"(?i)(token|secret|auth|api[-_]?key|signature|password|session)")


class WebhookError(FlowwrightError):
    status = 400
    code = "webhook_invalid"


class MethodNotAllowedError(FlowwrightError):
    status = 405
    code = "method_not_allowed"


async def webhook(workflow_id: str, request: Request, runtime: RuntimeDep, store: WorkflowStoreDep,
                  path: str = "", wait: bool = False) -> dict[str, Any]:
    """Start a run from an HTTP call (202 with the execution id; ``?wait=true`` waits for the end)."""
    found = await asyncio.to_thread(store.active_by_id, workflow_id)
    trigger = next((n for n in found[1].definition_dict()["nodes"] if n.get("type") == "trigger"), None) \
        if found else None
    if found is None or trigger is None or trigger.get("kind") != "webhook":
        raise NotFoundError(f"no active webhook workflow {workflow_id}")
    row, version = found
    config = trigger.get("config") or {}
    method = config.get("method") or "POST"
    if request.method != method:
        raise MethodNotAllowedError(f"this webhook accepts {method}, not {request.method}", allowed=method)
    expected_path = (config.get("path") or "").strip("/")
    if expected_path and path.strip("/") != expected_path:
        raise NotFoundError(f"no webhook at path {path!r} for workflow {workflow_id}")
    raw = await request.body()  # at most FLOWWRIGHT_WEBHOOK_MAX_BODY_BYTES (app.api.request_limits)
    body = _decode(raw, request.headers.get("content-type", ""))
    envelope = {
        "body": body, "method": request.method, "path": path,
        "query": {k: (vs[0] if len(vs) == 1 else vs) for k in request.query_params
                  if (vs := request.query_params.getlist(k))},
        "headers": {k: v for k, v in request.headers.items()
                    if k.lower() not in _DROP_HEADERS and not _SECRET_HEADER.search(k)},
    }
    envelope["query"].pop("wait", None)
    execution_id = await runtime.start(version.definition_dict(), envelope, workspace_id=row.workspace_id,
                                       workflow_id=row.id, workflow_version=version.version, trigger="webhook")
    if wait:
        result: dict[str, Any] = await runtime.wait(execution_id)
        return result
    return {"id": execution_id, "status": "running"}


for _method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
    router.add_api_route("/{workflow_id}", webhook, methods=[_method], status_code=202,
                         operation_id=f"webhook_{_method.lower()}")
    router.add_api_route("/{workflow_id}/{path:path}", webhook, methods=[_method], status_code=202,
                         operation_id=f"webhook_path_{_method.lower()}")


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw:
        return {}
    if "json" in content_type or not content_type:
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WebhookError(f"request body is not valid JSON: {exc}", field="body") from None
    if "application/x-www-form-urlencoded" in content_type:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(raw.decode("utf-8", "replace")))
    return raw.decode("utf-8", "replace")
