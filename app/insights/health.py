"""Health score per workflow, 0-100, weighted as the seeds weight it: reliability 30%, efficiency
25%, cost 20%, security 25%; bands excellent (90+), good (70+), needs improvement (50+), critical.

- reliability: the share of runs that completed with no failed node (routed failures count against it);
- efficiency: 100 less the share of attempts that were retries, less 15 per performance finding;
- cost: 100 less the share of the workflow's modelled cost that its cost findings could save
  (taken as 25% per finding, at most 100%);
- security: 100 less 40 per high, 20 per medium, 10 per low security finding.
The trend is the change against the previous window of the same length (its reliability measured,
the other components as now).
"""

from __future__ import annotations

from typing import Any

from app.insights.findings import Finding
from app.insights.stats import WorkflowStats

WEIGHTS = {"reliability": 0.30, "efficiency": 0.25, "cost": 0.20, "security": 0.25}
SEVERITY_PENALTY = {"high": 40, "medium": 20, "low": 10}


def band(score: float) -> str:
    """The seeds' score ranges."""
    if score >= 90:
        return "excellent"
    if score >= 70:
        return "good"
    if score >= 50:
        return "needs improvement"
    return "critical"


def _clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


def components(wf: WorkflowStats, findings: list[Finding], reliability: float | None = None) -> dict[str, float]:
    """The four components (0-100)."""
    mine = [f for f in findings if f.workflow_id == wf.workflow_id and wf.workflow_id is not None]
    attempts = sum(n.attempts for n in wf.nodes.values())
    retried = sum(n.retried for n in wf.nodes.values())
    if reliability is None:
        reliability = 100.0 * wf.clean / wf.runs if wf.runs else 100.0
    efficiency = 100.0 * (1 - retried / attempts) if attempts else 100.0
    efficiency -= 15 * sum(1 for f in mine if f.category == "latency")
    cost = 100.0 - 100.0 * min(1.0, 0.25 * sum(1 for f in mine if f.category == "cost"))
    security = 100.0 - sum(SEVERITY_PENALTY[f.severity] for f in mine if f.category == "security")
    return {"reliability": round(_clamp(reliability), 1), "efficiency": round(_clamp(efficiency), 1),
            "cost": round(_clamp(cost), 1), "security": round(_clamp(security), 1)}


def score(parts: dict[str, float]) -> float:
    return round(sum(parts[k] * w for k, w in WEIGHTS.items()), 1)


def health(wf: WorkflowStats, findings: list[Finding], previous: WorkflowStats | None = None) -> dict[str, Any]:
    """The workflow's score, band, components and trend."""
    parts = components(wf, findings)
    value = score(parts)
    trend = None
    if previous is not None and previous.runs:
        before = components(wf, findings, reliability=100.0 * previous.clean / previous.runs)
        trend = round(value - score(before), 1)
    return {"score": value, "band": band(value), "components": parts, "weights": WEIGHTS, "trend": trend}
