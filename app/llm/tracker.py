"""Token and cost tracking: one row per model attempt and one per semantic-cache hit.

Every provider request the gateway sends is a row (each instructor re-ask and each 429 retry
included), attributed to workspace, user, conversation and workflow. A cache hit is a row with zero
cost and the tokens (and dollars) it saved. ``UsageRow.attributes()`` names the fields with the
OpenTelemetry GenAI semantic conventions where a name exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from engine.db import add_missing_columns

PURPOSES = ("generate", "refine", "insight", "llm-node")


def _now() -> datetime:
    return datetime.now(UTC)


class UsageRow(SQLModel, table=True):
    """One provider attempt, or one cache hit."""

    __tablename__ = "llm_usage"

    id: str = Field(default_factory=lambda: f"use_{uuid.uuid4().hex[:20]}", primary_key=True)
    created_at: datetime = Field(default_factory=_now, index=True)
    call_id: str = Field(index=True)  # groups the attempts of one gateway call
    workspace_id: str = Field(index=True)
    user_id: str | None = None
    conversation_id: str | None = Field(default=None, index=True)
    workflow_id: str | None = Field(default=None, index=True)
    execution_id: str | None = Field(default=None, index=True)  # llm-node steps: the execution
    node_id: str | None = None  # llm-node steps: the step
    purpose: str = Field(index=True)
    operation: str = "chat"  # gen_ai.operation.name
    model: str
    template: str | None = None  # "name@version"
    attempt: int = 1
    outcome: str = "ok"  # ok | parse_error | cache_hit | an error code
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the provider served from its own prompt cache
    cost_usd: float = 0.0
    cost_unknown: bool = False  # the model is not in litellm's price map: cost_usd is 0
    latency_ms: float = 0.0
    cache_hit: bool = False
    saved_tokens: int = 0  # cache hits: tokens the original call used

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def attributes(self) -> dict[str, Any]:
        """The row as OpenTelemetry attributes (GenAI semantic conventions, ``flowwright.*`` otherwise)."""
        provider = self.model.split("/", 1)[0] if "/" in self.model else None
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": self.operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": self.model,
            "gen_ai.usage.input_tokens": self.prompt_tokens,
            "gen_ai.usage.output_tokens": self.completion_tokens,
            "gen_ai.conversation.id": self.conversation_id,
            "error.type": None if self.outcome in ("ok", "cache_hit") else self.outcome,
            "flowwright.call.id": self.call_id,
            "flowwright.workspace.id": self.workspace_id,
            "flowwright.user.id": self.user_id,
            "flowwright.workflow.id": self.workflow_id,
            "flowwright.execution.id": self.execution_id,
            "flowwright.node.id": self.node_id,
            "flowwright.purpose": self.purpose,
            "flowwright.prompt.template": self.template,
            "flowwright.attempt": self.attempt,
            "flowwright.usage.cached_input_tokens": self.cached_tokens,
            "flowwright.cost.usd": self.cost_usd,
            "flowwright.cost.unknown": self.cost_unknown,
            "flowwright.latency_ms": self.latency_ms,
            "flowwright.cache.hit": self.cache_hit,
            "flowwright.cache.saved_tokens": self.saved_tokens,
            "flowwright.time": self.created_at.isoformat(),
        }
        return {k: v for k, v in attrs.items() if v is not None}


@dataclass(frozen=True)
class Spend:
    """Tokens and dollars spent in a window."""

    tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class UsageSummaryLine:
    day: str
    model: str
    purpose: str
    calls: int
    attempts: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    saved_tokens: int
    cost_unknown: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day, "model": self.model, "purpose": self.purpose, "calls": self.calls,
            "attempts": self.attempts, "cache_hits": self.cache_hits,
            "gen_ai.usage.input_tokens": self.prompt_tokens, "gen_ai.usage.output_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 8), "saved_tokens": self.saved_tokens, "cost_unknown": self.cost_unknown,
        }


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(moment: datetime) -> datetime:
    return day_start(moment).replace(day=1)


class UsageTracker:
    """Writes and sums usage rows. Creates its table on construction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        table = SQLModel.metadata.tables[str(UsageRow.__tablename__)]
        SQLModel.metadata.create_all(engine, tables=[table])
        add_missing_columns(engine, table)

    def record(self, rows: Iterable[UsageRow]) -> None:
        rows = list(rows)
        if not rows:
            return
        with Session(self.engine, expire_on_commit=False) as session:
            session.add_all(rows)
            session.commit()

    def rows(self, *, workspace_id: str | None = None, call_id: str | None = None,
             since: datetime | None = None) -> list[UsageRow]:
        with Session(self.engine) as session:
            query = select(UsageRow)
            if workspace_id is not None:
                query = query.where(UsageRow.workspace_id == workspace_id)
            if call_id is not None:
                query = query.where(UsageRow.call_id == call_id)
            if since is not None:
                query = query.where(col(UsageRow.created_at) >= since)
            return list(session.exec(query.order_by(col(UsageRow.created_at), col(UsageRow.attempt))))

    def spend(self, workspace_id: str, since: datetime) -> Spend:
        """Tokens and dollars the workspace spent since ``since`` (cache hits cost nothing)."""
        with Session(self.engine) as session:
            tokens, cost = session.exec(
                select(
                    func.coalesce(func.sum(UsageRow.prompt_tokens + UsageRow.completion_tokens), 0),
                    func.coalesce(func.sum(UsageRow.cost_usd), 0.0),
                ).where(UsageRow.workspace_id == workspace_id, col(UsageRow.created_at) >= since)
            ).one()
        return Spend(tokens=int(tokens), cost_usd=float(cost))

    def totals(self, workspace_id: str, *, execution_id: str | None = None,
               since: datetime | None = None) -> dict[str, Any]:
        """``{"tokens", "cost_usd"}`` of a workspace, optionally of one execution and/or since a moment
        (the shape the engine's ``budget`` guardrail reads from ``ctx.services["usage"]``)."""
        with Session(self.engine) as session:
            query = select(
                func.coalesce(func.sum(UsageRow.prompt_tokens + UsageRow.completion_tokens), 0),
                func.coalesce(func.sum(UsageRow.cost_usd), 0.0),
            ).where(UsageRow.workspace_id == workspace_id)
            if execution_id is not None:
                query = query.where(UsageRow.execution_id == execution_id)
            if since is not None:
                query = query.where(col(UsageRow.created_at) >= since)
            tokens, cost = session.exec(query).one()
        return {"tokens": int(tokens), "cost_usd": float(cost)}

    def summary(self, *, workspace_id: str | None = None, days: int = 30,
                now: datetime | None = None) -> list[UsageSummaryLine]:
        """Spend grouped by day (UTC), model and purpose, newest day first."""
        since = day_start(now or _now()) - timedelta(days=max(days, 1) - 1)
        lines: dict[tuple[str, str, str], dict[str, Any]] = {}
        calls: dict[tuple[str, str, str], set[str]] = {}
        for row in self.rows(workspace_id=workspace_id, since=since):
            key = (row.created_at.date().isoformat() if isinstance(row.created_at, datetime)
                   else date.today().isoformat(), row.model, row.purpose)
            acc = lines.setdefault(key, {"attempts": 0, "cache_hits": 0, "prompt_tokens": 0,
                                         "completion_tokens": 0, "cost_usd": 0.0, "saved_tokens": 0,
                                         "cost_unknown": False})
            calls.setdefault(key, set()).add(row.call_id)
            if row.cache_hit:
                acc["cache_hits"] += 1
            else:
                acc["attempts"] += 1
            acc["prompt_tokens"] += row.prompt_tokens
            acc["completion_tokens"] += row.completion_tokens
            acc["cost_usd"] += row.cost_usd
            acc["saved_tokens"] += row.saved_tokens
            acc["cost_unknown"] = acc["cost_unknown"] or row.cost_unknown
        result = [UsageSummaryLine(day=k[0], model=k[1], purpose=k[2], calls=len(calls[k]), **v)
                  for k, v in lines.items()]
        result.sort(key=lambda line: (line.day, line.model, line.purpose))
        result.sort(key=lambda line: line.day, reverse=True)
        return result
