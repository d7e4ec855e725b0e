"""Workflows: validate, create, list, read, new versions, status — scoped to the workspace."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel

from app.api.deps import RegistryDep, WorkflowStoreDep, WorkspaceDep
from engine.json_depth import MAX_DOCUMENT_DEPTH, too_deep
from engine.validation import nesting_problem, parse_workflow, validate_workflow
from engine.workflow_store import WorkflowRow, WorkflowVersionRow

router = APIRouter(prefix="/v1", tags=["workflows"])


class WorkflowOut(BaseModel):
    id: str
    name: str
    status: str
    current_version: int | None
    definition: dict[str, Any] | None = None
    problems: list[dict[str, Any]] | None = None
    """Set instead of ``definition`` when the stored version cannot be served as it is (one saved
    before nesting was limited: replace it with a PUT)."""


class VersionOut(BaseModel):
    version: int
    content_hash: str
    source: str
    created_by: str | None
    created_at: str


def _out(row: WorkflowRow, version: WorkflowVersionRow | None = None) -> WorkflowOut:
    out = WorkflowOut(id=row.id, name=row.name, status=row.status, current_version=row.current_version)
    if version is not None:
        definition = version.definition_dict()
        if problem := nesting_problem(definition):
            out.problems = [problem.to_dict()]
        if too_deep(definition, MAX_DOCUMENT_DEPTH) is None:  # else JSON encoders give up on it
            out.definition = definition
    return out


@router.post("/workflows/validate")
def validate(registry: RegistryDep, document: Any = Body(...)) -> dict[str, Any]:  # noqa: B008
    """Validate a workflow document; every problem with its JSON path and code (always 200)."""
    result = validate_workflow(document, registry)
    return {"valid": result.ok, "problems": [p.to_dict() for p in result.problems]}


@router.post("/workflows", status_code=201)
def create(store: WorkflowStoreDep, registry: RegistryDep, workspace: WorkspaceDep,
           document: Any = Body(...)) -> WorkflowOut:  # noqa: B008
    """Create a workflow from a format-v1 document (422 listing every problem if it is invalid)."""
    workflow = parse_workflow(document, registry)
    row, version = store.create(workspace, workflow, source="api")
    return _out(row, version)


@router.get("/workflows")
def list_workflows(store: WorkflowStoreDep, workspace: WorkspaceDep, include_archived: bool = False) -> list[WorkflowOut]:
    return [_out(r) for r in store.list(workspace, include_archived=include_archived)]


@router.get("/workflows/{workflow_id}")
def get_workflow(workflow_id: str, store: WorkflowStoreDep, workspace: WorkspaceDep, version: int | None = None) -> WorkflowOut:
    row = store.get(workspace, workflow_id)
    return _out(row, store.version(workspace, workflow_id, version))


@router.put("/workflows/{workflow_id}")
def new_version(workflow_id: str, store: WorkflowStoreDep, registry: RegistryDep, workspace: WorkspaceDep,
                document: Any = Body(...)) -> WorkflowOut:  # noqa: B008
    """Store a new immutable version and make it current."""
    workflow = parse_workflow(document, registry)
    version = store.add_version(workspace, workflow_id, workflow, source="api")
    return _out(store.get(workspace, workflow_id), version)


@router.get("/workflows/{workflow_id}/versions")
def versions(workflow_id: str, store: WorkflowStoreDep, workspace: WorkspaceDep) -> list[VersionOut]:
    return [VersionOut(version=v.version, content_hash=v.content_hash, source=v.source, created_by=v.created_by,
                       created_at=v.created_at.isoformat()) for v in store.versions(workspace, workflow_id)]


class StatusIn(BaseModel):
    status: Literal["active", "inactive", "archived"]


@router.post("/workflows/{workflow_id}/status")
def set_status(workflow_id: str, body: StatusIn, store: WorkflowStoreDep, workspace: WorkspaceDep) -> WorkflowOut:
    return _out(store.set_status(workspace, workflow_id, body.status))


@router.get("/connectors", tags=["connectors"])
def catalog(registry: RegistryDep) -> list[dict[str, Any]]:
    """The connector catalog: names, descriptions, input/output JSON Schemas."""
    return registry.catalog()
