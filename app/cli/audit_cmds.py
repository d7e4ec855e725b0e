"""`flowwright audit`: who created, changed, activated, ran, approved or deleted what, and when.

The CLI reads the data dir's database directly (whoever can run it can read that file anyway, as
with `api-keys`); through the API the log needs an admin key (``GET /v1/audit``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from app.cli.container import container
from app.cli.output import console, err_console, fail, print_json


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)


def audit(
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace id.")] = "default",
    since: Annotated[str | None, typer.Option(help="At or after: ISO 8601, or a span back (24h, 7d).")] = None,
    until: Annotated[str | None, typer.Option(help="Before (same forms).")] = None,
    action: Annotated[str | None, typer.Option(help="One action (workflow.activated), or a kind (workflow.).")] = None,
    user: Annotated[str | None, typer.Option(help="Only what this user did.")] = None,
    target: Annotated[str | None, typer.Option(help="Only what was done to this id (a workflow, an execution...).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries (1-500).")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next page (printed after a full page).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """The workspace's audit log, newest first: when, who (user, via api key or cli), what, to what."""
    from engine.errors import FlowwrightError
    from engine.execution_history import parse_moment

    try:
        start = parse_moment(since, "since") if since else None
        end = parse_moment(until, "until") if until else None
        page = container(vault=False).audit_log.list(workspace, since=start, until=end, action=action, user=user,
                                                     target=target, limit=limit, cursor=cursor)
    except FlowwrightError as exc:
        fail(f"--{exc.details.get('field', 'query')}: {exc.message}", 2)
    if as_json:
        print_json({"entries": [e.to_dict() for e in page.entries], "next_cursor": page.next_cursor})
        return
    if not page.entries:
        console.print("[dim]no audit entries[/]")
    for e in page.entries:
        who = f"{e.user} ({e.via}{' ' + e.key_id if e.key_id else ''})"
        details = ", ".join(f"{k}={v}" for k, v in e.details.items())
        console.print(f"{e.at:%Y-%m-%d %H:%M:%S}  {escape(who)}  [bold]{e.action}[/] {e.target_kind} "
                      f"{escape(e.target_id)}" + (f"  [dim]{escape(details)}[/]" if details else ""))
    if page.next_cursor is not None:
        err_console.print(f"more: --cursor {page.next_cursor}", markup=False)
