"""Credentials: names and types are readable; secrets go in and never come out."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import VaultDep, WorkspaceDep
from connectors.errors import CredentialError
from engine.errors import FlowwrightError

router = APIRouter(prefix="/v1/credentials", tags=["credentials"])


class CredentialInvalidError(FlowwrightError):
    status = 422
    code = "credential_invalid"


class CredentialIn(BaseModel):
    type: str = Field(description="none, api_key, basic, oauth2, smtp or url")
    secret: dict[str, Any] | str = Field(description="A JSON object, or one value for single-value types.")


@router.get("")
async def list_credentials(vault: VaultDep, workspace: WorkspaceDep) -> list[dict[str, Any]]:
    """Names, types and key ids of the workspace's credentials (never secrets)."""
    infos = await asyncio.to_thread(vault.list, workspace)
    return [i.to_dict() for i in infos]


@router.put("/{name}")
async def set_credential(name: str, body: CredentialIn, vault: VaultDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Create or replace a credential; the response never echoes the secret."""
    try:
        info = await asyncio.to_thread(vault.set, workspace, name, body.type, body.secret)
    except CredentialError as exc:
        raise CredentialInvalidError(exc.message, code=exc.code, **exc.details) from None
    return dict(info.to_dict())


@router.delete("/{name}", status_code=204)
async def delete_credential(name: str, vault: VaultDep, workspace: WorkspaceDep) -> None:
    await asyncio.to_thread(vault.delete, workspace, name)
