"""The edge (app/api/edge.py), each finding of issue 11 replayed: DNS rebinding (any Host was
served), CSRF (a cross-origin form POST ran workflows), CORS off unless configured, security
headers on every answer, and `serve` refusing a public bind in production without a public URL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.edge import EdgePolicy, host_name, is_loopback, origin_of
from app.api.server import create_app
from app.cli.serve_cmd import bind_check
from app.settings import get_settings
from tests.engine.workflows import minimal

EVIL = "https://evil.example"


def make_client(monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], **env: str) -> TestClient:
    for name, value in env.items():
        monkeypatch.setenv(f"FLOWWRIGHT_{name.upper()}", value)
    get_settings.cache_clear()
    return TestClient(create_app(get_settings()), headers=headers)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    with make_client(monkeypatch, admin_headers, scheduler_enabled="false") as c:
        yield c


def test_only_trusted_host_names_are_served(client: TestClient) -> None:
    """Finding: any Host header was served, so a DNS-rebinding page could read the API."""
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.nip.io", "", "localhost.evil.example"):
        refused = client.get("/health", headers={"Host": host})
        assert refused.status_code == 400, host
        error = refused.json()["error"]
        assert error["code"] == "host_not_allowed" and error["details"]["setting"] == "FLOWWRIGHT_TRUSTED_HOSTS"
        assert refused.headers["x-content-type-options"] == "nosniff"
    assert client.get("/v1/workflows", headers={"Host": "evil.example"}).status_code == 400  # before any route
    for host in ("localhost", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST.", "testserver", "api.localhost"):
        assert client.get("/health", headers={"Host": host}).status_code == 200, host


def test_public_url_and_trusted_hosts_add_names(monkeypatch: pytest.MonkeyPatch,
                                                admin_headers: dict[str, str]) -> None:
    with make_client(monkeypatch, admin_headers, public_url="https://flow.example.com",
                     trusted_hosts="testserver,*.corp.example") as client:
        for host, status in (("flow.example.com", 200), ("flow.example.com:443", 200), ("a.corp.example", 200),
                             ("corp.example", 400), ("example.com", 400), ("flow.example.com.evil", 400)):
            assert client.get("/health", headers={"Host": host}).status_code == status, host
    policy = EdgePolicy.from_settings(public_url=None, trusted_hosts="*", cors_origins="")
    assert policy.host_allowed("anything.example")


def test_a_cross_origin_browser_request_changes_nothing(client: TestClient, api_key: Callable[..., dict[str, str]]) -> None:
    """Finding: a cross-origin form POST with no body ran workflows, approved, cancelled..."""
    wf_id = client.post("/v1/workflows", json=minimal()).json()["id"]
    run = f"/v1/workflows/{wf_id}/run"
    form = client.post(run, headers={"Origin": EVIL, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 403 and form.json()["error"]["code"] == "origin_not_allowed"
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = client.request(method, f"/v1/workflows/{wf_id}", headers={"Origin": EVIL})
        assert response.status_code == 403, method
    hidden = client.post(run, headers={"Sec-Fetch-Site": "cross-site"})  # a browser that sent no Origin
    assert hidden.status_code == 403
    assert client.post(run, headers={"Origin": "null"}).status_code == 403  # sandboxed frames, file:// pages
    assert client.get("/v1/executions").json() == []  # none of it ran

    # the service's own page, a request without Origin (curl, servers), and reads all pass
    assert client.post(run, headers={"Origin": "http://testserver"}, json={"input": {}}).status_code == 202
    assert client.post(run, json={"input": {}}).status_code == 202
    assert client.get("/v1/workflows", headers={"Origin": EVIL}).status_code == 200
    assert "access-control-allow-origin" not in client.get("/v1/workflows", headers={"Origin": EVIL}).headers


def test_webhooks_take_calls_from_any_origin(client: TestClient) -> None:
    wf = {"schema_version": "1", "name": "hook", "nodes": [
        {"id": "hook", "type": "trigger", "kind": "webhook"},
        {"id": "say", "type": "action", "connector": "core", "operation": "log", "config": {"message": "hi"}}],
        "edges": [{"source": "hook", "target": "say"}]}
    wf_id = client.post("/v1/workflows", json=wf).json()["id"]
    assert client.post(f"/v1/workflows/{wf_id}/activate").status_code == 200
    called = client.post(f"/v1/hooks/{wf_id}", json={}, headers={"Origin": EVIL, "Authorization": ""})
    assert called.status_code == 202, called.text


def test_cors_is_off_unless_configured(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                       admin_headers: dict[str, str]) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    off = client.options("/v1/workflows", headers=preflight)
    assert "access-control-allow-origin" not in off.headers
    with make_client(monkeypatch, admin_headers, cors_origins="https://app.example") as allowed:
        on = allowed.options("/v1/workflows", headers=preflight)
        assert on.status_code == 200 and on.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in on.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in on.headers  # keys go in a header, never cookies
        other = allowed.options("/v1/workflows", headers={**preflight, "Origin": EVIL})
        assert other.headers.get("access-control-allow-origin") != EVIL
        made = allowed.post("/v1/workflows", json=minimal(), headers={"Origin": "https://app.example"})
        assert made.status_code == 201 and made.headers["access-control-allow-origin"] == "https://app.example"
        assert allowed.post("/v1/workflows", json=minimal(), headers={"Origin": EVIL}).status_code == 403


def test_every_answer_has_the_security_headers(client: TestClient) -> None:
    answers = {path: client.get(path) for path in ("/", "/health", "/v1/workflows", "/v1/nowhere", "/docs",
                                                    "/app/js/main.js")}
    answers["401"] = client.get("/v1/workflows", headers={"Authorization": ""})
    for where, response in answers.items():
        assert response.headers["x-content-type-options"] == "nosniff", where
        assert response.headers["referrer-policy"] == "no-referrer", where
        assert response.headers["x-frame-options"] == "DENY", where
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], where
    page = answers["/"].headers["content-security-policy"]
    assert "script-src 'self';" in page and "unsafe-inline" not in page.split("script-src")[1].split(";")[0]
    assert "'unsafe-inline'" in answers["/docs"].headers["content-security-policy"]  # Swagger UI starts inline


def test_names_and_origins_are_normalised() -> None:
    assert host_name("[::1]:8000") == "::1" and host_name("Example.COM.:80") == "example.com"
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.com"))
    assert origin_of("HTTPS://Flow.Example.com:443/x") == "https://flow.example.com"
    assert origin_of("http://a.example:8080") == "http://a.example:8080"


def test_serve_refuses_a_public_bind_in_production_without_a_public_url(_isolated_data_dir: Path) -> None:
    assert bind_check("127.0.0.1", env="production", public_url=None, trusted_hosts="") == (None, None)
    refusal, _ = bind_check("0.0.0.0", env="production", public_url=None, trusted_hosts="")
    assert refusal and "FLOWWRIGHT_PUBLIC_URL" in refusal
    assert bind_check("0.0.0.0", env="production", public_url="https://flow.example.com", trusted_hosts="") == (None, None)
    _, warning = bind_check("0.0.0.0", env="development", public_url=None, trusted_hosts="")
    assert warning and "only loopback Host names" in warning
    env = {**os.environ, "FLOWWRIGHT_ENV": "production", "FLOWWRIGHT_WORKERS": "0"}
    env.pop("FLOWWRIGHT_PUBLIC_URL", None)
    done = subprocess.run([sys.executable, "-m", "app.cli.main", "serve", "--host", "0.0.0.0", "--port", "1"],
                          capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 1 and "refusing to listen on 0.0.0.0" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
