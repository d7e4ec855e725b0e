"""Eval reports: a rich table per category and overall, Markdown, and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.runner import EvalResult

# (key in the summary, column title, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("cases", "cases", "int"),
    ("pass_rate", "pass", "pct"),
    ("valid_rate", "valid", "pct"),
    ("confident_wrong", "conf. wrong", "pct"),
    ("node_f1", "node F1", "num"),
    ("edge_f1", "edge F1", "num"),
    ("edit_similarity", "GED sim", "num"),
    ("guardrail_recall", "guard rec", "pct"),
    ("question_precision", "Q prec", "pct"),
    ("question_recall", "Q rec", "pct"),
    ("executable_rate", "dry run", "pct"),
    ("latency_ms_p50", "p50 ms", "ms"),
    ("cost_usd", "cost $", "usd"),
    ("cache_hits", "cache", "int"),
)


def fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "num":
        return f"{value:.3f}"
    if kind == "ms":
        return f"{value:.0f}"
    if kind == "usd":
        return f"{value:.4f}"
    return str(value)


def rows(result: EvalResult) -> list[tuple[str, list[str]]]:
    """Category rows, then the overall row."""
    out = [(name, [fmt(s.get(k), f) for k, _, f in COLUMNS]) for name, s in result.by_category.items()]
    out.append(("overall", [fmt(result.summary.get(k), f) for k, _, f in COLUMNS]))
    return out


def title(result: EvalResult) -> str:
    return (f"{result.dataset} / {result.split} — {result.model} "
            f"(dataset v{result.dataset_version}, {result.summary.get('cases')} cases, {result.seconds:.1f} s)")


def rich_table(result: EvalResult) -> Any:
    from rich.table import Table

    table = Table(title=title(result), title_justify="left")
    table.add_column("category", style="cyan")
    for _, name, _ in COLUMNS:
        table.add_column(name, justify="right")
    for name, cells in rows(result):
        style = "bold" if name == "overall" else None
        if name == "overall":
            table.add_section()
        table.add_row(name, *cells, style=style)
    return table


def failures(result: EvalResult, limit: int = 50) -> list[str]:
    """One line per failing case: its id and its first few failures."""
    lines = []
    for case in result.cases:
        if case.passed:
            continue
        problems = [f"turn {i + 1}: {msg}" if case.multi_turn else msg
                    for i, turn in enumerate(case.turns) for msg in turn.failures]
        lines.append(f"{case.id} [{case.category}]: " + "; ".join(problems[:3]) + (" …" if len(problems) > 3 else ""))
    return lines[:limit]


def markdown(result: EvalResult, comparison: list[str] | None = None) -> str:
    """The Markdown report: the table, then the failing cases and the baseline comparison."""
    header = "| category | " + " | ".join(name for _, name, _ in COLUMNS) + " |"
    rule = "|---|" + "|".join("---:" for _ in COLUMNS) + "|"
    lines = [f"# Eval: {title(result)}", "", header, rule]
    for name, cells in rows(result):
        label = f"**{name}**" if name == "overall" else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    s = result.summary
    lines += ["", f"Latency p95: {fmt(s.get('latency_ms_p95'), 'ms')} ms; tokens: {s.get('tokens')}; "
              f"errors: {s.get('errors')}; cost per case: {fmt(s.get('cost_usd_per_case'), 'usd')} $."]
    failing = failures(result, limit=1000)
    if failing:
        lines += ["", f"## Failing cases ({len(failing)})", ""] + [f"- {line}" for line in failing]
    if comparison:
        lines += ["", "## Against the baseline", ""] + [f"- {line}" for line in comparison]
    return "\n".join(lines) + "\n"


def write_reports(result: EvalResult, path: Path, comparison: list[str] | None = None) -> list[Path]:
    """Write ``path`` (Markdown) and the JSON beside it (same name, ``.json``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(result, comparison), encoding="utf-8")
    json_path = path.with_suffix(".json")
    json_path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [path, json_path]
