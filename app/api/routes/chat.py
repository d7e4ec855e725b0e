"""The copilot over HTTP: conversations whose turns are questions or new workflow versions."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import AuditDep, CopilotDep, EditorDep, ViewerDep

router = APIRouter(prefix="/v1/conversations", tags=["copilot"])


class MessageIn(BaseModel):
    message: str = Field(min_length=1, max_length=20_000)


class StartIn(MessageIn):
    workflow_id: str | None = Field(None, description="Refine this existing workflow instead of a new one.")


@router.post("", status_code=201)
async def start(body: StartIn, copilot: CopilotDep, caller: EditorDep, audit: AuditDep) -> dict[str, Any]:
    """Start a conversation with its first message; returns the assistant's turn."""
    conversation_id = await asyncio.to_thread(copilot.start, caller.workspace, workflow_id=body.workflow_id,
                                              title=body.message, user_id=caller.user)
    turn = await copilot.asend(conversation_id, body.message)
    result: dict[str, Any] = turn.to_dict()
    await _audit_version(audit, turn, conversation_id, new=body.workflow_id is None)
    return result


async def _audit_version(audit: AuditDep, turn: Any, conversation_id: str, *, new: bool) -> None:
    """A turn that saved a version: the workflow was created (its first) or changed, via the copilot."""
    if turn.workflow_id is None or turn.version is None or turn.version == turn.base_version:
        return
    action = "workflow.created" if new and turn.version == 1 else "workflow.changed"
    await asyncio.to_thread(audit, action, "workflow", turn.workflow_id, version=turn.version,
                            conversation_id=conversation_id, source="copilot")


@router.post("/{conversation_id}/messages")
async def send(conversation_id: str, body: MessageIn, copilot: CopilotDep, caller: EditorDep,
               audit: AuditDep) -> dict[str, Any]:
    """The assistant's turn after this message (a question, or a new version with its diff)."""
    await asyncio.to_thread(copilot.chat.get, conversation_id, caller.workspace)  # 404 outside the workspace
    turn = await copilot.asend(conversation_id, body.message)
    result: dict[str, Any] = turn.to_dict()
    await _audit_version(audit, turn, conversation_id, new=False)
    return result


@router.post("/{conversation_id}/undo")
async def undo(conversation_id: str, copilot: CopilotDep, caller: EditorDep) -> dict[str, Any]:
    """Return the workflow to the version the current one was derived from."""
    await asyncio.to_thread(copilot.chat.get, conversation_id, caller.workspace)
    turn = await asyncio.to_thread(copilot.undo, conversation_id)
    result: dict[str, Any] = turn.to_dict()
    return result


@router.get("/{conversation_id}")
async def read(conversation_id: str, copilot: CopilotDep, caller: ViewerDep) -> dict[str, Any]:
    """The conversation and its messages, oldest first."""
    row = await asyncio.to_thread(copilot.chat.get, conversation_id, caller.workspace)
    messages = await asyncio.to_thread(copilot.chat.messages, conversation_id)
    return {
        "id": row.id, "workflow_id": row.workflow_id, "title": row.title,
        "messages": [{"seq": m.seq, "role": m.role, "kind": m.kind, "content": m.content,
                      "workflow_id": m.workflow_id, "version": m.workflow_version} for m in messages],
    }
