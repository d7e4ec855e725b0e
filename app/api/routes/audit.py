"""The audit log (admin keys): who created, changed, activated, ran, approved or deleted what, when."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response

from app.api.deps import AdminDep, ContainerDep
from engine.audit_log import MAX_LIMIT
from engine.execution_history import parse_moment

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit")
async def audit_log(
    container: ContainerDep, caller: AdminDep, response: Response,
    since: Annotated[str | None, Query(description="At or after: ISO 8601, or a span back from now (24h, 7d).")] = None,
    until: Annotated[str | None, Query(description="Before: ISO 8601, or a span back from now.")] = None,
    action: Annotated[str | None, Query(max_length=100, description="One action (workflow.activated), or every "
                                                                    "action of a kind (workflow.).")] = None,
    user: Annotated[str | None, Query(max_length=100, description="Only what this user did.")] = None,
    target: Annotated[str | None, Query(max_length=200, description="Only what was done to this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(description="The previous page's X-Next-Cursor.")] = None,
) -> list[dict[str, Any]]:
    """The workspace's audit entries, newest first (admin keys only). When there are more, the
    answer's ``X-Next-Cursor`` header (and ``Link: rel="next"``) gives the next page."""
    start = parse_moment(since, "since") if since else None
    end = parse_moment(until, "until") if until else None
    page = await asyncio.to_thread(container.audit_log.list, caller.workspace, since=start, until=end,
                                   action=action, user=user, target=target, limit=limit, cursor=cursor)
    if page.next_cursor is not None:
        params = {k: v for k, v in {"since": start.isoformat() if start else None,
                                    "until": end.isoformat() if end else None, "action": action, "user": user,
                                    "target": target}.items() if v}
        response.headers["X-Next-Cursor"] = page.next_cursor
        response.headers["Link"] = f'<?{urlencode({**params, "limit": limit, "cursor": page.next_cursor})}>; rel="next"'
    return [e.to_dict() for e in page.entries]
