"""Insight reports over the workspace's executions and model usage."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from app.api.deps import DbDep, WorkspaceDep

router = APIRouter(prefix="/v1/insights", tags=["insights"])


@router.get("")
async def insights(db: DbDep, workspace: WorkspaceDep,
                   days: Annotated[float, Query(gt=0, le=366)] = 7) -> dict[str, Any]:
    """Totals, per-workflow figures, model usage and findings (each with a fix)."""
    from app.insights.report import build_report

    report = await asyncio.to_thread(build_report, db, workspace, days=days)
    return report.to_dict()


@router.get("/report.md", response_class=PlainTextResponse)
async def insights_markdown(db: DbDep, workspace: WorkspaceDep,
                            days: Annotated[float, Query(gt=0, le=366)] = 7) -> str:
    from app.insights.report import build_report, to_markdown

    return to_markdown(await asyncio.to_thread(build_report, db, workspace, days=days))
