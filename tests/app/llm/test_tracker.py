"""Usage rows: sums per window, the day/model/purpose summary, OpenTelemetry attribute names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.llm.tracker import UsageRow, UsageTracker, day_start, month_start
from engine.db import make_engine

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def row(call: str, *, at: datetime, model: str = "fake/a", purpose: str = "generate", prompt: int = 100,
        completion: int = 10, cost: float = 0.01, **extra: object) -> UsageRow:
    return UsageRow(call_id=call, workspace_id=str(extra.pop("workspace_id", "ws1")), purpose=purpose, model=model,
                    created_at=at, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost, **extra)


def test_spend_and_summary(tmp_path: Path) -> None:
    tracker = UsageTracker(make_engine(f"sqlite:///{tmp_path / 'u.db'}"))
    yesterday = NOW - timedelta(days=1)
    tracker.record([
        row("c1", at=NOW, attempt=1, outcome="parse_error"),
        row("c1", at=NOW, attempt=2),
        row("c2", at=NOW, purpose="refine", cost=0.0, cost_unknown=True, model="ollama/llama3.1"),
        row("c3", at=NOW, prompt=0, completion=0, cost=0.0, cache_hit=True, outcome="cache_hit", saved_tokens=110),
        row("c4", at=yesterday),
        row("c5", at=NOW - timedelta(days=40)),
        row("c6", at=NOW, workspace_id="other", cost=5.0),
    ])
    today = tracker.spend("ws1", day_start(NOW))
    assert (today.tokens, round(today.cost_usd, 6)) == (330, 0.02)
    month = tracker.spend("ws1", month_start(NOW))
    assert (month.tokens, round(month.cost_usd, 6)) == (440, 0.03)

    lines = tracker.summary(workspace_id="ws1", days=7, now=NOW)
    assert [(line.day, line.model, line.purpose) for line in lines] == [
        ("2026-03-15", "fake/a", "generate"), ("2026-03-15", "ollama/llama3.1", "refine"),
        ("2026-03-14", "fake/a", "generate")]
    first = lines[0]
    assert (first.calls, first.attempts, first.cache_hits, first.prompt_tokens, first.saved_tokens) == (2, 2, 1, 200, 110)
    assert lines[1].cost_unknown is True
    assert lines[0].to_dict()["gen_ai.usage.input_tokens"] == 200
    assert len(tracker.summary(days=7, now=NOW)) == 3  # all workspaces: "other" joins today's fake/a line
    assert tracker.summary(days=7, now=NOW)[0].cost_usd == 5.02


def test_attributes_use_genai_names_and_flag_errors() -> None:
    attrs = row("c1", at=NOW, outcome="model_rate_limited", conversation_id="conv").attributes()
    assert attrs["gen_ai.provider.name"] == "fake"
    assert attrs["gen_ai.usage.input_tokens"] == 100 and attrs["gen_ai.usage.output_tokens"] == 10
    assert attrs["gen_ai.conversation.id"] == "conv"
    assert attrs["error.type"] == "model_rate_limited"
    assert attrs["flowwright.cost.usd"] == 0.01 and attrs["flowwright.purpose"] == "generate"
    assert "flowwright.user.id" not in attrs  # unset attributes are left out, as OpenTelemetry expects


def test_an_older_usage_table_gains_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE llm_usage (id VARCHAR PRIMARY KEY, created_at DATETIME, call_id VARCHAR, "
                   "workspace_id VARCHAR, purpose VARCHAR, model VARCHAR)")
        db.execute("INSERT INTO llm_usage VALUES ('old', '2026-03-15 10:00:00', 'c0', 'ws1', 'generate', 'fake/a')")
    tracker = UsageTracker(make_engine(f"sqlite:///{path}"))
    tracker.record([row("c1", at=NOW, execution_id="ex1")])
    assert tracker.totals("ws1", execution_id="ex1") == {"tokens": 110, "cost_usd": 0.01}
    old = next(r for r in tracker.rows() if r.id == "old")
    assert (old.outcome, old.prompt_tokens, old.cache_hit) == ("ok", 0, False)
