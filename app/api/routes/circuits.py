"""Circuit breakers: the state of each connector host's breaker in the workspace, and a reset."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response

from app.api.deps import AuditDep, BreakersDep, EditorDep, ViewerDep

router = APIRouter(prefix="/v1", tags=["circuit breakers"])


@router.get("/circuits")
async def list_circuits(breakers: BreakersDep, caller: ViewerDep) -> list[dict[str, Any]]:
    """Every breaker that has seen a failure: ``closed``, ``open`` (with ``trial_in_s``) or ``half_open``."""
    return await asyncio.to_thread(breakers.states, caller.workspace)


@router.delete("/circuits/{key}", status_code=204)
async def reset_circuit(key: str, breakers: BreakersDep, caller: EditorDep, audit: AuditDep) -> Response:
    """Close a breaker by hand (after fixing the host); 404 when it has no state."""
    await asyncio.to_thread(breakers.reset, caller.workspace, key)
    await asyncio.to_thread(audit, "circuit.reset", "circuit", key)
    return Response(status_code=204)
