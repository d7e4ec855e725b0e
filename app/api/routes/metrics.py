"""``GET /metrics``: operations metrics in the Prometheus text format (:mod:`app.insights.metrics`).

Metrics are an operator's view, so a viewer or editor key gets none: an admin API key sees its own
workspace's series; ``FLOWWRIGHT_METRICS_TOKEN`` (what a Prometheus scrape job sends as its bearer
token) sees every workspace and the worker processes.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.deps import ContainerDep, DbDep, SettingsDep
from app.auth.errors import ForbiddenError, UnauthenticatedError

router = APIRouter(tags=["service"])
_bearer = HTTPBearer(auto_error=False, description="FLOWWRIGHT_METRICS_TOKEN, or an admin API key.")

_ALL = "*"


def metrics_scope(container: ContainerDep, settings: SettingsDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The workspace the caller may see metrics of, or ``*`` for the metrics token (401 without a
    token or key, 403 for a key below admin)."""
    if credentials is None:
        raise UnauthenticatedError("metrics need FLOWWRIGHT_METRICS_TOKEN or an admin API key: send "
                                   "Authorization: Bearer …")
    token = settings.metrics_token
    if token is not None and hmac.compare_digest(credentials.credentials.encode(),
                                                 token.get_secret_value().encode()):
        return _ALL
    caller = container.api_keys.authenticate(credentials.credentials)
    container.request_limiter.hit(caller.key_id)
    if not caller.allows("admin"):
        raise ForbiddenError(f"metrics need an admin key or FLOWWRIGHT_METRICS_TOKEN; this key is {caller.role}",
                             required="admin", role=caller.role)
    return caller.workspace


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"}})
async def metrics(db: DbDep, scope: Annotated[str, Depends(metrics_scope)]) -> Response:
    """Executions by status, step duration histograms, queue depth and wait, model tokens, cost and
    cache hits (and, for the metrics token, the workers) in the Prometheus text format."""
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    from app.insights.metrics import exposition

    body = await asyncio.to_thread(exposition, db, None if scope == _ALL else scope)
    return Response(content=body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
