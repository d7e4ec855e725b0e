"""`flowwright validate`, `schema`, `version`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.output import console, err_console, load_json_file, print_json


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("schema")(schema)
    app.command("version")(version)


def validate(
    file: Annotated[Path, typer.Argument(help="Workflow JSON file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace id (its imported connectors "
                                           "count as known).")] = "default",
    workflow: Annotated[str | None, typer.Option("--workflow", help="Check it as a new version of this workflow "
                                                 "id (a sub-workflow call chain back to it is a cycle).")] = None,
) -> None:
    """Validate a workflow file; list every problem with its JSON path (exit 1 if any)."""
    from app.cli.container import container
    from app.cli.output import fail
    from connectors.registry import default_registry
    from engine.errors import NotFoundError
    from engine.subworkflow_calls import calls_of, check_calls
    from engine.validation import validate_workflow

    data = load_json_file(file)
    result = validate_workflow(data, default_registry())
    if any(p.code == "unknown_connector" for p in result.problems):
        # only then open the database: the workspace may have imported that connector
        result = validate_workflow(data, container(vault=False).registry.for_workspace(workspace))
    problems = list(result.problems)
    if isinstance(data, dict) and (calls_of(data) or workflow is not None):  # they name the workspace's workflows
        store = container(vault=False).workflow_store
        try:
            name = store.get(workspace, workflow).name if workflow is not None else None
        except NotFoundError:
            fail(f"--workflow {workflow}: no such workflow in workspace {workspace!r}")
        problems += check_calls(data, store, workspace, self_id=workflow, self_name=name)
    if as_json:
        print_json({"valid": not problems, "problems": [p.to_dict() for p in problems]})
    elif not problems:
        console.print(f"[green]✓[/] {file} is a valid workflow")
    else:
        err_console.print(f"[bold red]✗ {file}: {len(problems)} problem(s)[/]")
        for p in problems:
            hint = f" [dim]({p.hint})[/]" if p.hint else ""
            err_console.print(f"  [cyan]{p.path}[/] [yellow]{p.code}[/]: {p.message}{hint}", markup=True)
    raise typer.Exit(0 if not problems else 1)


def schema() -> None:
    """Print the JSON Schema of workflow format v1."""
    from engine.workflow import json_schema

    print(json.dumps(json_schema(), indent=2))  # noqa: T201


def version_text() -> str:
    """``flowwright X.Y.Z`` (what ``flowwright version`` and ``flowwright --version`` print)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    try:
        v = pkg_version("flowwright")
    except PackageNotFoundError:
        v = "0+unknown"
    return f"flowwright {v}"


def version() -> None:
    """Print Flowwright's version."""
    console.print(version_text(), markup=False, highlight=False)
