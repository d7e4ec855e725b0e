"""Insight reports: what fails, what is slow, what costs tokens, and what to fix.

Findings come from explicit rules over the figures in :mod:`app.insights.stats`, so each one
names the workflow/node, the evidence (counts, percentages, milliseconds, tokens) and a concrete
fix. Thresholds are parameters, not magic numbers buried in the rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.engine import Engine

from app.insights.stats import NodeStats, Stats, WorkflowStats, collect

Severity = Literal["high", "medium", "low"]

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


@dataclass(frozen=True)
class Thresholds:
    min_runs: int = 3
    failure_rate: float = 0.2
    flaky_attempts: float = 1.5  # attempts per settled node run
    slow_share: float = 0.5  # a node's share of the time its workflow's nodes spend working (waits excluded)
    slow_ms: float = 1000.0
    low_cache_hit_rate: float = 0.2
    min_model_calls: int = 10
    parse_error_rate: float = 0.1
    stale_approval_h: float = 24.0


@dataclass
class Finding:
    severity: Severity
    category: Literal["failures", "reliability", "latency", "cost", "operations"]
    title: str
    detail: str
    fix: str
    workflow_id: str | None = None
    node_id: str | None = None


@dataclass
class InsightReport:
    workspace_id: str
    since: str
    until: str
    totals: dict[str, Any]
    workflows: list[dict[str, Any]]
    model: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["findings"] = [asdict(f) for f in self.findings]
        return data


def build_report(db: Engine, workspace_id: str, *, days: float = 7, now: datetime | None = None,
                 thresholds: Thresholds | None = None) -> InsightReport:
    """Collect the window's figures and apply every rule."""
    now = now or datetime.now(UTC)
    stats = collect(db, workspace_id, now - timedelta(days=days), now)
    return analyse(stats, thresholds or Thresholds(), pending=_pending_approvals(db, workspace_id),
                   reauth=_needing_reauth(db, workspace_id))


def analyse(stats: Stats, t: Thresholds, pending: list[dict[str, Any]] | None = None,
            reauth: list[dict[str, Any]] | None = None) -> InsightReport:
    """Apply every rule to the window's figures (``reauth``: OAuth credentials that need a person)."""
    findings: list[Finding] = []
    rows = []
    for wf in sorted(stats.workflows.values(), key=lambda w: -w.runs):
        rows.append(_workflow_row(wf))
        findings.extend(_failure_findings(wf, t))
        findings.extend(_node_findings(wf, t))
    findings.extend(_model_findings(stats, t))
    findings.extend(_approval_findings(pending or [], stats.until, t))
    findings.extend(_credential_findings(reauth or []))
    order = {"high": 0, "medium": 1, "low": 2}
    findings.sort(key=lambda f: (order[f.severity], f.category, f.title))
    runs = sum(w.runs for w in stats.workflows.values())
    failed = sum(w.failed for w in stats.workflows.values())
    m = stats.model
    return InsightReport(
        workspace_id=stats.workspace_id, since=stats.since.isoformat(), until=stats.until.isoformat(),
        totals={"runs": runs, "failed": failed, "failure_rate": round(failed / runs, 3) if runs else 0.0,
                "completed_with_errors": sum(w.with_errors for w in stats.workflows.values()),
                "workflows": len(stats.workflows), "model_tokens": m.tokens, "model_cost_usd": round(m.cost_usd, 6)},
        workflows=rows,
        model={"calls": m.calls, "attempts": m.attempts, "cache_hits": m.cache_hits,
               "cache_hit_rate": round(m.cache_hits / m.calls, 3) if m.calls else 0.0,
               "parse_errors": m.parse_errors, "tokens": m.tokens, "saved_tokens": m.saved_tokens,
               "cost_usd": round(m.cost_usd, 6), "tokens_by_purpose": dict(m.by_purpose),
               "cost_by_model": {k: round(v, 6) for k, v in m.cost_by_model.items()},
               "models_without_price": sorted(m.cost_unknown_models)},
        findings=findings,
    )


def _workflow_row(wf: WorkflowStats) -> dict[str, Any]:
    working = [n for n in wf.nodes.values() if not n.waits_by_design and n.kind != "loop" and n.durations.count]
    slowest = max(working, key=lambda n: n.durations.quantile(95) or 0, default=None)
    return {
        "workflow_id": wf.workflow_id, "name": wf.name, "runs": wf.runs, "completed": wf.statuses["completed"],
        "failed": wf.failed, "completed_with_errors": wf.with_errors,
        "failure_rate": round(wf.failed / wf.runs, 3) if wf.runs else 0.0,
        # unhealthy runs: failed, timed out, or completed only because an error route handled a failure
        "error_rate": round(wf.troubled / wf.runs, 3) if wf.runs else 0.0,
        "success_rate": round(wf.clean / wf.runs, 3) if wf.runs else 0.0,
        "p50_ms": wf.durations.quantile(50), "p95_ms": wf.durations.quantile(95), "p99_ms": wf.durations.quantile(99),
        "top_error": wf.errors.most_common(1)[0][0] if wf.errors else None,
        "slowest_node": slowest.node_id if slowest else None,
        "tokens": wf.tokens, "cost_usd": round(wf.cost_usd, 6),
    }


def _failure_findings(wf: WorkflowStats, t: Thresholds) -> list[Finding]:
    # A run that completed through an error route still failed at a node: it counts here.
    if wf.runs < t.min_runs or wf.troubled / wf.runs < t.failure_rate:
        return []
    code, count = wf.errors.most_common(1)[0] if wf.errors else ("unknown", wf.troubled)
    culprit = max(wf.nodes.values(), key=lambda n: n.failed, default=None)
    where = f"; most failures at node {culprit.node_id!r} ({culprit.kind})" if culprit and culprit.failed else ""
    node_code = culprit.errors.most_common(1)[0][0] if culprit and culprit.errors else code
    rate = wf.troubled / wf.runs
    parts = [f"{wf.failed} of {wf.runs} runs failed"] if wf.failed else []
    if wf.with_errors:
        parts.append(f"{wf.with_errors} of {wf.runs} completed with errors (a failed node was handled)")
    return [Finding(
        severity="high" if rate >= 0.5 else "medium", category="failures",
        title=f"{wf.name} fails {rate:.0%} of its runs",
        detail=f"{'; '.join(parts)}; most common error {code!r} ({count}×){where}.",
        fix=FIXES.get(node_code, FIXES.get(code, DEFAULT_FIX)),
        workflow_id=wf.workflow_id, node_id=culprit.node_id if culprit and culprit.failed else None,
    )]


def _node_findings(wf: WorkflowStats, t: Thresholds) -> list[Finding]:
    out: list[Finding] = []
    # A delay or an approval waits by design: neither is a bottleneck, and neither counts in the
    # time the workflow spends working.
    # A loop's time is its body's: the body nodes are measured, the loop counts only in the total.
    working = [n for n in wf.nodes.values() if not n.waits_by_design and n.kind != "loop"]
    busy_ms = sum(n.durations.total for n in wf.nodes.values() if not n.waits_by_design and not n.in_loop)
    for node in wf.nodes.values():
        out.extend(_flaky(wf, node, t))
    for node in working:
        p95 = node.durations.quantile(95)
        share = node.durations.total / busy_ms if busy_ms else 0.0
        if p95 is not None and wf.runs >= t.min_runs and p95 >= t.slow_ms and share >= t.slow_share:
            fix = "raise the loop's max_concurrency (it runs items one at a time)" \
                if node.in_loop and wf.loop_concurrency.get(node.node_id, 1) <= 1 \
                else "cache or batch this call, or run it in parallel with independent steps"
            out.append(Finding(
                severity="medium", category="latency", title=f"{node.node_id} dominates {wf.name}'s run time",
                detail=f"{node.kind} p95 {p95:.0f} ms; {share:.0%} of the time the workflow's nodes spend working.",
                fix=fix, workflow_id=wf.workflow_id, node_id=node.node_id))
    return out


def _flaky(wf: WorkflowStats, node: NodeStats, t: Thresholds) -> list[Finding]:
    if node.settled < t.min_runs or node.attempts / node.settled < t.flaky_attempts:
        return []
    code = node.errors.most_common(1)[0][0] if node.errors else "unknown"
    return [Finding(
        severity="medium", category="reliability", title=f"{node.node_id} in {wf.name} needs retries",
        detail=f"{node.attempts} attempts for {node.settled} runs ({node.attempts / node.settled:.1f} per run); "
               f"most common error {code!r}.",
        fix=FIXES.get(code, "the retries hide a flaky dependency: look at the remote side, or back off longer"),
        workflow_id=wf.workflow_id, node_id=node.node_id)]


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
            f"/v1/credentials/{c['name']}/connect)") for c in reauth]


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
    """The report as Markdown (what `flowwright insights -o report.md` writes)."""
    t = report.totals
    lines = [f"# Flowwright insights — {report.workspace_id}", "",
             f"{report.since[:16]} → {report.until[:16]} UTC · {t['runs']} runs of {t['workflows']} workflow(s) · "
             f"{t['failed']} failed ({t['failure_rate']:.0%}) · {t.get('completed_with_errors', 0)} completed with "
             f"errors · {t['model_tokens']} model tokens · "
             f"${t['model_cost_usd']:.4f}", "", "## What to fix", ""]
    if not report.findings:
        lines.append("Nothing stands out in this window.")
    for f in report.findings:
        where = f" (`{f.node_id}`)" if f.node_id else ""
        lines.append(f"- **[{f.severity}] {f.title}**{where} — {f.detail} *Fix:* {f.fix}")
    lines += ["", "## Workflows", "",
              "| workflow | runs | failed | with errors | p50 ms | p95 ms | p99 ms | top error | slowest node | tokens | cost $ |",
              "|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|"]
    for w in report.workflows:
        lines.append(f"| {w['name']} | {w['runs']} | {w['failed']} | {w['completed_with_errors']} | "
                     f"{_ms(w['p50_ms'])} | {_ms(w['p95_ms'])} | {_ms(w['p99_ms'])} | "
                     f"{w['top_error'] or ''} | {w['slowest_node'] or ''} | {w['tokens']} | {w['cost_usd']:.4f} |")
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
