"""Credentials: names and types are readable; secrets go in and never come out."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import AdminDep, AuditDep, ContainerDep, EditorDep, VaultDep, WorkflowStoreDep
from connectors.errors import CredentialError
from engine.credential_refs import credential_refs
from engine.errors import FlowwrightError
from engine.workflow_store import WorkflowStore

router = APIRouter(prefix="/v1/credentials", tags=["credentials"])


class CredentialInvalidError(FlowwrightError):
    status = 422
    code = "credential_invalid"


class CredentialIn(BaseModel):
    type: str = Field(description="none, api_key, basic, oauth2, smtp or url")
    secret: dict[str, Any] | str = Field(description="A JSON object, or one value for single-value types.")


def _usage(store: WorkflowStore, workspace: str) -> dict[str, list[dict[str, Any]]]:
    """Per credential name, the workspace's workflows whose draft or active version names it."""
    used: dict[str, list[dict[str, Any]]] = {}
    for row in store.list(workspace, include_archived=True):
        numbers = {n for n in (row.current_version, row.active_version if row.status == "active" else None) if n}
        nodes: dict[str, list[str]] = {}
        for number in sorted(numbers):
            for name, keys in credential_refs(store.version(workspace, row.id, number).definition_dict()).items():
                nodes.setdefault(name, []).extend(k for k in keys if k not in nodes.get(name, []))
        for name, keys in nodes.items():
            used.setdefault(name, []).append({"workflow_id": row.id, "name": row.name, "status": row.status,
                                              "nodes": keys})
    return used


@router.get("")
async def list_credentials(vault: VaultDep, container: ContainerDep, store: WorkflowStoreDep,
                           caller: EditorDep) -> list[dict[str, Any]]:
    """Names, types and key ids of the workspace's credentials (never secrets; editor or admin),
    each with ``used_by``: the workflows whose draft or active version names it (and the nodes);
    OAuth 2.0 ones also carry ``oauth`` (expiry, ``ok`` or ``needs_reauth``)."""
    infos = await asyncio.to_thread(vault.list, caller.workspace)
    used = await asyncio.to_thread(_usage, store, caller.workspace)
    tokens = container.token_manager
    states = ({s.name: s.to_dict() for s in await asyncio.to_thread(tokens.states, caller.workspace)}
              if tokens else {})
    return [{**i.to_dict(), "used_by": used.get(i.name, []),
             **({"oauth": states[i.name]} if i.name in states else {})} for i in infos]


@router.put("/{name}")
async def set_credential(name: str, body: CredentialIn, vault: VaultDep, container: ContainerDep,
                         caller: AdminDep, audit: AuditDep) -> dict[str, Any]:
    """Create or replace a credential (admin); the response never echoes the secret (a credential
    set by hand is not an OAuth connection: it is never refreshed)."""
    try:
        info = await asyncio.to_thread(vault.set, caller.workspace, name, body.type, body.secret)
    except CredentialError as exc:
        raise CredentialInvalidError(exc.message, code=exc.code, **exc.details) from None
    if container.token_manager is not None:
        await asyncio.to_thread(container.token_manager.forget, caller.workspace, name)
    await asyncio.to_thread(audit, "credential.set", "credential", name, type=body.type)
    return dict(info.to_dict())


@router.delete("/{name}", status_code=204)
async def delete_credential(name: str, vault: VaultDep, container: ContainerDep, caller: AdminDep,
                            audit: AuditDep) -> None:
    """Delete a credential (admin), and an OAuth 2.0 credential's refresh state."""
    await asyncio.to_thread(vault.delete, caller.workspace, name)
    await asyncio.to_thread(audit, "credential.deleted", "credential", name)
    if container.token_manager is not None:
        await asyncio.to_thread(container.token_manager.forget, caller.workspace, name)
