"""`flowwright credentials connect|refresh|providers`: OAuth 2.0 credentials.

``connect`` runs the authorization-code flow with PKCE (it prints the URL to open and listens on a
loopback redirect, ``http://127.0.0.1:PORT/callback``) or, with ``--grant client_credentials``,
asks for a token at once; the tokens go into the vault (type ``oauth2``). The client secret is
never taken from argv: it comes from stdin or a hidden prompt (``--public`` for a PKCE-only
client that has none).
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.container import container
from app.cli.output import console, err_console, fail, print_json

if TYPE_CHECKING:
    from connectors.oauth_providers import Provider
    from connectors.oauth_tokens import TokenManager

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace id.")]
GRANTS = ("authorization_code", "client_credentials")


def register(credentials_app: typer.Typer) -> None:
    """Add the OAuth commands to the ``credentials`` group."""
    credentials_app.command("connect")(credentials_connect)
    credentials_app.command("refresh")(credentials_refresh)
    credentials_app.command("providers")(credentials_providers)


def _tokens() -> TokenManager:
    built = container()
    try:
        tokens = built.token_manager
    except Exception as exc:  # unreadable data dir, database or key: one line, no traceback
        fail(f"cannot open the credential vault: {exc}")
    assert tokens is not None  # the CLI's container always has a vault
    return tokens


def _provider(name: str | None, authorize_url: str | None, token_url: str | None,
              scopes: list[str]) -> Provider:
    from connectors.errors import CredentialError
    from connectors.oauth_providers import custom_provider

    try:
        providers = container(database=False).oauth_providers
        if name is not None and name in providers:
            return providers[name].with_overrides(authorize_url=authorize_url, token_url=token_url,
                                                  scopes=tuple(scopes) or None)
        if token_url is None:
            known = ", ".join(sorted(providers))
            fail(f"unknown provider {name!r} (known: {known}); or give --token-url (and --authorize-url)"
                 if name is not None else f"give --provider (one of {known}) or --token-url")
        return custom_provider(name or "custom", token_url=token_url, authorize_url=authorize_url,
                               scopes=tuple(scopes))
    except CredentialError as exc:
        fail(exc.message)


def _client_secret(public: bool) -> str | None:
    """The client secret from stdin, or a hidden prompt on a terminal (``None`` for a public client)."""
    if public:
        return None
    if not sys.stdin.isatty():
        secret = sys.stdin.readline().strip()
        if not secret:
            fail("no client secret on stdin (pipe it, or pass --public for a client without one)")
        return secret
    value = typer.prompt("client secret", hide_input=True)
    return str(value).strip() or None


async def _code_flow(provider: Provider, tokens: TokenManager, *, client_id: str, client_secret: str | None,
                     port: int, timeout: float) -> dict[str, Any]:
    from connectors.oauth import LoopbackRedirect, authorization_url, exchange_code

    async with LoopbackRedirect(port) as redirect:
        pending = authorization_url(provider, tokens.http, client_id=client_id, redirect_uri=redirect.redirect_uri)
        redirect.expect(pending.state)
        err_console.print(f"Open this URL in a browser to grant access (waiting up to {timeout:g} s for the "
                          f"redirect to {redirect.redirect_uri}):", markup=False)
        sys.stdout.write(pending.url + "\n")
        sys.stdout.flush()
        code = await redirect.wait(timeout)
    return await exchange_code(provider, tokens.http, pending, code, client_id=client_id, client_secret=client_secret)


def credentials_connect(
    name: Annotated[str, typer.Argument(help="Credential name (letters, digits, _ . -).")],
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="A provider (see `credentials "
                                                 "providers`), or a name for --token-url.")] = None,
    client_id: Annotated[str, typer.Option("--client-id", help="The OAuth client id registered with the "
                                           "provider.")] = "",
    grant: Annotated[str, typer.Option("--grant", help="authorization_code (a person consents in a browser) "
                                       "or client_credentials.")] = "authorization_code",
    scope: Annotated[list[str] | None, typer.Option("--scope", "-s", help="A scope (repeat; default: the "
                                                    "provider's).")] = None,
    authorize_url: Annotated[str | None, typer.Option("--authorize-url", help="Authorization endpoint (a provider "
                                                      "not in the list).")] = None,
    token_url: Annotated[str | None, typer.Option("--token-url", help="Token endpoint (a provider not in the "
                                                  "list).")] = None,
    public: Annotated[bool, typer.Option("--public", help="A public client: no client secret (PKCE only).")] = False,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Loopback redirect port (0: any free "
                                      "one; some providers need the registered one).")] = 0,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait for the browser.")] = 300,
    workspace: WorkspaceOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Connect an OAuth 2.0 app: tokens are stored encrypted and refreshed ahead of expiry."""
    from connectors.errors import CredentialError
    from connectors.oauth import client_credentials
    from connectors.vault import NAME_PATTERN

    if not re.match(NAME_PATTERN, name):
        fail(f"invalid credential name {name!r}: letters, digits, '_', '.', '-' (at most 128)")
    if grant not in GRANTS:
        fail(f"--grant must be one of {', '.join(GRANTS)}, not {grant!r}")
    if not client_id.strip():
        fail("--client-id is required (the id of the app registered with the provider)")
    if grant == "client_credentials" and public:
        fail("--grant client_credentials needs a client secret (drop --public)")
    chosen = _provider(provider, authorize_url, token_url, list(scope or []))
    if grant == "authorization_code" and not chosen.authorize_url:
        fail(f"provider {chosen.name!r} has no authorization endpoint: give --authorize-url, or use "
             "--grant client_credentials")
    secret = _client_secret(public)
    tokens = _tokens()
    try:
        if grant == "client_credentials":
            assert secret is not None
            credential = asyncio.run(client_credentials(chosen, tokens.http, client_id=client_id, client_secret=secret))
        else:
            credential = asyncio.run(_code_flow(chosen, tokens, client_id=client_id, client_secret=secret,
                                                port=port, timeout=timeout))
        state = tokens.save(workspace, name, credential)
    except CredentialError as exc:
        fail(exc.message)
    except OSError as exc:  # the loopback port is taken
        fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}")
    if as_json:
        print_json(state.to_dict())
        return
    expires = state.to_dict()["expires_at"] or "never"
    console.print(f"[green]✓[/] credential [bold]{name}[/] (oauth2, {chosen.name}) connected in workspace "
                  f"{workspace}; the access token expires {expires}"
                  + ("" if state.refreshable else " and cannot be refreshed (no refresh token)"))


def credentials_refresh(name: Annotated[str, typer.Argument(help="Credential name.")],
                        workspace: WorkspaceOpt = "default", as_json: JsonOpt = False) -> None:
    """Refresh an OAuth 2.0 credential's access token now."""
    from engine.errors import FlowwrightError

    tokens = _tokens()
    try:
        state = asyncio.run(tokens.refresh_now(workspace, name))
    except FlowwrightError as exc:  # not an OAuth credential, or the provider said no
        fail(exc.message)
    if as_json:
        print_json(state.to_dict())
        return
    console.print(f"[green]✓[/] credential [bold]{name}[/] refreshed; the access token expires "
                  f"{state.to_dict()['expires_at'] or 'never'}")


def credentials_providers(as_json: JsonOpt = False) -> None:
    """The OAuth 2.0 providers `credentials connect --provider` knows (FLOWWRIGHT_OAUTH_PROVIDERS_FILE adds more)."""
    from connectors.errors import CredentialError

    try:
        providers = container(database=False).oauth_providers
    except CredentialError as exc:
        fail(exc.message)
    rows = [p.to_dict() for p in providers.values()]
    if as_json:
        print_json(rows)
        return
    for p in rows:
        grants = "code+PKCE, client credentials" if p["authorize_url"] else "client credentials"
        console.print(f"[bold]{p['name']}[/]\t{p['title']}\t[dim]{grants}; scopes {' '.join(p['scopes']) or '-'}[/]")
