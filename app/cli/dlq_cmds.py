"""`flowwright dlq list|show|replay|purge` and `flowwright circuits`: the dead-letter queue (executions that exhausted
their retries, or whose workers kept dying). Each command takes ``--json``. Exit codes: 0 done,
1 no such dead letter, 2 an edited input that is not JSON; ``replay`` drives the new execution to
its end and exits as ``flowwright run`` does (0 completed, 1 failed, 3 completed with errors)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.container import container
from app.cli.output import console, fail, print_json

if TYPE_CHECKING:
    from app.wiring import Container

dlq_app = typer.Typer(help="Dead letters: executions that exhausted their retries or kept killing their workers.",
                      no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace id.")]
ExecutionArg = Annotated[str, typer.Argument(help="The dead execution's id.")]


def register(app: typer.Typer) -> None:
    for name, command in (("list", list_cmd), ("show", show), ("replay", replay_cmd), ("purge", purge)):
        dlq_app.command(name)(command)
    app.add_typer(dlq_app, name="dlq")
    app.command("circuits")(circuits)


def list_cmd(workspace: WorkspaceOpt = "default",
             all_: Annotated[bool, typer.Option("--all", help="Include entries already replayed.")] = False,
             as_json: JsonOpt = False) -> None:
    """List the workspace's dead letters, newest first."""
    from engine.dead_letters import letter_dict

    items = [letter_dict(r) for r in container(vault=False).dead_letters.list(workspace, include_replayed=all_)]
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("[dim]no dead letters[/]")
        return
    for item in items:
        error = item["error"] or {}
        replayed = f" [dim](replayed as {item['replayed_as']})[/]" if item["replayed_as"] else ""
        console.print(f"{item['execution_id']}  {item['created_at'][:19]}  [yellow]{item['reason']}[/]  "
                      f"{item['workflow_name']}  {item['node_id'] or '-'}: {error.get('message', '')}{replayed}",
                      markup=True)


def show(execution_id: ExecutionArg, workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """Show one dead letter: its reason and the error the execution ended with."""
    from engine.dead_letters import letter_dict

    item = letter_dict(container(vault=False).dead_letters.get(workspace, execution_id))
    if as_json:
        print_json(item)
        return
    for key, value in item.items():
        console.print(f"[bold]{key}[/]: {json.dumps(value) if isinstance(value, dict) else value}")


def replay_cmd(
    execution_id: ExecutionArg, workspace: WorkspaceOpt = "default",
    input_: Annotated[str | None, typer.Option("--input", help="A JSON input replacing the original.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the dead execution's workflow snapshot again as a new execution, here, to its end."""
    from engine.dead_letters import KEEP_INPUT

    edited: Any = KEEP_INPUT
    if input_ is not None:
        try:
            edited = json.loads(input_)
        except json.JSONDecodeError as exc:
            fail(f"--input is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", code=2)
    outcome = asyncio.run(_replay(container(), workspace, execution_id, edited))
    if as_json:
        print_json(outcome)
    else:
        console.print(f"replayed {execution_id} as {outcome['id']} → {outcome['status']}", markup=False)
    status, failed = outcome["status"], outcome.get("failed_steps") or 0
    raise typer.Exit(0 if status == "completed" and not failed else 3 if status == "completed" else 1)


async def _replay(services: Container, workspace: str, execution_id: str, edited: Any) -> dict[str, Any]:
    from engine.dead_letters import replay

    runtime = services.runtime
    try:
        new_id = await replay(runtime, services.dead_letters, workspace, execution_id, input=edited)
        outcome = await runtime.wait(new_id)
    finally:
        await runtime.aclose()
    return {"id": new_id, "replay_of": execution_id, "status": outcome["status"],
            "failed_steps": outcome.get("failed_steps"), "error": outcome.get("error")}


def purge(execution_id: Annotated[str | None, typer.Argument(help="One dead letter (default: --all).")] = None,
          workspace: WorkspaceOpt = "default",
          all_: Annotated[bool, typer.Option("--all", help="Purge every dead letter of the workspace.")] = False,
          as_json: JsonOpt = False) -> None:
    """Remove dead letters (the executions stay in the history)."""
    if execution_id is None and not all_:
        fail("name a dead letter or pass --all", code=2)
    count = container(vault=False).dead_letters.purge(workspace, execution_id)
    if as_json:
        print_json({"purged": count})
    else:
        console.print(f"purged {count} dead letter(s)", markup=False)


def circuits(workspace: WorkspaceOpt = "default",
             reset: Annotated[str | None, typer.Option("--reset", help="Close this breaker by hand.")] = None,
             as_json: JsonOpt = False) -> None:
    """List the workspace's circuit breakers (per connector host), or reset one."""
    breakers = container(vault=False).breakers
    if reset is not None:
        breakers.reset(workspace, reset)
        console.print(f"closed {reset}", markup=False)
        return
    items = breakers.states(workspace)
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("[dim]no circuit breaker has seen a failure[/]")
    style = {"closed": "green", "open": "red", "half_open": "yellow"}
    for item in items:
        trial = f", trial in {item['trial_in_s']:.0f} s" if item["trial_in_s"] is not None else ""
        console.print(f"{item['key']}  [{style.get(item['state'], 'white')}]{item['state']}[/]  "
                      f"{item['failures']}/{item['threshold']} failures{trial}")
