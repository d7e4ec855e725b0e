"""The `flowwright` command. Each command group lives in its own module under ``app/cli`` and
registers itself; heavy libraries (litellm, chromadb, the engine) are imported inside commands so
that ``flowwright --help`` answers fast."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

app = typer.Typer(
    name="flowwright",
    help="Flowwright: describe an automation, get a validated workflow, run it, watch it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
)

COMMAND_MODULES = (
    "app.cli.workflow_cmds",
    "app.cli.workflows_cmds",
    "app.cli.serve_cmd",
    "app.cli.llm_cmds",
    "app.cli.run_cmds",
    "app.cli.worker_cmds",
    "app.cli.dlq_cmds",
    "app.cli.connector_cmds",
    "app.cli.eval_cmds",
    "app.cli.copilot_cmds",
    "app.cli.insights_cmds",
    "app.cli.cache_cmds",
    "app.cli.access_cmds",
    "app.cli.audit_cmds",
)

def _print_version(value: bool) -> None:
    if value:
        from app.cli.workflow_cmds import version_text

        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _container(ctx: typer.Context, version: Annotated[bool, typer.Option(  # noqa: ARG001 - its callback acts
        "--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False) -> None:
    # One container per command, opened on first use and closed when the command ends.
    from app.cli.container import open_handle

    open_handle(ctx)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Run the CLI; a Flowwright error or a bad setting is one line on stderr, never a traceback."""
    import sys

    from pydantic import ValidationError

    from engine.errors import FlowwrightError

    try:
        app()
    except FlowwrightError as exc:
        sys.stderr.write(f"error: {exc.message} [{exc.code}]\n")
        sys.exit(1)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        for err in exc.errors(include_url=False):
            name = "FLOWWRIGHT_" + "_".join(str(p) for p in err.get("loc", ())).upper()
            sys.stderr.write(f"error: invalid setting {name}: {err.get('msg')}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
