"""The OAuth 2.0 protocol: the authorization-code flow with PKCE over a loopback redirect, client
credentials, and refresh — the messages built by authlib (grant URI, token requests, client
authentication, the S256 challenge), sent with Flowwright's own httpx client.

Tokens are requested through the same host policy as every connector (the SSRF guard of
``connectors.ssrf``), so a token URL on a private address needs ``FLOWWRIGHT_HTTP_ALLOW_HOSTS``.
What a flow returns is the *credential* the vault stores (type ``oauth2``)::

    {"access_token", "token_type", "refresh_token", "expires_at" (Unix seconds), "scope",
     "grant": "authorization_code" | "client_credentials", "provider", "token_url",
     "client_id", "client_secret", "token_auth"}

Steps never see the refresh token or the client secret: :meth:`TokenManager.resolve
<connectors.oauth_tokens.TokenManager.resolve>` hands them the access token only.
"""

from __future__ import annotations

import asyncio
import html
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from connectors.errors import ConnectorError, CredentialError
from connectors.oauth_providers import Provider
from connectors.ssrf import HttpClients

CALLBACK_PATH = "/callback"
SECRET_FIELDS = ("refresh_token", "client_secret")  # never handed to a step


class OAuthFlowError(CredentialError):
    """An OAuth flow or refresh failed. ``permanent`` means another attempt cannot help (the
    provider refused the grant: a revoked refresh token, a wrong client secret)."""

    code = "oauth_failed"

    def __init__(self, message: str, *, permanent: bool, **details: Any) -> None:
        super().__init__(message, **details)
        self.permanent = permanent


@dataclass(frozen=True)
class PendingAuthorization:
    """An authorization-code flow waiting for its callback."""

    url: str
    state: str
    code_verifier: str | None
    redirect_uri: str


def authorization_url(provider: Provider, http: HttpClients, *, client_id: str, redirect_uri: str,
                      scopes: tuple[str, ...] = ()) -> PendingAuthorization:
    """The URL a person opens to grant access (with a random ``state`` and a PKCE S256 challenge)."""
    del http  # the person's browser opens it, not Flowwright
    if not provider.authorize_url:
        raise CredentialError(f"provider {provider.name!r} has no authorize_url (client credentials only?)",
                              code="oauth_provider_invalid")
    verifier = generate_token(64) if provider.pkce else None
    state = secrets.token_urlsafe(24)
    extra: dict[str, str] = dict(provider.authorize_params)
    if verifier is not None:
        extra.update(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    url = prepare_grant_uri(provider.authorize_url, client_id, "code", redirect_uri=redirect_uri,
                            scope=provider.scope_text(scopes) or None, state=state, **extra)
    return PendingAuthorization(url=str(url), state=state, code_verifier=verifier, redirect_uri=redirect_uri)


async def _token_request(provider: Provider, http: HttpClients, *, client_id: str, client_secret: str | None,
                         grant_type: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
    """POST to the token endpoint (client authenticated as the provider says) and parse the answer."""
    body = prepare_token_request(grant_type, **{k: v for k, v in params.items() if v is not None})
    method = provider.token_auth if client_secret else "none"
    auth = ClientAuth(client_id, client_secret or "", method)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    url, headers, body = auth.prepare("POST", provider.token_url, headers, body)
    try:
        async with http.client(timeout=timeout, follow_redirects=False) as client:
            response = await client.post(url, content=body.encode(), headers=headers)
    except Exception as exc:
        raise _failure(exc, provider.name) from None
    try:
        data = response.json()
    except ValueError:
        data = dict(parse_qsl(response.text)) if "=" in response.text else None  # GitHub's form answers
    if isinstance(data, dict) and data.get("error"):
        raise _refused(provider.name, str(data["error"]), data.get("error_description"), response.status_code)
    if not response.is_success or not isinstance(data, dict):
        status = response.status_code
        raise OAuthFlowError(f"{provider.name}: the token endpoint answered {status}",
                             permanent=400 <= status < 500 and status not in (408, 429), status_code=status)
    return data


def _refused(provider: str, error: str, description: Any, status: int) -> OAuthFlowError:
    # invalid_grant / invalid_client / ...: the provider said no, and retrying cannot change that
    permanent = error in ("invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope",
                          "unsupported_grant_type", "invalid_request")
    return OAuthFlowError(f"{provider}: the token endpoint refused (HTTP {status}): {error}"
                          + (f" ({description})" if description else ""),
                          permanent=permanent, oauth_error=error, status_code=status)


def _credential(token: Mapping[str, Any], provider: Provider, *, grant: str, client_id: str,
                client_secret: str | None, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if not token.get("access_token"):
        raise OAuthFlowError(f"{provider.name}: the token response has no access_token", permanent=True)
    expires_at = token.get("expires_at")
    if expires_at is None and token.get("expires_in") is not None:
        expires_at = time.time() + float(token["expires_in"])
    refresh = token.get("refresh_token") or (previous or {}).get("refresh_token")  # kept if not rotated
    out: dict[str, Any] = {
        "access_token": str(token["access_token"]), "token_type": str(token.get("token_type") or "Bearer"),
        "expires_at": float(expires_at) if expires_at is not None else None, "scope": token.get("scope"),
        "grant": grant, "provider": provider.name, "token_url": provider.token_url, "client_id": client_id,
        "client_secret": client_secret or None, "token_auth": provider.token_auth,
    }
    if refresh:
        out["refresh_token"] = str(refresh)
    return out


def _failure(exc: Exception, provider: str) -> OAuthFlowError:
    if isinstance(exc, ConnectorError):  # the SSRF guard refusing the token URL
        return OAuthFlowError(f"{provider}: {exc.message}", permanent=not exc.retryable)
    if isinstance(exc, httpx.HTTPError):
        return OAuthFlowError(f"{provider}: cannot reach the token endpoint: {type(exc).__name__}: {exc}",
                              permanent=False)
    raise exc


async def exchange_code(provider: Provider, http: HttpClients, pending: PendingAuthorization, code: str, *,
                        client_id: str, client_secret: str | None) -> dict[str, Any]:
    """Trade the callback's ``code`` (with the PKCE verifier) for tokens; returns the credential."""
    token = await _token_request(provider, http, client_id=client_id, client_secret=client_secret,
                                 grant_type="authorization_code", code=code, redirect_uri=pending.redirect_uri,
                                 code_verifier=pending.code_verifier)
    return _credential(token, provider, grant="authorization_code", client_id=client_id, client_secret=client_secret)


async def client_credentials(provider: Provider, http: HttpClients, *, client_id: str, client_secret: str,
                             scopes: tuple[str, ...] = ()) -> dict[str, Any]:
    """A token for the client itself (no person involved); returns the credential."""
    token = await _token_request(provider, http, client_id=client_id, client_secret=client_secret,
                                 grant_type="client_credentials", scope=provider.scope_text(scopes) or None)
    return _credential(token, provider, grant="client_credentials", client_id=client_id, client_secret=client_secret)


def provider_of(credential: Mapping[str, Any]) -> Provider:
    """The provider a stored credential refreshes against (its own copy of the token URL)."""
    return Provider(name=str(credential.get("provider") or "oauth2"), title=str(credential.get("provider") or ""),
                    token_url=str(credential["token_url"]),
                    token_auth=str(credential.get("token_auth") or "client_secret_post"))


def refreshable(credential: Mapping[str, Any]) -> bool:
    """Whether a stored credential can get a new access token without a person."""
    if not credential.get("token_url") or not credential.get("client_id"):
        return False
    return bool(credential.get("refresh_token")) or (
        credential.get("grant") == "client_credentials" and bool(credential.get("client_secret")))


async def refresh(credential: Mapping[str, Any], http: HttpClients) -> dict[str, Any]:
    """A new access token for a stored credential (refresh grant, or client credentials again)."""
    if not refreshable(credential):
        raise OAuthFlowError("this credential has no refresh token; connect it again", permanent=True)
    provider = provider_of(credential)
    client_id = str(credential["client_id"])
    secret = credential.get("client_secret")
    if credential.get("grant") == "client_credentials" and not credential.get("refresh_token"):
        scope = credential.get("scope")
        return await client_credentials(provider, http, client_id=client_id, client_secret=str(secret),
                                        scopes=tuple(str(scope).split()) if scope else ())
    token = await _token_request(provider, http, client_id=client_id, client_secret=str(secret) if secret else None,
                                 grant_type="refresh_token", refresh_token=str(credential["refresh_token"]))
    return _credential(token, provider, grant=str(credential.get("grant") or "authorization_code"),
                       client_id=client_id, client_secret=str(secret) if secret else None, previous=credential)


class LoopbackRedirect:
    """A one-shot HTTP listener on 127.0.0.1 that receives the authorization callback.

    ``async with LoopbackRedirect() as redirect:`` then ``redirect.redirect_uri`` goes into the
    authorization URL, ``redirect.expect(state)`` before the URL is shown, and ``await
    redirect.wait(timeout)`` returns the code. A request with another ``state`` is answered 400
    and ignored (it cannot end the flow).
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[dict[str, str]] | None = None
        self._state: str | None = None

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    async def __aenter__(self) -> LoopbackRedirect:
        self._result = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def expect(self, state: str) -> None:
        """Accept only the callback carrying ``state`` (the running flow's)."""
        self._state = state

    async def wait(self, timeout: float) -> str:
        """The authorization code of the expected callback."""
        assert self._result is not None
        try:
            params = await asyncio.wait_for(asyncio.shield(self._result), timeout)
        except TimeoutError:
            raise OAuthFlowError(f"no authorization arrived within {timeout:g} s", permanent=True) from None
        if "error" in params:
            raise OAuthFlowError(f"authorization refused: {params['error']}"
                                 + (f" ({params['error_description']})" if params.get("error_description") else ""),
                                 permanent=True, oauth_error=params["error"])
        return params["code"]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1")
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass  # headers: nothing in them matters
            parts = request_line.split()
            target = urlsplit(parts[1]) if len(parts) >= 2 else urlsplit("/")
            params = {k: v[0] for k, v in parse_qs(target.query).items()}
            if target.path != CALLBACK_PATH:
                status, text = 404, "Not found."
            elif self._state is None or params.get("state") != self._state or not (params.get("code") or params.get("error")):
                status, text = 400, "This authorization response does not belong to the running flow."
            else:
                status, text = 200, ("Flowwright is connected. You can close this tab." if "code" in params
                                     else f"Authorization refused: {params.get('error')}")
                if self._result is not None and not self._result.done():
                    self._result.set_result(params)
            body = f"<!doctype html><title>Flowwright</title><p>{html.escape(text)}</p>".encode()
            writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: text/html; "
                         f"charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


__all__ = ["LoopbackRedirect", "OAuthFlowError", "PendingAuthorization", "authorization_url", "client_credentials",
           "exchange_code", "provider_of", "refresh", "refreshable"]
