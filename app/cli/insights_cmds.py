"""`flowwright insights`: what fails, what is slow, what costs tokens, what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("insights")(insights)


def insights(
    days: Annotated[float, typer.Option(min=0.01, help="Look back this many days.")] = 7,
    workspace: Annotated[str, typer.Option(help="Workspace to report on.")] = "default",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write Markdown (and .json beside it).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Write an insight report over recent executions and model usage."""
    import json

    from app.cli.container import container
    from app.cli.output import console, print_json
    from app.insights.report import build_report, to_markdown

    built = container()
    built.settings.ensure_data_dir()
    report = build_report(built.db, workspace, days=days)
    markdown = to_markdown(report)
    if output is not None:
        output.write_text(markdown)
        output.with_suffix(".json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    if as_json:
        print_json(report.to_dict())
    else:
        from rich.markdown import Markdown

        console.print(Markdown(markdown))
