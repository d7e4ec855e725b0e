"""OAuth 2.0 over the API against a real authorization server on loopback: the code flow with PKCE
(the provider redirects to /v1/oauth/callback), client credentials, refresh, the refresh job of the
service, needs_reauth in insights, secrets never echoed, workspace scoping, bad input as 4xx."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.connectors.oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    yield server
    server.stop()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, api_key: Callable[..., dict[str, str]]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_HTTP_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("FLOWWRIGHT_OAUTH_REFRESH_POLL_S", "0")  # the job is tested on its own below
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=api_key()) as c:
        yield c


def endpoints(server: OAuthServer) -> dict[str, str]:
    return {"provider": "test", "authorize_url": f"{server.url}/authorize", "token_url": f"{server.url}/token"}


def consent(client: TestClient, authorization_url: str) -> httpx.Response:
    """The person: the provider consents and redirects the browser back to this service's callback
    (a browser with no API key: the single-use state is the capability)."""
    answer = httpx.get(authorization_url, follow_redirects=False, trust_env=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == "/v1/oauth/callback"
    browser = TestClient(client.app)  # same application and state, no Authorization header
    return browser.get(f"{back.path}?{back.query}")


def test_code_flow_through_the_callback(client: TestClient, oauth_server: OAuthServer,
                                        _isolated_data_dir: Path, api_key: Callable[..., dict[str, str]]) -> None:
    started = client.post("/v1/credentials/github-main/connect",
                          json={**endpoints(oauth_server), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                "scopes": ["read"]})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["status"] == "pending" and body["redirect_uri"] == "http://testserver/v1/oauth/callback"
    assert "code_challenge_method=S256" in body["authorization_url"] and CLIENT_SECRET not in started.text
    page = consent(client, body["authorization_url"])
    assert page.status_code == 200 and "connected" in page.text
    assert oauth_server.state.token_requests[-1]["code_verifier"]  # PKCE verifier sent with the code

    listed = client.get("/v1/credentials").json()
    assert [(c["name"], c["type"], c["oauth"]["status"]) for c in listed] == [("github-main", "oauth2", "ok")]
    state = client.get("/v1/credentials/github-main/oauth").json()
    assert state["refreshable"] is True and state["provider"] == "test"
    before = client.get("/v1/credentials/github-main/oauth").json()["refreshed_at"]
    refreshed = client.post("/v1/credentials/github-main/refresh")
    assert refreshed.status_code == 200 and refreshed.json()["refreshed_at"] != before
    assert oauth_server.grant_types() == ["authorization_code", "refresh_token"]

    # secrets: never in a response, never in clear in the data dir
    issued = [t.refresh_token for t in oauth_server.state.tokens if t.refresh_token]
    issued += [t.access_token for t in oauth_server.state.tokens]
    texts = [started.text, page.text, refreshed.text, client.get("/v1/credentials").text]
    for secret in [*issued, CLIENT_SECRET]:
        assert all(secret not in text for text in texts)
        for f in _isolated_data_dir.rglob("*"):
            if f.is_file():
                assert secret.encode() not in f.read_bytes(), f

    # the state is single use; other workspaces see nothing
    again = consent(client, body["authorization_url"].replace("state=", "state=x"))
    assert again.status_code == 400
    other = api_key("other")
    assert client.get("/v1/credentials", headers=other).json() == []
    assert client.get("/v1/credentials/github-main/oauth", headers=other).status_code == 404
    assert client.post("/v1/credentials/github-main/refresh", headers=other).status_code == 404
    # reading a credential's state and refreshing it need editor; connecting one needs admin
    viewer, editor = api_key(role="viewer"), api_key(role="editor")
    assert client.get("/v1/credentials/github-main/oauth", headers=viewer).status_code == 403
    assert client.get("/v1/credentials/github-main/oauth", headers=editor).status_code == 200
    denied = client.post("/v1/credentials/github-main/connect", headers=editor,
                         json={**endpoints(oauth_server), "client_id": CLIENT_ID})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    # a credential set by hand under the same name is no longer an OAuth connection
    assert client.put("/v1/credentials/github-main", json={"type": "api_key", "secret": "k"}).status_code == 200
    assert client.get("/v1/credentials/github-main/oauth").status_code == 404


def test_client_credentials_and_refusals(client: TestClient, oauth_server: OAuthServer) -> None:
    made = client.post("/v1/credentials/machine/connect",
                       json={"grant": "client_credentials", "provider": "test", "token_url": f"{oauth_server.url}/token",
                             "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert made.status_code == 200, made.text
    assert made.json()["credential"]["refreshable"] is True and CLIENT_SECRET not in made.text
    wrong = client.post("/v1/credentials/machine2/connect",
                        json={"grant": "client_credentials", "token_url": f"{oauth_server.url}/token",
                              "client_id": CLIENT_ID, "client_secret": "wrong"})
    assert wrong.status_code == 422 and "invalid_client" in wrong.json()["error"]["message"]
    unknown = client.post("/v1/credentials/x/connect", json={"provider": "nope", "client_id": "c"})
    assert unknown.status_code == 422 and "unknown provider 'nope'" in unknown.json()["error"]["message"]
    assert unknown.json()["error"]["details"]["field"] == "provider"
    no_secret = client.post("/v1/credentials/x/connect", json={"grant": "client_credentials", "provider": "github",
                                                               "client_id": "c"})
    assert no_secret.status_code == 422 and no_secret.json()["error"]["details"]["field"] == "client_secret"
    bad_name = client.post("/v1/credentials/bad%20name/connect", json={"provider": "github", "client_id": "c"})
    assert bad_name.status_code == 422 and bad_name.json()["error"]["code"] == "credential_name_invalid"
    missing = client.post("/v1/credentials/x/connect", json={"provider": "github"})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "request_invalid"
    assert client.post("/v1/credentials/ghost/refresh").status_code == 404
    assert client.get("/v1/oauth/callback?state=made-up&code=c").status_code == 400
    names = {p["name"] for p in client.get("/v1/oauth/providers").json()}
    assert {"github", "google", "microsoft", "slack", "hubspot"} <= names


def test_a_refused_refresh_marks_needs_reauth_and_insights_say_so(client: TestClient,
                                                                   oauth_server: OAuthServer) -> None:
    started = client.post("/v1/credentials/crm/connect",
                          json={**endpoints(oauth_server), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert consent(client, started.json()["authorization_url"]).status_code == 200
    oauth_server.state.refresh_mode = "invalid_grant"
    refused = client.post("/v1/credentials/crm/refresh")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "credential_needs_reauth"
    assert client.get("/v1/credentials").json()[0]["oauth"]["status"] == "needs_reauth"
    findings = client.get("/v1/insights").json()["findings"]
    (finding,) = [f for f in findings if f["title"] == "credential crm needs to be connected again"]
    assert finding["severity"] == "high" and "invalid_grant" in finding["detail"]
    assert "flowwright credentials connect crm --provider test" in finding["fix"]
    # connecting again clears it
    oauth_server.state.refresh_mode = "ok"
    again = client.post("/v1/credentials/crm/connect",
                        json={**endpoints(oauth_server), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert consent(client, again.json()["authorization_url"]).status_code == 200
    assert client.get("/v1/credentials/crm/oauth").json()["status"] == "ok"
    assert not [f for f in client.get("/v1/insights").json()["findings"] if "crm" in f["title"]]


def test_the_service_refreshes_tokens_ahead_of_expiry(oauth_server: OAuthServer, monkeypatch: pytest.MonkeyPatch,
                                                      api_key: Callable[..., dict[str, str]]) -> None:
    monkeypatch.setenv("FLOWWRIGHT_HTTP_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("FLOWWRIGHT_OAUTH_REFRESH_POLL_S", "0.2")
    get_settings.cache_clear()
    oauth_server.state.expires_in = 900  # inside the default hour
    with TestClient(create_app(get_settings()), headers=api_key()) as client:
        made = client.post("/v1/credentials/machine/connect",
                           json={"grant": "client_credentials", "token_url": f"{oauth_server.url}/token",
                                 "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
        assert made.status_code == 200, made.text
        oauth_server.state.expires_in = 7200
        first = made.json()["credential"]["expires_at"]
        deadline = time.monotonic() + 20
        state = client.get("/v1/credentials/machine/oauth").json()
        while state["expires_at"] == first and time.monotonic() < deadline:  # until the job has stored it
            time.sleep(0.1)
            state = client.get("/v1/credentials/machine/oauth").json()
        assert state["status"] == "ok" and state["expires_at"] > first
        time.sleep(0.5)  # a few more passes of the job: the new token is not due
        assert oauth_server.grant_types().count("client_credentials") == 2  # once at connect, once by the job
