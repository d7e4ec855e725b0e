"""`flowwright usage` and `flowwright budget` on a real data dir (set by the suite's conftest)."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from app.cli.main import app
from app.llm.tracker import UsageRow, UsageTracker
from app.settings import get_settings
from engine.db import make_engine

runner = CliRunner()


def test_budget_set_and_show() -> None:
    result = runner.invoke(app, ["budget", "set", "--daily-usd", "1", "--monthly-tokens", "100000"])
    assert result.exit_code == 0, result.output
    assert "$1" in result.output and "100000 tokens" in result.output
    shown = runner.invoke(app, ["budget", "show", "--json"])
    data = json.loads(shown.output)
    assert data["limits"]["daily_usd"] == 1.0 and data["limits"]["monthly_tokens"] == 100000
    assert data["spent"]["daily_tokens"] == 0
    other = json.loads(runner.invoke(app, ["budget", "show", "-w", "team2", "--json"]).output)
    assert other["limits"]["daily_usd"] is None


def test_budget_set_needs_a_limit_and_refuses_negative_values() -> None:
    empty = runner.invoke(app, ["budget", "set"])
    assert empty.exit_code == 1 and "give at least one limit" in empty.output
    negative = runner.invoke(app, ["budget", "set", "--daily-usd", "-2"])
    assert negative.exit_code != 0


def test_usage_by_day_model_and_purpose() -> None:
    settings = get_settings()
    settings.ensure_data_dir()
    tracker = UsageTracker(make_engine(settings.resolved_database_url))
    tracker.record([
        UsageRow(call_id="c1", workspace_id="default", purpose="generate", model="openai/gpt-4o-mini",
                 prompt_tokens=1000, completion_tokens=100, cost_usd=0.00021),
        UsageRow(call_id="c2", workspace_id="default", purpose="llm-node", model="local/flowwright-planner",
                 prompt_tokens=50, completion_tokens=5),
    ])
    data = json.loads(runner.invoke(app, ["usage", "--json"]).output)
    assert {(line["model"], line["purpose"]) for line in data["lines"]} == {
        ("openai/gpt-4o-mini", "generate"), ("local/flowwright-planner", "llm-node")}
    assert data["total_tokens"] == 1155 and data["total_cost_usd"] == 0.00021
    table = runner.invoke(app, ["usage"])
    assert table.exit_code == 0 and "total: $0.000210, 1155 tokens" in table.output


def test_usage_and_budget_commands_do_not_import_litellm() -> None:
    code = ("import sys; from typer.testing import CliRunner; from app.cli.main import app; "
            "r = CliRunner().invoke(app, ['usage', '--json']); assert r.exit_code == 0, r.output; "
            "r = CliRunner().invoke(app, ['budget', 'show']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('litellm', 'instructor', 'chromadb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
