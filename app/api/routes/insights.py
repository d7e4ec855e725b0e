"""Insight reports over the workspace's executions and model usage, and accepting a proposed fix."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from app.api.deps import (
    AdminDep,
    AuditDep,
    ContainerDep,
    DbDep,
    EditorDep,
    RegistryDep,
    SettingsDep,
    ViewerDep,
    WorkflowStoreDep,
)
from app.insights.errors import ProposalNotFoundError
from app.insights.schedule import ReportSchedule

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from app.insights.report import InsightReport
    from app.settings import Settings
    from connectors.registry import Registry

router = APIRouter(prefix="/v1/insights", tags=["insights"])
Days = Annotated[float, Query(gt=0, le=366, description="Look back this many days.")]
WorkflowQ = Annotated[str | None, Query(description="Only this workflow (its id).")]


async def _report(db: Engine, workspace: str, days: float, workflow: str | None, registry: Registry,
                  settings: Settings) -> InsightReport:
    from app.insights.report import build_report

    return await asyncio.to_thread(build_report, db, workspace, days=days, workflow_id=workflow, catalog=registry,
                                   rates=settings.insights_cost_rates)


@router.get("")
async def insights(db: DbDep, caller: ViewerDep, registry: RegistryDep, settings: SettingsDep,
                   days: Days = 7, workflow: WorkflowQ = None) -> dict[str, Any]:
    """Totals, per-workflow figures and health, model usage and findings (seeds' insight shape, with
    evidence, impact, fix and proposed versions)."""
    report = await _report(db, caller.workspace, days, workflow, registry, settings)
    result: dict[str, Any] = report.to_dict()
    return result


@router.get("/report.md", response_class=PlainTextResponse)
async def insights_markdown(db: DbDep, caller: ViewerDep, registry: RegistryDep, settings: SettingsDep,
                            days: Days = 7, workflow: WorkflowQ = None) -> str:
    """The report as Markdown."""
    from app.insights.report import to_markdown

    return to_markdown(await _report(db, caller.workspace, days, workflow, registry, settings))


@router.get("/report.csv", response_class=PlainTextResponse)
async def insights_csv(db: DbDep, caller: ViewerDep, registry: RegistryDep, settings: SettingsDep,
                       days: Days = 7, workflow: WorkflowQ = None) -> str:
    """The findings as CSV."""
    from app.insights.render import to_csv

    return to_csv(await _report(db, caller.workspace, days, workflow, registry, settings))


@router.get("/report.html", response_class=HTMLResponse)
async def insights_html(db: DbDep, caller: ViewerDep, registry: RegistryDep, settings: SettingsDep,
                        days: Days = 7, workflow: WorkflowQ = None) -> HTMLResponse:
    """The report as one self-contained HTML page with its charts (inline SVG, no script)."""
    from app.insights.html import REPORT_CSP, to_html

    report = await _report(db, caller.workspace, days, workflow, registry, settings)
    page = await asyncio.to_thread(to_html, report, workflow=workflow)
    return HTMLResponse(page, headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/report.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}, "description": "the report as PDF"}})
async def insights_pdf(db: DbDep, caller: ViewerDep, registry: RegistryDep, settings: SettingsDep,
                       days: Days = 7, workflow: WorkflowQ = None) -> Response:
    """The report as a PDF with its charts (A4), as a download."""
    from app.insights.pdf import to_pdf

    report = await _report(db, caller.workspace, days, workflow, registry, settings)
    body = await asyncio.to_thread(to_pdf, report, workflow=workflow)
    name = f"flowwright-insights-{caller.workspace}-{report.until[:10]}.pdf"
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/proposals/{proposal_id}/accept")
async def accept_proposal(proposal_id: str, db: DbDep, caller: EditorDep, audit: AuditDep, registry: RegistryDep,
                          settings: SettingsDep, store: WorkflowStoreDep, days: Days = 7,
                          workflow: WorkflowQ = None) -> dict[str, Any]:
    """Store a proposal (``prop_…``, or its finding's ``ins_…`` id) as the workflow's new current
    version (404 when the report over ``days`` has no such proposal, 409 when the workflow moved on)."""
    from app.insights.proposals import accept

    report = await _report(db, caller.workspace, days, workflow, registry, settings)
    proposal = report.proposal(proposal_id)
    if proposal is None:
        raise ProposalNotFoundError(f"no proposal {proposal_id} in the report over the last {days:g} day(s)")
    version = await asyncio.to_thread(accept, store, caller.workspace, proposal, registry)
    await asyncio.to_thread(audit, "workflow.changed", "workflow", proposal.workflow_id, version=version,
                            source="insights", proposal_id=proposal_id)
    return {"workflow_id": proposal.workflow_id, "version": version, "summary": proposal.summary,
            "changes": proposal.changes}


@router.get("/schedule")
async def get_schedule(container: ContainerDep, caller: ViewerDep) -> dict[str, Any]:
    """The workspace's scheduled insight report: ``enabled``, its workflow, the setting and the
    next times it fires."""
    result: dict[str, Any] = await asyncio.to_thread(container.report_schedules.get, caller.workspace)
    return result


@router.put("/schedule")
async def put_schedule(schedule: ReportSchedule, container: ContainerDep, caller: AdminDep,
                       audit: AuditDep) -> dict[str, Any]:
    """Email the insight report on a schedule (a workspace setting, kept as the workflow "Weekly
    insight report", activated): ``to``, ``credential`` (an smtp credential of the workspace),
    ``cron`` (default Mondays 08:00), ``timezone``, ``days``, ``attach`` (pdf, html, none)."""
    def write() -> dict[str, Any]:
        vault = container.vault
        smtp = [c.name for c in vault.list(caller.workspace) if c.type == "smtp"] if vault is not None else None
        result = container.report_schedules.set(caller.workspace, schedule, user=caller.user, credentials=smtp)
        audit("insights_schedule.set", "workflow", str(result.get("workflow_id") or ""), cron=schedule.cron)
        return result

    return await asyncio.to_thread(write)


@router.delete("/schedule")
async def delete_schedule(container: ContainerDep, caller: AdminDep, audit: AuditDep) -> dict[str, Any]:
    """Stop the scheduled report (its workflow is deactivated and kept; 404 when there is none)."""
    result: dict[str, Any] = await asyncio.to_thread(container.report_schedules.disable, caller.workspace)
    await asyncio.to_thread(audit, "insights_schedule.off", "workflow", str(result.get("workflow_id") or ""))
    return result
