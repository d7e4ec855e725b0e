"""The insight reports as connector steps see them (``ctx.services.insights``): the report of one
workspace, rendered as a subject, a text body and an attachment (``connectors/insights.py``)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import Engine

from app.insights.rates import CostRates


class ReportService:
    """Builds reports on ``db`` with the workspace's catalog (``catalog(workspace)``) and the cost
    rates; the rendering runs in a thread (charts and PDF are CPU work)."""

    def __init__(self, db: Engine, catalog: Callable[[str], Any], rates: CostRates) -> None:
        self.db = db
        self.catalog = catalog
        self.rates = rates

    async def report(self, workspace_id: str, *, days: float, workflow_id: str | None,
                     attach: str) -> Mapping[str, Any]:
        """See :class:`connectors.services.InsightService`."""
        return await asyncio.to_thread(self._report, workspace_id, days, workflow_id, attach)

    def _report(self, workspace_id: str, days: float, workflow_id: str | None, attach: str) -> dict[str, Any]:
        from app.insights.report import build_report, to_markdown

        report = build_report(self.db, workspace_id, days=days, workflow_id=workflow_id,
                              catalog=self.catalog(workspace_id), rates=self.rates)
        t = report.totals
        attachments = []
        stem = f"flowwright-insights-{workspace_id}-{report.until[:10]}"
        if attach == "pdf":
            from app.insights.pdf import to_pdf

            attachments.append({"filename": f"{stem}.pdf", "content_type": "application/pdf",
                                "content_base64": base64.b64encode(to_pdf(report, workflow=workflow_id)).decode()})
        elif attach == "html":
            from app.insights.html import to_html

            page = to_html(report, workflow=workflow_id).encode()
            attachments.append({"filename": f"{stem}.html", "content_type": "text/html",
                                "content_base64": base64.b64encode(page).decode()})
        health = f", health {t['health_score']}/100" if t.get("health_score") is not None else ""
        subject = (f"Flowwright insights for {workspace_id}: {t['runs']} runs, {t['failed']} failed, "
                   f"{t['findings']} finding(s){health}")
        return {"subject": subject, "text": to_markdown(report), "totals": t, "findings": len(report.findings),
                "attachments": attachments}


__all__ = ["ReportService"]
