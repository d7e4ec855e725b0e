"""OAuth tokens kept fresh against a real loopback authorization server: refresh ahead of expiry,
refresh on 401 (through the engine), three tries then ``needs_reauth``, and what steps see."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors import core
from connectors import http as http_connector
from connectors.errors import CredentialError
from connectors.oauth import client_credentials
from connectors.oauth_providers import custom_provider
from connectors.oauth_tokens import TokenManager, TokenState
from connectors.registry import Registry
from connectors.services import ConnectorServices, HttpClients
from connectors.vault import KeySource, Vault
from engine.db import make_engine
from tests.connectors.oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer
from tests.engine.runtime_helpers import runtime_at, wf

ALLOW = HttpClients.allowing(["127.0.0.1"])
KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    yield server
    server.stop()


def manager(tmp_path: Path, **kwargs: object) -> TokenManager:
    vault = Vault(make_engine(f"sqlite:///{tmp_path / 'fw.db'}"), KeySource(KEY))
    return TokenManager(vault, ALLOW, backoff_s=0.01, **kwargs)  # type: ignore[arg-type]


async def connect(server: OAuthServer, tokens: TokenManager, name: str = "api") -> dict[str, object]:
    """A code-flow-like credential with a refresh token (the refresh grant is what is under test)."""
    from connectors.oauth import LoopbackRedirect, authorization_url, exchange_code
    from tests.connectors.test_oauth import browser

    provider = custom_provider("test", authorize_url=f"{server.url}/authorize", token_url=f"{server.url}/token")
    async with LoopbackRedirect() as redirect:
        pending = authorization_url(provider, ALLOW, client_id=CLIENT_ID, redirect_uri=redirect.redirect_uri)
        redirect.expect(pending.state)
        await browser(pending.url)
        code = await redirect.wait(timeout=5)
    credential = await exchange_code(provider, ALLOW, pending, code, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    tokens.save("ws", name, credential)
    return credential


async def test_refresh_ahead_of_expiry(oauth_server: OAuthServer, tmp_path: Path) -> None:
    oauth_server.state.expires_in = 600  # within the default hour: due
    tokens = manager(tmp_path)
    first = await connect(oauth_server, tokens)
    oauth_server.state.expires_in = 7200
    done = await tokens.refresh_due()
    assert [s.name for s in done] == ["api"] and done[0].status == "ok"
    stored = tokens.vault.resolve("ws", "api")
    assert stored["access_token"] != first["access_token"] and stored["expires_at"] > time.time() + 7000
    assert stored["refresh_token"] != first["refresh_token"]  # the rotated one was kept
    assert await tokens.refresh_due() == []  # nothing due any more
    assert oauth_server.grant_types() == ["authorization_code", "refresh_token"]


async def test_steps_see_the_access_token_only_and_expiring_ones_are_renewed(oauth_server: OAuthServer,
                                                                             tmp_path: Path) -> None:
    oauth_server.state.expires_in = 30  # inside the 60 s skew: renewed on use
    tokens = manager(tmp_path)
    first = await connect(oauth_server, tokens)
    view = await tokens.resolve("ws", "api")
    assert set(view) == {"access_token", "token_type"} and view["access_token"] != first["access_token"]
    tokens.vault.set("ws", "plain", "api_key", "k-1")  # other credentials pass through untouched
    assert await tokens.resolve("ws", "plain") == {"api_key": "k-1"}


async def test_three_tries_then_needs_reauth(oauth_server: OAuthServer, tmp_path: Path) -> None:
    seen: list[TokenState] = []
    tokens = manager(tmp_path, on_needs_reauth=seen.append)
    oauth_server.state.expires_in = 100
    await connect(oauth_server, tokens)
    oauth_server.state.refresh_mode = "unavailable"
    done = await tokens.refresh_due()
    assert done[0].status == "needs_reauth" and "503" in (done[0].last_error or "")
    assert oauth_server.grant_types().count("refresh_token") == 3
    assert [s.name for s in seen] == ["api"]
    assert [s.name for s in tokens.states("ws", status="needs_reauth")] == ["api"]
    with pytest.raises(CredentialError) as info:
        await tokens.resolve("ws", "api")
    assert info.value.code == "credential_needs_reauth" and "credentials connect api" in info.value.message
    assert await tokens.refresh_due() == []  # not retried until a person connects it again

    # a revoked grant is final at once: no second or third try
    await connect(oauth_server, tokens, "other")
    oauth_server.state.refresh_mode = "invalid_grant"
    before = oauth_server.grant_types().count("refresh_token")
    (state,) = await tokens.refresh_due()
    assert state.name == "other" and state.status == "needs_reauth"
    assert oauth_server.grant_types().count("refresh_token") == before + 1


async def test_a_401_refreshes_once_and_the_call_is_retried(oauth_server: OAuthServer, tmp_path: Path) -> None:
    tokens = manager(tmp_path)
    await connect(oauth_server, tokens)
    for token in oauth_server.state.tokens:
        token.expires_at = time.time() - 1  # the provider ended the access token early: the API answers 401
    registry = Registry([core.CONNECTOR, http_connector.CONNECTOR])
    workflow = wf([{"id": "me", "type": "action", "connector": "http", "operation": "request", "credential": "api",
                    "config": {"url": f"{oauth_server.url}/api/me"}}], [("start", "me")])
    async with runtime_at(tmp_path / "ex.db", registry=registry, credentials=tokens,
                          services=ConnectorServices(http=ALLOW)) as runtime:
        result = await runtime.run(workflow, {}, workspace_id="ws")
    assert result["status"] == "completed", result
    me = next(s for s in result["steps"] if s["node_id"] == "me")
    assert me["output"]["body"]["login"] == "ada" and me["attempt"] == 1  # one attempt: refreshed inside it
    calls = oauth_server.state.api_calls
    assert len(calls) == 2 and calls[0] != calls[1]  # the old token, then the refreshed one
    assert oauth_server.grant_types() == ["authorization_code", "refresh_token"]
    stored = tokens.vault.resolve("ws", "api")
    assert stored["access_token"] not in str(result)  # redacted in the step rows


async def test_client_credentials_are_fetched_again_and_a_401_with_a_plain_key_stands(
        oauth_server: OAuthServer, tmp_path: Path) -> None:
    tokens = manager(tmp_path)
    provider = custom_provider("test", token_url=f"{oauth_server.url}/token")
    oauth_server.state.expires_in = 10
    tokens.save("ws", "machine", await client_credentials(provider, ALLOW, client_id=CLIENT_ID,
                                                           client_secret=CLIENT_SECRET))
    (state,) = await tokens.refresh_due()
    assert state.status == "ok" and oauth_server.grant_types() == ["client_credentials", "client_credentials"]
    tokens.vault.set("ws", "plain", "oauth2", {"access_token": "not-from-a-flow"})
    assert await tokens.refresh_after_unauthorized("ws", "plain") is None
