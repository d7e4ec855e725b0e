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
) -> None:
    """Validate a workflow file; list every problem with its JSON path (exit 1 if any)."""
    from app.cli.container import container
    from connectors.registry import default_registry
    from engine.validation import validate_workflow

    data = load_json_file(file)
    result = validate_workflow(data, default_registry())
    if any(p.code == "unknown_connector" for p in result.problems):
        # only then open the database: the workspace may have imported that connector
        result = validate_workflow(data, container(vault=False).registry.for_workspace(workspace))
    if as_json:
        print_json({"valid": result.ok, "problems": [p.to_dict() for p in result.problems]})
    elif result.ok:
        console.print(f"[green]✓[/] {file} is a valid workflow")
    else:
        err_console.print(f"[bold red]✗ {file}: {len(result.problems)} problem(s)[/]")
        for p in result.problems:
            hint = f" [dim]({p.hint})[/]" if p.hint else ""
            err_console.print(f"  [cyan]{p.path}[/] [yellow]{p.code}[/]: {p.message}{hint}", markup=True)
    raise typer.Exit(0 if result.ok else 1)


def schema() -> None:
    """Print the JSON Schema of workflow format v1."""
    from engine.workflow import json_schema

    print(json.dumps(json_schema(), indent=2))  # noqa: T201


def version() -> None:
    """Print Flowwright's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    try:
        v = pkg_version("flowwright")
    except PackageNotFoundError:
        v = "0+unknown"
    console.print(f"flowwright {v}")
