"""Persistence of workflows and their immutable versions (SQLModel).

A workflow has a **draft** (``current_version``: what the copilot, an import or an edit last
wrote) and, once a person activates it, an **active version** (``active_version``): the one its
schedule and webhook triggers run. New workflows are inactive drafts; editing an active workflow
changes the draft only, until it is activated again. Deleting is soft (``deleted_at``; restore
brings it back inactive).
"""

from __future__ import annotations

import builtins
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Column, Text, UniqueConstraint, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from engine.db import add_missing_columns
from engine.errors import ConflictError, NotFoundError, WorkflowInvalidError
from engine.subworkflow_calls import check_calls
from engine.workflow import Workflow

WorkflowStatus = Literal["active", "inactive", "archived"]
VersionSource = Literal["chat", "api", "import", "cli"]


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class WorkflowRow(SQLModel, table=True):
    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_workflow_name"),)

    id: str = Field(default_factory=lambda: _new_id("wf"), primary_key=True)
    workspace_id: str = Field(index=True)
    name: str
    status: str = Field(default="inactive")  # active | inactive | archived
    current_version: int | None = None  # the draft
    active_version: int | None = None  # what the triggers run while the status is active
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    deleted_at: datetime | None = None


class WorkflowVersionRow(SQLModel, table=True):
    """An immutable version: never updated once written."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "version", name="uq_workflow_version"),)

    id: str = Field(default_factory=lambda: _new_id("wfv"), primary_key=True)
    workflow_id: str = Field(foreign_key="workflows.id", index=True)
    workspace_id: str = Field(index=True)
    version: int
    definition: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str = Field(index=True)
    source: str = Field(default="api")  # chat | api | import | cli
    created_by: str | None = None
    note: str | None = None
    created_at: datetime = Field(default_factory=_now)

    def workflow(self) -> Workflow:
        return Workflow.model_validate_json(self.definition)

    def definition_dict(self) -> dict[str, Any]:
        return dict(json.loads(self.definition))


class WorkflowStore:
    """Workflows and versions, every query scoped to a workspace."""

    TABLES = (WorkflowRow.__table__, WorkflowVersionRow.__table__)  # type: ignore[attr-defined]

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(engine, tables=list(self.TABLES))
        table = self.TABLES[0]
        add_missing_columns(engine, table)
        # A data dir of an older release (no active_version yet): what was active keeps running.
        with engine.begin() as conn:
                conn.execute(update(table).where(table.c.status == "active", table.c.active_version.is_(None))
                             .values(active_version=table.c.current_version))

    def create(
        self, workspace_id: str, workflow: Workflow, *, source: VersionSource = "api",
        created_by: str | None = None, note: str | None = None,
    ) -> tuple[WorkflowRow, WorkflowVersionRow]:
        """Store a new workflow (version 1). Raises ``WorkflowInvalidError`` when its sub-workflow
        calls name what the workspace does not have (``engine.subworkflow_calls``)."""
        self.check_calls(workspace_id, workflow.to_json_dict())
        with Session(self.engine) as session:
            exists = session.exec(
                select(WorkflowRow).where(WorkflowRow.workspace_id == workspace_id, WorkflowRow.name == workflow.name)
            ).first()
            if exists:
                gone = " (deleted: restore it, or choose another name)" if exists.deleted_at is not None else ""
                raise ConflictError(f"a workflow named {workflow.name!r} already exists{gone}", workflow_id=exists.id)
            row = WorkflowRow(workspace_id=workspace_id, name=workflow.name, current_version=1)
            session.add(row)
            session.flush()
            version = self._version_row(row, 1, workflow, source, created_by, note)
            session.add(version)
            session.commit()
            session.refresh(row)
            session.refresh(version)
            return row, version

    def add_version(
        self, workspace_id: str, workflow_id: str, workflow: Workflow, *, source: VersionSource = "api",
        created_by: str | None = None, note: str | None = None,
    ) -> WorkflowVersionRow:
        """Store a new version and make it current (an identical definition reuses the latest).
        Raises ``WorkflowInvalidError`` when a sub-workflow call names what the workspace does not
        have or leads back to this workflow (``subworkflow_cycle``, with the cycle's path)."""
        self.get(workspace_id, workflow_id)  # an unknown workflow is a 404 before its calls are checked
        self.check_calls(workspace_id, workflow.to_json_dict(), self_id=workflow_id, self_name=workflow.name)
        with Session(self.engine) as session:
            row = self._get(session, workspace_id, workflow_id)
            latest = session.exec(
                select(WorkflowVersionRow)
                .where(WorkflowVersionRow.workflow_id == workflow_id)
                .order_by(WorkflowVersionRow.version.desc())  # type: ignore[attr-defined]
            ).first()
            if latest and latest.content_hash == workflow.content_hash() and row.current_version == latest.version:
                return latest
            number = (latest.version if latest else 0) + 1
            version = self._version_row(row, number, workflow, source, created_by, note)
            row.current_version = number
            row.name = workflow.name
            row.updated_at = _now()
            session.add(version)
            session.add(row)
            session.commit()
            session.refresh(version)
            return version

    def get(self, workspace_id: str, workflow_id: str, *, include_deleted: bool = False) -> WorkflowRow:
        """A workflow of the workspace (a deleted one only with ``include_deleted``)."""
        with Session(self.engine) as session:
            return self._get(session, workspace_id, workflow_id, include_deleted=include_deleted)

    def list(self, workspace_id: str, *, include_archived: bool = False, include_deleted: bool = False,
             status: str | None = None) -> builtins.list[WorkflowRow]:
        """The workspace's workflows, oldest first (archived and deleted ones left out by default)."""
        with Session(self.engine) as session:
            query = select(WorkflowRow).where(WorkflowRow.workspace_id == workspace_id)
            if not include_archived and status != "archived":
                query = query.where(WorkflowRow.status != "archived")
            if not include_deleted:
                query = query.where(col(WorkflowRow.deleted_at).is_(None))
            if status is not None:
                query = query.where(WorkflowRow.status == status)
            return builtins.list(session.exec(query.order_by(col(WorkflowRow.created_at))))

    def active_by_id(self, workflow_id: str) -> tuple[WorkflowRow, WorkflowVersionRow] | None:
        """An active workflow and its active version, by id alone (the webhook's view: the id in
        the URL is the capability, so no workspace is given)."""
        with Session(self.engine) as session:
            found = session.exec(
                select(WorkflowRow, WorkflowVersionRow)
                .join(WorkflowVersionRow, (WorkflowVersionRow.workflow_id == WorkflowRow.id)  # type: ignore[arg-type]
                      & (WorkflowVersionRow.version == WorkflowRow.active_version))
                .where(WorkflowRow.id == workflow_id, WorkflowRow.status == "active",
                       col(WorkflowRow.deleted_at).is_(None))
            ).first()
        return (found[0], found[1]) if found else None

    def active_with_trigger(self, kind: str) -> builtins.list[tuple[WorkflowRow, WorkflowVersionRow]]:
        """Every active workflow, in every workspace, whose active version has a ``kind`` trigger
        (the scheduler's view; callers keep results scoped by the rows' workspace ids)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(WorkflowRow, WorkflowVersionRow)
                .join(WorkflowVersionRow, (WorkflowVersionRow.workflow_id == WorkflowRow.id)  # type: ignore[arg-type]
                      & (WorkflowVersionRow.version == WorkflowRow.active_version))
                .where(WorkflowRow.status == "active", col(WorkflowRow.deleted_at).is_(None))
            ).all()
        out = []
        for row, version in rows:
            trigger = next((n for n in version.definition_dict().get("nodes", []) if n.get("type") == "trigger"), None)
            if trigger is not None and trigger.get("kind") == kind:
                out.append((row, version))
        return out

    def version(self, workspace_id: str, workflow_id: str, version: int | None = None) -> WorkflowVersionRow:
        """A version (the draft by default)."""
        with Session(self.engine) as session:
            row = self._get(session, workspace_id, workflow_id)
            number = version if version is not None else row.current_version
            found = session.exec(
                select(WorkflowVersionRow).where(
                    WorkflowVersionRow.workflow_id == workflow_id, WorkflowVersionRow.version == number
                )
            ).first()
            if found is None:
                raise NotFoundError(f"workflow {workflow_id} has no version {number}", field="version")
            return found

    def versions(self, workspace_id: str, workflow_id: str) -> builtins.list[WorkflowVersionRow]:
        """Every version of a workflow, oldest first."""
        with Session(self.engine) as session:
            self._get(session, workspace_id, workflow_id)
            return builtins.list(
                session.exec(
                    select(WorkflowVersionRow)
                    .where(WorkflowVersionRow.workflow_id == workflow_id)
                    .order_by(WorkflowVersionRow.version)  # type: ignore[arg-type]
                )
            )

    def set_status(self, workspace_id: str, workflow_id: str, status: WorkflowStatus) -> WorkflowRow:
        """Set the status as it is (``activate`` is the checked way to make a workflow active)."""
        return self._update(workspace_id, workflow_id, status=status)

    def activate(self, workspace_id: str, workflow_id: str, version: int | None = None) -> WorkflowRow:
        """Make ``version`` (the draft by default) the one the triggers run, and the status active.
        Callers validate the version first (``engine.activation.activate``)."""
        number = self.version(workspace_id, workflow_id, version).version
        return self._update(workspace_id, workflow_id, status="active", active_version=number)

    def set_current(self, workspace_id: str, workflow_id: str, version: int) -> WorkflowRow:
        """Point the draft at an earlier version (undo / rollback); refused like :meth:`add_version`
        when that version's sub-workflow calls would now form a cycle."""
        stored = self.version(workspace_id, workflow_id, version)
        self.check_calls(workspace_id, stored.definition_dict(), self_id=workflow_id)
        return self._update(workspace_id, workflow_id, current_version=version)

    def delete(self, workspace_id: str, workflow_id: str) -> WorkflowRow:
        """Soft delete: the workflow leaves every list and no trigger fires it; ``restore`` undoes it."""
        return self._update(workspace_id, workflow_id, deleted_at=_now())

    def restore(self, workspace_id: str, workflow_id: str) -> WorkflowRow:
        """Bring a deleted workflow back, inactive (it fires again only once activated)."""
        return self._update(workspace_id, workflow_id, include_deleted=True, deleted_at=None, status="inactive")

    def _update(self, workspace_id: str, workflow_id: str, *, include_deleted: bool = False,
                **fields: Any) -> WorkflowRow:
        with Session(self.engine) as session:
            row = self._get(session, workspace_id, workflow_id, include_deleted=include_deleted)
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = _now()
            session.add(row)
            session.commit()
            session.refresh(row)
            return row

    def check_calls(self, workspace_id: str, definition: dict[str, Any], *, self_id: str | None = None,
                    self_name: str | None = None) -> None:
        """Raise ``WorkflowInvalidError`` listing every problem of ``definition``'s sub-workflow calls
        in the workspace (``self_id``: the workflow it is a version of)."""
        problems = check_calls(definition, self, workspace_id, self_id=self_id, self_name=self_name)
        if problems:
            raise WorkflowInvalidError(problems)

    @staticmethod
    def _get(session: Session, workspace_id: str, workflow_id: str, *, include_deleted: bool = False) -> WorkflowRow:
        row = session.get(WorkflowRow, workflow_id)
        if row is None or row.workspace_id != workspace_id or (row.deleted_at is not None and not include_deleted):
            raise NotFoundError(f"workflow {workflow_id} not found", workflow_id=workflow_id)
        return row

    @staticmethod
    def _version_row(
        row: WorkflowRow, number: int, workflow: Workflow, source: str, created_by: str | None, note: str | None
    ) -> WorkflowVersionRow:
        definition = workflow.to_json_dict()
        return WorkflowVersionRow(
            workflow_id=row.id, workspace_id=row.workspace_id, version=number,
            definition=json.dumps(definition, sort_keys=True), content_hash=workflow.content_hash(),
            source=source, created_by=created_by, note=note,
        )
