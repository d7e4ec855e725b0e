"""Imported connectors: a workspace's OpenAPI documents turned into connectors."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import AuditDep, ConnectorStoreDep, EditorDep, ViewerDep
from connectors.openapi_schema import SpecInvalidError, SpecProblem

router = APIRouter(prefix="/v1/connectors", tags=["connectors"])


@router.post("/import", status_code=201)
async def import_document(request: Request, store: ConnectorStoreDep, caller: EditorDep, audit: AuditDep,
                          name: str | None = None,
                          base_url: str | None = None, replace: bool = False) -> dict[str, Any]:
    """Import an OpenAPI 3.x document (the request body, YAML or JSON) as a connector of the
    workspace (editor or admin); 422 lists every problem with its JSON path."""
    limit = store.max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise SpecInvalidError([SpecProblem("$", f"the document is {declared} bytes; the limit is {limit}")])
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise SpecInvalidError([SpecProblem("$", f"the document is larger than the limit of {limit} bytes")])
        chunks.append(chunk)
    result = await asyncio.to_thread(store.import_document, caller.workspace, b"".join(chunks), name=name,
                                     base_url=base_url, replace=replace)
    connector = result.connector
    await asyncio.to_thread(audit, "connector.imported", "connector", connector.name, replace=replace or None)
    return {"name": connector.name, "title": connector.title, "base_url": result.base_url, "auth": str(connector.auth),
            "operations": [op.name for op in connector.operations], "skipped": result.skipped}


@router.get("/imported")
async def list_imported(store: ConnectorStoreDep, caller: ViewerDep) -> list[dict[str, Any]]:
    """The workspace's imported connectors (name, base URL, operations)."""
    infos = await asyncio.to_thread(store.list, caller.workspace)
    return [i.to_dict() for i in infos]


@router.delete("/{name}", status_code=204)
async def delete_imported(name: str, store: ConnectorStoreDep, caller: EditorDep, audit: AuditDep) -> None:
    """Delete one of the workspace's imported connectors (editor or admin; 404 if it has none of
    that name)."""
    await asyncio.to_thread(store.delete, caller.workspace, name)
    await asyncio.to_thread(audit, "connector.deleted", "connector", name)
