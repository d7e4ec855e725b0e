"""Synthetic execution history for insight tests, the benchmark and the sample report.

Each :class:`WorkflowPlan` is a real workflow definition plus how its nodes behave (median
duration, failure probability, whether retries help, what error they fail with). :func:`seed`
plays the plans out into the tables the engine writes (``executions``, ``execution_steps``) and the
gateway writes (``llm_usage``), deterministically from a seed, so a test can assert exact evidence.

    python -m tests.app.insights.history DB_PATH [--scale 1.0]   # seed a data dir's database
"""

from __future__ import annotations

import argparse
import copy
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from engine.execution_store import TABLES, ExecutionRow, RollupMarkRow, StepRow, hour_of


@dataclass(frozen=True)
class NodePlan:
    """How one node behaves over the history."""

    ms: float = 5.0  # median duration of an attempt
    spread: float = 0.25  # lognormal sigma
    fail: float = 0.0  # probability that an attempt fails
    error: str = "http_status"
    message: str = "the remote side answered 500"
    retry_helps: bool = True  # False: a failed first attempt fails on every retry (a non-retryable error retried)
    items: int = 0  # a loop: body items per run
    tokens: int = 0  # an llm node: tokens per call (prompt + completion)


@dataclass(frozen=True)
class Anomaly:
    """From ``hours_ago`` until now, a node is ``slower`` times slower and fails with ``fail``."""

    node_id: str
    hours_ago: float
    slower: float = 1.0
    fail: float | None = None


@dataclass
class WorkflowPlan:
    workflow_id: str
    definition: dict[str, Any]
    runs: int
    nodes: dict[str, NodePlan] = field(default_factory=dict)
    anomaly: Anomaly | None = None
    model: str = "openai/gpt-4o-mini"


def _wf(name: str, description: str, trigger: dict[str, Any], nodes: list[dict[str, Any]],
        edges: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A workflow whose nodes run in sequence after the trigger, unless ``edges`` are given."""
    trigger = {"id": "start", "type": "trigger", **trigger}
    if edges is None:
        ids = ["start"] + [n["id"] for n in nodes]
        edges = [{"source": a, "target": b} for a, b in zip(ids, ids[1:], strict=False)]
    return {"schema_version": "1", "name": name, "description": description, "nodes": [trigger, *nodes],
            "edges": edges}


def _http(node_id: str, url: str, method: str = "GET", **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "action", "connector": "http", "operation": "request",
            "config": {"method": method, "url": url, **extra.pop("config", {})}, **extra}


def _log(node_id: str, message: str) -> dict[str, Any]:
    return {"id": node_id, "type": "action", "connector": "core", "operation": "log", "config": {"message": message}}


RETRY = {"max_attempts": 3, "backoff": "exponential", "initial_delay_s": 1, "max_delay_s": 30}


def realistic(scale: float = 1.0) -> list[WorkflowPlan]:
    """Six workflows, each with one thing an insight report should find (the first has none)."""

    def n(runs: int) -> int:
        return max(1, round(runs * scale))

    schedule = {"kind": "schedule", "config": {"cron": "*/30 * * * *", "timezone": "UTC"}}
    return [
        WorkflowPlan("wf_orders", _wf(
            "Order sync", "Every 30 minutes, fetch new orders and store them.", schedule,
            [_http("fetch_orders", "https://shop.example.com/api/orders?since=30m", retry=RETRY),
             {"id": "shape", "type": "action", "connector": "core", "operation": "transform",
              "config": {"expression": "nodes.fetch_orders.body.orders"}},
             {"id": "store", "type": "action", "connector": "datastore", "operation": "upsert",
              "config": {"table": "orders", "key": "id", "rows": "{{ nodes.shape.value }}"}}]),
            n(400), {"fetch_orders": NodePlan(ms=180), "shape": NodePlan(ms=2), "store": NodePlan(ms=12)}),
        WorkflowPlan("wf_digest", _wf(
            "Regional digest", "Every morning, fetch each region's figures and post a digest.", schedule,
            [_http("list_regions", "https://crm.example.com/api/regions"),
             {"id": "each_region", "type": "loop", "config": {"items": "{{ nodes.list_regions.body }}",
                                                              "max_concurrency": 1},
              "body": {"nodes": [_http("fetch_region", "https://crm.example.com/api/regions/{{ item.id }}")],
                       "edges": []}},
             _log("post_digest", "digest ready")]),
            n(150), {"list_regions": NodePlan(ms=120), "each_region": NodePlan(items=8),
                     "fetch_region": NodePlan(ms=900), "post_digest": NodePlan(ms=3)}),
        WorkflowPlan("wf_refunds", _wf(
            "Refunds", "Refund an order when support approves it in the ticket.", {"kind": "manual"},
            [_http("refund", "https://pay.example.com/v1/refunds", method="POST", on_error="route",
                   config={"json": {"order": "{{ trigger.order }}"}}),
             _log("confirm", "refunded"), _log("report_failure", "refund failed: {{ nodes.refund }}")],
            [{"source": "start", "target": "refund"}, {"source": "refund", "target": "confirm"},
             {"source": "refund", "target": "report_failure", "branch": "error"}]),
            n(200), {"refund": NodePlan(ms=250, fail=0.35, error="http_status",
                                        message="the remote side answered 409"),
                     "confirm": NodePlan(ms=2), "report_failure": NodePlan(ms=2)}),
        WorkflowPlan("wf_reminders", _wf(
            "Contract reminders", "A day after signing, ask the account manager, then remind the client.",
            {"kind": "manual"},
            [{"id": "wait_a_day", "type": "action", "connector": "core", "operation": "delay",
              "config": {"seconds": 86400}},
             {"id": "manager_ok", "type": "guardrail", "kind": "approval",
              "config": {"message": "Send the reminder?"}},
             {"id": "remind", "type": "action", "connector": "email", "operation": "send",
              "config": {"to": ["client@example.com"], "subject": "Reminder", "body": "Your contract"}}]),
            n(60), {"wait_a_day": NodePlan(ms=86_400_000, spread=0.01), "manager_ok": NodePlan(ms=3_600_000, spread=0.6),
                    "remind": NodePlan(ms=150)}),
        WorkflowPlan("wf_leads", _wf(
            "Lead enrichment", "When a lead arrives by webhook, enrich it from the data vendor.",
            {"kind": "webhook", "config": {"method": "POST"}},
            [_http("enrich", "http://data-vendor.example.com/v2/lookup", method="POST", retry=RETRY,
                   config={"headers": {"Authorization": "Bearer sk_live_51HfakeKEYfor7testing00"},
                           "json": {"email": "{{ trigger.body.email }}"}}),
             _log("save_lead", "lead saved")]),
            n(180), {"enrich": NodePlan(ms=300, fail=0.3, error="permanent_error",
                                        message="the remote side answered 404", retry_helps=False),
                     "save_lead": NodePlan(ms=2)}),
        WorkflowPlan("wf_triage", _wf(
            "Ticket triage", "Classify each new ticket and tag it in the help desk.", schedule,
            [_http("get_ticket", "https://desk.example.com/api/tickets/latest"),
             {"id": "classify", "type": "action", "connector": "llm", "operation": "classify",
              "config": {"text": "{{ nodes.get_ticket.body.text }}", "labels": ["bug", "billing", "other"]}},
             _http("get_ticket_again", "https://desk.example.com/api/tickets/latest"),
             _http("tag", "https://desk.example.com/api/tickets/tag", method="POST",
                   config={"json": {"tag": "{{ nodes.classify.label }}"}})]),
            n(300), {"get_ticket": NodePlan(ms=140), "classify": NodePlan(ms=800, tokens=2400),
                     "get_ticket_again": NodePlan(ms=140), "tag": NodePlan(ms=90)},
            anomaly=Anomaly("classify", hours_ago=6, slower=6.0)),
    ]


def healthy(scale: float = 1.0) -> list[WorkflowPlan]:
    """Only the healthy workflow of :func:`realistic`."""
    return realistic(scale)[:1]


class _Player:
    """Plays plans out into rows."""

    def __init__(self, rng: random.Random, now: datetime, days: float, workspace_id: str) -> None:
        self.rng, self.now, self.days, self.workspace_id = rng, now, days, workspace_id
        self.prefix = "" if workspace_id == "default" else f"{workspace_id}_"
        self.seq = 0

    def ms(self, plan: NodePlan, slower: float) -> int:
        return max(0, round(self.rng.lognormvariate(0, plan.spread) * plan.ms * slower))

    def executions(self, plan: WorkflowPlan) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], int]]:
        definition = json.dumps(plan.definition)
        handlers = {e["target"] for e in plan.definition["edges"] if e.get("branch") == "error"}
        top = [n for n in plan.definition["nodes"] if n["type"] != "trigger" and n["id"] not in handlers]
        by_id = {n["id"]: n for n in plan.definition["nodes"]}
        routes = {e["source"]: e["target"] for e in plan.definition["edges"] if e.get("branch") == "error"}
        span = timedelta(days=self.days)
        for i in range(plan.runs):
            # spread evenly over the window, newest last, with jitter inside each slot
            created = self.now - span + span * ((i + self.rng.random()) / plan.runs)
            hot = plan.anomaly is not None and created >= self.now - timedelta(hours=plan.anomaly.hours_ago)
            exec_id = f"ex_{self.prefix}{plan.workflow_id[3:]}_{i:07d}"
            steps: list[dict[str, Any]] = []
            clock = created
            status, failed_steps, error, tokens = "completed", 0, None, 0
            for node in top:
                outcome, clock, used = self._node(plan, node, exec_id, clock, steps, hot, "")
                tokens += used
                if outcome is None:
                    continue
                if node["id"] in routes:  # handled: the error route runs, the run goes on
                    failed_steps += 1
                    handler = by_id[routes[node["id"]]]
                    _, clock, _ = self._node(plan, handler, exec_id, clock, steps, hot, "")
                    continue
                status, error = "failed", outcome
                break
            row = {"id": exec_id, "workspace_id": self.workspace_id, "workflow_id": plan.workflow_id,
                   "workflow_version": 1, "workflow_name": plan.definition["name"], "definition": definition,
                   "trigger": plan.definition["nodes"][0]["kind"], "status": status, "error": error,
                   "dry_run": False, "node_count": len(by_id), "failed_steps": failed_steps,
                   "created_at": created, "started_at": created, "completed_at": clock, "updated_at": clock,
                   "duration_ms": round((clock - created).total_seconds() * 1000)}
            yield row, steps, tokens

    def _node(self, plan: WorkflowPlan, node: dict[str, Any], exec_id: str, clock: datetime,
              steps: list[dict[str, Any]], hot: bool, loop_path: str) -> tuple[str | None, datetime, int]:
        """Run one node (its attempts, or its loop body); the error JSON if it failed finally."""
        behaviour = plan.nodes.get(node["id"], NodePlan())
        anomaly = plan.anomaly if hot and plan.anomaly and plan.anomaly.node_id == node["id"] else None
        slower = anomaly.slower if anomaly else 1.0
        fail = anomaly.fail if anomaly and anomaly.fail is not None else behaviour.fail
        if node["type"] == "loop":
            start, used = clock, 0
            for item in range(behaviour.items):
                for body in node["body"]["nodes"]:
                    _, clock, t = self._node(plan, body, exec_id, clock, steps, hot, str(item))
                    used += t
            self._row(steps, exec_id, node, "", 1, "completed", start, clock)
            return None, clock, used
        attempts = int((node.get("retry") or {}).get("max_attempts", 1))
        first_failed = False
        for attempt in range(1, attempts + 1):
            start = clock
            clock = start + timedelta(milliseconds=self.ms(behaviour, slower))
            failed = self.rng.random() < fail if attempt == 1 or behaviour.retry_helps else first_failed
            first_failed = first_failed or (attempt == 1 and failed)
            if not failed:
                self._row(steps, exec_id, node, loop_path, attempt, "completed", start, clock)
                return None, clock, behaviour.tokens
            error = json.dumps({"code": behaviour.error, "message": behaviour.message, "node_id": node["id"],
                                "attempt": attempt})
            last = attempt == attempts
            self._row(steps, exec_id, node, loop_path, attempt, "failed", start, clock, error=error,
                      final=last and node.get("on_error") in ("route", "continue"))
            if not last:
                clock += timedelta(seconds=1)  # the backoff between attempts
        return error, clock, behaviour.tokens

    def _row(self, steps: list[dict[str, Any]], exec_id: str, node: dict[str, Any], loop_path: str, attempt: int,
             status: str, start: datetime, end: datetime, *, error: str | None = None, final: bool = True) -> None:
        self.seq += 1
        steps.append({"id": f"st_{self.prefix}{self.seq:010d}", "execution_id": exec_id, "seq": len(steps), "node_id": node["id"],
                      "node_type": node["type"], "loop_path": loop_path, "attempt": attempt, "status": status,
                      "input": None, "output": None, "error": error, "branch": None,
                      "final": final if status == "failed" else True, "resume_at": None, "started_at": start,
                      "completed_at": end, "duration_ms": round((end - start).total_seconds() * 1000)})


def seed(db: Engine, plans: list[WorkflowPlan], *, now: datetime | None = None, days: float = 7.0,
         workspace_id: str = "default", seed_value: int = 7, batch: int = 20_000) -> dict[str, int]:
    """Write the plans' history into ``db`` (tables created when missing); returns row counts."""
    from app.llm.tracker import UsageRow, UsageTracker

    SQLModel.metadata.create_all(db, tables=TABLES)
    UsageTracker(db)
    now = now or datetime.now(UTC)
    player = _Player(random.Random(seed_value), now, days, workspace_id)
    counts = {"executions": 0, "steps": 0, "usage": 0}
    ex_table, st_table = ExecutionRow.__table__, StepRow.__table__  # type: ignore[attr-defined]
    usage_table = UsageRow.__table__  # type: ignore[attr-defined]
    ex_rows: list[dict[str, Any]] = []
    st_rows: list[dict[str, Any]] = []
    usage: list[dict[str, Any]] = []
    hours: set[datetime] = set()

    def flush(conn: Any) -> None:
        for table, rows in ((ex_table, ex_rows), (st_table, st_rows), (usage_table, usage)):
            if rows:
                conn.execute(insert(table), rows)
                rows.clear()

    with db.begin() as conn:
        for plan in plans:
            for row, steps, tokens in player.executions(plan):
                ex_rows.append(row)
                st_rows.extend(steps)
                counts["executions"] += 1
                counts["steps"] += len(steps)
                if tokens:
                    counts["usage"] += 1
                    prompt = tokens * 5 // 6
                    usage.append({"id": f"use_{row['id']}", "created_at": row["created_at"], "call_id": row["id"],
                                  "workspace_id": workspace_id, "workflow_id": plan.workflow_id,
                                  "execution_id": row["id"], "node_id": None, "purpose": "llm-node",
                                  "operation": "chat", "model": plan.model, "attempt": 1, "outcome": "ok",
                                  "prompt_tokens": prompt, "completion_tokens": tokens - prompt, "cached_tokens": 0,
                                  "cost_usd": prompt * 0.15e-6 + (tokens - prompt) * 0.6e-6, "cost_unknown": False,
                                  "latency_ms": 800.0, "cache_hit": False, "saved_tokens": 0})
                hours.add(hour_of(row["created_at"]))
                if len(st_rows) >= batch:
                    flush(conn)
        flush(conn)
        # as the execution store does for every execution it writes: the rollups recompute these hours
        marks = RollupMarkRow.__table__  # type: ignore[attr-defined]
        if hours:
            conn.execute(insert(marks), [{"execution_id": None, "workspace_id": workspace_id, "hour": h}
                                         for h in sorted(hours)])
    return counts


def scaled_plans(step_rows: int) -> list[WorkflowPlan]:
    """The realistic plans, scaled so that they write about ``step_rows`` step rows."""
    probe = copy.deepcopy(realistic(1.0))
    per_run = {"wf_orders": 3, "wf_digest": 11, "wf_refunds": 2.35, "wf_reminders": 3, "wf_leads": 3.2,
               "wf_triage": 4}
    total = sum(p.runs * per_run[p.workflow_id] for p in probe)
    return realistic(step_rows / total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db", help="SQLite database file to seed")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", type=float, default=7.0)
    args = parser.parse_args()
    from engine.db import make_engine

    counts = seed(make_engine(f"sqlite:///{args.db}"), realistic(args.scale), days=args.days)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
