"""The ``insights`` connector: ``report`` — the workspace's insight report, rendered for a message.

It is what a scheduled insight report (``app/insights/schedule.py``) runs before its ``email.send``
step: the subject, a plain-text summary (the Markdown report) and the PDF (or HTML) as an
attachment the email step sends. The report comes from ``ctx.services.insights``, so the step
sees only its own workspace's figures.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.contract import AuthType, Connector, Operation, OperationContext
from connectors.errors import PermanentError


class ReportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: float = Field(7.0, gt=0, le=366, description="Look back this many days.")
    workflow_id: str | None = Field(None, description="Only this workflow of the workspace.")
    attach: Literal["pdf", "html", "none"] = Field("pdf", description="The report attached to the output.")


class Attachment(BaseModel):
    filename: str
    content_type: str
    content_base64: str


class ReportOutput(BaseModel):
    subject: str
    text: str = Field(description="The report as Markdown (a plain-text email body).")
    totals: dict[str, Any]
    findings: int
    attachments: list[Attachment] = Field(default_factory=list, description="For email.send's attachments.")


async def _report(inp: ReportInput, ctx: OperationContext) -> ReportOutput:
    service = ctx.services.insights
    if service is None:
        raise PermanentError("insight reports are not available in this process", code="insights_unavailable")
    made = await service.report(ctx.workspace_id, days=inp.days, workflow_id=inp.workflow_id, attach=inp.attach)
    return ReportOutput.model_validate(dict(made))


CONNECTOR = Connector(
    name="insights",
    title="Insights",
    description="The workspace's insight report (what fails, what is slow, what costs, what is risky), "
    "rendered to send: a subject, a text summary and the PDF or HTML report as an attachment.",
    category="analytics",
    icon="📊",
    auth=AuthType.NONE,
    operations=(
        Operation("report", "The insight report over the last days, with the PDF or HTML attached (for an "
                  "email.send step's attachments).", ReportInput, ReportOutput, _report, idempotent=True,
                  external=False),
    ),
)
