"""The edge every request passes before a route: which ``Host`` names are served, which browser
origins may change state, and the security headers on every answer.

- **Trusted hosts** (DNS rebinding): loopback names, ``FLOWWRIGHT_PUBLIC_URL``'s host and
  ``FLOWWRIGHT_TRUSTED_HOSTS`` (``*.example.com`` matches subdomains; ``*`` turns the check off).
  Any other ``Host`` is a 400 ``host_not_allowed``.
- **Origin check** (CSRF): a state-changing request (POST, PUT, PATCH, DELETE) that a browser sends
  from another origin — its ``Origin`` is neither this service (the request's own host, or
  ``FLOWWRIGHT_PUBLIC_URL``) nor one of ``FLOWWRIGHT_CORS_ORIGINS``, or ``Sec-Fetch-Site`` says
  ``cross-site`` — is a 403 ``origin_not_allowed``. Webhooks are exempt: they are capability URLs
  meant to be called from anywhere. Requests without ``Origin`` (curl, servers) are not browsers'.
- **Security headers** on every answer: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
  no-referrer``, ``X-Frame-Options: DENY`` and a ``Content-Security-Policy`` with
  ``frame-ancestors 'none'`` — strict for the web page (scripts and connections from the service
  only), looser for the API pages (``/docs``, ``/redoc`` start Swagger UI / ReDoc inline).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WEBHOOK_PREFIX = "/v1/hooks/"
DOCS_PATHS = ("/docs", "/redoc")

PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


def split_list(text: str) -> list[str]:
    """A comma-separated setting as its non-empty items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def host_name(host: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8000`` → ``::1``, ``Example.com.`` → ``example.com``)."""
    value = host.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def is_loopback(name: str) -> bool:
    """Whether a bind address or host name (no port) is this machine only."""
    value = name.strip().strip("[]").lower().rstrip(".")
    if value in LOOPBACK_NAMES or value.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, with the default port left out."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    netloc = (parts.hostname or "").lower()
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port and parts.port != {"http": 80, "https": 443}.get(scheme):
        netloc += f":{parts.port}"
    return f"{scheme}://{netloc}"


@dataclass(frozen=True)
class EdgePolicy:
    """What the edge allows, from the settings."""

    trusted_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    public_origin: str | None = None
    any_host: bool = field(default=False)

    @classmethod
    def from_settings(cls, *, public_url: str | None, trusted_hosts: str, cors_origins: str) -> EdgePolicy:
        """The policy of ``FLOWWRIGHT_PUBLIC_URL``, ``FLOWWRIGHT_TRUSTED_HOSTS`` and ``FLOWWRIGHT_CORS_ORIGINS``."""
        hosts = [h.lower().rstrip(".") for h in split_list(trusted_hosts)]
        public_origin = origin_of(public_url) if public_url else None
        if public_url and (name := urlsplit(public_url).hostname):
            hosts.append(name.lower())
        return cls(trusted_hosts=tuple(h for h in hosts if h != "*"), any_host="*" in hosts,
                   cors_origins=tuple(origin_of(o) for o in split_list(cors_origins)), public_origin=public_origin)

    def host_allowed(self, host: str) -> bool:
        """Whether a request's ``Host`` header names this service."""
        if self.any_host:
            return True
        name = host_name(host)
        if not name:
            return False
        if is_loopback(name):
            return True
        for trusted in self.trusted_hosts:
            if name == trusted or (trusted.startswith("*.") and name.endswith(trusted[1:])):
                return True
        return False

    def origin_allowed(self, origin: str, host: str) -> bool:
        """Whether a browser page of ``origin`` may change state here (same origin, the public URL's,
        or a CORS origin)."""
        if origin == "null":
            return False
        parts = urlsplit(origin)
        if parts.netloc.lower() == host.strip().lower():
            return True  # same origin as the address the request was sent to
        normalised = origin_of(origin)
        return normalised == self.public_origin or normalised in self.cors_origins


def _refuse(status: int, code: str, message: str, **details: object) -> JSONResponse:
    payload: dict[str, object] = {"code": code, "message": message}
    if details:
        payload["details"] = details
    return JSONResponse({"error": payload}, status_code=status)


class EdgeMiddleware:
    """Host allowlist, browser-origin check and security headers, around the whole application."""

    def __init__(self, app: ASGIApp, policy: EdgePolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = DOCS_CSP if path in DOCS_PATHS else PAGE_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", csp)
            await send(message)

        headers = Headers(scope=scope)
        host = headers.get("host", "")
        refusal: JSONResponse | None = None
        if not self.policy.host_allowed(host):
            refusal = _refuse(400, "host_not_allowed", f"this service does not answer to the host {host_name(host)!r}; "
                              "add it to FLOWWRIGHT_TRUSTED_HOSTS (or set FLOWWRIGHT_PUBLIC_URL)",
                              host=host_name(host), setting="FLOWWRIGHT_TRUSTED_HOSTS")
        elif scope.get("method") in STATE_CHANGING and not path.startswith(WEBHOOK_PREFIX):
            origin = headers.get("origin")
            if origin is not None and not self.policy.origin_allowed(origin, host):
                refusal = _refuse(403, "origin_not_allowed", f"a page of {origin[:200]!r} may not change anything "
                                  "here; allow it with FLOWWRIGHT_CORS_ORIGINS", origin=origin[:200],
                                  setting="FLOWWRIGHT_CORS_ORIGINS")
            elif origin is None and headers.get("sec-fetch-site") == "cross-site":
                refusal = _refuse(403, "origin_not_allowed", "a cross-site browser request may not change anything "
                                  "here", setting="FLOWWRIGHT_CORS_ORIGINS")
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
