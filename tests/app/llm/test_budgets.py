"""Budgets: set/clear, windows, and refusal naming the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.llm.budgets import BudgetStore, Estimate
from app.llm.errors import BudgetExceededError
from app.llm.tracker import UsageRow, UsageTracker
from engine.db import make_engine

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def budgets(tmp_path: Path) -> BudgetStore:
    tracker = UsageTracker(make_engine(f"sqlite:///{tmp_path / 'b.db'}"))
    return BudgetStore(tracker.engine, tracker)


def spend(budgets: BudgetStore, at: datetime, tokens: int, cost: float) -> None:
    budgets.tracker.record([UsageRow(call_id="c", workspace_id="ws1", purpose="generate", model="fake/a",
                                     created_at=at, prompt_tokens=tokens, cost_usd=cost)])


def test_set_keeps_other_limits_and_clear_removes_them(budgets: BudgetStore) -> None:
    budgets.set("ws1", daily_usd=1.0)
    budgets.set("ws1", monthly_tokens=100_000)
    row = budgets.get("ws1")
    assert row is not None and row.limits() == {"daily_usd": 1.0, "monthly_usd": None, "daily_tokens": None,
                                                "monthly_tokens": 100_000}
    cleared = budgets.set("ws1", clear=True)
    assert all(value is None for value in cleared.limits().values())
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        budgets.set("ws1", daily_usd=-1)
    with pytest.raises(ValueError, match="unknown budget limit"):
        budgets.set("ws1", hourly_usd=1)


def test_check_uses_day_and_month_windows(budgets: BudgetStore) -> None:
    budgets.check("ws1", Estimate(tokens=10**9, cost_usd=10**6), now=NOW)  # no budget: anything goes
    spend(budgets, NOW - timedelta(days=3), tokens=900, cost=0.9)  # this month, not today
    budgets.set("ws1", daily_usd=1.0, monthly_tokens=1000)
    budgets.check("ws1", Estimate(tokens=100, cost_usd=0.99), now=NOW)
    with pytest.raises(BudgetExceededError) as info:
        budgets.check("ws1", Estimate(tokens=101, cost_usd=0.1), now=NOW)
    assert info.value.details == {"limit": "monthly_tokens", "limit_value": 1000, "spent": 900, "estimate": 101,
                                  "workspace_id": "ws1"}
    with pytest.raises(BudgetExceededError, match=r"daily budget of \$1"):
        budgets.check("ws1", Estimate(tokens=1, cost_usd=1.01), now=NOW)
    next_month = NOW.replace(month=4, day=1)
    budgets.check("ws1", Estimate(tokens=1000, cost_usd=1.0), now=next_month)
    status = budgets.status("ws1", now=NOW)
    assert status["spent"] == {"daily_usd": 0.0, "monthly_usd": 0.9, "daily_tokens": 0, "monthly_tokens": 900}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_limits_must_be_finite_and_not_negative(budgets: BudgetStore, value: float) -> None:
    with pytest.raises(ValueError, match="daily_usd must be a finite number"):
        budgets.set("ws1", daily_usd=value)
