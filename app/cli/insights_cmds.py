"""`flowwright insights`: what fails, what is slow, what costs, what is risky, and the fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from app.insights.report import InsightReport

Format = Literal["text", "md", "csv", "json", "html", "pdf"]
FORMATS = ("text", "md", "csv", "json", "html", "pdf")
SUFFIXES = {".md": "md", ".csv": "csv", ".json": "json", ".txt": "text", ".html": "html", ".htm": "html", ".pdf": "pdf"}
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNIT_DAYS = {"m": 1 / 1440, "h": 1 / 24, "d": 1.0, "w": 7.0}


insights_app = typer.Typer(invoke_without_command=True, help="What fails, what is slow, what costs, what is "
                           "risky, and the fix; `insights schedule` emails the report on a schedule.")
schedule_app = typer.Typer(no_args_is_help=True, help="The workspace's scheduled insight report (a workflow).")


def register(app: typer.Typer) -> None:
    from app.cli.insights_schedule_cmds import off, set_cmd, show

    insights_app.callback()(insights)
    for name, command in (("set", set_cmd), ("show", show), ("off", off)):
        schedule_app.command(name)(command)
    insights_app.add_typer(schedule_app, name="schedule")
    app.add_typer(insights_app, name="insights")


def since_days(text: str) -> float:
    """``30m``, ``24h``, ``7d``, ``2w`` as days; ValueError naming the value otherwise."""
    match = _SINCE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--since {text!r}: give a number and a unit, e.g. 30m, 24h, 7d or 2w")
    days = float(match.group(1)) * _UNIT_DAYS[match.group(2)]
    if days > 366:
        raise ValueError(f"--since {text!r}: at most 366 days")
    return days


def insights(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="Look back this long: 30m, 24h, 7d, 2w (default 7d).")] = None,
    days: Annotated[float | None, typer.Option(min=0.01, max=366, help="Look back this many days.")] = None,
    workflow: Annotated[str | None, typer.Option("--workflow", help="Only this workflow (its id).")] = None,
    workspace: Annotated[str, typer.Option(help="Workspace to report on.")] = "default",
    fmt: Annotated[str | None, typer.Option("--format", help="text, md, csv, json, html or pdf (pdf needs -o).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    accept: Annotated[str | None, typer.Option("--accept", help="Store this proposal (prop_… or the finding's "
                                                               "ins_… id) as the workflow's new version.")] = None,
) -> None:
    """Write an insight report over recent executions and model usage, or accept a proposed fix."""
    if ctx.invoked_subcommand is not None:  # `insights schedule ...`
        return
    import json

    from app.cli.container import container
    from app.cli.output import console, fail, print_json
    from app.insights.proposals import accept as accept_proposal
    from app.insights.report import build_report
    from engine.errors import FlowwrightError

    try:
        window = since_days(since) if since is not None else (days if days is not None else 7.0)
    except ValueError as exc:
        fail(str(exc), code=2)
    # the file's format: --format, else its suffix; --json is what stdout shows
    chosen = fmt or SUFFIXES.get(output.suffix.lower() if output else "",
                                 "md" if output is not None else ("json" if as_json else "text"))
    if chosen not in FORMATS:
        fail(f"--format {chosen!r}: choose {', '.join(FORMATS)}", code=2)
    if chosen == "pdf" and output is None:
        fail("--format pdf: give a file to write it to, e.g. -o report.pdf", code=2)
    built = container()
    built.settings.ensure_data_dir()
    report = build_report(built.db, workspace, days=window, workflow_id=workflow, catalog=built.registry,
                          rates=built.settings.insights_cost_rates)
    if accept is not None:
        proposal = report.proposal(accept)
        if proposal is None:
            fail(f"--accept {accept}: no such proposal in the report over the last {window:g} day(s) "
                 f"(list them with `flowwright insights --json`)", code=2)
        try:
            version = accept_proposal(built.workflow_store, workspace, proposal, built.registry)
        except FlowwrightError as exc:
            fail(f"--accept {accept}: {exc}", code=2)
        console.print(f"workflow {proposal.workflow_id}: version {version} stored and current ({proposal.summary})")
        return
    data = render(report, chosen, workflow)
    if output is not None:
        _write(output, data)
        if chosen == "md" and output.suffix == ".md":  # the figures beside the Markdown, as before
            _write(output.with_suffix(".json"), json.dumps(report.to_dict(), indent=2, default=str).encode())
    if as_json:
        print_json(report.to_dict())
    elif output is not None:
        console.print(f"wrote {output} ({chosen})")
    elif chosen == "text":
        from rich.markdown import Markdown

        console.print(Markdown(data.decode()))
    else:
        typer.echo(data.decode(), nl=False)  # raw: Markdown, CSV, HTML or JSON to pipe on


def render(report: InsightReport, chosen: str, workflow: str | None) -> bytes:
    """The report in one of :data:`FORMATS` (``text`` is the Markdown that the terminal shows)."""
    import json

    if chosen == "pdf":
        from app.insights.pdf import to_pdf

        return to_pdf(report, workflow=workflow)
    if chosen == "html":
        from app.insights.html import to_html

        return to_html(report, workflow=workflow).encode()
    if chosen == "csv":
        from app.insights.render import to_csv

        return to_csv(report).encode()
    if chosen == "json":
        return (json.dumps(report.to_dict(), indent=2, default=str) + "\n").encode()
    from app.insights.report import to_markdown

    return to_markdown(report).encode()


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``; a path that cannot be written is one line and exit 2."""
    from app.cli.output import fail

    try:
        path.write_bytes(data)
    except OSError as exc:
        fail(f"-o {path}: {exc.strerror or exc}", code=2)
