"""`flowwright credentials connect|refresh|providers` against a real authorization server on
loopback: the code flow as a real subprocess (it prints the URL, a "browser" opens it, the
provider redirects to the CLI's loopback listener), client credentials, refresh, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.cli.test_connector_cmds import run
from tests.connectors.oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer

FLOWWRIGHT = [sys.executable, "-m", "app.cli.main"]


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    yield server
    server.stop()


@pytest.fixture
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWWRIGHT_HTTP_ALLOW_HOSTS", "127.0.0.1")


def test_connect_with_the_code_flow_in_a_real_process(oauth_server: OAuthServer, allow_loopback: None,
                                                       tmp_path: Path, _isolated_data_dir: Path) -> None:
    providers = tmp_path / "providers.yaml"  # a provider as data, from FLOWWRIGHT_OAUTH_PROVIDERS_FILE
    providers.write_text(f"acme:\n  title: Acme\n  authorize_url: {oauth_server.url}/authorize\n"
                         f"  token_url: {oauth_server.url}/token\n  scopes: [read]\n")
    env = {**os.environ, "FLOWWRIGHT_OAUTH_PROVIDERS_FILE": str(providers)}
    proc = subprocess.Popen([*FLOWWRIGHT, "credentials", "connect", "crm", "--provider", "acme", "--client-id",
                             CLIENT_ID, "--timeout", "30", "--json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(CLIENT_SECRET + "\n")
        proc.stdin.close()
        url = proc.stdout.readline().strip()
        assert url.startswith(f"{oauth_server.url}/authorize?") and "code_challenge_method=S256" in url
        page = httpx.get(url, follow_redirects=True, trust_env=False, timeout=10)  # the person consents
        assert page.status_code == 200 and "connected" in page.text
        proc.stdin = None  # closed above; communicate() reads the rest
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    state = json.loads(out)
    assert state["name"] == "crm" and state["provider"] == "acme" and state["status"] == "ok" and state["refreshable"]
    assert "Open this URL" in err
    issued = [t.refresh_token for t in oauth_server.state.tokens if t.refresh_token]
    issued += [t.access_token for t in oauth_server.state.tokens]
    for secret in [*issued, CLIENT_SECRET]:
        assert secret not in out + err
        for f in _isolated_data_dir.rglob("*"):
            if f.is_file():
                assert secret.encode() not in f.read_bytes(), f

    listed = run("credentials", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    ((item),) = json.loads(listed.stdout)
    assert item["type"] == "oauth2" and item["oauth"]["status"] == "ok"
    refreshed = run("credentials", "refresh", "crm", "--json", env={"FLOWWRIGHT_OAUTH_PROVIDERS_FILE": str(providers)})
    assert refreshed.returncode == 0, refreshed.stderr
    assert oauth_server.grant_types() == ["authorization_code", "refresh_token"]
    oauth_server.state.refresh_mode = "invalid_grant"
    refused = run("credentials", "refresh", "crm")
    assert refused.returncode == 1 and "needs to be connected again" in refused.stderr
    assert "needs_reauth" in run("credentials", "list").stdout
    assert run("credentials", "delete", "crm").returncode == 0
    assert json.loads(run("credentials", "list", "--json").stdout) == []


def test_connect_with_client_credentials(oauth_server: OAuthServer, allow_loopback: None) -> None:
    made = run("credentials", "connect", "machine", "--token-url", f"{oauth_server.url}/token", "--client-id",
               CLIENT_ID, "--grant", "client_credentials", stdin=CLIENT_SECRET + "\n")
    assert made.returncode == 0, made.stderr
    assert "machine" in made.stdout and CLIENT_SECRET not in made.stdout + made.stderr
    assert oauth_server.grant_types() == ["client_credentials"]
    wrong = run("credentials", "connect", "m2", "--token-url", f"{oauth_server.url}/token", "--client-id", CLIENT_ID,
                "--grant", "client_credentials", stdin="wrong\n")
    assert wrong.returncode == 1 and "invalid_client" in wrong.stderr


def test_refusals_name_what_is_wrong(oauth_server: OAuthServer) -> None:
    unknown = run("credentials", "connect", "x", "--provider", "nope", "--client-id", "c")
    assert unknown.returncode == 1 and "unknown provider 'nope'" in unknown.stderr and "github" in unknown.stderr
    no_client = run("credentials", "connect", "x", "--provider", "github")
    assert no_client.returncode == 1 and "--client-id is required" in no_client.stderr
    bad_grant = run("credentials", "connect", "x", "--provider", "github", "--client-id", "c", "--grant", "implicit")
    assert bad_grant.returncode == 1 and "--grant must be one of" in bad_grant.stderr
    bad_name = run("credentials", "connect", "bad name", "--provider", "github", "--client-id", "c")
    assert bad_name.returncode == 1 and "invalid credential name" in bad_name.stderr
    no_secret = run("credentials", "connect", "x", "--provider", "github", "--client-id", "c", stdin="")
    assert no_secret.returncode == 1 and "no client secret on stdin" in no_secret.stderr
    # the host policy holds for token endpoints: loopback is refused unless allowed
    blocked = run("credentials", "connect", "x", "--token-url", f"{oauth_server.url}/token", "--client-id", CLIENT_ID,
                  "--grant", "client_credentials", stdin=CLIENT_SECRET)
    assert blocked.returncode == 1 and "FLOWWRIGHT_HTTP_ALLOW_HOSTS" in blocked.stderr
    assert oauth_server.state.token_requests == []
    assert run("credentials", "refresh", "ghost").returncode == 1
    shown = run("credentials", "providers", "--json")
    assert shown.returncode == 0 and {"github", "google", "slack"} <= {p["name"] for p in json.loads(shown.stdout)}
