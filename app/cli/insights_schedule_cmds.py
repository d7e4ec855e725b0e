"""`flowwright insights schedule set|show|off`: the workspace's insight report, emailed on a
schedule through its SMTP credential (kept as the workflow "Weekly insight report")."""

from __future__ import annotations

from typing import Annotated, Any

import typer

Workspace = Annotated[str, typer.Option("-w", "--workspace", help="The workspace.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]


def set_cmd(
    to: Annotated[list[str], typer.Option("--to", help="A recipient (repeat for more).")],
    credential: Annotated[str, typer.Option(help="The workspace's smtp credential (`flowwright credentials "
                                                 "set NAME --type smtp`).")],
    cron: Annotated[str, typer.Option(help="When: a five-field cron.")] = "0 8 * * 1",
    timezone: Annotated[str, typer.Option(help="The cron's time zone (IANA).")] = "UTC",
    days: Annotated[float, typer.Option(help="Each report looks back this many days.")] = 7.0,
    attach: Annotated[str, typer.Option(help="pdf, html or none.")] = "pdf",
    workflow: Annotated[str | None, typer.Option("--workflow", help="Report on this workflow only.")] = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
) -> None:
    """Email the insight report on a schedule (default Mondays 08:00 UTC, the last 7 days, PDF attached)."""
    from pydantic import ValidationError

    from app.cli.container import container
    from app.cli.output import fail
    from app.insights.schedule import ReportSchedule
    from engine.errors import FlowwrightError

    try:
        schedule = ReportSchedule(to=to, credential=credential, cron=cron, timezone=timezone, days=days,
                                  attach=attach, workflow_id=workflow)
    except ValidationError as exc:
        fail("; ".join(f"--{'.'.join(str(p) for p in e['loc'][:1]).replace('_id', '')}: "
                       f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()), code=2)
    built = container()
    vault = built.vault
    smtp = [c.name for c in vault.list(workspace) if c.type == "smtp"] if vault is not None else None
    try:
        result = built.report_schedules.set(workspace, schedule, credentials=smtp)
    except FlowwrightError as exc:
        fail(exc.message, code=2)
    _print(result, as_json)


def show(workspace: Workspace = "default", as_json: AsJson = False) -> None:
    """Show the scheduled report: recipients, when, and the next times it fires."""
    from app.cli.container import container

    _print(container().report_schedules.get(workspace), as_json)


def off(workspace: Workspace = "default", as_json: AsJson = False) -> None:
    """Stop the scheduled report (its workflow is deactivated and kept, with its runs)."""
    from app.cli.container import container
    from app.cli.output import fail
    from engine.errors import NotFoundError

    try:
        result = container().report_schedules.disable(workspace)
    except NotFoundError as exc:
        fail(exc.message)
    _print(result, as_json)


def _print(result: dict[str, Any], as_json: bool) -> None:
    from app.cli.output import console, print_json

    if as_json:
        print_json(result)
        return
    s = result.get("schedule")
    if not result.get("workflow_id") or not s:
        console.print("no scheduled insight report (set one: flowwright insights schedule set --to ADDRESS "
                      "--credential SMTP)")
        return
    state = "on" if result["enabled"] else "off"
    console.print(f"scheduled insight report: {state} (workflow {result['workflow_id']}, version "
                  f"{result['version']})")
    console.print(f"  to {', '.join(s['to'] or [])} through credential {s['credential']}; the last {s['days']:g} "
                  f"day(s), {s['attach']} attached")
    fires = result.get("fires") or {}
    console.print(f"  when: {fires.get('description') or s['cron']} ({s['timezone']})")
    for moment in (fires.get("next") or [])[:3]:
        console.print(f"  next: {moment.get('words') or moment}")
