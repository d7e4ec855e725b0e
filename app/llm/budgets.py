"""Per-workspace model budgets (daily and monthly, in tokens and in USD), checked before each request.

Windows are calendar days and months in UTC. A request is refused before it is sent when what the
workspace already spent in a window plus the request's estimate (its prompt tokens plus
``max_tokens``, priced with litellm's price map) would pass a limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from app.llm.errors import BudgetExceededError
from app.llm.tracker import UsageTracker, day_start, month_start

LIMITS = ("daily_usd", "monthly_usd", "daily_tokens", "monthly_tokens")


class BudgetRow(SQLModel, table=True):
    __tablename__ = "llm_budgets"

    workspace_id: str = Field(primary_key=True)
    daily_usd: float | None = Field(default=None, ge=0)
    monthly_usd: float | None = Field(default=None, ge=0)
    daily_tokens: int | None = Field(default=None, ge=0)
    monthly_tokens: int | None = Field(default=None, ge=0)
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def limits(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in LIMITS}


@dataclass(frozen=True)
class Estimate:
    tokens: int
    cost_usd: float


class BudgetStore:
    """Reads and writes budgets, and checks a request against them."""

    def __init__(self, engine: Engine, tracker: UsageTracker) -> None:
        self.engine = engine
        self.tracker = tracker
        SQLModel.metadata.create_all(engine, tables=[SQLModel.metadata.tables[BudgetRow.__tablename__]])

    def get(self, workspace_id: str) -> BudgetRow | None:
        with Session(self.engine) as session:
            return session.get(BudgetRow, workspace_id)

    def set(self, workspace_id: str, *, clear: bool = False, **limits: float | int | None) -> BudgetRow:
        """Set the given limits (others keep their value); ``clear`` first removes every limit.

        ``None`` leaves a limit unchanged; ``0`` is a hard stop (nothing may be spent)."""
        unknown = set(limits) - set(LIMITS)
        if unknown:
            raise ValueError(f"unknown budget limit(s): {', '.join(sorted(unknown))}")
        for name, value in limits.items():
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        with Session(self.engine) as session:
            row = session.get(BudgetRow, workspace_id) or BudgetRow(workspace_id=workspace_id)
            if clear:
                for name in LIMITS:
                    setattr(row, name, None)
            for name, value in limits.items():
                if value is not None:
                    setattr(row, name, value)
            row.updated_at = datetime.now(UTC)
            session.add(row)
            session.commit()
            session.refresh(row)
            return row

    def status(self, workspace_id: str, now: datetime | None = None) -> dict[str, Any]:
        """Limits and what was spent in the current day and month."""
        now = now or datetime.now(UTC)
        row = self.get(workspace_id)
        day = self.tracker.spend(workspace_id, day_start(now))
        month = self.tracker.spend(workspace_id, month_start(now))
        return {
            "workspace_id": workspace_id,
            "limits": row.limits() if row else dict.fromkeys(LIMITS),
            "spent": {"daily_usd": day.cost_usd, "monthly_usd": month.cost_usd,
                      "daily_tokens": day.tokens, "monthly_tokens": month.tokens},
        }

    def check(self, workspace_id: str, estimate: Estimate, *, model: str | None = None,
              now: datetime | None = None) -> None:
        """Raise ``BudgetExceededError`` naming the first limit the request would pass."""
        row = self.get(workspace_id)
        if row is None or all(value is None for value in row.limits().values()):
            return
        now = now or datetime.now(UTC)
        windows = {"daily": day_start(now), "monthly": month_start(now)}
        for name in LIMITS:
            limit = getattr(row, name)
            if limit is None:
                continue
            period, unit = name.split("_")
            spent_window = self.tracker.spend(workspace_id, windows[period])
            spent: float = spent_window.cost_usd if unit == "usd" else spent_window.tokens
            wanted: float = estimate.cost_usd if unit == "usd" else estimate.tokens
            if spent + wanted > limit:
                shown = f"${limit:g}" if unit == "usd" else f"{limit} tokens"
                raise BudgetExceededError(
                    f"{period} budget of {shown} for workspace {workspace_id!r} would be exceeded "
                    f"(spent {spent:g}, this request needs up to {wanted:g}); raise it with "
                    f"`flowwright budget set --{period}-{unit} ...`",
                    model=model, limit=name, limit_value=limit, spent=spent, estimate=wanted,
                    workspace_id=workspace_id,
                )
