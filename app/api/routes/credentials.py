"""Credentials: names and types are readable; secrets go in and never come out."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import AdminDep, ContainerDep, EditorDep, VaultDep
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
async def list_credentials(vault: VaultDep, container: ContainerDep, caller: EditorDep) -> list[dict[str, Any]]:
    """Names, types and key ids of the workspace's credentials (never secrets; editor or admin);
    OAuth 2.0 ones also carry ``oauth`` (expiry, ``ok`` or ``needs_reauth``)."""
    infos = await asyncio.to_thread(vault.list, caller.workspace)
    tokens = container.token_manager
    states = ({s.name: s.to_dict() for s in await asyncio.to_thread(tokens.states, caller.workspace)}
              if tokens else {})
    return [{**i.to_dict(), **({"oauth": states[i.name]} if i.name in states else {})} for i in infos]


@router.put("/{name}")
async def set_credential(name: str, body: CredentialIn, vault: VaultDep, container: ContainerDep,
                         caller: AdminDep) -> dict[str, Any]:
    """Create or replace a credential (admin); the response never echoes the secret (a credential
    set by hand is not an OAuth connection: it is never refreshed)."""
    try:
        info = await asyncio.to_thread(vault.set, caller.workspace, name, body.type, body.secret)
    except CredentialError as exc:
        raise CredentialInvalidError(exc.message, code=exc.code, **exc.details) from None
    if container.token_manager is not None:
        await asyncio.to_thread(container.token_manager.forget, caller.workspace, name)
    return dict(info.to_dict())


@router.delete("/{name}", status_code=204)
async def delete_credential(name: str, vault: VaultDep, container: ContainerDep, caller: AdminDep) -> None:
    """Delete a credential (admin), and an OAuth 2.0 credential's refresh state."""
    await asyncio.to_thread(vault.delete, caller.workspace, name)
    if container.token_manager is not None:
        await asyncio.to_thread(container.token_manager.forget, caller.workspace, name)
