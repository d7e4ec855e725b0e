"""Scheduled insight reports: a workspace setting kept as a workflow the person can see.

Setting the schedule writes (or updates) the workspace's workflow "Weekly insight report": a
schedule trigger, an ``insights.report`` step and an ``email.send`` step through the workspace's
SMTP credential with the PDF attached, and activates it. So the report runs like any workflow:
the scheduler fires it once per window across processes, its runs are in the executions list,
a failed send is retried and shows as a failed run, and the person can read, run or edit it.
``insight_report_schedules`` remembers which workflow it is; turning the schedule off
deactivates that workflow (it stays, with its history).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from engine.errors import ConflictError, NotFoundError, Problem, WorkflowInvalidError
from engine.workflow_store import WorkflowStore

NAME = "Weekly insight report"
TRIGGER, REPORT, SEND = "every_week", "build_report", "send_report"


class ReportScheduleRow(SQLModel, table=True):
    """Which workflow is a workspace's scheduled insight report."""

    __tablename__ = "insight_report_schedules"

    workspace_id: str = SQLField(primary_key=True)
    workflow_id: str
    updated_at: datetime = SQLField(default_factory=lambda: datetime.now(UTC))


_T = ReportScheduleRow.__table__  # type: ignore[attr-defined]


class ReportSchedule(BaseModel):
    """The setting: who gets the report, through which SMTP credential, when, over how long."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1, max_length=50, description="Recipients.")
    credential: str = Field(min_length=1, max_length=200, description="The workspace's smtp credential.")
    cron: str = Field("0 8 * * 1", description="When (five-field cron; default Mondays 08:00).")
    timezone: str = Field("UTC", description="The cron's time zone (IANA).")
    days: float = Field(7.0, gt=0, le=366, description="Each report looks back this many days.")
    attach: Literal["pdf", "html", "none"] = Field("pdf", description="The report attached to the email.")
    workflow_id: str | None = Field(None, description="Report on this workflow only.")

    @field_validator("to", mode="before")
    @classmethod
    def _recipients(cls, value: Any) -> Any:
        from connectors.email import _addresses

        return _addresses(value) if isinstance(value, str | list) else value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a five-field cron expression such as '0 8 * * 1'")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from None
        return value


def definition(schedule: ReportSchedule) -> dict[str, Any]:
    """The workflow that sends the report (format version 1)."""
    attached = {"pdf": " with the PDF attached", "html": " with the HTML page attached", "none": ""}[schedule.attach]
    report_config: dict[str, Any] = {"days": schedule.days, "attach": schedule.attach}
    if schedule.workflow_id:
        report_config["workflow_id"] = schedule.workflow_id
    send_config: dict[str, Any] = {"to": schedule.to, "subject": f"{{{{ nodes.{REPORT}.subject }}}}",
                                   "body": f"{{{{ nodes.{REPORT}.text }}}}"}
    if schedule.attach != "none":
        send_config["attachments"] = f"{{{{ nodes.{REPORT}.attachments }}}}"
    return {
        "schema_version": "1", "name": NAME,
        "description": f"On the schedule '{schedule.cron}' ({schedule.timezone}), email the workspace's insight "
                       f"report over the last {schedule.days:g} day(s) to {', '.join(schedule.to)}{attached}. "
                       "Written by `flowwright insights schedule` (a workspace setting).",
        "nodes": [
            {"id": TRIGGER, "type": "trigger", "kind": "schedule",
             "config": {"cron": schedule.cron, "timezone": schedule.timezone}},
            {"id": REPORT, "type": "action", "connector": "insights", "operation": "report",
             "config": report_config, "timeout_s": 600},
            {"id": SEND, "type": "action", "connector": "email", "operation": "send", "credential": schedule.credential,
             "config": send_config, "timeout_s": 120,
             "retry": {"max_attempts": 3, "backoff": "exponential", "initial_delay_s": 30, "max_delay_s": 600}},
        ],
        "edges": [{"source": TRIGGER, "target": REPORT}, {"source": REPORT, "target": SEND}],
    }


class ReportSchedules:
    """Sets, reads and turns off a workspace's scheduled report (its workflow and its row)."""

    def __init__(self, db: Engine, workflows: WorkflowStore, catalog: Any) -> None:
        self.db = db
        self.workflows = workflows
        self.catalog = catalog
        SQLModel.metadata.create_all(db, tables=[_T])

    def _workflow_id(self, workspace_id: str) -> str | None:
        with self.db.connect() as conn:
            found = conn.execute(select(_T.c.workflow_id).where(_T.c.workspace_id == workspace_id)).scalar()
        return str(found) if found is not None else None

    def set(self, workspace_id: str, schedule: ReportSchedule, *, user: str | None = None,
            credentials: list[str] | None = None) -> dict[str, Any]:
        """Write the report's workflow (a new version when it exists) and activate it; what
        :meth:`get` answers. ``credentials``: the workspace's smtp credential names, to refuse an
        unknown one (422 naming ``credential``)."""
        from engine.activation import activate
        from engine.validation import parse_workflow

        if credentials is not None and schedule.credential not in credentials:
            known = ", ".join(credentials) or "none yet"
            raise WorkflowInvalidError([Problem(
                "credential_not_found", "$.credential",
                f"no smtp credential named {schedule.credential!r} in this workspace (smtp credentials: {known})",
                hint="flowwright credentials set NAME --type smtp")])
        workflow = parse_workflow(definition(schedule), self.catalog)
        existing = self._existing(workspace_id)
        if existing is None:
            try:
                row, _ = self.workflows.create(workspace_id, workflow, source="api", created_by=user,
                                               note="insight report schedule")
            except ConflictError as exc:
                raise ConflictError(f"the workspace already has a workflow named {NAME!r} that is not its "
                                    "scheduled report: rename it first", workflow_id=exc.details.get("workflow_id")) \
                    from None
            workflow_id = row.id
        else:
            workflow_id = existing
            self.workflows.add_version(workspace_id, workflow_id, workflow, source="api", created_by=user,
                                       note="insight report schedule")
        activate(self.workflows, self.catalog, workspace_id, workflow_id)
        with self.db.begin() as conn:
            conn.execute(delete(_T).where(_T.c.workspace_id == workspace_id))
            conn.execute(insert(_T).values(workspace_id=workspace_id, workflow_id=workflow_id,
                                           updated_at=datetime.now(UTC)))
        return self.get(workspace_id)

    def _existing(self, workspace_id: str) -> str | None:
        workflow_id = self._workflow_id(workspace_id)
        if workflow_id is None:
            return None
        try:
            row = self.workflows.get(workspace_id, workflow_id, include_deleted=True)
        except NotFoundError:  # gone for good: start again
            return None
        if row.deleted_at is not None:
            self.workflows.restore(workspace_id, workflow_id)
        return workflow_id

    def get(self, workspace_id: str) -> dict[str, Any]:
        """``{"enabled", "workflow_id", "schedule", "fires"}`` (``enabled`` false and the rest
        ``None`` when there is none)."""
        from engine.activation import preview
        from engine.validation import parse_workflow

        workflow_id = self._workflow_id(workspace_id)
        if workflow_id is None:
            return {"enabled": False, "workflow_id": None, "schedule": None, "fires": None}
        try:
            row = self.workflows.get(workspace_id, workflow_id)
        except NotFoundError:
            return {"enabled": False, "workflow_id": None, "schedule": None, "fires": None}
        version = self.workflows.version(workspace_id, workflow_id, row.active_version or row.current_version)
        data = version.definition_dict()
        enabled = row.status == "active" and row.deleted_at is None
        return {"enabled": enabled, "workflow_id": workflow_id, "version": version.version,
                "schedule": _schedule_of(data),
                "fires": preview(parse_workflow(data, self.catalog), workflow_id) if enabled else None}

    def disable(self, workspace_id: str) -> dict[str, Any]:
        """Deactivate the report's workflow (404 when the workspace has no scheduled report)."""
        workflow_id = self._workflow_id(workspace_id)
        if workflow_id is None:
            raise NotFoundError("this workspace has no scheduled insight report")
        self.workflows.set_status(workspace_id, workflow_id, "inactive")
        return self.get(workspace_id)


def _schedule_of(data: dict[str, Any]) -> dict[str, Any] | None:
    """The setting as the workflow holds it (a person may have edited it)."""
    nodes = {n.get("id"): n for n in data.get("nodes", []) if isinstance(n, dict)}
    trigger, report, send = nodes.get(TRIGGER), nodes.get(REPORT), nodes.get(SEND)
    if not trigger or not report or not send:
        return None
    return {"to": send.get("config", {}).get("to"), "credential": send.get("credential"),
            "cron": trigger.get("config", {}).get("cron"), "timezone": trigger.get("config", {}).get("timezone"),
            "days": report.get("config", {}).get("days"), "attach": report.get("config", {}).get("attach"),
            "workflow_id": report.get("config", {}).get("workflow_id")}


__all__ = ["NAME", "ReportSchedule", "ReportSchedules", "definition"]
