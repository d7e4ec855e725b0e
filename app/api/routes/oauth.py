"""OAuth 2.0 credentials over the API: connect (code flow with PKCE, or client credentials), the
provider's redirect back, refresh, state.

``POST /v1/credentials/{name}/connect`` with ``grant: authorization_code`` answers the URL a person
opens; the provider sends the browser back to ``GET /v1/oauth/callback`` on this service, which
trades the code for tokens and stores them (the ``state`` parameter — random, single use, ten
minutes — is the capability, so the callback is the one route of these that needs no API key). Pending flows live in
this process's memory: a restart between the two requests means connecting again.
"""

from __future__ import annotations

import asyncio
import html
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from app.api.deps import AdminDep, AuditDep, ContainerDep, EditorDep, ViewerDep
from connectors.errors import CredentialError
from connectors.oauth import PendingAuthorization, authorization_url, client_credentials, exchange_code
from connectors.oauth_providers import Provider, custom_provider
from connectors.oauth_tokens import TokenManager
from connectors.vault import NAME_PATTERN
from engine.audit_log import AuditTrail
from engine.errors import FlowwrightError, NotFoundError

router = APIRouter(tags=["credentials"])

PENDING_TTL_S = 600.0
MAX_PENDING = 1000


class OAuthRequestError(FlowwrightError):
    status = 422
    code = "oauth_request_invalid"


class OAuthUnavailableError(FlowwrightError):
    status = 503
    code = "vault_unavailable"


class ConnectIn(BaseModel):
    grant: Literal["authorization_code", "client_credentials"] = "authorization_code"
    provider: str | None = Field(None, description="A provider of GET /v1/oauth/providers, or a name for token_url.")
    client_id: str = Field(min_length=1, max_length=512)
    client_secret: str | None = Field(None, max_length=4096, description="Absent for a public (PKCE-only) client.")
    scopes: list[str] = Field(default_factory=list, max_length=100)
    authorize_url: str | None = Field(None, max_length=2048)
    token_url: str | None = Field(None, max_length=2048)
    redirect_uri: str | None = Field(None, max_length=2048, description="Where the provider sends the browser back "
                                     "(default: this service's /v1/oauth/callback as the request reached it).")


@dataclass
class _Pending:
    workspace_id: str
    name: str
    provider: Provider
    client_id: str
    client_secret: str | None
    authorization: PendingAuthorization
    created: float
    audit: AuditTrail  # who asked for the connection (recorded when the provider's redirect completes it)


def _pending(request: Request) -> dict[str, _Pending]:
    table: dict[str, _Pending] | None = getattr(request.app.state, "oauth_pending", None)
    if table is None:
        table = request.app.state.oauth_pending = {}
    now = time.monotonic()
    for state in [s for s, p in table.items() if now - p.created > PENDING_TTL_S]:
        del table[state]
    return table


def _tokens(container: Any) -> TokenManager:
    tokens: TokenManager | None = container.token_manager
    if tokens is None:
        raise OAuthUnavailableError("the credential vault is not available")
    return tokens


def _provider(container: Any, body: ConnectIn) -> Provider:
    try:
        providers: dict[str, Provider] = container.oauth_providers
        if body.provider is not None and body.provider in providers:
            return providers[body.provider].with_overrides(authorize_url=body.authorize_url, token_url=body.token_url,
                                                           scopes=tuple(body.scopes) or None)
        if body.token_url is None:
            raise OAuthRequestError(f"unknown provider {body.provider!r} (known: {', '.join(sorted(providers))}); "
                                    "or give token_url (and authorize_url)", field="provider")
        return custom_provider(body.provider or "custom", token_url=body.token_url, authorize_url=body.authorize_url,
                               scopes=tuple(body.scopes))
    except CredentialError as exc:
        raise OAuthRequestError(exc.message, code=exc.code) from None


def _check_name(name: str) -> None:
    import re

    if not re.match(NAME_PATTERN, name):
        raise OAuthRequestError(f"invalid credential name {name!r}: letters, digits, '_', '.', '-'",
                                code="credential_name_invalid", field="name")


@router.get("/v1/oauth/providers")
async def providers(container: ContainerDep, caller: ViewerDep) -> list[dict[str, Any]]:  # noqa: ARG001
    """The OAuth 2.0 providers shipped (and added by FLOWWRIGHT_OAUTH_PROVIDERS_FILE)."""
    return [p.to_dict() for p in container.oauth_providers.values()]


@router.post("/v1/credentials/{name}/connect")
async def connect(name: str, body: ConnectIn, request: Request, container: ContainerDep,
                  caller: AdminDep, audit: AuditDep) -> dict[str, Any]:
    """Connect an OAuth 2.0 credential (admin, as setting any credential is): client credentials are fetched now (the answer is the
    credential's state); the code flow answers ``authorization_url`` for a person to open."""
    _check_name(name)
    workspace = caller.workspace
    tokens = _tokens(container)
    provider = _provider(container, body)
    if body.grant == "client_credentials":
        if not body.client_secret:
            raise OAuthRequestError("client_credentials needs client_secret", field="client_secret")
        try:
            credential = await client_credentials(provider, tokens.http, client_id=body.client_id,
                                                  client_secret=body.client_secret)
        except CredentialError as exc:
            raise OAuthRequestError(exc.message, code=exc.code) from None
        state = await asyncio.to_thread(tokens.save, workspace, name, credential)
        await asyncio.to_thread(audit, "credential.connected", "credential", name, provider=provider.name,
                                grant="client_credentials")
        return {"status": "connected", "credential": state.to_dict()}
    if not provider.authorize_url:
        raise OAuthRequestError(f"provider {provider.name!r} has no authorize_url", field="authorize_url")
    redirect_uri = body.redirect_uri or str(request.url_for("oauth_callback"))
    authorization = authorization_url(provider, tokens.http, client_id=body.client_id, redirect_uri=redirect_uri)
    table = _pending(request)
    if len(table) >= MAX_PENDING:
        raise OAuthRequestError("too many authorizations are pending; try again in a few minutes",
                                code="oauth_busy")
    table[authorization.state] = _Pending(workspace, name, provider, body.client_id, body.client_secret,
                                          authorization, time.monotonic(), audit)
    return {"status": "pending", "authorization_url": authorization.url, "redirect_uri": redirect_uri,
            "expires_in": int(PENDING_TTL_S)}


def _page(status: int, text: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>Flowwright</title><p>{html.escape(text)}</p>", status_code=status)


@router.get("/v1/oauth/callback", name="oauth_callback", response_class=HTMLResponse)
async def callback(request: Request, container: ContainerDep,
                   state: Annotated[str, Query(max_length=512)] = "",
                   code: Annotated[str | None, Query(max_length=4096)] = None,
                   error: Annotated[str | None, Query(max_length=512)] = None) -> HTMLResponse:
    """The provider's redirect: trades the code for tokens and stores them."""
    flow = _pending(request).pop(state, None) if state else None
    if flow is None:
        return _page(400, "This authorization does not belong to a pending connection (expired or already used).")
    if error is not None or not code:
        return _page(400, f"Authorization refused: {error or 'no code'}. Nothing was stored.")
    tokens = _tokens(container)
    try:
        credential = await exchange_code(flow.provider, tokens.http, flow.authorization, code,
                                         client_id=flow.client_id, client_secret=flow.client_secret)
    except CredentialError as exc:
        return _page(502, f"The provider did not hand out tokens: {exc.message}")
    await asyncio.to_thread(tokens.save, flow.workspace_id, flow.name, credential)
    await asyncio.to_thread(flow.audit, "credential.connected", "credential", flow.name, provider=flow.provider.name,
                            grant="authorization_code")
    return _page(200, f"Flowwright is connected: credential {flow.name} is stored. You can close this tab.")


@router.get("/v1/credentials/{name}/oauth")
async def oauth_state(name: str, container: ContainerDep, caller: EditorDep) -> dict[str, Any]:
    """An OAuth 2.0 credential's state (editor or admin): expiry, whether it refreshes, ``ok`` or
    ``needs_reauth``."""
    found = await asyncio.to_thread(_tokens(container).state, caller.workspace, name)
    if found is None:
        raise NotFoundError(f"no OAuth 2.0 credential {name!r} in workspace {caller.workspace}")
    return found.to_dict()


@router.post("/v1/credentials/{name}/refresh")
async def refresh_now(name: str, container: ContainerDep, caller: EditorDep) -> dict[str, Any]:
    """Refresh an OAuth 2.0 credential's access token now (editor or admin)."""
    try:
        state = await _tokens(container).refresh_now(caller.workspace, name)
    except CredentialError as exc:  # (not found stays a 404)
        raise OAuthRequestError(exc.message, code=exc.code) from None
    return state.to_dict()
