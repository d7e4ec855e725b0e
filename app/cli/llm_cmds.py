"""`flowwright usage` (model spend by day, model and purpose) and `flowwright budget set|show`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.output import console, fail, print_json

if TYPE_CHECKING:
    from app.llm.budgets import BudgetStore
    from app.llm.tracker import UsageTracker

WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)
    budget = typer.Typer(help="Per-workspace model budgets (daily/monthly, USD/tokens).", no_args_is_help=True)
    budget.command("set")(budget_set)
    budget.command("show")(budget_show)
    app.add_typer(budget, name="budget")


def _stores() -> tuple[UsageTracker, BudgetStore]:
    from app.cli.container import container

    built = container()
    built.settings.ensure_data_dir()
    return built.gateway.tracker, built.gateway.budgets


def usage(
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Only this workspace (default: all).")] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="How many days back (UTC).")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Model spend by day, model and purpose: calls, attempts, cache hits, tokens, cost in USD."""
    tracker, _ = _stores()
    lines = tracker.summary(workspace_id=workspace, days=days)
    if as_json:
        print_json({"workspace_id": workspace, "days": days, "lines": [line.to_dict() for line in lines],
                    "total_cost_usd": round(sum(line.cost_usd for line in lines), 8),
                    "total_tokens": sum(line.prompt_tokens + line.completion_tokens for line in lines)})
        return
    if not lines:
        console.print(f"no model usage in the last {days} day(s)")
        return
    from rich.table import Table

    table = Table(title=f"Model usage, last {days} day(s)" + (f", workspace {workspace}" if workspace else ""))
    for name in ("day", "model", "purpose", "calls", "attempts", "cache hits", "input tok", "output tok", "cost USD"):
        table.add_column(name, justify="right" if name not in ("day", "model", "purpose") else "left", overflow="fold")
    for line in lines:
        cost = f"{line.cost_usd:.6f}" + (" (unknown)" if line.cost_unknown else "")
        table.add_row(line.day, line.model, line.purpose, str(line.calls), str(line.attempts), str(line.cache_hits),
                      str(line.prompt_tokens), str(line.completion_tokens), cost)
    console.print(table)
    total = sum(line.cost_usd for line in lines)
    console.print(f"total: ${total:.6f}, {sum(line.prompt_tokens + line.completion_tokens for line in lines)} tokens")


def budget_set(
    workspace: WorkspaceOpt = "default",
    daily_usd: Annotated[float | None, typer.Option("--daily-usd", min=0, help="USD per UTC day.")] = None,
    monthly_usd: Annotated[float | None, typer.Option("--monthly-usd", min=0, help="USD per UTC month.")] = None,
    daily_tokens: Annotated[int | None, typer.Option("--daily-tokens", min=0, help="Tokens per UTC day.")] = None,
    monthly_tokens: Annotated[int | None, typer.Option("--monthly-tokens", min=0, help="Tokens per UTC month.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every limit first (alone: no budget).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Set a workspace's budget; limits not given keep their value. A call that would pass a limit
    is refused before it is sent (code budget_exceeded)."""
    limits = {"daily_usd": daily_usd, "monthly_usd": monthly_usd, "daily_tokens": daily_tokens,
              "monthly_tokens": monthly_tokens}
    if not clear and all(value is None for value in limits.values()):
        fail("give at least one limit (--daily-usd, --monthly-usd, --daily-tokens, --monthly-tokens) or --clear")
    _, budgets = _stores()
    try:
        budgets.set(workspace, clear=clear, **limits)
    except ValueError as exc:
        fail(str(exc))
    _show(budgets, workspace, as_json)


def budget_show(workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """A workspace's limits and what it spent today and this month (UTC)."""
    _, budgets = _stores()
    _show(budgets, workspace, as_json)


def _show(budgets: BudgetStore, workspace: str, as_json: bool) -> None:
    status: dict[str, Any] = budgets.status(workspace)
    if as_json:
        print_json(status)
        return
    console.print(f"budget of workspace [bold]{workspace}[/]:")
    for name, limit in status["limits"].items():
        spent = status["spent"][name]
        unit_usd = name.endswith("usd")
        spent_text = f"${spent:.6f}" if unit_usd else f"{spent} tokens"
        limit_text = "no limit" if limit is None else (f"${limit:g}" if unit_usd else f"{limit} tokens")
        console.print(f"  {name.replace('_', ' '):15} {limit_text:>18}   spent {spent_text}")
