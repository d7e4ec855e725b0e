"""The OAuth 2.0 flows against a real authorization server on loopback (authlib on both sides):
the code flow with PKCE through the loopback redirect, client credentials, refresh, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.errors import SsrfBlockedError
from connectors.oauth import (
    LoopbackRedirect,
    OAuthFlowError,
    authorization_url,
    client_credentials,
    exchange_code,
    refresh,
)
from connectors.oauth_providers import Provider, custom_provider, load_providers
from connectors.services import HttpClients
from tests.connectors.oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer

ALLOW = HttpClients.allowing(["127.0.0.1"])


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    yield server
    server.stop()


def provider(server: OAuthServer) -> Provider:
    return custom_provider("test", authorize_url=f"{server.url}/authorize", token_url=f"{server.url}/token",
                           scopes=("read",))


async def browser(url: str) -> httpx.Response:
    """The person: opens the URL, the server consents and redirects to the loopback listener."""
    async with httpx.AsyncClient(follow_redirects=True, trust_env=False) as client:
        return await client.get(url)


async def test_code_flow_with_pkce_over_the_loopback_redirect(oauth_server: OAuthServer) -> None:
    p = provider(oauth_server)
    async with LoopbackRedirect() as redirect:
        pending = authorization_url(p, ALLOW, client_id=CLIENT_ID, redirect_uri=redirect.redirect_uri)
        redirect.expect(pending.state)
        query = parse_qs(urlsplit(pending.url).query)
        assert query["code_challenge_method"] == ["S256"] and query["state"] == [pending.state]
        assert query["redirect_uri"] == [redirect.redirect_uri] and query["scope"] == ["read"]
        page, code = await asyncio.gather(browser(pending.url), redirect.wait(timeout=10))
        assert page.status_code == 200 and "connected" in page.text
    credential = await exchange_code(p, ALLOW, pending, code, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert credential["access_token"] and credential["refresh_token"] and credential["expires_at"] > 0
    assert credential["grant"] == "authorization_code" and credential["token_url"] == f"{oauth_server.url}/token"
    sent = oauth_server.state.token_requests[-1]
    assert sent["grant_type"] == "authorization_code" and len(sent["code_verifier"]) >= 43  # PKCE verifier sent
    renewed = await refresh(credential, ALLOW)
    assert renewed["access_token"] != credential["access_token"]
    assert renewed["refresh_token"] != credential["refresh_token"]  # rotated
    with pytest.raises(OAuthFlowError, match="invalid_grant") as info:
        await refresh(credential, ALLOW)  # the old refresh token was revoked
    assert info.value.permanent


async def test_wrong_state_and_denials_never_complete_the_flow(oauth_server: OAuthServer) -> None:
    async with LoopbackRedirect() as redirect:
        redirect.expect("the-real-state")
        forged = await browser(f"{redirect.redirect_uri}?code=stolen&state=not-the-one")
        assert forged.status_code == 400
        assert (await browser(f"http://127.0.0.1:{redirect.port}/elsewhere")).status_code == 404
        with pytest.raises(OAuthFlowError, match="no authorization arrived"):
            await redirect.wait(timeout=0.3)
    async with LoopbackRedirect() as redirect:
        redirect.expect("s1")
        denied = await browser(f"{redirect.redirect_uri}?error=access_denied&state=s1")
        assert denied.status_code == 200
        with pytest.raises(OAuthFlowError, match="access_denied"):
            await redirect.wait(timeout=5)
    p = provider(oauth_server)
    pending = authorization_url(p, ALLOW, client_id=CLIENT_ID, redirect_uri="http://127.0.0.1:1/callback")
    with pytest.raises(OAuthFlowError, match="invalid_grant|invalid_request"):
        await exchange_code(p, ALLOW, pending, "made-up-code", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


async def test_client_credentials_and_bad_secrets(oauth_server: OAuthServer) -> None:
    p = provider(oauth_server)
    credential = await client_credentials(p, ALLOW, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert credential["grant"] == "client_credentials" and "refresh_token" not in credential
    again = await refresh(credential, ALLOW)  # no refresh token: asks for a new one the same way
    assert again["access_token"] != credential["access_token"]
    with pytest.raises(OAuthFlowError, match="invalid_client") as info:
        await client_credentials(p, ALLOW, client_id=CLIENT_ID, client_secret="wrong")
    assert info.value.permanent


async def test_token_requests_keep_the_host_policy(oauth_server: OAuthServer) -> None:
    with pytest.raises(OAuthFlowError, match="loopback") as info:
        await client_credentials(provider(oauth_server), HttpClients(), client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert info.value.permanent
    assert oauth_server.state.token_requests == []
    assert SsrfBlockedError.code == "ssrf_blocked"


def test_shipped_providers_are_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    providers = load_providers()
    assert {"github", "google", "microsoft", "slack"} <= set(providers)
    assert providers["slack"].scope_text() == "chat:write,channels:read"
    extra = tmp_path / "providers.yaml"
    extra.write_text("acme:\n  token_url: https://auth.acme.example/token\n  authorize_url: https://auth.acme.example/a\n"
                     "  scopes: [orders]\n")
    assert load_providers(extra)["acme"].scopes == ("orders",)
    extra.write_text("acme:\n  token_url: ftp://nope\n")
    with pytest.raises(Exception, match="acme.token_url must be an http"):
        load_providers(extra)
