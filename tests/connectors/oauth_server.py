"""A real OAuth 2.0 authorization server on loopback, built with authlib's server side (the same
library the client uses): authorization code with PKCE (required), refresh tokens (rotated on each
use), client credentials, and a protected ``/api/me`` that answers 401 to unknown or expired
access tokens. Test knobs: ``expires_in``, ``refresh_mode`` (``ok`` | ``invalid_grant`` |
``unavailable``), and counters of what was asked."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge

CLIENT_ID = "flowwright-test"
CLIENT_SECRET = "s3cr3t-client-secret"


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    grants: tuple[str, ...] = ("authorization_code", "refresh_token", "client_credentials")

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or "read"

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # loopback redirects (RFC 8252), and the API's callback as FastAPI's TestClient addresses it
        return redirect_uri.startswith(("http://127.0.0.1:", "http://testserver/v1/oauth/callback"))

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grants


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Token(TokenMixin):  # type: ignore[misc]
    client_id: str
    access_token: str
    refresh_token: str | None
    scope: str
    expires_at: float
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - time.time())

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    args: dict[str, str]
    form: dict[str, str]


class _OAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: Request) -> None:
        super().__init__(request.method, request.url, headers=request.headers)
        self._args, self._form = request.args, request.form
        self.payload = BasicOAuth2Payload({**request.args, **request.form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class State:
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: list[Token] = field(default_factory=list)
    expires_in: int = 3600
    refresh_mode: str = "ok"
    token_requests: list[dict[str, str]] = field(default_factory=list)
    api_calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_access(self, value: str) -> Token | None:
        return next((t for t in self.tokens if t.access_token == value), None)


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, state: State) -> None:
        super().__init__(scopes_supported=["read", "write"])
        self.state = state

    def query_client(self, client_id: str) -> Client | None:
        return self.state.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.state.tokens.append(Token(request.client.client_id, token["access_token"], token.get("refresh_token"),
                                       token.get("scope") or "read", time.time() + token["expires_in"]))

    def create_oauth2_request(self, request: Request) -> OAuth2Request:
        return _OAuth2Request(request)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple[int, Any, list[Any]]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


def build(state: State) -> Server:
    server = Server(state)

    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
            state.codes[code] = Code(code, request.client.client_id, request.payload.redirect_uri, request.scope,
                                     request.payload.data.get("code_challenge"),
                                     request.payload.data.get("code_challenge_method"))

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            item = state.codes.get(code)
            return item if item is not None and item.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            state.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> str:
            return "ada"

    class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
        INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: the old refresh token stops working

        def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
            return next((t for t in state.tokens if t.refresh_token == refresh_token and not t.revoked), None)

        def authenticate_user(self, refresh_token: Token) -> str:
            return "ada"

        def revoke_old_credential(self, refresh_token: Token) -> None:
            refresh_token.revoked = True

    server.register_grant(CodeGrant, [CodeChallenge(required=True)])
    server.register_grant(RefreshGrant)
    class ClientGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    server.register_grant(ClientGrant)
    server.register_token_generator("default", BearerTokenGenerator(
        access_token_generator=lambda **kw: generate_token(32), refresh_token_generator=lambda **kw: generate_token(40),
        expires_generator=lambda client, grant_type: state.expires_in))
    return server


class OAuthServer:
    """The authorization server and a protected API on 127.0.0.1 (``/authorize``, ``/token``, ``/api/me``)."""

    def __init__(self) -> None:
        self.state = State(clients={CLIENT_ID: Client(CLIENT_ID, CLIENT_SECRET)})
        self.server = build(self.state)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: list[tuple[str, str]] | dict[str, str]) -> None:
                payload = json.dumps(body).encode() if isinstance(body, dict | list) else str(body or "").encode()
                self.send_response(status)
                items = headers.items() if isinstance(headers, dict) else headers
                for k, v in items:
                    self.send_header(k, v)
                if isinstance(body, dict | list):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                args = dict(parse_qsl(parts.query))
                if parts.path == "/authorize":  # the person consents at once
                    req = Request("GET", f"{outer.url}{self.path}", dict(self.headers), args, {})
                    with outer.state.lock:
                        self._send(*outer.server.create_authorization_response(req, grant_user="ada"))
                elif parts.path == "/api/me":
                    auth = self.headers.get("Authorization", "")
                    token = outer.state.by_access(auth.removeprefix("Bearer "))
                    outer.state.api_calls.append(auth)
                    if token is None or token.is_expired() or token.revoked:
                        self._send(401, {"error": "invalid_token"}, {"WWW-Authenticate": "Bearer"})
                    else:
                        self._send(200, {"login": "ada", "scope": token.scope,
                                         "repos": [{"id": 1, "name": "flowwright"}]}, {})
                else:
                    self._send(404, {"error": "not_found"}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                if urlsplit(self.path).path != "/token":
                    self._send(404, {"error": "not_found"}, {})
                    return
                outer.state.token_requests.append(form)
                if form.get("grant_type") == "refresh_token" and outer.state.refresh_mode != "ok":
                    if outer.state.refresh_mode == "unavailable":
                        self._send(503, {"error": "temporarily_unavailable"}, {})
                    else:
                        self._send(400, {"error": "invalid_grant", "error_description": "refresh token revoked"}, {})
                    return
                req = Request("POST", f"{outer.url}{self.path}", dict(self.headers), {}, form)
                with outer.state.lock:
                    self._send(*outer.server.create_token_response(req))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OAuthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def grant_types(self) -> list[str]:
        return [r.get("grant_type", "") for r in self.state.token_requests]
