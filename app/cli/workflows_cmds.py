"""`flowwright workflows list|show|activate|deactivate|archive|delete|restore|versions|diff|rollback|
export|import`: the workflows of a workspace as a person manages them.

Every workflow the copilot or an import saves is an inactive draft; ``activate`` validates it and
shows what will fire (the next five schedule times in words and in UTC, or the webhook URL).
Each command takes ``--json``. Exit codes: 0 done, 1 not found / refused, 2 an invalid workflow
(every problem listed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from app.cli.container import container
from app.cli.output import console, err_console, fail, load_json_file, print_json

if TYPE_CHECKING:
    from engine.errors import WorkflowInvalidError
    from engine.workflow_store import WorkflowRow, WorkflowVersionRow

workflows_app = typer.Typer(help="Workflows: drafts, activation, versions, diff, export and import.",
                            no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace id.")]
WorkflowArg = Annotated[str, typer.Argument(help="Workflow id (or its exact name).")]
STATUS_STYLE = {"active": "green", "inactive": "dim", "archived": "yellow"}


def register(app: typer.Typer) -> None:
    for name, command in (("list", list_cmd), ("show", show), ("activate", activate), ("deactivate", deactivate),
                          ("archive", archive), ("delete", delete), ("restore", restore), ("versions", versions),
                          ("diff", diff), ("rollback", rollback), ("export", export), ("import", import_cmd)):
        workflows_app.command(name)(command)
    app.add_typer(workflows_app, name="workflows")


def row_dict(row: WorkflowRow) -> dict[str, Any]:
    """A workflow as the API's ``WorkflowOut`` (without its definition)."""
    return {"id": row.id, "name": row.name, "status": row.status, "current_version": row.current_version,
            "active_version": row.active_version, "deleted": row.deleted_at is not None,
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat()}


def _resolve(workspace: str, ref: str, *, include_deleted: bool = False) -> WorkflowRow:
    """A workflow by id, or else by its exact name, in the workspace (exit 1 when there is none)."""
    from engine.errors import NotFoundError

    store = container(vault=False).workflow_store
    try:
        return store.get(workspace, ref, include_deleted=include_deleted)
    except NotFoundError:
        pass
    named = [r for r in store.list(workspace, include_archived=True, include_deleted=include_deleted)
             if r.name == ref]
    if not named:
        fail(f"no workflow {ref!r} in workspace {workspace!r} (see `flowwright workflows list`)")
    return named[0]


def _webhook_url(fires: dict[str, Any]) -> dict[str, Any]:
    if fires.get("kind") != "webhook":
        return fires
    settings = container(vault=False).settings
    return {**fires, "url": f"http://{settings.host}:{settings.port}{fires['path']}"}


def _print_fires(fires: dict[str, Any] | None) -> None:
    if not fires:
        return
    console.print(f"  fires: {fires['description']}", markup=False)
    polling = fires.get("polling")
    if polling:
        console.print(f"  polling: last poll {polling['last_poll_at'] or 'never'}, {polling['executions_started']} "
                      f"run(s) for {polling['items_started']} item(s)", markup=False)
        if polling["failures"]:
            console.print(f"  {polling['failures']} failed poll(s) in a row: {polling['last_error']}", markup=False)
    if fires.get("url"):
        console.print(f"  {fires['method']} {fires['url']}", markup=False)
    for moment in fires.get("next") or []:
        console.print(f"    {moment['words']}  [dim]{moment['utc']}[/]")


def _invalid(exc: WorkflowInvalidError, ref: str, as_json: bool) -> NoReturn:
    if as_json:
        print_json({"error": exc.to_dict()})
    err_console.print(f"[bold red]✗ {ref} cannot be activated: {len(exc.problems)} problem(s)[/]")
    for p in exc.problems:
        err_console.print(f"  [cyan]{p.path}[/] [yellow]{p.code}[/]: {p.message}", markup=True)
    raise typer.Exit(2)


# --- commands -------------------------------------------------------------------------------------


def list_cmd(
    workspace: WorkspaceOpt = "default",
    status: Annotated[str | None, typer.Option(help="Only this status: active, inactive or archived.")] = None,
    deleted: Annotated[bool, typer.Option("--deleted", help="List the deleted workflows instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the workspace's workflows (archived ones with --status archived)."""
    if status is not None and status not in STATUS_STYLE:
        fail(f"unknown status {status!r}; one of {', '.join(STATUS_STYLE)}", 2)
    store = container(vault=False).workflow_store
    rows = [r for r in store.list(workspace, include_archived=deleted, include_deleted=deleted, status=status)
            if (r.deleted_at is not None) == deleted]
    items = [row_dict(r) for r in rows]
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("[dim]no workflows[/]")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("id", "name", "status", "draft", "active", "updated"):
        table.add_column(column, no_wrap=column == "id")
    for item in items:
        style = STATUS_STYLE.get(item["status"], "white")
        active = f"v{item['active_version']}" if item["status"] == "active" and item["active_version"] else "—"
        table.add_row(item["id"], escape(item["name"]), f"[{style}]{item['status']}[/]",
                      f"v{item['current_version']}", active, item["updated_at"][:19])
    console.print(table)


def show(workflow: WorkflowArg, workspace: WorkspaceOpt = "default",
         version: Annotated[int | None, typer.Option(help="This version (default: the draft).")] = None,
         as_json: JsonOpt = False) -> None:
    """Show a workflow: status, draft and active versions, what it fires, and its definition."""
    from engine.activation import preview
    from engine.poll_scheduler import polling_state

    services = container(vault=False)
    row = _resolve(workspace, workflow)
    found = services.workflow_store.version(workspace, row.id, version)
    fires = _webhook_url(preview(found.workflow(), row.id))
    if fires.get("kind") == "poll":
        fires["polling"] = polling_state(services.db, workspace, row.id)
    if as_json:
        print_json({**row_dict(row), "version": found.version, "fires": fires, "definition": found.definition_dict()})
        return
    style = STATUS_STYLE.get(row.status, "white")
    active = f", active v{row.active_version}" if row.status == "active" else ""
    console.print(f"[bold]{row.name}[/]  [dim]{row.id}[/]  [{style}]{row.status}[/] (draft v{row.current_version}{active})")
    if row.status != "active":
        console.print(f"  [dim]a draft: nothing fires until `flowwright workflows activate {row.id}`[/]")
        console.print("  if activated:", markup=False)
    _print_fires(fires)
    console.print_json(json.dumps(found.definition_dict()))


def activate(workflow: WorkflowArg, workspace: WorkspaceOpt = "default",
             version: Annotated[int | None, typer.Option(help="Activate this version (default: the draft).")] = None,
             as_json: JsonOpt = False) -> None:
    """Validate the draft (or --version) and make it the version the triggers run; show what fires."""
    from engine import activation
    from engine.errors import WorkflowInvalidError

    services = container(vault=False)
    row = _resolve(workspace, workflow)
    try:
        row, fires = activation.activate(services.workflow_store, services.registry, workspace, row.id, version)
    except WorkflowInvalidError as exc:
        _invalid(exc, workflow, as_json)
    services.cli_audit(workspace)("workflow.activated", "workflow", row.id, version=row.active_version)
    fires = _webhook_url(fires)
    if as_json:
        print_json({**row_dict(row), "fires": fires})
        return
    console.print(f"[green]✓[/] {row.name} is active (v{row.active_version})", markup=True)
    _print_fires(fires)


def _set_status(workflow: str, workspace: str, status: str, as_json: bool) -> None:
    services = container(vault=False)
    row = services.workflow_store.set_status(workspace, _resolve(workspace, workflow).id, status)  # type: ignore[arg-type]
    services.cli_audit(workspace)("workflow.archived" if status == "archived" else "workflow.deactivated",
                                  "workflow", row.id)
    if as_json:
        print_json(row_dict(row))
    else:
        console.print(f"{row.name} is {status}", markup=False)


def deactivate(workflow: WorkflowArg, workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """Stop the workflow's triggers (its versions stay; activate again to resume)."""
    _set_status(workflow, workspace, "inactive", as_json)


def archive(workflow: WorkflowArg, workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """Archive a workflow: its triggers stop and it leaves the default list."""
    _set_status(workflow, workspace, "archived", as_json)


def delete(workflow: WorkflowArg, workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """Delete a workflow (soft: it never fires again; `workflows restore` brings it back)."""
    services = container(vault=False)
    row = services.workflow_store.delete(workspace, _resolve(workspace, workflow).id)
    services.cli_audit(workspace)("workflow.deleted", "workflow", row.id)
    if as_json:
        print_json(row_dict(row))
    else:
        console.print(f"deleted {row.name} ({row.id}); `flowwright workflows restore {row.id}` undoes it", markup=False)


def restore(workflow: WorkflowArg, workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """Bring a deleted workflow back, inactive."""
    services = container(vault=False)
    row = services.workflow_store.restore(workspace, _resolve(workspace, workflow, include_deleted=True).id)
    services.cli_audit(workspace)("workflow.restored", "workflow", row.id)
    if as_json:
        print_json(row_dict(row))
    else:
        console.print(f"restored {row.name} ({row.id}), inactive", markup=False)


def _version_dict(v: WorkflowVersionRow, row: WorkflowRow) -> dict[str, Any]:
    return {"version": v.version, "content_hash": v.content_hash, "source": v.source, "created_by": v.created_by,
            "created_at": v.created_at.isoformat(), "note": v.note, "current": v.version == row.current_version,
            "active": row.status == "active" and v.version == row.active_version}


def versions(workflow: WorkflowArg, workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """List a workflow's versions, marking the draft and the active one."""
    store = container(vault=False).workflow_store
    row = _resolve(workspace, workflow)
    items = [_version_dict(v, row) for v in store.versions(workspace, row.id)]
    if as_json:
        print_json(items)
        return
    for item in items:
        marks = " ".join(m for m, on in (("[green]active[/]", item["active"]), ("draft", item["current"])) if on)
        console.print(f"v{item['version']}  {item['created_at'][:19]}  {item['source']:<6} {marks}")


def diff(workflow: WorkflowArg,
         old: Annotated[int | None, typer.Argument(help="Old version (default: the active one, else the previous).")] = None,
         new: Annotated[int | None, typer.Argument(help="New version (default: the draft).")] = None,
         workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """What changed between two versions: nodes added/removed/changed, edges, and the JSON lines."""
    from app.copilot.diff import diff_workflows, unified_diff

    store = container(vault=False).workflow_store
    row = _resolve(workspace, workflow)
    new = new or row.current_version or 1
    if old is None:
        old = row.active_version if row.active_version and row.active_version != new else max(new - 1, 1)
    before, after = store.version(workspace, row.id, old), store.version(workspace, row.id, new)
    changes = diff_workflows(before.workflow(), after.workflow())
    lines = unified_diff(before.definition_dict(), after.definition_dict(), f"v{old}", f"v{new}")
    if as_json:
        print_json({"from": old, "to": new, **changes.to_dict(), "summary": changes.summary(), "lines": lines})
        return
    console.print(f"v{old} → v{new}: {changes.summary()}", markup=False)
    styles = {"+": "green", "-": "red", "@": "cyan"}
    from rich.markup import escape

    for line in lines:
        style = styles.get(line[:1], "")
        console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))


def rollback(workflow: WorkflowArg, version: Annotated[int, typer.Argument(help="The version to go back to.")],
             workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """Make an earlier version the draft again and, if the workflow is active, the one that runs."""
    from engine import activation
    from engine.errors import WorkflowInvalidError

    services = container(vault=False)
    row = _resolve(workspace, workflow)
    try:
        row, fires = activation.rollback(services.workflow_store, services.registry, workspace, row.id, version)
    except WorkflowInvalidError as exc:
        _invalid(exc, workflow, as_json)
    services.cli_audit(workspace)("workflow.rolled_back", "workflow", row.id, version=version)
    fires = _webhook_url(fires) if fires else None
    if as_json:
        print_json({**row_dict(row), "fires": fires})
        return
    runs = f"; it runs v{row.active_version}" if row.status == "active" else " (inactive: nothing fires)"
    console.print(f"{row.name}: the draft is v{row.current_version}{runs}", markup=False)
    _print_fires(fires)


def export(workflow: WorkflowArg, workspace: WorkspaceOpt = "default",
           version: Annotated[int | None, typer.Option(help="This version (default: the draft).")] = None,
           output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
           ) -> None:
    """Print a version's workflow document (format v1), ready for `import`, `validate` or `run`."""
    store = container(vault=False).workflow_store
    row = _resolve(workspace, workflow)
    text = json.dumps(store.version(workspace, row.id, version).definition_dict(), indent=2, ensure_ascii=False)
    if output is None:
        print(text)  # noqa: T201 - the document itself, for a pipe
    else:
        output.write_text(text + "\n", encoding="utf-8")
        err_console.print(f"wrote {output}", markup=False)


def import_cmd(file: Annotated[Path, typer.Argument(help="Workflow JSON file.")],
               workspace: WorkspaceOpt = "default",
               into: Annotated[str | None, typer.Option("--into", help="Add it as a new draft version of "
                                                        "this workflow instead of a new workflow.")] = None,
               as_json: JsonOpt = False) -> None:
    """Import a workflow file as an inactive draft (validated, and given the guardrail passes unless
    it says "guardrails": "manual"; nothing fires until `activate`)."""
    from engine.errors import WorkflowInvalidError
    from engine.passes import guard_saved
    from engine.validation import parse_workflow

    services = container(vault=False)
    store = services.workflow_store
    target = _resolve(workspace, into) if into is not None else None
    try:
        parsed = parse_workflow(load_json_file(file), services.registry)
        guarded = guard_saved(parsed, services.registry)
        if guarded.changes:
            parsed = parse_workflow(guarded.workflow.to_json_dict(), services.registry)
        # saving checks its sub-workflow calls against the workspace (unknown ids, cycles)
        audit = services.cli_audit(workspace)
        if target is not None:
            added = store.add_version(workspace, target.id, parsed, source="import", created_by="cli")
            row = store.get(workspace, target.id)
            audit("workflow.changed", "workflow", row.id, version=added.version, source="import")
        else:
            row, first = store.create(workspace, parsed, source="import", created_by="cli")
            audit("workflow.created", "workflow", row.id, version=first.version, source="import", name=row.name)
    except WorkflowInvalidError as exc:
        if as_json:
            print_json({"error": exc.to_dict()})
        err_console.print(f"[bold red]✗ {file}: {len(exc.problems)} problem(s)[/]")
        for p in exc.problems:
            err_console.print(f"  [cyan]{p.path}[/] [yellow]{p.code}[/]: {p.message}", markup=True)
        raise typer.Exit(2) from None
    if as_json:
        print_json({**row_dict(row), "guardrails_applied": [c.to_dict() for c in guarded.changes]})
        return
    for change in guarded.changes:
        console.print(f"guardrail {change.action}: {change.node_id} ({change.kind}): {change.reason}", markup=False)
    console.print(f"imported {row.name} as {row.id} (draft v{row.current_version}, {row.status}); "
                  f"`flowwright workflows activate {row.id}` makes it fire", markup=False)
