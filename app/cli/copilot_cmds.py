"""`flowwright generate` and `flowwright chat`: the copilot from the terminal.

Contract (other tools depend on it):

- ``generate "TEXT" [--json]`` prints the workflow; with ``--json`` exactly the workflow document
  (format v1), so ``flowwright generate "..." --json > wf.json`` feeds ``validate`` and ``run``.
  A clarifying question prints ``{"question", "missing"}`` and exits 2; a failure exits 1 with
  one line on stderr (``{"error": {...}}`` on stdout with ``--json``).
- ``generate --batch FILE.jsonl``: each input line ``{"id", "prompt"}``; one output line per input,
  in order: ``{"id", "workflow"}`` or ``{"id", "question"}`` or ``{"id", "error"}``, plus
  ``"cache"`` (``hit``/``miss``), ``"usage"`` and ``"latency_ms"``. One process for the batch.
- ``chat``: an interactive conversation with ``/undo``, ``/run``, ``/show``, ``/json``, ``/quit``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.output import console, err_console, fail, print_json

if TYPE_CHECKING:
    from app.wiring import Container

EXIT_QUESTION = 2


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("chat")(chat)


def _copilot(model: str | None = None, no_cache: bool = False) -> Any:
    import logging

    from app.cli.container import container
    from engine.errors import FlowwrightError

    # instructor logs every exhausted re-ask at ERROR; the turn reports it (repair or problems).
    logging.getLogger("instructor").setLevel(logging.CRITICAL)

    try:
        overrides: dict[str, Any] = {"model": model} if model is not None else {}
        if no_cache:
            overrides["cache_enabled"] = False
        return container(overrides=overrides).copilot
    except FlowwrightError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot open the data dir: {exc}")


def generate(
    text: Annotated[str | None, typer.Argument(help="What the workflow should do, in plain words.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the workflow document only (JSON).")] = False,
    batch: Annotated[Path | None, typer.Option("--batch", help="JSON Lines file of {\"id\", \"prompt\"}.")] = None,
    workspace: Annotated[str, typer.Option(help="Workspace id.")] = "default",
    model: Annotated[str | None, typer.Option(help="litellm model (default: FLOWWRIGHT_MODEL).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the semantic cache.")] = False,
) -> None:
    """Generate a workflow from a description (or a batch of them)."""
    if batch is not None:
        if text is not None:
            fail("give TEXT or --batch, not both")
        _batch(batch, workspace, model, no_cache)
        return
    if not text or not text.strip():
        fail('describe the workflow: flowwright generate "every Monday at 9 ..."')
    from engine.errors import FlowwrightError

    copilot = _copilot(model, no_cache)
    try:
        turn = copilot.generate(text, workspace_id=workspace, user_id="cli")
    except FlowwrightError as exc:
        if as_json:
            print_json({"error": exc.to_dict()})
        fail(exc.message)
    if turn.kind == "question":
        if as_json:
            print_json({"question": turn.question, "missing": turn.missing})
        else:
            console.print(f"[bold yellow]?[/] {_escape(turn.question or '')}")
        raise typer.Exit(EXIT_QUESTION)
    if turn.kind == "error" or turn.workflow is None:
        if as_json:
            print_json({"error": turn.error or {"code": "copilot_failed", "message": turn.message}})
        fail(turn.message.splitlines()[0])
    if as_json:
        print_json(turn.workflow.to_json_dict())
        return
    _print_turn(turn)
    console.print_json(json.dumps(turn.workflow.to_json_dict(), ensure_ascii=False))


def _batch(path: Path, workspace: str, model: str | None, no_cache: bool) -> None:
    from engine.errors import FlowwrightError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(f"{path}: cannot read: {exc}")
    copilot = _copilot(model, no_cache)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        started = time.perf_counter()
        item_id: Any = None
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("a line must be a JSON object")
            item_id = item.get("id", number)
            prompt = item.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError("missing \"prompt\"")
        except ValueError as exc:
            print_json({"id": item_id, "error": {"code": "bad_input", "message": f"line {number}: {exc}"},
                        "cache": "miss", "usage": {}, "latency_ms": _ms(started)})
            continue
        try:
            turn = copilot.generate(prompt, workspace_id=workspace, user_id="cli")
        except FlowwrightError as exc:
            print_json({"id": item_id, "error": exc.to_dict(), "cache": "miss", "usage": {}, "latency_ms": _ms(started)})
            continue
        except Exception as exc:  # one bad item must not end the batch
            print_json({"id": item_id, "error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"},
                        "cache": "miss", "usage": {}, "latency_ms": _ms(started)})
            continue
        out: dict[str, Any] = {"id": item_id}
        if turn.kind == "workflow" and turn.workflow is not None:
            out["workflow"] = turn.workflow.to_json_dict()
        elif turn.kind == "question":
            out["question"] = turn.question
        else:
            out["error"] = turn.error or {"code": "copilot_failed", "message": turn.message}
        out.update(cache=turn.cache, usage=turn.usage, latency_ms=_ms(started))
        print_json(out)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# --- chat ------------------------------------------------------------------------------------

HELP = ("Describe an automation, then refine it in plain words. Commands: /show (the current workflow), "
        "/json (its JSON), /undo (back to the previous version), /run [JSON input] (run it now; "
        "/run --dry-run to send nothing), /new (start over), /quit.")


def chat(
    workspace: Annotated[str, typer.Option(help="Workspace id.")] = "default",
    conversation: Annotated[str | None, typer.Option(help="Continue this conversation id.")] = None,
    model: Annotated[str | None, typer.Option(help="litellm model (default: FLOWWRIGHT_MODEL).")] = None,
) -> None:
    """Chat with the copilot: each answer is a question or a new version of the workflow."""
    from rich.prompt import Prompt

    from engine.errors import FlowwrightError

    copilot = _copilot(model)
    conversation_id = conversation
    if conversation_id is not None:
        try:
            copilot.chat.get(conversation_id, workspace)
        except FlowwrightError as exc:
            fail(exc.message)
    console.print(f"[bold]Flowwright copilot[/] [dim]({copilot.pipeline.gateway.model})[/]. {HELP}")
    while True:
        try:
            line = Prompt.ask("[bold cyan]you[/]", console=console).strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not line:
            continue
        try:
            conversation_id = _chat_line(copilot, workspace, conversation_id, line)
        except _Quit:
            return
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
        except FlowwrightError as exc:
            err_console.print(f"[red]{_escape(exc.message)}[/]", markup=True)


class _Quit(Exception):  # control flow, not an error
    pass


def _chat_line(copilot: Any, workspace: str, conversation_id: str | None, line: str) -> str | None:
    command, _, rest = line.partition(" ")
    if command in ("/quit", "/exit", "/q"):
        raise _Quit()
    if command == "/help":
        console.print(HELP)
        return conversation_id
    if command == "/new":
        console.print("[dim]new conversation[/]")
        return None
    if command in ("/show", "/json", "/undo", "/run"):
        if conversation_id is None or copilot.current(conversation_id) is None:
            console.print("[yellow]no workflow yet — describe one first[/]")
            return conversation_id
        workflow = copilot.current(conversation_id)
        if command == "/show":
            _print_workflow(workflow, copilot.current_ref(conversation_id)[1])
        elif command == "/json":
            console.print_json(json.dumps(workflow.to_json_dict(), ensure_ascii=False))
        elif command == "/undo":
            turn = copilot.undo(conversation_id)
            console.print(f"[bold green]copilot[/] {_escape(turn.message)}")
        else:
            _run(workflow, workspace, rest.strip())
        return conversation_id
    if command.startswith("/"):
        console.print(f"[yellow]unknown command {command}[/]. {HELP}")
        return conversation_id
    if conversation_id is None:
        conversation_id = copilot.start(workspace, user_id="cli", title=line)
    with console.status("thinking…"):
        turn = copilot.send(conversation_id, line, user_id="cli")
    _print_turn(turn)
    return conversation_id


def _run(workflow: Any, workspace: str, args: str) -> None:
    import asyncio

    dry_run = "--dry-run" in args
    raw = args.replace("--dry-run", "").strip()
    try:
        trigger_input = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        console.print(f"[red]the input is not valid JSON: {exc.msg}[/]")
        return
    if workflow.trigger is not None and workflow.trigger.kind == "webhook":
        trigger_input = _webhook_envelope(trigger_input, workflow.trigger.config.method or "POST")
    from app.cli.container import container
    from app.wiring import Container

    # Each /run drives its own runtime on its own event loop (asyncio.run), so it gets a container
    # of its own on the chat's settings; the chat's container keeps the copilot.
    run_container = Container(container(database=False).settings, vault=not dry_run)
    try:
        outcome = asyncio.run(_execute(run_container, workflow, trigger_input, workspace, dry_run))
    finally:
        run_container.close()
    status = outcome.get("status")
    style = "green" if status == "completed" else "red" if status in ("failed", "timed_out") else "yellow"
    console.print(f"[{style}]● {status}[/] [dim]{outcome.get('id')}[/]")
    for step in outcome.get("steps", []):
        mark = {"completed": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[dim]↷[/]"}.get(step.get("status"), "·")
        console.print(f"  {mark} {step.get('node_id')} [dim]{step.get('status')}[/]")
    if outcome.get("error"):
        error = outcome["error"]
        console.print(f"[red]error:[/] {_escape(str(error.get('message') if isinstance(error, dict) else error))}")
    if status == "waiting":
        console.print("[magenta]waiting for approval:[/] `flowwright approvals list`, then `flowwright approve`.")


def _webhook_envelope(value: Any, method: str) -> dict[str, Any]:
    """What the webhook endpoint would hand the run: ``{body, headers, query, method, path}``. The
    input given to /run is the body, unless it already is an envelope (has a ``body``)."""
    envelope = dict(value) if isinstance(value, dict) and "body" in value else {"body": value}
    envelope.setdefault("headers", {})
    envelope.setdefault("query", {})
    envelope.setdefault("method", method)
    envelope.setdefault("path", "")
    return envelope


async def _execute(services: Container, workflow: Any, trigger_input: Any, workspace: str, dry_run: bool) -> dict[str, Any]:
    runtime = services.runtime
    execution_id = await runtime.start(workflow, trigger_input, workspace_id=workspace, dry_run=dry_run,
                                       trigger="manual", user_id="cli")
    return dict(await runtime.wait(execution_id))


# --- printing --------------------------------------------------------------------------------


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _print_turn(turn: Any) -> None:
    if turn.kind == "question":
        console.print(f"[bold green]copilot[/] [bold yellow]?[/] {_escape(turn.question or '')}")
        return
    if turn.kind == "error":
        console.print(f"[bold green]copilot[/] [red]{_escape(turn.message)}[/]")
        for problem in turn.problems[:10]:
            console.print(f"  [cyan]{problem.get('path')}[/] [yellow]{problem.get('code')}[/]: "
                          f"{_escape(str(problem.get('message')))}")
        return
    console.print(f"[bold green]copilot[/] {_escape(turn.explanation or '')}")
    diff = turn.diff or {}
    if turn.base_version is not None:
        parts = [f"+{', '.join(diff.get('added', []))}" if diff.get("added") else "",
                 f"-{', '.join(diff.get('removed', []))}" if diff.get("removed") else "",
                 f"~{', '.join(diff.get('changed', {}))}" if diff.get("changed") else ""]
        console.print(f"  [bold]version {turn.version}[/] (from {turn.base_version}): "
                      + (" ".join(p for p in parts if p) or "no change"))
    else:
        console.print(f"  [bold]version {turn.version}[/] of [bold]{_escape(turn.workflow.name)}[/]")
    for guard in turn.guardrails:
        console.print(f"  [magenta]🛡 {guard['node_id']}[/] [dim]({guard['kind']})[/] {_escape(guard['reason'])}")
    for note in turn.credentials:
        mark = "[green]🔑[/]" if note["status"] == "attached" else "[yellow]🔑[/]"
        console.print(f"  {mark} {_escape(note['message'])}")
    status = "[green]valid[/]" if turn.valid else f"[red]invalid ({len(turn.problems)} problem(s))[/]"
    usage = turn.usage or {}
    cost = usage.get("cost_usd")
    console.print(f"  {status} · {usage.get('total_tokens', 0)} tokens"
                  + (f" · ${cost:.4f}" if isinstance(cost, int | float) else "")
                  + f" · cache {turn.cache} · {turn.latency_ms:.0f} ms"
                  + (f" · {turn.reasks} re-ask(s)" if turn.reasks else ""))
    if turn.duplicates:
        console.print(f"  [yellow]similar existing workflows:[/] {_escape(', '.join(turn.duplicates))}")
    if turn.workflow_id:
        console.print(f"  [dim]saved as a draft ({turn.workflow_id} v{turn.version}): its triggers run it only "
                      f"after `flowwright workflows activate {turn.workflow_id}`[/]")


def _print_workflow(workflow: Any, version: int | None) -> None:
    from rich.table import Table

    from engine.workflow import ActionNode, iter_graph_nodes

    table = Table(title=f"{workflow.name} (version {version})", title_justify="left")
    for column in ("node", "type", "what", "origin"):
        table.add_column(column)
    for path, node in iter_graph_nodes(workflow.nodes):
        depth = path.count(".body")
        what = f"{node.connector}.{node.operation}" if isinstance(node, ActionNode) else getattr(node, "kind", "")
        table.add_row("  " * depth + node.id, node.type, str(what), node.origin)
    console.print(table)
    for edge in workflow.edges:
        branch = _escape(f" [{edge.branch}]") if edge.branch else ""
        console.print(f"  [dim]{edge.source} → {edge.target}{branch}[/]")


__all__ = ["register"]
