"""`flowwright run`, `executions list|show|rerun|stats|prune`, `recover`, `approvals list`, `approve`, `reject`.

Contract (other tools depend on it): ``run`` prints the execution id on stderr as soon as the
execution exists; with ``--json`` it prints one object ``{id, status, failed_steps, outcome, output,
error, duration_ms, steps: [{node_id, status, attempt, input, output, error, started_at, completed_at,
duration_ms}]}`` (loop-body steps add ``loop_path``). Exit codes: 0 completed with nothing failed,
1 failed / cancelled / timed out / waiting, 2 an invalid workflow or input, 3 completed with errors
(a failed node was handled by an error route or ``on_error: continue``; ``failed_steps`` counts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.container import container
from app.cli.output import console, err_console, fail, load_json_file, print_json

if TYPE_CHECKING:
    from app.wiring import Container

executions_app = typer.Typer(help="List and inspect executions.", no_args_is_help=True)
approvals_app = typer.Typer(help="Guardrails waiting for a person.", no_args_is_help=True)

STATUS_STYLE = {
    "completed": "green", "failed": "red", "cancelled": "yellow", "timed_out": "red", "running": "cyan",
    "paused": "yellow", "waiting": "magenta", "pending": "dim", "skipped": "dim",
}


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("recover")(recover)
    app.command("approve")(approve)
    app.command("reject")(reject)
    executions_app.command("list")(executions_list)
    executions_app.command("show")(executions_show)
    executions_app.command("prune")(executions_prune)
    executions_app.command("stats")(executions_stats)
    executions_app.command("rerun")(executions_rerun)
    approvals_app.command("list")(approvals_list)
    app.add_typer(executions_app, name="executions")
    app.add_typer(approvals_app, name="approvals")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


EXIT_COMPLETED_WITH_ERRORS = 3


def _exit_for(outcome: dict[str, Any]) -> None:
    if outcome["status"] != "completed":
        raise typer.Exit(1)
    raise typer.Exit(EXIT_COMPLETED_WITH_ERRORS if outcome.get("failed_steps") else 0)


# --- run -----------------------------------------------------------------------------------------


def run(
    file: Annotated[Path, typer.Argument(help="Workflow JSON file.")],
    input_json: Annotated[str | None, typer.Option("--input", help="Trigger input as JSON (or @file.json).")] = None,
    as_json: JsonOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Replace external connectors by recorders "
                                          "returning sample outputs; nothing is sent.")] = False,
    workspace: Annotated[str, typer.Option(help="Workspace id.")] = "default",
) -> None:
    """Validate and run a workflow to its end in this process."""
    from engine.validation import validate_workflow

    data = load_json_file(file)
    services = container(vault=not dry_run)
    result = validate_workflow(data, services.registry.for_workspace(workspace))
    if not result.ok or result.workflow is None:
        if as_json:
            print_json({"id": None, "status": "invalid", "output": None,
                        "error": {"code": "workflow_invalid", "problems": [p.to_dict() for p in result.problems]},
                        "duration_ms": None, "steps": []})
        err_console.print(f"[bold red]✗ {file}: {len(result.problems)} problem(s)[/]")
        for p in result.problems:
            err_console.print(f"  [cyan]{p.path}[/] [yellow]{p.code}[/]: {p.message}")
        raise typer.Exit(2)
    trigger_input = _parse_input(input_json)
    outcome = asyncio.run(_run(services, result.workflow, trigger_input, as_json=as_json, dry_run=dry_run,
                               workspace=workspace))
    if as_json:
        print_json(outcome)
    else:
        _print_summary(outcome)
    _exit_for(outcome)


def _parse_input(value: str | None) -> Any:
    if value is None:
        return {}
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as exc:
            err_console.print(f"[bold red]error:[/] --input {path}: {exc}")
            raise typer.Exit(2) from None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        err_console.print(f"[bold red]error:[/] --input is not valid JSON: {exc.msg} (column {exc.colno})")
        raise typer.Exit(2) from None


async def _run(services: Container, workflow: Any, trigger_input: Any, *, as_json: bool, dry_run: bool,
               workspace: str) -> dict[str, Any]:
    async def start(runtime: Any) -> str:
        execution_id: str = await runtime.start(workflow, trigger_input, workspace_id=workspace, dry_run=dry_run,
                                                trigger="manual", user_id="cli")
        return execution_id

    return await _drive(services, start, as_json=as_json, note=" (dry run)" if dry_run else "", workspace=workspace)


def _driver(services: Container, runtime: Any, workspace: str) -> contextlib.AbstractAsyncContextManager[Any]:
    """What drives the run in this process: on the local backend its heartbeats (a live worker
    adopts the run if this process dies); on the Temporal backend an embedded Temporal worker
    for the workspace's task queue, for the duration of the command."""
    if services.settings.backend == "temporal":
        return runtime.embedded_worker([workspace])  # type: ignore[no-any-return]
    from engine.worker import Worker

    return Worker(runtime, services.queue, capacity=0, heartbeat_s=services.settings.worker_heartbeat_s,
                  kind="cli").attached()


async def _drive(services: Container, start: Callable[[Any], Awaitable[str]], *, as_json: bool, note: str = "",
                 refused_exit: int = 2, workspace: str = "default") -> dict[str, Any]:
    """Start an execution with ``start(runtime)`` and drive it here to its end (live view unless
    ``as_json``); a Flowwright error from ``start`` is one line and exit ``refused_exit``."""
    from engine.errors import FlowwrightError

    runtime = services.runtime
    async with contextlib.AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(_driver(services, runtime, workspace))
        except FlowwrightError as exc:  # the Temporal service is unreachable
            err_console.print(f"[bold red]error:[/] {exc.message}")
            raise typer.Exit(1) from None
        try:
            execution_id = await start(runtime)
        except FlowwrightError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}")
            raise typer.Exit(refused_exit) from None
        err_console.print(f"execution {execution_id}{note}", markup=False)
        if not as_json:
            await _follow(runtime, execution_id)
        outcome: dict[str, Any] = await runtime.wait(execution_id)
    return outcome


async def _follow(runtime: Any, execution_id: str) -> None:
    """The live view: one line per node and execution event as it happens; a sub-workflow's
    events are indented under the step that started it."""
    from engine.event_tree import tree_events

    started: dict[tuple[str, str | None, Any], Any] = {}
    depth = {execution_id: 0}
    async for event in tree_events(runtime, execution_id, 0):
        data = event.data or {}
        key = (event.execution_id, event.node_id, data.get("loop_path"))
        if event.type == "node.started":
            started[key] = event.at
        if event.type == "node.child_started" and isinstance(data.get("child_execution_id"), str):
            depth[data["child_execution_id"]] = depth.get(event.execution_id, 0) + 1
        level = depth.get(event.execution_id, 1)
        line = _event_line(event)
        if line and event.type in ("node.completed", "node.failed") and key in started:
            line += f" [dim]{(event.at - started.pop(key)).total_seconds() * 1000:.0f} ms[/]"
        if line and level:
            line = "    " * level + (f"[dim]{event.execution_id}[/] " if event.type.startswith("execution.") else "")\
                + line.lstrip()
        if line:
            console.print(line)
        if event.execution_id == execution_id and event.type in ("execution.waiting", "execution.paused"):
            return


def _event_line(event: Any) -> str | None:
    data = event.data or {}
    where = f"[dim]{data['loop_path']}[/] " if data.get("loop_path") else ""
    node = f"[bold]{event.node_id}[/]" if event.node_id else ""
    kind = event.type
    if kind == "node.started":
        attempt = data.get("attempt", 1)
        return f"  [cyan]▶[/] {where}{node}" + (f" [dim](attempt {attempt})[/]" if attempt and attempt > 1 else "")
    if kind == "node.completed":
        return f"  [green]✓[/] {where}{node}"
    if kind == "node.skipped":
        return f"  [dim]↷ {where}{event.node_id} skipped[/]"
    if kind == "node.retrying":
        err = (data.get("error") or {}).get("message", "")
        return f"  [yellow]↻[/] {where}{node} retrying in {data.get('delay_s', 0)} s: {_escape(err)}"
    if kind == "node.failed":
        err = (data.get("error") or {}).get("message", "")
        return f"  [red]✗[/] {where}{node}: {_escape(err)}" + (f" [dim](on_error: {data['on_error']})[/]"
                                                           if data.get("on_error") != "fail" else "")
    if kind == "node.child_started":
        how = "started" if data.get("wait", True) else "started, not waited for"
        return f"  [cyan]↳[/] {where}{node} sub-workflow {data.get('workflow_id')} v{data.get('version')} {how}: " \
               f"[dim]{data.get('child_execution_id')}[/]"
    if kind == "node.suspended":
        return f"  [magenta]⏸[/] {where}{node} sleeping until {data.get('until')}"
    if kind == "node.waiting":
        return f"  [magenta]✋[/] {where}{node} waits for approval: {_escape(str(data.get('reason', '')))}"
    if kind == "log":
        return f"  [dim]{data.get('level', 'info')}:[/] {_escape(str(data.get('message', '')))}"
    if kind.startswith("execution."):
        status = kind.split(".", 1)[1]
        style = STATUS_STYLE.get(status, "white")
        if status == "completed" and data.get("failed_steps"):
            return f"[yellow]● completed with errors[/] [dim]({data['failed_steps']} failed step(s))[/]"
        return f"[{style}]● {status}[/]"
    return None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _print_summary(outcome: dict[str, Any]) -> None:
    status = outcome["status"]
    style = STATUS_STYLE.get(status, "white")
    duration = f" in {outcome['duration_ms']} ms" if outcome.get("duration_ms") is not None else ""
    failed = int(outcome.get("failed_steps") or 0)
    if status == "completed" and failed:
        status, style = f"completed with errors ({failed} failed step(s))", "yellow"
    console.print(f"[{style}]{status}[/]{duration}  [dim]{outcome['id']}[/]")
    if outcome.get("error"):
        err = outcome["error"]
        where = f" (node {err['node_id']})" if isinstance(err, dict) and err.get("node_id") else ""
        message = err.get("message") if isinstance(err, dict) else err
        console.print(f"[red]error{where}:[/] {_escape(str(message))}")
    elif outcome.get("output") is not None:
        text = json.dumps(outcome["output"], ensure_ascii=False, default=str)
        console.print("[bold]output:[/] " + _escape(text if len(text) < 2000 else text[:2000] + "…"))


# --- executions ---------------------------------------------------------------------------------


def executions_list(
    status: Annotated[list[str] | None, typer.Option(help="Only this status (repeat it, or comma-separated: failed,timed_out).")] = None,
    workflow: Annotated[str | None, typer.Option("--workflow", help="Only runs of this workflow (id or exact name).")] = None,
    trigger: Annotated[str | None, typer.Option(help="Only runs started this way: manual, webhook, schedule or poll.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only runs started by this user.")] = None,
    since: Annotated[str | None, typer.Option(help="Created at or after: ISO 8601, or a span back from now (24h, 7d).")] = None,
    until: Annotated[str | None, typer.Option(help="Created before: ISO 8601, or a span back from now.")] = None,
    search: Annotated[str | None, typer.Option("--search", "-q", help="Text in the workflow's name, the id or the error.")] = None,
    order_by: Annotated[str, typer.Option(help="created_at or duration_ms.")] = "created_at",
    asc: Annotated[bool, typer.Option("--asc", help="Oldest (or fastest) first.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    offset: Annotated[int, typer.Option(help="Skip this many.")] = 0,
    cursor: Annotated[str | None, typer.Option(help="Continue where the previous page stopped (its 'more:' line).")] = None,
    workspace: Annotated[str | None, typer.Option(help="Only this workspace.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List executions, newest first, with filters; a page that is not the last ends with the
    cursor of the next (on stderr)."""
    from engine.errors import QueryInvalidError
    from engine.execution_history import HistoryQuery, parse_moment, statuses_from
    from engine.execution_state import STATUSES
    from engine.execution_views import execution_summary

    services = container(vault=False)
    try:
        query = HistoryQuery(
            workspace_id=workspace, statuses=statuses_from(status, STATUSES),
            workflow_id=_workflow_id(services, workspace, workflow) if workflow else None, trigger=trigger,
            user_id=user, since=parse_moment(since, "since") if since else None,
            until=parse_moment(until, "until") if until else None, text=search or None,
            order_by=order_by,  # type: ignore[arg-type]  # checked by the query
            direction="asc" if asc else "desc", limit=limit, offset=offset, cursor=cursor)
        found = services.execution_store.page(query)
    except QueryInvalidError as exc:
        name = str(exc.details.get("field", "")).replace("_", "-")
        fail(f"{exc.message} (--{name})" if name else exc.message, 2)
    items = [execution_summary(r) for r in found.rows]
    if found.next_cursor is not None:
        err_console.print(f"more: --cursor {found.next_cursor}", markup=False, highlight=False)
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("[dim]no executions[/]")
        return
    from rich.table import Table

    table = Table(show_edge=False)
    table.add_column("id", no_wrap=True)
    for col in ("status", "workflow", "created", "duration"):
        table.add_column(col)
    for item in items:
        style = "yellow" if item["failed_steps"] else STATUS_STYLE.get(item["status"], "white")
        table.add_row(item["id"], f"[{style}]{item['outcome']}[/]", _escape(item["workflow_name"]),
                      (item["created_at"] or "")[:19], f"{item['duration_ms']} ms" if item["duration_ms"] is not None else "")
    console.print(table)


def _workflow_id(services: Container, workspace: str | None, ref: str) -> str:
    """A workflow id from an id or an exact name (names are looked up in the workspace, ``default``
    when none is given; anything else is taken as an id)."""
    for row in services.workflow_store.list(workspace or "default", include_archived=True, include_deleted=True):
        if ref == row.name:
            return row.id
    return ref


def executions_show(
    execution_id: Annotated[str, typer.Argument(help="Execution id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one execution and its steps (same JSON shape as `run --json`)."""
    from engine.errors import NotFoundError
    from engine.runtime import describe_execution

    services = container(vault=False)
    try:
        outcome = describe_execution(services.execution_store, execution_id)
    except NotFoundError as exc:
        fail(exc.message)
    if as_json:
        print_json(outcome)
        return
    from rich.table import Table

    _print_summary(outcome)
    table = Table(show_edge=False)
    for col in ("node", "status", "attempt", "started", "error"):
        table.add_column(col)
    for step in outcome["steps"]:
        node = step["node_id"] + (f" [dim]{step['loop_path']}[/]" if step.get("loop_path") else "")
        style = STATUS_STYLE.get(step["status"], "white")
        err = step["error"]["message"] if isinstance(step.get("error"), dict) else ""
        table.add_row(node, f"[{style}]{step['status']}[/]", str(step["attempt"]), (step["started_at"] or "")[11:23],
                      _escape(err or ""))
    console.print(table)
    if outcome.get("children"):
        console.print("[bold]sub-workflows:[/]")
        _print_children(outcome["children"], 1)


def _print_children(children: list[dict[str, Any]], level: int) -> None:
    """The sub-workflow tree under an execution: one line per child, nested by depth."""
    for child in children:
        style = "yellow" if child.get("outcome") == "completed with errors" else STATUS_STYLE.get(child["status"], "white")
        where = f" {child['loop_path']}" if child.get("loop_path") else ""
        detached = " [dim](not waited for)[/]" if child.get("detached") else ""
        console.print("  " * level + f"↳ [bold]{_escape(str(child['node_id']))}[/]{_escape(where)} → "
                      f"{_escape(str(child.get('workflow_name') or child['workflow_id']))} v{child['workflow_version']} "
                      f"[{style}]{child['outcome']}[/] [dim]{child['id']}[/]{detached}")
        _print_children(child.get("children") or [], level + 1)


def executions_rerun(
    execution_id: Annotated[str, typer.Argument(help="The execution to run again (a finished one).")],
    from_node: Annotated[str | None, typer.Option("--from", help="Start at this node, reusing the recorded "
                                                  "results of every node upstream of it.")] = None,
    version: Annotated[int | None, typer.Option(help="Of its workflow (default: the current version, the draft).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run an execution again with the same input, on its workflow's current version, from the
    start or from a node (upstream results reused, not run again); exit codes as `run`."""
    from engine.errors import NotFoundError
    from engine.execution_fork import fork

    services = container()
    try:
        source = services.execution_store.get(execution_id)
    except NotFoundError as exc:
        fail(exc.message)
    definition: Any = json.loads(source.definition)
    number = source.workflow_version
    if source.workflow_id is not None:
        try:
            found = services.workflow_store.version(source.workspace_id, source.workflow_id, version)
        except NotFoundError as exc:
            fail(exc.message)
        definition, number = found.definition_dict(), found.version
    elif version is not None:
        fail(f"--version: execution {execution_id} ran a file, not a stored workflow", 2)

    async def start(runtime: Any) -> str:
        return await fork(runtime, execution_id, definition, from_node=from_node, user_id="cli",
                          workflow_version=number)

    note = f" (re-run of {execution_id}" + (f" from {from_node})" if from_node else ")")
    outcome = asyncio.run(_drive(services, start, as_json=as_json, note=note, refused_exit=1,
                                 workspace=source.workspace_id))
    if as_json:
        print_json(outcome)
    else:
        _print_summary(outcome)
    _exit_for(outcome)


def executions_stats(
    workflow: Annotated[str, typer.Argument(help="Workflow id (or its exact name).")],
    since: Annotated[str | None, typer.Option(help="Runs created at or after: ISO 8601, or a span back from now (7d).")] = None,
    until: Annotated[str | None, typer.Option(help="Runs created before (same forms).")] = None,
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace id.")] = "default",
    as_json: JsonOpt = False,
) -> None:
    """A workflow's runs: how many, by status, success rate, durations (avg, min, max, p50, p95,
    p99) and the last failure (same JSON as GET /v1/workflows/{id}/stats)."""
    from engine.errors import NotFoundError, QueryInvalidError
    from engine.execution_history import parse_moment

    services = container(vault=False)
    workflow_id = _workflow_id(services, workspace, workflow)
    try:
        services.workflow_store.get(workspace, workflow_id, include_deleted=True)
        start = parse_moment(since, "since") if since else None
        end = parse_moment(until, "until") if until else None
        if start is not None and end is not None and start >= end:
            raise QueryInvalidError("since must be before until", field="since")
    except NotFoundError:
        fail(f"no workflow {workflow!r} in workspace {workspace!r} (see `flowwright workflows list`)")
    except QueryInvalidError as exc:
        fail(f"{exc.message} (--{exc.details.get('field')})", 2)
    stats = services.execution_store.stats(workspace, workflow_id, since=start, until=end)
    if as_json:
        print_json(stats)
        return
    rate = "—" if stats["success_rate"] is None else f"{stats['success_rate'] * 100:.1f}%"
    statuses = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in stats["by_status"].items()) or "no runs"
    errors = f" ({stats['completed_with_errors']} of them with errors)" if stats["completed_with_errors"] else ""
    console.print(f"{stats['total']} run(s): {statuses}{errors}; success rate {rate}", markup=False)
    d = stats["duration_ms"]
    if d["count"]:
        console.print(f"duration ms: avg {d['avg']}, min {d['min']}, p50 {d['p50']}, p95 {d['p95']}, p99 {d['p99']}, "
                      f"max {d['max']}", markup=False)
    last = stats["last_failure"]
    if last:
        message = last["error"].get("message", "") if isinstance(last["error"], dict) else ""
        console.print(f"last failure: {last['id']} ({last['outcome']}, {last['created_at'][:19]}) {message}", markup=False)


def executions_prune(
    max_age_days: Annotated[float | None, typer.Option(min=0, help="Delete finished runs older than this "
                                                       "(default FLOWWRIGHT_RETENTION_MAX_AGE_DAYS; 0 keeps them).")] = None,
    max_per_workflow: Annotated[int | None, typer.Option(min=0, help="Keep this many finished runs per workflow "
                                                         "(default FLOWWRIGHT_RETENTION_MAX_PER_WORKFLOW; 0: any number).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply the retention policy now: delete finished executions (never unfinished ones) past the
    maximum age or beyond the count per workflow, with their steps, logs and events."""
    retention = container(vault=False).retention_policy(max_age_days, max_per_workflow)
    report = retention.sweep() if retention.enabled else None
    result = report.to_dict() if report else {"deleted": 0, "by_age": 0, "by_count": 0, "batches": 0, "vacuumed": False}
    if as_json:
        print_json(result)
        return
    if report is None:
        console.print("retention is off (no maximum age, no maximum count): nothing deleted")
        return
    console.print(f"deleted {result['deleted']} finished execution(s): {result['by_age']} past the maximum age, "
                  f"{result['by_count']} beyond {retention.max_per_workflow} per workflow", markup=False)


# --- recover and approvals ----------------------------------------------------------------------


def recover(as_json: JsonOpt = False) -> None:
    """Resume every execution that was running when its process died, and run them to the end."""
    services = container()
    results = asyncio.run(_recover(services))
    if as_json:
        print_json({"resumed": results})
        return
    if not results:
        console.print("[dim]nothing to recover[/]")
        return
    for item in results:
        style = STATUS_STYLE.get(item["status"], "white")
        console.print(f"resumed {item['id']} → [{style}]{item['status']}[/]")


async def _recover(services: Container) -> list[dict[str, Any]]:
    runtime = services.runtime
    ids = await runtime.recover()
    for execution_id in ids:
        err_console.print(f"resuming {execution_id}", markup=False)
    out = []
    for execution_id in ids:
        outcome = await runtime.wait(execution_id)
        out.append({"id": execution_id, "status": outcome["status"]})
    return out


def approvals_list(
    execution: Annotated[str | None, typer.Option("--execution", help="Only this execution.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List guardrails waiting for a person."""
    from engine.runtime import approval_dict

    services = container(vault=False)
    items = [approval_dict(r) for r in services.execution_store.approvals(None, execution_id=execution)]
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("[dim]no pending approvals[/]")
        return
    for item in items:
        where = f" {item['loop_path']}" if item.get("loop_path") else ""
        console.print(f"{item['execution_id']} [bold]{item['node_id']}[/]{where}: {_escape(item['reason'])}")


def _decide(execution_id: str, node_id: str, decision: str, by: str | None, as_json: bool) -> None:
    from engine.errors import FlowwrightError

    services = container()

    async def go() -> dict[str, Any]:
        runtime = services.runtime
        if decision == "approved":
            await runtime.approve(execution_id, node_id, by)
        else:
            await runtime.reject(execution_id, node_id, by)
        row = await runtime.get(execution_id)
        audit = services.cli_audit(row.workspace_id)
        await asyncio.to_thread(audit, f"approval.{decision}", "execution", execution_id, node_id=node_id, by=by)
        outcome: dict[str, Any] = await runtime.wait(execution_id)
        return outcome

    try:
        outcome = asyncio.run(go())
    except FlowwrightError as exc:
        fail(exc.message)
    if as_json:
        print_json(outcome)
    else:
        _print_summary(outcome)
    _exit_for(outcome)


def approve(
    execution_id: Annotated[str, typer.Argument(help="Execution id.")],
    node_id: Annotated[str, typer.Argument(help="The waiting guardrail node.")],
    by: Annotated[str | None, typer.Option(help="Who approves.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a waiting guardrail and run the execution on to its end."""
    _decide(execution_id, node_id, "approved", by, as_json)


def reject(
    execution_id: Annotated[str, typer.Argument(help="Execution id.")],
    node_id: Annotated[str, typer.Argument(help="The waiting guardrail node.")],
    by: Annotated[str | None, typer.Option(help="Who rejects.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a waiting guardrail (the node fails; its on_error applies) and run on to the end."""
    _decide(execution_id, node_id, "rejected", by, as_json)
