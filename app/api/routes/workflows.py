"""Workflows: validate, create, list, read, new versions, activation, diff, soft delete, stats — scoped to
the workspace. Created and edited workflows are drafts; only ``activate`` makes triggers fire."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel

from app.api.deps import (
    AuditDep,
    DbDep,
    EditorDep,
    ExecutionStoreDep,
    RegistryDep,
    ViewerDep,
    WorkflowStoreDep,
)
from app.auth.errors import ForbiddenError
from app.auth.models import Caller
from app.copilot.diff import diff_workflows, unified_diff
from engine import activation
from engine.errors import QueryInvalidError
from engine.execution_history import parse_moment
from engine.json_depth import MAX_DOCUMENT_DEPTH, too_deep
from engine.passes import guard_saved
from engine.subworkflow_calls import check_calls
from engine.validation import nesting_problem, parse_workflow, validate_workflow
from engine.workflow import Workflow
from engine.workflow_store import WorkflowRow, WorkflowVersionRow

router = APIRouter(prefix="/v1", tags=["workflows"])


class WorkflowOut(BaseModel):
    id: str
    name: str
    status: str
    current_version: int | None  # the draft
    active_version: int | None = None  # what the triggers run while the status is active
    deleted: bool = False
    created_at: str | None = None
    updated_at: str | None = None
    definition: dict[str, Any] | None = None
    problems: list[dict[str, Any]] | None = None
    """Set instead of ``definition`` when the stored version cannot be served as it is (one saved
    before nesting was limited: replace it with a PUT)."""
    guardrails_applied: list[dict[str, Any]] | None = None
    """On a save: what the guardrail passes inserted into the document sent (each with its pass,
    node id and reason); empty when it was already guarded or is ``guardrails: manual``."""


class ActivationOut(WorkflowOut):
    fires: dict[str, Any] | None = None  # what now fires (engine.activation.preview); a webhook's full url


class VersionOut(BaseModel):
    version: int
    content_hash: str
    source: str
    created_by: str | None
    created_at: str
    note: str | None = None
    guardrails: Literal["auto", "manual"] = "auto"  # manual: an admin saved it without the guardrail passes
    current: bool = False
    active: bool = False


def _out(row: WorkflowRow, version: WorkflowVersionRow | None = None) -> WorkflowOut:
    out = WorkflowOut(id=row.id, name=row.name, status=row.status, current_version=row.current_version,
                      active_version=row.active_version, deleted=row.deleted_at is not None,
                      created_at=row.created_at.isoformat(), updated_at=row.updated_at.isoformat())
    if version is not None:
        definition = version.definition_dict()
        if problem := nesting_problem(definition):
            out.problems = [problem.to_dict()]
        if too_deep(definition, MAX_DOCUMENT_DEPTH) is None:  # else JSON encoders give up on it
            out.definition = definition
    return out


def _activation(row: WorkflowRow, fires: dict[str, Any] | None, request: Request) -> ActivationOut:
    if fires is not None and fires.get("kind") == "webhook":
        fires = {**fires, "url": str(request.base_url).rstrip("/") + fires["path"]}
    return ActivationOut(**_out(row).model_dump(), fires=fires)


@router.post("/workflows/validate")
def validate(registry: RegistryDep, store: WorkflowStoreDep, caller: ViewerDep,
             document: Any = Body(...), workflow_id: str | None = None) -> dict[str, Any]:  # noqa: B008
    """Validate a workflow document; every problem with its JSON path and code (always 200),
    its sub-workflow calls checked against the workspace's workflows (``workflow_id``: check it
    as a new version of that workflow, so a call chain back to it is a ``subworkflow_cycle``)."""
    result = validate_workflow(document, registry)
    problems = list(result.problems)
    if isinstance(document, dict):
        name = None
        if workflow_id is not None:
            name = store.get(caller.workspace, workflow_id).name  # 404 for a workflow the workspace does not have
        problems += check_calls(document, store, caller.workspace, self_id=workflow_id, self_name=name)
    return {"valid": not problems, "problems": [p.to_dict() for p in problems]}


@router.post("/workflows", status_code=201)
def create(store: WorkflowStoreDep, registry: RegistryDep, caller: EditorDep, audit: AuditDep,
           document: Any = Body(...)) -> WorkflowOut:  # noqa: B008
    """Create a workflow, as an inactive draft, from a format-v1 document (422 listing every problem
    if it is invalid); ``POST …/activate`` makes its triggers fire."""
    workflow, applied = _guarded(document, registry, caller)
    row, version = store.create(caller.workspace, workflow, source="api", created_by=caller.user)
    audit("workflow.created", "workflow", row.id, version=version.version, name=row.name)
    return _out(row, version).model_copy(update={"guardrails_applied": applied})


@router.get("/workflows")
def list_workflows(store: WorkflowStoreDep, caller: ViewerDep, include_archived: bool = False,
                   deleted: bool = False, status: Literal["active", "inactive", "archived"] | None = None,
                   ) -> list[WorkflowOut]:
    """The workspace's workflows (``deleted=true``: the soft-deleted ones, which ``restore`` brings back)."""
    rows = store.list(caller.workspace, include_archived=include_archived or deleted, include_deleted=deleted, status=status)
    return [_out(r) for r in rows if r.deleted_at is not None or not deleted]


@router.get("/workflows/{workflow_id}")
def get_workflow(workflow_id: str, store: WorkflowStoreDep, caller: ViewerDep, version: int | None = None) -> WorkflowOut:
    row = store.get(caller.workspace, workflow_id)
    return _out(row, store.version(caller.workspace, workflow_id, version))


@router.put("/workflows/{workflow_id}")
def new_version(workflow_id: str, store: WorkflowStoreDep, registry: RegistryDep, caller: EditorDep, audit: AuditDep,
                document: Any = Body(...)) -> WorkflowOut:  # noqa: B008
    """Store a new immutable version as the draft (an active workflow keeps running its active
    version until it is activated again). The guardrail passes run on it as on a create."""
    workflow, applied = _guarded(document, registry, caller)
    before = store.get(caller.workspace, workflow_id).current_version
    version = store.add_version(caller.workspace, workflow_id, workflow, source="api", created_by=caller.user)
    if version.version != before:  # the same document again stores nothing new
        audit("workflow.changed", "workflow", workflow_id, version=version.version)
    return _out(store.get(caller.workspace, workflow_id), version).model_copy(update={"guardrails_applied": applied})


def _guarded(document: Any, registry: RegistryDep, caller: Caller) -> tuple[Workflow, list[dict[str, Any]]]:
    """The document parsed (422 listing every problem) with the guardrail passes applied — the same
    approvals, content filters, PII redaction and input checks the copilot inserts — and what they
    inserted. ``"guardrails": "manual"`` skips them, for an admin key only (403 otherwise)."""
    workflow = parse_workflow(document, registry)
    if workflow.guardrails == "manual" and not caller.allows("admin"):
        raise ForbiddenError(f'"guardrails": "manual" (saving without the guardrail passes) needs an admin key; '
                             f"this key is {caller.role}", required="admin", role=caller.role, path="$.guardrails")
    result = guard_saved(workflow, registry)
    if not result.changes:
        return workflow, []
    return parse_workflow(result.workflow.to_json_dict(), registry), [c.to_dict() for c in result.changes]


@router.get("/workflows/{workflow_id}/versions")
def versions(workflow_id: str, store: WorkflowStoreDep, caller: ViewerDep) -> list[VersionOut]:
    """Every version, oldest first, marking the draft (``current``) and the one triggers run (``active``)."""
    row = store.get(caller.workspace, workflow_id)
    return [VersionOut(version=v.version, content_hash=v.content_hash, source=v.source, created_by=v.created_by,
                       created_at=v.created_at.isoformat(), note=v.note,
                       guardrails="manual" if v.definition_dict().get("guardrails") == "manual" else "auto",
                       current=v.version == row.current_version,
                       active=row.status == "active" and v.version == row.active_version)
            for v in store.versions(caller.workspace, workflow_id)]


@router.get("/workflows/{workflow_id}/diff")
def diff(workflow_id: str, store: WorkflowStoreDep, caller: ViewerDep,
         from_: Annotated[int | None, Query(alias="from", ge=1, description="Old version.")] = None,
         to: Annotated[int | None, Query(ge=1, description="New version (default: the draft).")] = None,
         ) -> dict[str, Any]:
    """What changed between two versions (default: the active version, or else the one before the
    draft, against the draft): nodes added, removed and changed (with the fields), edges."""
    row = store.get(caller.workspace, workflow_id)
    new_number = to or row.current_version or 1
    if from_ is None:
        from_ = row.active_version if row.active_version and row.active_version != new_number else max(new_number - 1, 1)
    old, new = store.version(caller.workspace, workflow_id, from_), store.version(caller.workspace, workflow_id, new_number)
    changes = diff_workflows(old.workflow(), new.workflow())
    return {"from": old.version, "to": new.version, **changes.to_dict(), "summary": changes.summary(),
            "lines": unified_diff(old.definition_dict(), new.definition_dict(), f"v{old.version}", f"v{new.version}")}


class ActivateIn(BaseModel):
    version: int | None = None  # default: the draft


class RollbackIn(BaseModel):
    version: int


@router.post("/workflows/{workflow_id}/activate")
def activate(workflow_id: str, store: WorkflowStoreDep, registry: RegistryDep, caller: EditorDep,
             audit: AuditDep, request: Request, body: ActivateIn | None = None) -> ActivationOut:
    """Validate a version (the draft by default) and make it the one the triggers run; the answer's
    ``fires`` shows what now fires (the next five schedule times in words and in UTC, or the
    webhook URL). 422 listing every problem if the version is invalid (nothing changes then)."""
    row, fires = activation.activate(store, registry, caller.workspace, workflow_id, (body or ActivateIn()).version)
    audit("workflow.activated", "workflow", workflow_id, version=row.active_version)
    return _activation(row, fires, request)


@router.post("/workflows/{workflow_id}/deactivate")
def deactivate(workflow_id: str, store: WorkflowStoreDep, caller: EditorDep, audit: AuditDep) -> WorkflowOut:
    """Stop the triggers (the versions stay; activating again resumes)."""
    row = store.set_status(caller.workspace, workflow_id, "inactive")
    audit("workflow.deactivated", "workflow", workflow_id)
    return _out(row)


@router.post("/workflows/{workflow_id}/rollback")
def rollback(workflow_id: str, body: RollbackIn, store: WorkflowStoreDep, registry: RegistryDep,
             caller: EditorDep, audit: AuditDep, request: Request) -> ActivationOut:
    """Make an earlier version the draft again and, if the workflow is active, the one that runs."""
    row, fires = activation.rollback(store, registry, caller.workspace, workflow_id, body.version)
    audit("workflow.rolled_back", "workflow", workflow_id, version=body.version)
    return _activation(row, fires, request)


@router.get("/workflows/{workflow_id}/preview")
def preview(workflow_id: str, store: WorkflowStoreDep, caller: ViewerDep, request: Request, db: DbDep,
            version: int | None = None) -> dict[str, Any]:
    """What activating a version (the draft by default) would make fire, without activating it;
    for a polling trigger also ``polling``, how its polls go (``engine.poll_scheduler.polling_state``)."""
    from engine.poll_scheduler import polling_state

    found = store.version(caller.workspace, workflow_id, version)
    fires = activation.preview(found.workflow(), workflow_id)
    if fires.get("kind") == "webhook":
        fires["url"] = str(request.base_url).rstrip("/") + fires["path"]
    if fires.get("kind") == "poll":
        fires["polling"] = polling_state(db, caller.workspace, workflow_id)
    return {"version": found.version, "fires": fires}


class StatusIn(BaseModel):
    status: Literal["active", "inactive", "archived"]


@router.post("/workflows/{workflow_id}/status")
def set_status(workflow_id: str, body: StatusIn, store: WorkflowStoreDep, registry: RegistryDep,
               caller: EditorDep, audit: AuditDep, request: Request) -> ActivationOut:
    """Set the status; ``active`` is an activation of the draft (validated, with ``fires``)."""
    if body.status == "active":
        return activate(workflow_id, store, registry, caller, audit, request)
    row = store.set_status(caller.workspace, workflow_id, body.status)
    audit("workflow.archived" if body.status == "archived" else "workflow.deactivated", "workflow", workflow_id)
    return _activation(row, None, request)


@router.delete("/workflows/{workflow_id}")
def delete(workflow_id: str, store: WorkflowStoreDep, caller: EditorDep, audit: AuditDep) -> WorkflowOut:
    """Soft delete: the workflow leaves the lists and never fires; ``POST …/restore`` brings it back."""
    row = store.delete(caller.workspace, workflow_id)
    audit("workflow.deleted", "workflow", workflow_id)
    return _out(row)


@router.post("/workflows/{workflow_id}/restore")
def restore(workflow_id: str, store: WorkflowStoreDep, caller: EditorDep, audit: AuditDep) -> WorkflowOut:
    """Bring a deleted workflow back, inactive."""
    row = store.restore(caller.workspace, workflow_id)
    audit("workflow.restored", "workflow", workflow_id)
    return _out(row)


@router.get("/workflows/{workflow_id}/stats")
async def stats(workflow_id: str, store: WorkflowStoreDep, executions: ExecutionStoreDep, caller: ViewerDep,
                since: Annotated[str | None, Query(description="Runs created at or after: ISO 8601, or a span "
                                                   "back from now (24h, 7d).")] = None,
                until: Annotated[str | None, Query(description="Runs created before (same forms).")] = None,
                ) -> dict[str, Any]:
    """The workflow's runs in the window (all of them by default, dry runs left out): ``total``,
    ``by_status``, ``completed_with_errors``, ``success_rate`` (completed with nothing failed, over
    finished runs), ``duration_ms`` (``avg``, ``min``, ``max``, ``p50``, ``p95``, ``p99``;
    nearest-rank) and ``last_failure``."""
    await asyncio.to_thread(store.get, caller.workspace, workflow_id)  # 404 outside the workspace
    start = parse_moment(since, "since") if since else None
    end = parse_moment(until, "until") if until else None
    if start is not None and end is not None and start >= end:
        raise QueryInvalidError("since must be before until", field="since")
    await executions.flush()
    result: dict[str, Any] = await asyncio.to_thread(executions.stats, caller.workspace, workflow_id, since=start, until=end)
    return result


@router.get("/connectors", tags=["connectors"])
def catalog(registry: RegistryDep) -> list[dict[str, Any]]:
    """The connector catalog: names, descriptions, input/output JSON Schemas."""
    return registry.catalog()
