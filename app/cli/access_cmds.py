"""`flowwright workspaces create|list` and `flowwright api-keys create|list|revoke`.

They write straight into the data dir's database (like the first start), so they work before the
service has ever run and need no key themselves: whoever can run them can read the data dir anyway.
A new key's token is printed once — alone on stdout, so ``KEY=$(flowwright api-keys create ...)``
captures it — and is never stored; only its SHA-256 is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape

from app.cli.container import container
from app.cli.output import console, err_console, fail, print_json

if TYPE_CHECKING:
    from app.auth.keys import KeyStore

workspaces_app = typer.Typer(help="Workspaces: each has its own workflows, runs, credentials and keys.",
                             no_args_is_help=True)
keys_app = typer.Typer(help="API keys (Authorization: Bearer fw_…): each belongs to a workspace and has a role.",
                       no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    workspaces_app.command("create")(workspaces_create)
    workspaces_app.command("list")(workspaces_list)
    keys_app.command("create")(keys_create)
    keys_app.command("list")(keys_list)
    keys_app.command("revoke")(keys_revoke)
    app.add_typer(workspaces_app, name="workspaces")
    app.add_typer(keys_app, name="api-keys")


def _store() -> KeyStore:
    return container(vault=False).api_keys


def _checked(action: Callable[[], T]) -> T:
    """``action()``; a refusal (bad name, role or expiry, unknown workspace or key, a duplicate)
    is one line naming the value, exit 1."""
    from engine.errors import FlowwrightError

    try:
        return action()
    except FlowwrightError as exc:
        fail(exc.message)


def workspaces_create(name: Annotated[str, typer.Argument(help="Letters, digits, '_', '.', '-' (up to 64).")],
                      as_json: JsonOpt = False) -> None:
    """Create a workspace (then give it keys with `flowwright api-keys create --workspace NAME`)."""
    created = _checked(lambda: _store().create_workspace(name))
    if as_json:
        print_json({"name": created})
        return
    err_console.print(f"[green]✓[/] workspace [bold]{escape(created)}[/] created; give it a key with "
                      f"`flowwright api-keys create --workspace {escape(created)} --role admin`")


def workspaces_list(as_json: JsonOpt = False) -> None:
    """Every workspace with its number of active keys."""
    rows = _store().workspaces()
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("workspace", "active keys", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(escape(str(row["name"])), str(row["active_keys"]), str(row["created_at"])[:19])
    console.print(table)


def keys_create(
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="The key's workspace (it must exist).")],
    role: Annotated[str, typer.Option("--role", "-r", help="viewer (read), editor (change, run, approve) "
                                      "or admin (credentials, keys).")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="What the key is for (shown in lists).")] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Whose key it is: approvals are recorded "
                                             "under this name (default: the key's name).")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="A duration (30m, 12h, 90d, 2w) or an ISO "
                                                "date; default: never.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a key. Its token is printed once, here, and stored nowhere (only its hash is)."""
    from app.auth.keys import parse_expiry
    from app.auth.models import DEFAULT_WORKSPACE

    if workspace == DEFAULT_WORKSPACE:  # the one every data dir has (the first start makes it too)
        _store().ensure_workspace(workspace)
    expires_at = _checked(lambda: parse_expiry(expires)) if expires is not None else None
    issued = _checked(lambda: _store().issue(workspace, role, name=name, user=user, expires_at=expires_at))
    container(vault=False).cli_audit(workspace)("api_key.created", "api_key", issued.info.id, role=issued.info.role,
                                                user=issued.info.user)
    if as_json:
        print_json({**issued.info.to_dict(), "token": issued.token})
        return
    info = issued.info
    until = f", expires {info.expires_at.isoformat()}" if info.expires_at else ""
    err_console.print(f"[green]✓[/] {info.role} key {info.id} ({escape(info.name)}, user {escape(info.user)}) for "
                      f"workspace {escape(info.workspace)}{until}. The token, shown this once:")
    typer.echo(issued.token)


def keys_list(
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Only this workspace's keys.")] = None,
    active: Annotated[bool, typer.Option("--active", help="Leave out revoked keys.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The keys (id, workspace, role, user, state, last use) — never a token."""
    infos = _store().list(workspace, include_revoked=not active)
    if as_json:
        print_json([k.to_dict() for k in infos])
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("id", "workspace", "role", "name", "user", "state", "expires", "last used"):
        table.add_column(column)
    for k in infos:
        row = k.to_dict()
        table.add_row(k.id, escape(k.workspace), k.role, escape(k.name), escape(k.user), row["state"],
                      _when(row["expires_at"], "never"), _when(row["last_used_at"], "—"))
    console.print(table)


def _when(iso: str | None, absent: str) -> str:
    return iso[:16].replace("T", " ") if iso else absent


def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id (fw_<id>_…) or the token itself.")],
                workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Refuse unless the key "
                                                              "belongs to this workspace.")] = None,
                as_json: JsonOpt = False) -> None:
    """Revoke a key: it stops working at once (a running service checks every request)."""
    info = _checked(lambda: _store().revoke(key, workspace=workspace))
    container(vault=False).cli_audit(info.workspace)("api_key.revoked", "api_key", info.id)
    if as_json:
        print_json(info.to_dict())
        return
    err_console.print(f"[green]✓[/] key {info.id} ({escape(info.name)}, workspace {escape(info.workspace)}) revoked")
