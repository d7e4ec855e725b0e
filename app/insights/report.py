"""Insight reports: what fails, what is slow, what costs, what is risky — and the fix.

Figures come from :mod:`app.insights.stats` (SQL aggregates); findings from the rules in
:mod:`app.insights.rules` and :mod:`app.insights.anomalies`, each with its evidence, impact, fix
and, where the fix is a workflow change, a proposed new version; a health score per workflow from
:mod:`app.insights.health`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from app.insights import rollups
from app.insights.anomalies import anomalies
from app.insights.context import Context, Thresholds
from app.insights.evidence import Evidence
from app.insights.findings import Finding, Proposal, sort_findings
from app.insights.health import health
from app.insights.rates import CostRates
from app.insights.rules import by_host, cost_per_workflow, workflow_findings
from app.insights.stats import Stats, WorkflowStats
from app.insights.timeline import timeline

__all__ = ["Finding", "InsightReport", "Thresholds", "analyse", "build_report", "to_markdown"]


@dataclass
class InsightReport:
    workspace_id: str
    since: str
    until: str
    totals: dict[str, Any]
    workflows: list[dict[str, Any]]
    model: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    failing_nodes: list[dict[str, Any]] = field(default_factory=list)  # most failed node runs first
    timeline: dict[str, Any] = field(default_factory=dict)  # executions per hour or day (app.insights.timeline)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON (findings in the seeds' insight shape, with evidence and proposals)."""
        return {"workspace_id": self.workspace_id, "since": self.since, "until": self.until, "totals": self.totals,
                "workflows": self.workflows, "model": self.model, "findings": [f.to_dict() for f in self.findings],
                "failing_nodes": self.failing_nodes, "timeline": self.timeline}

    def proposal(self, proposal_id: str) -> Proposal | None:
        """The proposal with this id (or the proposal of the finding with this id)."""
        for f in self.findings:
            if f.proposal is not None and proposal_id in (f.proposal.id, f.id):
                return f.proposal
        return None


def build_report(db: Engine, workspace_id: str, *, days: float = 7, now: datetime | None = None,
                 thresholds: Thresholds | None = None, workflow_id: str | None = None,
                 rates: CostRates | None = None, catalog: Any = None) -> InsightReport:
    """Collect the window's figures and apply every rule."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    rollups.refresh(db)
    stats = rollups.collect(db, workspace_id, since, now, workflow_id=workflow_id, fresh=True)
    previous = rollups.collect(db, workspace_id, since - timedelta(days=days), since, workflow_id=workflow_id,
                               executions_only=True, fresh=True)
    t = thresholds or Thresholds()
    ctx = Context(stats, t, Evidence(db, workspace_id, since, now), rates or CostRates(), catalog)
    report = analyse(stats, t, pending=_pending_approvals(db, workspace_id),
                     reauth=_needing_reauth(db, workspace_id), ctx=ctx, db=db, previous=previous,
                     polls=_failing_polls(db, workspace_id))
    report.timeline = timeline(db, workspace_id, since, now, workflow_id)
    return report


def analyse(stats: Stats, t: Thresholds, pending: list[dict[str, Any]] | None = None,
            reauth: list[dict[str, Any]] | None = None, *, ctx: Context | None = None,
            db: Engine | None = None, previous: Stats | None = None,
            polls: list[dict[str, Any]] | None = None) -> InsightReport:
    """Apply every rule to the figures (``db`` adds the anomaly rules, ``previous`` the trend,
    ``reauth`` the OAuth credentials that need a person, ``polls`` the polling triggers that keep
    failing)."""
    ctx = ctx or Context(stats, t)
    findings: list[Finding] = []
    ordered = sorted(stats.workflows.values(), key=lambda w: -w.runs)
    for wf in ordered:
        findings.extend(workflow_findings(wf, ctx))
    findings.extend(by_host(ordered, ctx))
    if db is not None and stats.workflows:  # no runs, no executions table perhaps: nothing to compare
        findings.extend(anomalies(db, ctx))
    findings.extend(_model_findings(stats, t))
    findings.extend(_approval_findings(pending or [], stats.until, t))
    findings.extend(_credential_findings(reauth or []))
    findings.extend(_poll_findings(polls or []))
    findings = sort_findings(findings)
    rows = [_workflow_row(wf, ctx, findings, previous.workflows.get(key) if previous else None)
            for key, wf in sorted(stats.workflows.items(), key=lambda kv: -kv[1].runs)]
    runs = sum(w.runs for w in stats.workflows.values())
    failed = sum(w.failed for w in stats.workflows.values())
    troubled = sum(w.troubled for w in stats.workflows.values())
    m = stats.model
    scores = [r["health"]["score"] for r in rows if r["runs"]]
    return InsightReport(
        workspace_id=stats.workspace_id, since=stats.since.isoformat(), until=stats.until.isoformat(),
        totals={"runs": runs, "failed": failed, "failure_rate": round(failed / runs, 3) if runs else 0.0,
                "completed_with_errors": sum(w.with_errors for w in stats.workflows.values()),
                "error_rate": round(troubled / runs, 3) if runs else 0.0,
                "workflows": len(stats.workflows), "model_tokens": m.tokens, "model_cost_usd": round(m.cost_usd, 6),
                "modelled_cost_usd": round(sum(r["cost"]["total"] for r in rows), 6),
                "modelled_cost_per_month_usd": round(sum(r["cost"]["per_month"] for r in rows), 4),
                "health_score": round(sum(scores) / len(scores), 1) if scores else None,
                "findings": len(findings), "proposals": sum(1 for f in findings if f.proposal)},
        workflows=rows,
        model={"calls": m.calls, "attempts": m.attempts, "cache_hits": m.cache_hits,
               "cache_hit_rate": round(m.cache_hits / m.calls, 3) if m.calls else 0.0,
               "parse_errors": m.parse_errors, "tokens": m.tokens, "saved_tokens": m.saved_tokens,
               "cost_usd": round(m.cost_usd, 6), "tokens_by_purpose": dict(m.by_purpose),
               "cost_by_purpose": {k: round(v, 6) for k, v in m.cost_by_purpose.items()},
               "cost_by_model": {k: round(v, 6) for k, v in m.cost_by_model.items()},
               "models_without_price": sorted(m.cost_unknown_models)},
        findings=findings,
        failing_nodes=_failing_nodes(stats),
    )


def _failing_nodes(stats: Stats, limit: int = 10) -> list[dict[str, Any]]:
    """The nodes with the most failed runs (last attempt failed), with their commonest error."""
    nodes = [(wf, n) for wf in stats.workflows.values() for n in wf.nodes.values() if n.failed]
    nodes.sort(key=lambda pair: (-pair[1].failed, pair[0].name, pair[1].node_id))
    return [{"workflow_id": wf.workflow_id, "workflow": wf.name, "node_id": n.node_id, "kind": n.kind,
             "failed": n.failed, "settled": n.settled,
             "failure_rate": round(n.failed / n.settled, 3) if n.settled else 0.0,
             "top_error": n.errors.most_common(1)[0][0] if n.errors else None} for wf, n in nodes[:limit]]


def _workflow_row(wf: WorkflowStats, ctx: Context, findings: list[Finding],
                  previous: WorkflowStats | None) -> dict[str, Any]:
    working = [n for n in wf.nodes.values() if not n.waits_by_design and n.kind != "loop" and n.durations.count]
    slowest = max(working, key=lambda n: n.durations.quantile(95) or 0, default=None)
    busy = sum(n.durations.total for n in wf.nodes.values() if not n.waits_by_design and not n.in_loop)
    return {
        "workflow_id": wf.workflow_id, "name": wf.name, "runs": wf.runs, "completed": wf.statuses["completed"],
        "failed": wf.failed, "completed_with_errors": wf.with_errors, "statuses": dict(wf.statuses),
        "failure_rate": round(wf.failed / wf.runs, 3) if wf.runs else 0.0,
        # unhealthy runs: failed, timed out, or completed only because an error route handled a failure
        "error_rate": round(wf.troubled / wf.runs, 3) if wf.runs else 0.0,
        "success_rate": round(wf.clean / wf.runs, 3) if wf.runs else 0.0,
        "p50_ms": wf.durations.quantile(50), "p95_ms": wf.durations.quantile(95), "p99_ms": wf.durations.quantile(99),
        "top_error": wf.errors.most_common(1)[0][0] if wf.errors else None,
        "slowest_node": slowest.node_id if slowest else None,
        "retries": sum(n.retried for n in wf.nodes.values()),
        "node_time_share": {n.node_id: round(n.durations.total / busy, 3) for n in working if busy},
        "tokens": wf.tokens, "cost_usd": round(wf.cost_usd, 6),
        "cost": cost_per_workflow(wf, ctx),
        "health": health(wf, findings, previous),
    }


def _model_findings(stats: Stats, t: Thresholds) -> list[Finding]:
    m = stats.model
    out: list[Finding] = []
    if m.calls >= t.min_model_calls and m.cache_hits / m.calls < t.low_cache_hit_rate:
        out.append(Finding(
            severity="low", category="cost", title="Few model calls are served from the cache",
            detail=f"{m.cache_hits} of {m.calls} calls were cache hits ({m.cache_hits / m.calls:.0%}).",
            fix="keep the semantic cache on; reuse prompt templates so requests share a cache partition"))
    if m.attempts >= t.min_model_calls and m.parse_errors / m.attempts >= t.parse_error_rate:
        out.append(Finding(
            severity="medium", category="cost", title="The model often returns output that does not parse",
            detail=f"{m.parse_errors} of {m.attempts} attempts failed validation and were re-asked.",
            fix="use a model with native structured output (tool calling), or simplify the request"))
    if m.cost_unknown_models:
        out.append(Finding(
            severity="low", category="cost", title="Some models have no price: their cost shows as $0",
            detail=f"models without a price in the cost map: {', '.join(sorted(m.cost_unknown_models))}.",
            fix="register the model's price with litellm if it is not free"))
    costly = sorted((w for w in stats.workflows.values() if w.cost_usd > 0), key=lambda w: -w.cost_usd)[:1]
    for wf in costly:
        if m.cost_usd and wf.cost_usd / m.cost_usd >= 0.5:
            out.append(Finding(
                severity="low", category="cost", title=f"{wf.name} spends most of the model budget",
                detail=f"${wf.cost_usd:.4f} of ${m.cost_usd:.4f} ({wf.tokens} tokens).",
                fix="summarize less text per call, use a cheaper model for llm.* steps, or cache", workflow_id=wf.workflow_id))
    return out


def _approval_findings(pending: list[dict[str, Any]], now: datetime, t: Thresholds) -> list[Finding]:
    stale = [p for p in pending if p["requested_at"] and (now - p["requested_at"]).total_seconds() >= t.stale_approval_h * 3600]
    if not stale:
        return []
    return [Finding(
        severity="medium", category="operations", title=f"{len(stale)} approval(s) waiting for over {t.stale_approval_h:.0f} h",
        detail=", ".join(f"{p['execution_id']}/{p['node_id']}" for p in stale[:5]),
        fix="approve or reject them (`flowwright approvals list`, `flowwright approve`)")]


def _credential_findings(reauth: list[dict[str, Any]]) -> list[Finding]:
    return [Finding(
        severity="high", category="operations", title=f"credential {c['name']} needs to be connected again",
        detail=f"refreshing its {c['provider']} OAuth 2.0 token failed: {c['last_error'] or 'refused'}; steps that "
               "use it fail with credential_needs_reauth.",
        fix=f"`flowwright credentials connect {c['name']} --provider {c['provider']}` (or POST "
            f"/v1/credentials/{c['name']}/connect)", implementation_effort="low",
        impact="every run that uses it fails until a person connects it again",
        figures={"credential": c["name"], "provider": c["provider"]}) for c in reauth]


def _poll_findings(polls: list[dict[str, Any]]) -> list[Finding]:
    return [Finding(
        severity="high", category="reliability", title=f"the polling trigger of {p['name']} keeps failing",
        detail=f"{p['failures']} polls in a row failed (last at {p['last_poll_at']}): {p['last_error']}; no run "
               "starts until a poll succeeds (the cursor waits, so nothing is lost).",
        fix="fix what the error names (the credential, the URL or table, the host allowlist); "
            f"`flowwright workflows show {p['workflow_id']}` shows the polling state",
        implementation_effort="low", impact="new items wait, unprocessed, until a poll succeeds",
        workflow_id=p["workflow_id"], figures={"failures": p["failures"]}) for p in polls]


def _failing_polls(db: Engine, workspace_id: str) -> list[dict[str, Any]]:
    from engine.poll_scheduler import failing_triggers

    return failing_triggers(db, workspace_id)


def _needing_reauth(db: Engine, workspace_id: str) -> list[dict[str, Any]]:
    from connectors.oauth_tokens import needing_reauth

    return [s.to_dict() for s in needing_reauth(db, workspace_id)]


def _pending_approvals(db: Engine, workspace_id: str) -> list[dict[str, Any]]:
    from sqlalchemy import inspect, select

    from engine.execution_store import ApprovalRow

    ap = ApprovalRow.__table__  # type: ignore[attr-defined]
    if ap.name not in set(inspect(db).get_table_names()):
        return []
    with db.connect() as conn:
        rows = conn.execute(
            select(ap.c.execution_id, ap.c.node_id, ap.c.requested_at)
            .where(ap.c.workspace_id == workspace_id, ap.c.status == "pending")
        ).mappings().all()
    out = []
    for r in rows:
        requested = r["requested_at"]
        if requested is not None and requested.tzinfo is None:
            requested = requested.replace(tzinfo=UTC)
        out.append({"execution_id": r["execution_id"], "node_id": r["node_id"], "requested_at": requested})
    return out


def to_markdown(report: InsightReport) -> str:
    """The report as Markdown (what `flowwright insights --format md` writes)."""
    t = report.totals
    lines = [f"# Flowwright insights — {report.workspace_id}", "",
             f"{report.since[:16]} → {report.until[:16]} UTC · {t['runs']} runs of {t['workflows']} workflow(s) · "
             f"{t['failed']} failed ({t['failure_rate']:.0%}) · {t.get('completed_with_errors', 0)} completed with "
             f"errors · {t['model_tokens']} model tokens · "
             f"${t['model_cost_usd']:.4f}" + (f" · health {t['health_score']}/100" if t.get("health_score") else ""),
             "", "## What to fix", ""]
    if not report.findings:
        lines.append("Nothing stands out in this window.")
    for f in report.findings:
        where = f" (`{f.node_id}`)" if f.node_id else ""
        extra = f" *Impact:* {f.impact}." if f.impact else ""
        if f.estimated_savings:
            extra += f" *Saves:* {f.estimated_savings}."
        if f.execution_ids:
            extra += f" *Runs:* {', '.join(f'`{e}`' for e in f.execution_ids[:3])}."
        if f.proposal:
            extra += f" *Proposed version:* `flowwright insights --accept {f.proposal.id}` ({f.proposal.summary})."
        lines.append(f"- **[{f.severity}] {f.title}**{where} — {f.detail} *Fix:* {f.fix}.{extra}")
    lines += ["", "## Workflows", "",
              "| workflow | health | runs | failed | with errors | p50 ms | p95 ms | p99 ms | top error | slowest node "
              "| tokens | modelled $/month |",
              "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|"]
    for w in report.workflows:
        h = w.get("health") or {}
        lines.append(f"| {w['name']} | {h.get('score', '')} {h.get('band', '')} | {w['runs']} | {w['failed']} | "
                     f"{w['completed_with_errors']} | "
                     f"{_ms(w['p50_ms'])} | {_ms(w['p95_ms'])} | {_ms(w['p99_ms'])} | "
                     f"{w['top_error'] or ''} | {w['slowest_node'] or ''} | {w['tokens']} | "
                     f"{w.get('cost', {}).get('per_month', 0):.2f} |")
    lines += ["", "Health = reliability 30% + efficiency 25% + cost 20% + security 25% "
              "(90+ excellent, 70+ good, 50+ needs improvement, below 50 critical).", ""]
    for w in report.workflows:
        h = w.get("health") or {}
        if h:
            c = h["components"]
            trend = "" if h.get("trend") is None else f", trend {h['trend']:+.1f}"
            lines.append(f"- {w['name']}: reliability {c['reliability']}, efficiency {c['efficiency']}, "
                         f"cost {c['cost']}, security {c['security']}{trend}")
    m = report.model
    lines += ["", "## Model usage", "",
              f"{m['calls']} calls, {m['attempts']} provider attempts, {m['cache_hits']} cache hits "
              f"({m['cache_hit_rate']:.0%}), {m['parse_errors']} parse errors, {m['tokens']} tokens "
              f"({m['saved_tokens']} saved by the cache), ${m['cost_usd']:.4f}.", ""]
    for purpose, tokens in sorted(m["tokens_by_purpose"].items()):
        lines.append(f"- {purpose}: {tokens} tokens")
    return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"
