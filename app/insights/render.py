"""Report renderings other than Markdown: CSV (one row per finding)."""

from __future__ import annotations

import csv
import io

from app.insights.report import InsightReport

CSV_FIELDS = ("id", "type", "severity", "title", "description", "estimated_savings", "implementation_effort",
              "category", "workflow_id", "node_id", "impact", "fix", "execution_ids", "proposal_id")


def to_csv(report: InsightReport) -> str:
    """Findings as CSV, the seeds' insight fields first."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for f in report.findings:
        data = f.to_dict()
        writer.writerow({k: data.get(k) for k in CSV_FIELDS if k in data}
                        | {"execution_ids": " ".join(f.execution_ids),
                           "proposal_id": f.proposal.id if f.proposal else ""})
    return out.getvalue()
