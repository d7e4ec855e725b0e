"""The copilot over HTTP: conversations whose turns are questions or new workflow versions.

A message posted with ``Accept: text/event-stream`` is answered as server-sent events instead of
one JSON body: a ``stage`` event as each stage of the turn starts and ends (retrieve context, plan,
each check of the model's answer, repair, guardrail passes, validate, store), then one ``turn``
event (the same JSON the plain answer has) or one ``failed`` event (``{"error": ...}``, the payload
a 4xx/5xx would carry). No event is named ``error``: EventSource fires that name for its own
connection errors.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from app.api.deps import AuditDep, CopilotDep, EditorDep, ViewerDep
from app.copilot.chat import Turn
from app.copilot.progress import ProgressCallback, StageEvent
from engine.errors import FlowwrightError

router = APIRouter(prefix="/v1/conversations", tags=["copilot"])
log = logging.getLogger(__name__)
AcceptHeader = Annotated[str | None, Header(description="text/event-stream: stream the turn's stages (SSE).")]


class MessageIn(BaseModel):
    message: str = Field(min_length=1, max_length=20_000)


class StartIn(MessageIn):
    workflow_id: str | None = Field(None, description="Refine this existing workflow instead of a new one.")


def wants_stream(accept: str | None) -> bool:
    """Whether the client asked for server-sent events."""
    return bool(accept) and "text/event-stream" in str(accept).lower()


@router.post("", status_code=201, response_model=None)
async def start(body: StartIn, copilot: CopilotDep, caller: EditorDep, audit: AuditDep,
                accept: AcceptHeader = None) -> dict[str, Any] | Response:
    """Start a conversation with its first message; returns the assistant's turn (streamed as
    ``stage`` events then a ``turn`` event with ``Accept: text/event-stream``)."""
    conversation_id = await asyncio.to_thread(copilot.start, caller.workspace, workflow_id=body.workflow_id,
                                              title=body.message, user_id=caller.user)
    new = body.workflow_id is None
    if wants_stream(accept):
        return stream_turn(lambda report: _audited(audit, copilot.send(conversation_id, body.message, progress=report),
                                                   conversation_id, new=new))
    turn = await copilot.asend(conversation_id, body.message)
    result: dict[str, Any] = turn.to_dict()
    await asyncio.to_thread(_audited, audit, turn, conversation_id, new=new)
    return result


@router.post("/{conversation_id}/messages", response_model=None)
async def send(conversation_id: str, body: MessageIn, copilot: CopilotDep, caller: EditorDep, audit: AuditDep,
               accept: AcceptHeader = None) -> dict[str, Any] | Response:
    """The assistant's turn after this message (a question, or a new version with its diff);
    streamed as ``stage`` events then a ``turn`` event with ``Accept: text/event-stream``."""
    await asyncio.to_thread(copilot.chat.get, conversation_id, caller.workspace)  # 404 outside the workspace
    if wants_stream(accept):
        return stream_turn(lambda report: _audited(audit, copilot.send(conversation_id, body.message, progress=report),
                                                   conversation_id, new=False))
    turn = await copilot.asend(conversation_id, body.message)
    result: dict[str, Any] = turn.to_dict()
    await asyncio.to_thread(_audited, audit, turn, conversation_id, new=False)
    return result


def _audited(audit: AuditDep, turn: Turn, conversation_id: str, *, new: bool) -> Turn:
    """The turn, audited when it saved a version: the workflow was created (its first) or
    changed, via the copilot."""
    if turn.workflow_id is None or turn.version is None or turn.version == turn.base_version:
        return turn
    action = "workflow.created" if new and turn.version == 1 else "workflow.changed"
    audit(action, "workflow", turn.workflow_id, version=turn.version, conversation_id=conversation_id,
          source="copilot")
    return turn


def stream_turn(run: Callable[[ProgressCallback], Turn], *, ping_s: float = 15) -> EventSourceResponse:
    """Run one turn in a worker thread and stream its stages as they happen, then the turn.

    A client that goes away stops the stream, not the turn: it runs to its end and is stored, as a
    plain request's would be (the conversation shows it on the next read)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def put(name: str, data: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (name, data))

    def report(event: StageEvent) -> None:
        put("stage", event.to_dict())

    def job() -> None:
        try:
            put("turn", run(report).to_dict())
        except FlowwrightError as exc:
            put("failed", {"error": exc.to_dict(), "status": exc.status})
        except Exception as exc:  # our bug: said as the 500 JSON would say it, the details logged
            log.error("copilot: a streamed turn failed", exc_info=exc)
            put("failed", {"error": {"code": "internal_error", "message": "internal error (details are in the service log)"},
                           "status": 500})

    context = contextvars.copy_context()
    # the executor keeps the job alive if the client leaves; no task of ours needs a reference
    loop.run_in_executor(None, context.run, job)

    async def events() -> AsyncIterator[dict[str, Any]]:
        while True:
            name, data = await queue.get()
            yield {"event": name, "data": json.dumps(data, default=str)}
            if name != "stage":
                return

    return EventSourceResponse(events(), ping=ping_s)


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
