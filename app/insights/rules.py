"""The insight rules over one window's figures: reliability, performance, cost and security.

Each rule returns findings with their evidence (figures and example execution ids), the impact,
a concrete fix and, where the fix is a workflow change, a proposal (:mod:`app.insights.proposals`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

from app.insights.context import Context
from app.insights.findings import DEFAULT_FIX, FIXES, PERMANENT_ERRORS, Finding, money
from app.insights.proposals import drop_repeated, propose, set_loop_concurrency, stop_retrying, use_https
from app.insights.stats import NodeStats, WorkflowStats, walk_nodes

# Connectors whose steps stay inside Flowwright (everything else reaches another host).
INTERNAL_CONNECTORS = frozenset({"core", "datastore", "llm"})
SECRET_HEADER = re.compile(r"(?i)^(authorization|proxy-authorization|x-api-key|api[-_]?key|x-auth-token|cookie)$")
SECRET_VALUE = re.compile(r"(sk_live_|sk_test_|sk-[A-Za-z0-9]{16,}|ghp_[A-Za-z0-9]{20,}|xox[bpas]-|AKIA[0-9A-Z]{16}"
                          r"|-----BEGIN [A-Z ]*PRIVATE KEY)")


def is_external(node: NodeStats) -> bool:
    connector = node.kind.split(".", 1)[0]
    return "." in node.kind and connector not in INTERNAL_CONNECTORS and node.kind.split(".")[0] not in (
        "guardrail", "trigger")


def workflow_findings(wf: WorkflowStats, ctx: Context) -> list[Finding]:
    """Every rule for one workflow."""
    out: list[Finding] = []
    out += failure_findings(wf, ctx)
    for node in wf.nodes.values():
        out += flaky(wf, node, ctx) + mostly_one_error(wf, node, ctx) + retries_never_succeed(wf, node, ctx)
    out += bottlenecks(wf, ctx) + repeated_calls(wf, ctx) + security(wf, ctx)
    return out


def failure_findings(wf: WorkflowStats, ctx: Context) -> list[Finding]:
    t = ctx.thresholds
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
    hidden = wf.failed == 0 and wf.with_errors > 0
    title = (f"{wf.name} hides failures behind an error route: {rate:.0%} of its runs" if hidden
             else f"{wf.name} fails {rate:.0%} of its runs")
    return [Finding(
        severity="high" if rate >= 0.5 else "medium", category="failures", title=title,
        detail=f"{'; '.join(parts)}; most common error {code!r} ({count}×){where}.",
        fix=FIXES.get(node_code, FIXES.get(code, DEFAULT_FIX)),
        workflow_id=wf.workflow_id, node_id=culprit.node_id if culprit and culprit.failed else None,
        impact=f"about {ctx.per_month(wf.troubled):.0f} unhealthy runs a month"
               + (": they read as completed, so nobody is alerted" if hidden else ""),
        implementation_effort="medium",
        figures={"runs": wf.runs, "failed": wf.failed, "completed_with_errors": wf.with_errors,
                 "error_rate": round(rate, 3), "top_error": code, "top_error_count": count},
        execution_ids=ctx.ids("unhealthy_runs", wf.workflow_id),
    )]


def flaky(wf: WorkflowStats, node: NodeStats, ctx: Context) -> list[Finding]:
    t = ctx.thresholds
    if node.settled < t.min_runs or node.attempts / node.settled < t.flaky_attempts:
        return []
    if node.retried and not node.retry_successes:
        return []  # retries_never_succeed says it better
    code = node.errors.most_common(1)[0][0] if node.errors else "unknown"
    return [Finding(
        severity="medium", category="reliability", title=f"{node.node_id} in {wf.name} needs retries",
        detail=f"{node.attempts} attempts for {node.settled} runs ({node.attempts / node.settled:.1f} per run); "
               f"most common error {code!r}.",
        fix=FIXES.get(code, "the retries hide a flaky dependency: look at the remote side, or back off longer"),
        workflow_id=wf.workflow_id, node_id=node.node_id, implementation_effort="medium",
        impact=f"{node.attempts - node.settled} extra attempts in the window",
        figures={"attempts": node.attempts, "settled": node.settled, "retried": node.retried,
                 "retry_successes": node.retry_successes, "top_error": code},
        execution_ids=ctx.ids("node_retried", wf.workflow_id, node.node_id))]


def mostly_one_error(wf: WorkflowStats, node: NodeStats, ctx: Context) -> list[Finding]:
    t = ctx.thresholds
    failures = sum(node.errors.values())
    if node.failed < t.min_runs or not failures:
        return []
    code, count = node.errors.most_common(1)[0]
    if count / failures < t.dominant_error:
        return []
    return [Finding(
        severity="medium", category="reliability", title=f"{node.node_id} in {wf.name} fails mostly with {code!r}",
        detail=f"{count} of its {failures} failed attempts ({count / failures:.0%}) were {code!r}; "
               f"{node.failed} of {node.settled} runs of the node ended failed.",
        fix=FIXES.get(code, DEFAULT_FIX), workflow_id=wf.workflow_id, node_id=node.node_id,
        impact="one cause: fixing it removes most of this node's failures", implementation_effort="low",
        figures={"error": code, "count": count, "failed_attempts": failures, "failed_runs": node.failed,
                 "settled": node.settled},
        execution_ids=ctx.ids("node_failed", wf.workflow_id, node.node_id))]


def retries_never_succeed(wf: WorkflowStats, node: NodeStats, ctx: Context) -> list[Finding]:
    t = ctx.thresholds
    if node.retried < t.min_runs or node.retry_successes:
        return []
    code = node.errors.most_common(1)[0][0] if node.errors else "unknown"
    avg_ms = node.durations.total / node.durations.count if node.durations.count else 0.0
    calls_saved = ctx.per_month(node.retried)
    proposal = propose(wf, f"{node.node_id}: one attempt (its retries never succeed)",
                       [f"{node.node_id}.retry: max_attempts 1"], stop_retrying(node.node_id), ctx.catalog)
    permanent = code in PERMANENT_ERRORS
    return [Finding(
        severity="medium", category="reliability", title=f"Retries of {node.node_id} in {wf.name} never succeed",
        detail=f"{node.retried} retries, none of which succeeded; the error is {code!r}"
               + (" — not transient, so a retry gets the same answer." if permanent else "."),
        fix="stop retrying it (max_attempts 1) and fix the request, or route the failure to a person"
            if permanent else "the dependency stays down for longer than the retries: back off longer or route failures",
        workflow_id=wf.workflow_id, node_id=node.node_id, implementation_effort="low",
        impact=f"{node.retried} wasted attempts ({node.retried * avg_ms / 1000:.0f} s of calls plus backoff)",
        estimated_savings=f"{calls_saved:.0f} calls/month ({money(calls_saved * ctx.rates.per_external_call)}/month)"
        if is_external(node) else f"{calls_saved:.0f} attempts/month",
        figures={"retried": node.retried, "retry_successes": 0, "error": code, "avg_attempt_ms": round(avg_ms)},
        execution_ids=ctx.ids("node_retried", wf.workflow_id, node.node_id),
        proposal=proposal if permanent else None)]


def bottlenecks(wf: WorkflowStats, ctx: Context) -> list[Finding]:
    t = ctx.thresholds
    out: list[Finding] = []
    # A delay or an approval waits by design: neither is a bottleneck, and neither counts in the
    # time the workflow spends working. A loop's time is its body's.
    working = [n for n in wf.nodes.values() if not n.waits_by_design and n.kind != "loop"]
    busy_ms = sum(n.durations.total for n in wf.nodes.values() if not n.waits_by_design and not n.in_loop)
    for node in working:
        p95 = node.durations.quantile(95)
        share = node.durations.total / busy_ms if busy_ms else 0.0
        if p95 is None or wf.runs < t.min_runs or p95 < t.slow_ms or share < t.slow_share:
            continue
        serial = node.in_loop and wf.loop_concurrency.get(node.node_id, 1) <= 1
        proposal, savings = None, None
        if serial:
            loop_id = _loop_of(wf, node.node_id)
            if loop_id:
                proposal = propose(wf, f"{loop_id}: {t.proposed_concurrency} items at a time",
                                   [f"{loop_id}.config.max_concurrency: 1 -> {t.proposed_concurrency}"],
                                   set_loop_concurrency(loop_id, t.proposed_concurrency), ctx.catalog)
            per_run = node.durations.total / max(wf.runs, 1) * (1 - 1 / t.proposed_concurrency)
            savings = f"~{per_run / 1000:.1f} s per run"
        out.append(Finding(
            severity="medium", category="latency", title=f"{node.node_id} dominates {wf.name}'s run time",
            detail=f"{node.kind} p95 {p95:.0f} ms; {share:.0%} of the time the workflow's nodes spend working.",
            fix="raise the loop's max_concurrency (it runs items one at a time)" if serial
            else "cache or batch this call, or run it in parallel with independent steps",
            workflow_id=wf.workflow_id, node_id=node.node_id, implementation_effort="low" if serial else "medium",
            impact=f"{node.durations.total / 1000:.0f} s of node time in the window", estimated_savings=savings,
            figures={"p50_ms": node.durations.quantile(50), "p95_ms": p95, "p99_ms": node.durations.quantile(99),
                     "share_of_working_time": round(share, 3), "loop_concurrency": wf.loop_concurrency.get(node.node_id)},
            execution_ids=ctx.ids("node_slowest", wf.workflow_id, node.node_id), proposal=proposal))
    return out


def _loop_of(wf: WorkflowStats, node_id: str) -> str | None:
    definition = wf.latest_definition or {}
    for node, loop in walk_nodes(definition):
        if node.get("id") == node_id and loop is not None:
            return str(loop.get("id"))
    return None


def repeated_calls(wf: WorkflowStats, ctx: Context) -> list[Finding]:
    """Two steps making the identical read-only external call in the same run."""
    definition = wf.latest_definition
    if not definition:
        return []
    seen: dict[str, str] = {}
    out: list[Finding] = []
    for node, _loop in walk_nodes(definition):
        stats = wf.nodes.get(str(node.get("id")))
        if node.get("type") != "action" or stats is None or not stats.settled or not is_external(stats):
            continue
        config = node.get("config") or {}
        if str(config.get("method", "GET")).upper() not in ("GET", "HEAD"):
            continue
        key = json.dumps([node.get("connector"), node.get("operation"), config], sort_keys=True)
        first = seen.setdefault(key, str(node["id"]))
        if first == node["id"]:
            continue
        calls = ctx.per_month(stats.settled)
        avg_ms = stats.durations.total / stats.durations.count if stats.durations.count else 0.0
        out.append(Finding(
            severity="medium", category="cost", title=f"{wf.name} makes the same call twice ({first}, {node['id']})",
            detail=f"{node['id']} repeats {first}'s {node.get('connector')}.{node.get('operation')} with the same "
                   f"config; it ran {stats.settled} times in the window (avg {avg_ms:.0f} ms).",
            fix=f"drop {node['id']} and read nodes.{first} instead", workflow_id=wf.workflow_id,
            node_id=str(node["id"]), implementation_effort="low",
            impact=f"{stats.settled} redundant external calls in the window",
            estimated_savings=f"{money(calls * ctx.rates.per_external_call)}/month ({calls:.0f} calls)",
            figures={"repeats": first, "runs": stats.settled, "avg_ms": round(avg_ms)},
            execution_ids=ctx.ids("node_ran", wf.workflow_id, str(node["id"])),
            proposal=propose(wf, f"drop {node['id']}: it repeats {first}", [f"removed {node['id']}"],
                             drop_repeated(str(node["id"]), first), ctx.catalog)))
    return out


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _strings(v, f"{path}[{i}]")]
    return []


def security(wf: WorkflowStats, ctx: Context) -> list[Finding]:
    """Plain-http URLs, secrets written into configs, webhooks anyone holding the URL can call."""
    definition = wf.latest_definition
    if not definition:
        return []
    out: list[Finding] = []
    for node, _loop in walk_nodes(definition):
        node_id = str(node.get("id"))
        config = node.get("config") or {}
        for path, text in _strings(config, f"$.nodes[{node_id}].config"):
            if text.startswith("http://") and urlsplit(text).hostname not in ("localhost", "127.0.0.1", "::1"):
                out.append(Finding(
                    severity="medium", category="security", title=f"{node_id} in {wf.name} sends data over plain http",
                    detail=f"{path} is {text.split('?')[0]!r}: requests and answers cross the network unencrypted.",
                    fix="use https:// (the proposal switches the URL)", workflow_id=wf.workflow_id, node_id=node_id,
                    impact="anyone on the path can read or change the data", implementation_effort="low",
                    figures={"path": path, "host": urlsplit(text).hostname},
                    proposal=propose(wf, f"{node_id}: https", [f"{path}: http:// -> https://"], use_https(node_id),
                                     ctx.catalog) if path.endswith(".url") else None))
            secret_header = SECRET_HEADER.match(path.rsplit(".", 1)[-1]) and "{{" not in text
            if secret_header or SECRET_VALUE.search(text):
                out.append(Finding(
                    severity="high", category="security", title=f"{node_id} in {wf.name} has a secret in its config",
                    detail=f"{path} holds a literal credential ({_hint(text)}…): it is stored in every version and "
                           f"every execution's definition snapshot.",
                    fix=f"move it to the vault (`flowwright credentials set {node_id}_key --type api_key`), set the "
                        f"node's credential to it, and rotate the exposed key",
                    workflow_id=wf.workflow_id, node_id=node_id, implementation_effort="low",
                    impact="whoever can read workflows or executions can use the key", figures={"path": path}))
        if node.get("type") == "trigger" and node.get("kind") == "webhook" and not _signed(config):
            out.append(Finding(
                severity="medium", category="security", title=f"{wf.name}'s webhook has no signing secret",
                detail="the webhook accepts any request that knows its URL; nothing proves who sent it.",
                fix="keep the URL secret and add a schema guardrail on the body; sign requests (HMAC) where the "
                    "sender supports it",
                workflow_id=wf.workflow_id, node_id=node_id, implementation_effort="medium",
                impact="a leaked URL lets anyone start runs", figures={"trigger": "webhook"}))
    return out


def _hint(secret: str) -> str:
    """Enough of a secret to recognise it (its scheme and first six characters), never the secret."""
    scheme, _, rest = secret.strip().partition(" ")
    return f"{scheme} {rest[:6]}" if rest else scheme[:6]


def _signed(config: dict[str, Any]) -> bool:
    return any(config.get(k) for k in ("secret", "signing_secret", "hmac_secret", "signature"))


def cost_per_workflow(wf: WorkflowStats, ctx: Context) -> dict[str, float]:
    """The seeds' cost model over the window, and per run and per month."""
    r = ctx.rates
    node_runs = sum(n.settled for n in wf.nodes.values() if n.kind != "loop" and not n.kind.startswith("trigger"))
    working_s = sum(n.durations.total for n in wf.nodes.values() if not n.waits_by_design and not n.in_loop) / 1000
    calls = sum(n.attempts for n in wf.nodes.values() if is_external(n))
    parts = {"base": wf.runs * r.base, "nodes": node_runs * r.per_node, "duration": working_s * r.per_second,
             "external_calls": calls * r.per_external_call, "tokens": wf.tokens / 1000 * r.per_1k_tokens}
    total = sum(parts.values())
    return {**{k: round(v, 6) for k, v in parts.items()}, "total": round(total, 6),
            "per_run": round(total / wf.runs, 6) if wf.runs else 0.0, "per_month": round(ctx.per_month(total), 4),
            "external_calls": calls, "node_runs": node_runs}


def by_host(stats_workflows: list[WorkflowStats], ctx: Context) -> list[Finding]:
    """External hosts whose calls are slow, across workflows."""
    from app.insights.stats import Distribution

    hosts: dict[str, Distribution] = defaultdict(Distribution)
    users: dict[str, set[str]] = defaultdict(set)
    for wf in stats_workflows:
        for node, _loop in walk_nodes(wf.latest_definition or {}):
            url = (node.get("config") or {}).get("url")
            stats = wf.nodes.get(str(node.get("id")))
            if not isinstance(url, str) or stats is None:
                continue
            host = urlsplit(url).hostname
            if not host or "{" in host:
                continue
            for value, count in stats.durations.counts.items():
                hosts[host].add(value, count)
            users[host].add(wf.name)
    out = []
    for host, dist in hosts.items():
        p95 = dist.quantile(95)
        if p95 is not None and dist.count >= ctx.thresholds.min_runs and p95 >= ctx.thresholds.slow_host_ms:
            out.append(Finding(
                severity="low", category="latency", title=f"{host} is slow",
                detail=f"{dist.count} calls, p50 {dist.quantile(50):.0f} ms, p95 {p95:.0f} ms; used by "
                       f"{', '.join(sorted(users[host]))}.",
                fix="ask for a batch endpoint, cache its answers, or call it in parallel",
                implementation_effort="medium", impact=f"{dist.total / 1000:.0f} s waiting on {host} in the window",
                figures={"host": host, "calls": dist.count, "p50_ms": dist.quantile(50), "p95_ms": p95}))
    return out
