"""Who the key is (``/v1/me``) and the workspace's API keys (admin)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import AdminDep, AuditDep, KeyStoreDep, ViewerDep
from app.auth.models import Role

router = APIRouter(prefix="/v1", tags=["access"])


@router.get("/me")
def me(caller: ViewerDep) -> dict[str, Any]:
    """The key's workspace, role and user (what the web page shows after sign-in)."""
    return {"workspace": caller.workspace, "role": caller.role, "user": caller.user, "key": caller.key_id}


class KeyIn(BaseModel):
    role: Role
    name: str | None = Field(None, max_length=100)
    user: str | None = Field(None, max_length=100, description="Whose key it is (default: its name, else its role).")
    expires_at: datetime | None = None


@router.get("/api-keys")
async def list_keys(keys: KeyStoreDep, caller: AdminDep) -> list[dict[str, Any]]:
    """The workspace's keys (never a token)."""
    return [k.to_dict() for k in await asyncio.to_thread(keys.list, caller.workspace)]


@router.post("/api-keys", status_code=201)
async def create_key(body: KeyIn, keys: KeyStoreDep, caller: AdminDep, audit: AuditDep) -> dict[str, Any]:
    """A new key of this workspace; ``token`` is in this answer and nowhere else, ever."""
    issued = await asyncio.to_thread(keys.issue, caller.workspace, body.role, name=body.name, user=body.user,
                                     expires_at=body.expires_at)
    await asyncio.to_thread(audit, "api_key.created", "api_key", issued.info.id, role=body.role, user=issued.info.user)
    return {**issued.info.to_dict(), "token": issued.token}


@router.delete("/api-keys/{key_id}")
async def revoke_key(key_id: str, keys: KeyStoreDep, caller: AdminDep, audit: AuditDep) -> dict[str, Any]:
    """Revoke a key of this workspace; it stops working at once."""
    revoked = await asyncio.to_thread(keys.revoke, key_id, workspace=caller.workspace)
    await asyncio.to_thread(audit, "api_key.revoked", "api_key", key_id)
    return revoked.to_dict()
