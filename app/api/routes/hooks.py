"""Webhook triggers: ``/v1/hooks/{workflow_id}`` starts a run of an active webhook workflow.

The workflow id is the capability (as n8n's webhook paths are): callers need no API key. A
trigger with ``config.signing`` also needs a valid HMAC signature (``app.api.webhook_signature``;
401 otherwise, before anything runs), seen for the first time (``app.api.webhook_replays``). The run's ``trigger`` input is the request envelope ``{body,
headers, query, method, path}``; a trigger ``input_schema`` describes the body and a mismatch is a
422 listing each path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from fastapi import APIRouter, Request

from app.api import webhook_signature
from app.api.deps import ContainerDep, RuntimeDep, WorkflowStoreDep
from app.api.webhook_signature import WebhookSignatureError
from engine.errors import FlowwrightError, NotFoundError

log = logging.getLogger(__name__)

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
                  container: ContainerDep, path: str = "", wait: bool = False) -> dict[str, Any]:
    """Start a run from an HTTP call (202 with the execution id; ``?wait=true`` waits for the end
    and answers the workflow's output, not its steps)."""
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
    if config.get("signing"):
        await _verify(request, raw, config["signing"], row.workspace_id, row.id, container)
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
        return caller_view(await runtime.wait(execution_id))
    return {"id": execution_id, "status": "running"}


def caller_view(execution: dict[str, Any]) -> dict[str, Any]:
    """What ``?wait=true`` tells a webhook caller: the outcome and the workflow's output — never
    the steps (their inputs and outputs are the workspace's, not the caller's), and of an error
    only its code and node."""
    error = execution.get("error")
    if isinstance(error, dict):
        error = {k: error[k] for k in ("code", "node_id") if k in error}
    return {"id": execution["id"], "status": execution["status"], "outcome": execution.get("outcome"),
            "failed_steps": execution.get("failed_steps", 0), "output": execution.get("output"),
            "error": error, "duration_ms": execution.get("duration_ms")}


for _method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
    router.add_api_route("/{workflow_id}", webhook, methods=[_method], status_code=202,
                         operation_id=f"webhook_{_method.lower()}")
    router.add_api_route("/{workflow_id}/{path:path}", webhook, methods=[_method], status_code=202,
                         operation_id=f"webhook_path_{_method.lower()}")


async def _verify(request: Request, raw: bytes, signing: dict[str, Any], workspace_id: str, workflow_id: str,
                  container: Any) -> None:
    """The request's signature verifies under the trigger's secret and was not accepted before,
    else 401 (before the body is even decoded). A secret that cannot be read fails closed: the
    caller learns only that."""
    name = str(signing.get("credential", ""))
    try:
        if container.vault is None:
            raise ValueError("this process has no credential vault")
        credential = await asyncio.to_thread(container.vault.resolve, workspace_id, name)
        secret = webhook_signature.secret_of(credential)
    except (FlowwrightError, ValueError) as exc:
        message = exc.message if isinstance(exc, FlowwrightError) else str(exc)
        log.warning("webhook %s: its signing credential %r cannot be used: %s", workflow_id, name, message)
        raise WebhookSignatureError("this webhook's signing secret is not available, so no request can verify "
                                    "(its owner must store the credential)", reason="secret_unavailable") from None
    tolerance_s = int(signing.get("tolerance_s") or 300)
    timestamp = webhook_signature.verify(request.headers.get(webhook_signature.HEADER), secret, raw,
                                         tolerance_s=tolerance_s)
    delivered = webhook_signature.signature(secret, timestamp, raw)  # the same for every copy of this request
    first = await asyncio.to_thread(container.webhook_signatures.first_time, workflow_id, delivered,
                                    expires_at=timestamp + tolerance_s + 1)
    if not first:
        raise WebhookSignatureError("this signed request was accepted already: a copy sent again within the "
                                    f"{tolerance_s} s window is a replay (sign each delivery with a new timestamp)",
                                    reason="replayed", tolerance_s=tolerance_s)


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
