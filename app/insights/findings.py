"""What an insight is: a finding with severity, evidence, impact, a concrete fix and, where the fix
is a workflow change, a proposed new version.

The JSON of a finding carries the seeds' insight shape (``type``, ``severity``, ``title``,
``description``, ``estimated_savings``, ``implementation_effort``) beside Flowwright's own fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["high", "medium", "low"]
Category = Literal["failures", "reliability", "latency", "cost", "security", "anomaly", "operations"]
Effort = Literal["low", "medium", "high"]

# The seeds' insight types, by Flowwright's finding category.
INSIGHT_TYPES: dict[str, str] = {
    "failures": "reliability_issue", "reliability": "reliability_issue", "latency": "performance_bottleneck",
    "cost": "cost_optimization", "security": "security_vulnerability", "anomaly": "anomaly",
    "operations": "operations",
}
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}

# What to do about a failure, by the error code that caused it.
FIXES: dict[str, str] = {
    "ssrf_blocked": "the target is a private address: add it to FLOWWRIGHT_HTTP_ALLOW_HOSTS if it is yours",
    "credential_not_found": "create the credential (`flowwright credentials set NAME --type TYPE`)",
    "credential_needs_reauth": "its OAuth 2.0 refresh failed: connect it again (`flowwright credentials connect "
                               "NAME --provider P`)",
    "credential_error": "check the credential's type and fields",
    "credential_invalid": "check the credential's type and fields",
    "rate_limited": "the remote API throttles: lower loop max_concurrency or add a rate_limit guardrail",
    "timed_out": "raise the node's timeout_s, or split the work",
    "node_timeout": "raise the node's timeout_s, or split the work",
    "permanent_error": "the remote side rejects the request (4xx): check URL, payload and auth",
    "http_status": "the remote side answered an unexpected status: check the request and expected_status",
    "guardrail_violation": "the data does not pass a guardrail: fix the sender or relax the guardrail's config",
    "budget_exceeded": "the workspace's model budget is spent: raise it (`flowwright budget set`) or cache more",
    "expression_error": "an expression fails on real data: guard missing fields with $exists() or defaults",
}
DEFAULT_FIX = "add retries with backoff, or route failures (on_error: route) to a notification"
# Errors that a retry cannot cure: the same request gets the same answer.
PERMANENT_ERRORS = frozenset({"permanent_error", "ssrf_blocked", "credential_not_found", "credential_invalid",
                              "credential_error", "guardrail_violation", "expression_error", "budget_exceeded",
                              "validation_error", "core_fail"})


@dataclass
class Proposal:
    """A proposed new version of a workflow: the whole definition, ready to store."""

    id: str
    workflow_id: str
    base_version: int
    summary: str
    changes: list[str]
    definition: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Finding:
    severity: Severity
    category: Category
    title: str
    detail: str  # the evidence in words (figures)
    fix: str
    workflow_id: str | None = None
    node_id: str | None = None
    impact: str = ""
    estimated_savings: str | None = None
    implementation_effort: Effort = "low"
    figures: dict[str, Any] = field(default_factory=dict)
    execution_ids: list[str] = field(default_factory=list)
    proposal: Proposal | None = None
    started_at: str | None = None  # anomalies: when the unusual stretch began

    @property
    def type(self) -> str:
        return INSIGHT_TYPES[self.category]

    @property
    def id(self) -> str:
        """Stable across reports of the same data: what it is about, not its figures."""
        key = f"{self.category}|{self.workflow_id}|{self.node_id}|{self.title.split(':')[0]}"
        return "ins_" + hashlib.sha256(key.encode()).hexdigest()[:12]

    @property
    def description(self) -> str:
        return f"{self.detail} Fix: {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON: the seeds' insight fields first, then evidence, impact and fix."""
        return {
            "id": self.id, "type": self.type, "severity": self.severity, "title": self.title,
            "description": self.description, "estimated_savings": self.estimated_savings,
            "implementation_effort": self.implementation_effort,
            "category": self.category, "workflow_id": self.workflow_id, "node_id": self.node_id,
            "detail": self.detail, "impact": self.impact, "fix": self.fix,
            "evidence": {"figures": self.figures, "execution_ids": self.execution_ids},
            "started_at": self.started_at,
            "proposal": self.proposal.to_dict() if self.proposal else None,
        }


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by category and title (a stable order for reports and tests)."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.category, f.title))


def money(usd: float) -> str:
    """A dollar figure at a precision that reads well ($0.0042, $1.20, $120)."""
    if usd >= 100:
        return f"${usd:,.0f}"
    if usd >= 1:
        return f"${usd:,.2f}"
    return f"${usd:.4f}"
