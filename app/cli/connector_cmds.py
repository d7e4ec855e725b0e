"""`flowwright connectors [show NAME|import SPEC|delete NAME]`, `credentials set|list|delete`
(OAuth 2.0's `credentials connect|refresh|providers` are in ``app/cli/oauth_cmds.py``), `keys rotate`.

Secrets are never taken from argv: ``credentials set`` reads them from stdin (a JSON object or
one value) or, on a terminal, prompts with hidden input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.container import container
from app.cli.output import console, err_console, fail, print_json

if TYPE_CHECKING:
    from connectors.registry import Registry
    from connectors.vault import KeySource, Vault

connectors_app = typer.Typer(help="The connectors and their operations.", invoke_without_command=True)
credentials_app = typer.Typer(help="Encrypted credentials of a workspace (names and types only are shown).",
                              no_args_is_help=True)
keys_app = typer.Typer(help="The master key that protects the credential vault.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace id.")]


def register(app: typer.Typer) -> None:
    connectors_app.callback()(connectors_list)
    connectors_app.command("show")(connectors_show)
    connectors_app.command("import")(connectors_import)
    connectors_app.command("delete")(connectors_delete)
    credentials_app.command("set")(credentials_set)
    credentials_app.command("list")(credentials_list)
    credentials_app.command("delete")(credentials_delete)
    from app.cli import oauth_cmds

    oauth_cmds.register(credentials_app)
    keys_app.command("rotate")(keys_rotate)
    app.add_typer(connectors_app, name="connectors")
    app.add_typer(credentials_app, name="credentials")
    app.add_typer(keys_app, name="keys")


# --- connectors -----------------------------------------------------------------------------------

def _registry(workspace: str) -> Registry:
    """The catalog as ``workspace`` sees it: built-ins, plugins and its imported connectors."""
    registry = container(vault=False).registry
    try:
        return registry.for_workspace(workspace)
    except Exception as exc:  # an unreadable table: one line, no traceback
        fail(f"cannot read the imported connectors: {exc}")


def connectors_list(ctx: typer.Context, as_json: JsonOpt = False, workspace: WorkspaceOpt = "default") -> None:
    """List the connectors (built-ins, plugins, the workspace's imported ones); --json prints the
    whole catalog with JSON Schemas."""
    if ctx.invoked_subcommand is not None:
        return
    registry = _registry(workspace)
    if as_json:
        print_json(registry.catalog())
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("connector", "auth", "operations", "description"):
        table.add_column(column)
    for c in registry:
        ops = ", ".join(op.name + ("*" if op.destructive else "") for op in c.operations)
        table.add_row(f"{c.icon} [bold]{escape(c.name)}[/]", str(c.auth), escape(ops), escape(c.description))
    console.print(table)
    console.print("[dim]* destructive (guarded by an approval step). `flowwright connectors show NAME` "
                  "prints input schemas.[/]")


def connectors_show(name: Annotated[str, typer.Argument(help="Connector name.")], as_json: JsonOpt = False,
                    workspace: WorkspaceOpt = "default") -> None:
    """Print a connector's operations with their input schemas."""
    from rich.markup import escape

    registry = _registry(workspace)
    connector = registry.get(name)
    if connector is None:
        hint = registry.suggest_connector(name)
        fail(f"no connector named {name!r}" + (f"; did you mean {hint!r}?" if hint else
                                              f" (known: {', '.join(registry.names())})"))
    entry = next(c for c in registry.catalog() if c["name"] == name)
    if as_json:
        print_json(entry)
        return
    console.print(f"{connector.icon} [bold]{escape(connector.name)}[/] — {escape(connector.title)} "
                  f"(auth: {connector.auth})")
    console.print(escape(connector.description))
    if connector.credential_fields:
        console.print("[bold]credential fields[/]")
        for field, description in connector.credential_fields.items():
            console.print(f"  [cyan]{field}[/]: {escape(description)}")
    for op in entry["operations"]:
        flags = [f for f, on in (("idempotent", op["idempotent"]), ("external", op["external"]),
                                 ("internal", not op["external"]), ("destructive", op["destructive"])) if on]
        console.print(f"\n[bold]{escape(name)}.{escape(op['name'])}[/] [dim]({', '.join(flags)})[/]")
        console.print(escape(op["description"]))
        console.print_json(json.dumps(op["input_schema"]))


def connectors_import(
    spec: Annotated[Path, typer.Argument(help="An OpenAPI 3.x document (YAML or JSON).")],
    name: Annotated[str | None, typer.Option("--name", help="Connector name (default: from info.title).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Base URL (default: the first of servers).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a connector of the same name.")] = False,
    workspace: WorkspaceOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Import an OpenAPI document as a connector of the workspace: one operation per operationId."""
    from rich.markup import escape

    from connectors.openapi_schema import SpecInvalidError

    try:
        data = spec.read_bytes()
    except FileNotFoundError:
        fail(f"{spec}: no such file")
    except (IsADirectoryError, PermissionError) as exc:
        fail(f"{spec}: cannot read: {exc}")
    store = container(vault=False).connector_store
    try:
        result = store.import_document(workspace, data, name=name, base_url=base_url, replace=replace)
    except SpecInvalidError as exc:
        if as_json:
            print_json({"error": exc.to_dict()})
        err_console.print(f"[bold red]✗ {escape(str(spec))}: cannot be imported ({len(exc.problems)} problem(s))[/]")
        for p in exc.problems:
            err_console.print(f"  [cyan]{escape(p.path)}[/]: {escape(p.message)}")
        raise typer.Exit(1) from None
    connector = result.connector
    if as_json:
        print_json({"name": connector.name, "title": connector.title, "base_url": result.base_url,
                    "auth": str(connector.auth), "operations": [op.name for op in connector.operations],
                    "skipped": result.skipped})
        return
    console.print(f"[green]✓[/] connector [bold]{escape(connector.name)}[/] ({len(connector.operations)} operations, "
                  f"auth {connector.auth}, {escape(result.base_url)}) imported into workspace {escape(workspace)}")
    for op in connector.operations:
        console.print(f"  {connector.name}.{op.name}", markup=False)
    for where, why in result.skipped.items():
        console.print(f"  skipped {where}: {why}", markup=False, style="yellow")


def connectors_delete(name: Annotated[str, typer.Argument(help="Imported connector name.")],
                      workspace: WorkspaceOpt = "default") -> None:
    """Delete an imported connector (workflows that use it stop validating)."""
    from engine.errors import NotFoundError

    try:
        container(vault=False).connector_store.delete(workspace, name)
    except NotFoundError as exc:
        fail(exc.message)
    err_console.print(f"[green]✓[/] connector [bold]{name}[/] deleted from workspace {workspace}", markup=True)


# --- credentials ----------------------------------------------------------------------------------

def _vault() -> tuple[Vault, KeySource]:
    built = container()
    try:
        vault, source = built.vault, built.key_source
    except Exception as exc:  # unreadable data dir, database or key: one line, no traceback
        fail(f"cannot open the credential vault: {exc}")
    assert vault is not None  # the CLI's container always has one
    return vault, source


def _read_secret(type_: str) -> Any:
    """The secret from stdin (JSON object or one value), or hidden prompts on a terminal."""
    from connectors.contract import AuthType
    from connectors.vault import REQUIRED_FIELDS, SINGLE_VALUE_FIELD

    auth = AuthType(type_)
    if not sys.stdin.isatty():
        raw = sys.stdin.read()
        text = raw.strip()
        if not text:
            fail("no secret on stdin (pipe a JSON object or a single value)")
        if text.startswith("{"):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                fail(f"stdin:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}")
        return raw.rstrip("\r\n")
    if auth in SINGLE_VALUE_FIELD:
        return typer.prompt(SINGLE_VALUE_FIELD[auth].replace("_", " "), hide_input=True)
    secret: dict[str, Any] = {}
    for field in REQUIRED_FIELDS[auth]:
        hidden = field not in ("username", "host")
        secret[field] = typer.prompt(field, hide_input=hidden)
    if auth is AuthType.SMTP:
        for field, default in (("port", ""), ("username", ""), ("password", ""), ("security", "starttls"),
                               ("from", "")):
            value = typer.prompt(field, default=default, show_default=bool(default),
                                 hide_input=field == "password")
            if value:
                secret[field] = int(value) if field == "port" and value.isdigit() else value
    return secret


def credentials_set(
    name: Annotated[str, typer.Argument(help="Credential name (letters, digits, _ . -).")],
    type_: Annotated[str, typer.Option("--type", "-t", help="none | api_key | basic | oauth2 | smtp | url")],
    workspace: WorkspaceOpt = "default",
) -> None:
    """Store (or replace) a credential. The secret comes from stdin, or a hidden prompt — never argv."""
    from connectors.contract import AuthType
    from connectors.errors import CredentialError

    if type_ not in {a.value for a in AuthType}:
        fail(f"unknown credential type {type_!r}; expected one of {', '.join(a.value for a in AuthType)}")
    secret = _read_secret(type_)
    vault, _source = _vault()
    try:
        info = vault.set(workspace, name, type_, secret)
    except CredentialError as exc:
        fail(exc.message)
    tokens = container().token_manager
    if tokens is not None:  # set by hand: not an OAuth connection, never refreshed
        tokens.forget(workspace, name)
    container().cli_audit(workspace)("credential.set", "credential", info.name, type=info.type)
    err_console.print(f"[green]✓[/] credential [bold]{info.name}[/] ({info.type}) saved in workspace {workspace}")


def credentials_list(workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """List credential names and types (never secrets); OAuth 2.0 ones with their status."""
    vault, _source = _vault()
    items = vault.list(workspace)
    tokens = container().token_manager
    states = {s.name: s.to_dict() for s in tokens.states(workspace)} if tokens is not None else {}
    if as_json:
        print_json([{**i.to_dict(), **({"oauth": states[i.name]} if i.name in states else {})} for i in items])
        return
    if not items:
        console.print(f"no credentials in workspace {workspace}")
        return
    for i in items:
        oauth = states.get(i.name)
        extra = f"\t{oauth['provider']}: {oauth['status']}, expires {oauth['expires_at'] or 'never'}" if oauth else ""
        style = "red" if oauth and oauth["status"] == "needs_reauth" else "dim"
        console.print(f"{i.name}\t{i.type}{extra}\t[{style}]updated {i.updated_at:%Y-%m-%d %H:%M}[/]")


def credentials_delete(name: Annotated[str, typer.Argument(help="Credential name.")],
                       workspace: WorkspaceOpt = "default") -> None:
    """Delete a credential."""
    from engine.errors import NotFoundError

    vault, _source = _vault()
    try:
        vault.delete(workspace, name)
    except NotFoundError as exc:
        fail(exc.message)
    tokens = container().token_manager
    if tokens is not None:
        tokens.forget(workspace, name)
    container().cli_audit(workspace)("credential.deleted", "credential", name)
    err_console.print(f"[green]✓[/] credential [bold]{name}[/] deleted")


def keys_rotate(as_json: JsonOpt = False) -> None:
    """Re-encrypt every credential under a new master key; old keys keep working until it finishes."""
    from connectors.errors import CredentialError
    from connectors.vault import rotate

    vault, source = _vault()
    env_managed = not source.file_managed
    if env_managed and not source.previous_keys and vault.pending() == 0:
        fail("the master key comes from FLOWWRIGHT_SECRET_KEY: set it to the new key and "
             "FLOWWRIGHT_PREVIOUS_SECRET_KEYS to the old one, then run `flowwright keys rotate` again")
    try:
        active, count = rotate(vault, source)
    except CredentialError as exc:
        fail(exc.message)
    if as_json:
        print_json({"key_id": active, "resealed": count, "key_source": "env" if env_managed else "file"})
        return
    console.print(f"[green]✓[/] {count} credential(s) re-encrypted under key {active}")
    if env_managed:
        console.print("now remove the old key from FLOWWRIGHT_PREVIOUS_SECRET_KEYS")
