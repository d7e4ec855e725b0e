"""Executions: start a run, read it, control it, follow it live over SSE, decide approvals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from app.api.deps import AuditDep, EditorDep, ExecutionStoreDep, RuntimeDep, ViewerDep, WorkflowStoreDep
from engine.errors import ConflictError, FlowwrightError
from engine.event_tree import tree_events
from engine.execution_history import HistoryQuery, parse_moment, statuses_from
from engine.execution_views import execution_summary
from engine.trigger_input import manual_input

router = APIRouter(prefix="/v1", tags=["executions"])

STATUSES = ("pending", "running", "paused", "waiting", "completed", "failed", "cancelled", "timed_out")


class BadRequestError(FlowwrightError):
    code = "bad_request"
    status = 400


class RunIn(BaseModel):
    input: Any = None
    dry_run: bool = False


class Started(BaseModel):
    id: str
    status: str


def summary(row: Any) -> dict[str, Any]:
    """One execution as a list item (the `flowwright executions list --json` shape)."""
    return execution_summary(row)


@router.post("/workflows/{workflow_id}/run", status_code=202)
async def run_workflow(workflow_id: str, runtime: RuntimeDep, store: WorkflowStoreDep, caller: EditorDep,
                       audit: AuditDep, body: RunIn | None = None, wait: bool = False) -> dict[str, Any]:
    """Start a manual run of the current version (202 with the execution id; ``wait=true`` returns
    the finished execution). A webhook workflow's ``input`` is the request body: the run gets it in
    the envelope a real call makes (``{body, headers: {}, query: {}, method, path}``), unless it
    already is one."""
    body = body or RunIn()
    workspace = caller.workspace
    row = await asyncio.to_thread(store.get, workspace, workflow_id)
    if row.status == "archived":
        raise ConflictError(f"workflow {workflow_id} is archived; set its status to active to run it",
                            field="status")
    version = await asyncio.to_thread(store.version, workspace, workflow_id)
    definition = version.definition_dict()
    execution_id = await runtime.start(definition, manual_input(definition, body.input), workspace_id=workspace,
                                       workflow_id=row.id, workflow_version=version.version, trigger="manual",
                                       dry_run=body.dry_run)
    await asyncio.to_thread(audit, "execution.started", "execution", execution_id, workflow_id=row.id,
                            version=version.version, dry_run=body.dry_run or None)
    if wait:
        result: dict[str, Any] = await runtime.wait(execution_id)
        return result
    return {"id": execution_id, "status": "running"}


@router.get("/executions")
async def list_executions(
    executions: ExecutionStoreDep, caller: ViewerDep, response: Response,
    status: Annotated[list[str] | None, Query(description="Only these statuses (repeat it, or comma-separated).")] = None,
    workflow_id: str | None = None,
    trigger: Annotated[str | None, Query(description="Only runs started this way: manual, webhook, schedule, poll.")] = None,
    user_id: str | None = None,
    since: Annotated[str | None, Query(description="Created at or after: ISO 8601, or a span back from now (24h, 7d).")] = None,
    until: Annotated[str | None, Query(description="Created before: ISO 8601, or a span back from now.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the workflow's name, the id or the error.")] = None,
    order_by: Literal["created_at", "duration_ms"] = "created_at",
    direction: Literal["desc", "asc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    cursor: Annotated[str | None, Query(description="The previous page's X-Next-Cursor.")] = None,
) -> list[dict[str, Any]]:
    """Executions of the workspace, newest first unless ``order_by``/``direction`` say otherwise.
    When there are more, the answer's ``X-Next-Cursor`` header (and ``Link: rel="next"``) gives
    the next page; a cursor keeps its place while new runs arrive, unlike ``offset``."""
    query = HistoryQuery(
        workspace_id=caller.workspace, statuses=statuses_from(status, STATUSES), workflow_id=workflow_id,
        trigger=trigger, user_id=user_id, since=parse_moment(since, "since") if since else None,
        until=parse_moment(until, "until") if until else None, text=q or None, order_by=order_by,
        direction=direction, limit=limit, offset=offset, cursor=cursor or None)
    await executions.flush()
    found = await asyncio.to_thread(executions.page, query)
    if found.next_cursor is not None:
        response.headers["X-Next-Cursor"] = found.next_cursor
        response.headers["Link"] = f'<?{_next_query(query, found.next_cursor)}>; rel="next"'
    return [summary(r) for r in found.rows]


def _next_query(query: HistoryQuery, cursor: str) -> str:
    params: list[tuple[str, str]] = [("status", s) for s in query.statuses]
    for name in ("workflow_id", "trigger", "user_id", "order_by", "direction"):
        if (value := getattr(query, name)) is not None:
            params.append((name, str(value)))
    for name in ("since", "until"):
        if (moment := getattr(query, name)) is not None:
            params.append((name, moment.isoformat()))
    if query.text:
        params.append(("q", query.text))
    params += [("limit", str(query.limit)), ("cursor", cursor)]
    return urlencode(params)


@router.get("/executions/{execution_id}")
async def get_execution(execution_id: str, runtime: RuntimeDep, caller: ViewerDep) -> dict[str, Any]:
    """The execution with every step attempt (the `flowwright run --json` shape), plus its list
    fields (workflow id and version, trigger, dry run) so a client can draw the workflow it ran."""
    result: dict[str, Any] = await runtime.describe(execution_id, caller.workspace)
    row = await runtime.get(execution_id, caller.workspace)
    return {**summary(row), **result}


class RerunIn(BaseModel):
    from_node: str | None = None  # reuse the recorded results upstream of this node; run it and the rest
    version: int | None = None  # of the execution's workflow; default: the current version (the draft)


@router.post("/executions/{execution_id}/rerun", status_code=202)
async def rerun(execution_id: str, runtime: RuntimeDep, store: WorkflowStoreDep, caller: EditorDep,
                audit: AuditDep, body: RerunIn | None = None, wait: bool = False) -> dict[str, Any]:
    """Run a finished execution again with the same input, on the workflow's current version (or
    ``version``): from the start, or with ``from_node`` from that node, reusing the recorded
    results of every node upstream of it (they do not run again). A run of a file (no workflow)
    runs its own definition. 202 with the new execution's id; ``wait=true`` waits for its end."""
    from engine.execution_fork import fork

    body = body or RerunIn()
    workspace = caller.workspace
    source = await runtime.get(execution_id, workspace)
    definition: Any = json.loads(source.definition)
    version_number = source.workflow_version
    if source.workflow_id is not None:
        version = await asyncio.to_thread(store.version, workspace, source.workflow_id, body.version)
        definition, version_number = version.definition_dict(), version.version
    elif body.version is not None:
        raise BadRequestError(f"execution {execution_id} ran a file, not a stored workflow: it has no versions",
                              field="version")
    new_id = await fork(runtime, execution_id, definition, from_node=body.from_node, workspace_id=workspace,
                        workflow_version=version_number)
    await asyncio.to_thread(audit, "execution.rerun", "execution", new_id, rerun_of=execution_id,
                            from_node=body.from_node, workflow_id=source.workflow_id, version=version_number)
    if wait:
        result: dict[str, Any] = await runtime.wait(new_id)
        return {**result, "rerun_of": execution_id, "from_node": body.from_node}
    return {"id": new_id, "status": "running", "rerun_of": execution_id, "from_node": body.from_node}


@router.post("/executions/{execution_id}/{action}")
async def control(execution_id: str, action: Literal["pause", "resume", "cancel", "retry"], runtime: RuntimeDep,
                  caller: EditorDep, audit: AuditDep) -> dict[str, Any]:
    """Pause, resume, cancel or retry (409 when the execution's state does not allow it)."""
    await runtime.get(execution_id, caller.workspace)  # 404 outside the workspace
    await getattr(runtime, action)(execution_id)
    await asyncio.to_thread(audit, f"execution.{_PAST[action]}", "execution", execution_id)
    row = await runtime.get(execution_id, caller.workspace)
    return {"id": execution_id, "status": row.status}


_PAST = {"pause": "paused", "resume": "resumed", "cancel": "cancelled", "retry": "retried"}


@router.get("/executions/{execution_id}/events")
async def events(execution_id: str, request: Request, runtime: RuntimeDep, caller: ViewerDep,
                 last_event_id: Annotated[str | None, Header()] = None,
                 after: Annotated[int | None, Query(ge=0, description="Replay events after this sequence number.")] = None,
                 tree: Annotated[bool, Query(description="Also the events of its sub-workflow executions, "
                                                         "and theirs (each names its execution_id).")] = False,
                 ) -> EventSourceResponse:
    """Server-sent events: every event after ``Last-Event-ID`` (or ``after``), then live ones,
    until the execution ends. Each event's ``id`` is its sequence number and its name is its type
    (a failed step is ``node.failed``, a failed run ``execution.failed``). With ``tree=true`` the
    events of every sub-workflow execution below it come too, until all of them have ended; they
    carry no ``id`` (their ``seq`` counts on their own execution), are replayed from their start
    on a reconnect, and are told apart by ``execution_id`` (dedupe on ``execution_id`` + ``seq``)."""
    workspace = caller.workspace
    await runtime.get(execution_id, workspace)
    start = after if after is not None else _parse_last_event_id(last_event_id)
    source = tree_events(runtime, execution_id, start) if tree else \
        runtime.events(execution_id, start, workspace_id=workspace)

    async def stream() -> AsyncIterator[dict[str, Any]]:
        async for event in source:
            if await request.is_disconnected():
                return
            # Each event is named by its type (``node.failed``, ``execution.failed``, ...). None is
            # named ``error``: EventSource fires that name for its own connection errors, so a page
            # listening for it cannot tell a failed step from a dropped stream.
            message = {"event": event.type, "data": json.dumps(event.to_dict(), default=str)}
            if event.execution_id == execution_id:  # the resumable position is the execution's own
                message["id"] = str(event.seq)
            yield message

    return EventSourceResponse(stream(), ping=15)


@router.get("/executions/{execution_id}/events/poll")
async def poll_events(
    execution_id: str, runtime: RuntimeDep, caller: ViewerDep,
    after: Annotated[int, Query(ge=0, description="Events after this sequence number.")] = 0,
    wait: Annotated[float, Query(ge=0, le=25, description="Seconds to wait for a first event (long poll).")] = 0,
) -> dict[str, Any]:
    """Long polling, for clients whose SSE stream cannot stay open (a buffering proxy): the events
    after ``after`` (at most 500), waiting up to ``wait`` seconds for the first; ``ended`` once
    the execution's stream is over. The same events, in the same order, as the SSE stream."""
    workspace = caller.workspace
    await runtime.get(execution_id, workspace)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    found: list[dict[str, Any]] = []
    ended = False
    stream = aiter(runtime.events(execution_id, after, workspace_id=workspace))
    try:
        while len(found) < 500:
            # the first event may take up to `wait`; what follows it is only what is ready now
            timeout = max(0.001, deadline - loop.time()) if not found else 0.02
            try:
                event = await asyncio.wait_for(anext(stream), timeout)
            except StopAsyncIteration:
                ended = True
                break
            except TimeoutError:
                break
            found.append(json.loads(json.dumps(event.to_dict(), default=str)))
    finally:
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()
    return {"events": found, "last_seq": found[-1]["seq"] if found else after, "ended": ended}


def _parse_last_event_id(value: str | None) -> int:
    if value is None or value == "":
        return 0
    try:
        seq = int(value)
    except ValueError:
        raise BadRequestError(f"Last-Event-ID must be an event sequence number, got {value!r}",
                              field="Last-Event-ID") from None
    if seq < 0:
        raise BadRequestError("Last-Event-ID must not be negative", field="Last-Event-ID")
    return seq


@router.get("/approvals", tags=["approvals"])
async def approvals(runtime: RuntimeDep, caller: ViewerDep) -> list[dict[str, Any]]:
    """Guardrails waiting for a person in this workspace."""
    result: list[dict[str, Any]] = await runtime.approvals(caller.workspace)
    return result


class DecisionIn(BaseModel):
    loop_path: str | None = None


@router.post("/executions/{execution_id}/approvals/{node_id}/{decision}", tags=["approvals"])
async def decide(execution_id: str, node_id: str, decision: Literal["approve", "reject"], runtime: RuntimeDep,
                 caller: EditorDep, audit: AuditDep, body: DecisionIn | None = None) -> dict[str, Any]:
    """Approve or reject a waiting guardrail; the execution continues (or the node fails). The
    decision is recorded under the key's user."""
    body = body or DecisionIn()
    await runtime.get(execution_id, caller.workspace)
    await getattr(runtime, decision)(execution_id, node_id, caller.user, loop_path=body.loop_path)
    await asyncio.to_thread(audit, f"approval.{decision}d", "execution", execution_id, node_id=node_id,
                            loop_path=body.loop_path)
    row = await runtime.get(execution_id, caller.workspace)
    return {"id": execution_id, "status": row.status}
