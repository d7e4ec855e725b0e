"""The dead-letter queue: list, inspect, replay (optionally with an edited input) and purge."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from app.api.deps import AuditDep, DeadLettersDep, EditorDep, RuntimeDep, ViewerDep
from engine.dead_letters import KEEP_INPUT, letter_dict, replay

router = APIRouter(prefix="/v1", tags=["dead letters"])


class ReplayIn(BaseModel):
    """``input`` replaces the dead execution's input; leave it out to replay the original."""

    model_config = ConfigDict(extra="forbid")

    input: Any = None


@router.get("/dead-letters")
async def list_dead_letters(
    letters: DeadLettersDep, caller: ViewerDep,
    all: Annotated[bool, Query(description="Include entries already replayed.")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """The workspace's dead letters, newest first (those not replayed yet unless ``all``)."""
    rows = await asyncio.to_thread(letters.list, caller.workspace, include_replayed=all, limit=limit)
    return [letter_dict(r) for r in rows]


@router.get("/dead-letters/{execution_id}")
async def get_dead_letter(execution_id: str, letters: DeadLettersDep, caller: ViewerDep) -> dict[str, Any]:
    """One dead letter: why the execution landed here and the error it ended with."""
    return letter_dict(await asyncio.to_thread(letters.get, caller.workspace, execution_id))


@router.post("/dead-letters/{execution_id}/replay", status_code=202)
async def replay_dead_letter(execution_id: str, letters: DeadLettersDep, runtime: RuntimeDep,
                             caller: EditorDep, audit: AuditDep, body: ReplayIn | None = None) -> dict[str, Any]:
    """Run the dead execution's workflow snapshot again as a new execution (202 with its id)."""
    given = body is not None and "input" in body.model_fields_set
    new_id = await replay(runtime, letters, caller.workspace, execution_id,
                          input=body.input if given and body is not None else KEEP_INPUT)
    await asyncio.to_thread(audit, "execution.replayed", "execution", new_id, replay_of=execution_id,
                            edited_input=given or None)
    return {"id": new_id, "status": "running", "replay_of": execution_id}


@router.delete("/dead-letters/{execution_id}", status_code=204)
async def purge_dead_letter(execution_id: str, letters: DeadLettersDep, caller: EditorDep,
                            audit: AuditDep) -> Response:
    """Remove the entry (the execution stays in the history)."""
    await asyncio.to_thread(letters.purge, caller.workspace, execution_id)
    await asyncio.to_thread(audit, "dead_letter.purged", "execution", execution_id)
    return Response(status_code=204)
