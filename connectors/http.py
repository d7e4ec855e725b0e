"""The ``http`` connector: one ``request`` operation over httpx, SSRF-guarded by default.

Credentials (optional; any of these fields): ``access_token`` or ``token`` (sent as
``Authorization: Bearer``), ``username`` + ``password`` (HTTP Basic), ``api_key`` (sent in the
header named by ``header``, default ``X-API-Key``, with an optional ``prefix``; or as the query
parameter named by ``query_param``), and ``headers`` (an object of extra headers). httpx drops
``Authorization`` when a redirect leaves the origin; headers added from ``api_key``/``headers``
are dropped too.

Services used: ``ctx.services.http`` (the client factory with the host policy and TLS trust,
``connectors.ssrf.HttpClients``).
"""

from __future__ import annotations

import base64
import email.message
import email.utils
import json
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.contract import AuthType, Connector, Operation, OperationContext, RateLimit
from connectors.errors import ConnectorError, PermanentError, RateLimitedError
from connectors.http_poll import NEW_ITEMS

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
QueryValue = str | int | float | bool | None | list[str | int | float | bool]


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Method = "GET"
    url: str = Field(min_length=1, description="http:// or https:// URL.")
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, QueryValue] = Field(default_factory=dict, description="Query parameters to add to the URL.")
    json_body: Any = Field(None, alias="json", description="A JSON body (sets Content-Type: application/json).")
    body: str | None = Field(None, description="A raw text body (give `json` or `body`, not both).")
    form: dict[str, str] | None = Field(None, description="A form-encoded body.")
    expected_status: list[int] | None = Field(
        None, description="Statuses that count as success; default any 2xx. Others raise an error "
        "(429 and 5xx retryable, other 4xx permanent).")
    timeout_s: float = Field(30.0, gt=0, le=600)
    follow_redirects: bool = True
    max_redirects: int = Field(5, ge=0, le=20)
    response_format: Literal["auto", "json", "text", "base64"] = Field(
        "auto", description="How to return the body; auto goes by the Content-Type.")
    max_response_bytes: int = Field(10 * 1024 * 1024, ge=1, le=100 * 1024 * 1024)

    @model_validator(mode="after")
    def _one_body(self) -> RequestInput:
        if sum(x is not None for x in (self.json_body, self.body, self.form)) > 1:
            raise ValueError("give only one of 'json', 'body' or 'form'")
        return self


class RequestOutput(BaseModel):
    status: int
    ok: bool = Field(description="True when the status counted as success.")
    url: str = Field(description="The final URL, after redirects.")
    headers: dict[str, str]
    content_type: str | None = None
    body: Any = Field(None, description="Parsed JSON, text, or base64 (see body_encoding).")
    body_encoding: Literal["json", "text", "base64", "none"] = "none"
    elapsed_ms: float


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def raise_for_status(status: int, headers: Mapping[str, str], *, what: str, detail: str = "") -> None:
    """Map an unwanted HTTP status to the connector error the engine's retry policy understands."""
    suffix = f": {detail}" if detail else ""
    if status == 429:
        raise RateLimitedError(f"{what} answered 429 Too Many Requests{suffix}",
                               retry_after_s=retry_after_seconds(headers.get("retry-after")), status_code=status)
    if status >= 500 or status == 408:
        raise ConnectorError(f"{what} answered {status}{suffix}", code="http_status", status_code=status,
                             retry_after_s=retry_after_seconds(headers.get("retry-after")))
    raise PermanentError(f"{what} answered {status}{suffix}", code="http_status", status_code=status)


def transport_error(exc: httpx.HTTPError, what: str) -> ConnectorError:
    """Timeouts and connection failures are retryable; protocol and redirect faults are not."""
    if isinstance(exc, httpx.TimeoutException):
        return ConnectorError(f"{what} timed out ({type(exc).__name__})", code="http_timeout")
    if isinstance(exc, httpx.TooManyRedirects):
        return PermanentError(f"{what}: too many redirects", code="http_redirects")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return PermanentError(f"{what}: {exc}", code="http_invalid_url")
    if isinstance(exc, httpx.TransportError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return PermanentError(f"{what}: TLS certificate check failed: {cause.verify_message}",
                                      code="http_tls_verify")
            cause = cause.__cause__ or cause.__context__
        return ConnectorError(f"{what}: connection failed: {exc}", code="http_connect")
    return PermanentError(f"{what}: {exc}", code="http_error")


def _auth(credential: Mapping[str, Any] | None, query: dict[str, Any]) -> tuple[dict[str, str], Any]:
    if not credential:
        return {}, None
    headers: dict[str, str] = {str(k): str(v) for k, v in dict(credential.get("headers") or {}).items()}
    auth: Any = None
    token = credential.get("access_token") or credential.get("token")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif credential.get("username") is not None and credential.get("password") is not None:
        auth = httpx.BasicAuth(str(credential["username"]), str(credential["password"]))
    if credential.get("api_key"):
        if credential.get("query_param"):
            query[str(credential["query_param"])] = str(credential["api_key"])
        else:
            headers[str(credential.get("header") or "X-API-Key")] = f"{credential.get('prefix') or ''}{credential['api_key']}"
    return headers, auth


def _decode(content: bytes, content_type: str | None, fmt: str) -> tuple[Any, str]:
    if not content:
        return None, "none"
    ctype = (content_type or "").split(";")[0].strip().lower()
    if fmt == "auto":
        if ctype == "application/json" or ctype.endswith("+json"):
            fmt = "json"
        elif ctype.startswith("text/") or ctype.endswith(("xml", "javascript", "x-www-form-urlencoded")) or not ctype:
            fmt = "text"
        else:
            fmt = "base64"
    if fmt == "json":
        try:
            return json.loads(content), "json"
        except ValueError as exc:
            raise PermanentError(f"response is not valid JSON: {exc}", code="http_bad_json") from None
    if fmt == "text":
        charset = email.message.Message()
        charset["content-type"] = content_type or "text/plain"
        try:
            return content.decode(charset.get_content_charset() or "utf-8"), "text"
        except (UnicodeDecodeError, LookupError):
            return base64.b64encode(content).decode(), "base64"
    return base64.b64encode(content).decode(), "base64"


async def _request(inp: RequestInput, ctx: OperationContext) -> RequestOutput:
    try:
        url = httpx.URL(inp.url)
    except httpx.InvalidURL as exc:
        raise PermanentError(f"invalid URL {inp.url!r}: {exc}", code="http_invalid_url") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise PermanentError(f"invalid URL {inp.url!r}: need http:// or https:// and a host",
                             code="http_invalid_url")
    query = dict(inp.query)
    cred_headers, auth = _auth(ctx.credential, query)
    headers = {**inp.headers, **cred_headers}
    if ctx.idempotency_key and not any(k.lower() == "idempotency-key" for k in headers):
        headers["Idempotency-Key"] = ctx.idempotency_key  # stable across re-attempts of this node
    params = {k: v for k, v in query.items() if v is not None}
    if params:  # merged into the URL here: httpx drops the URL's own query string when params={} is passed
        url = url.copy_merge_params(params)
    kwargs: dict[str, Any] = {"headers": headers}
    if inp.json_body is not None:
        kwargs["json"] = inp.json_body
    elif inp.body is not None:
        kwargs["content"] = inp.body.encode()
    elif inp.form is not None:
        kwargs["data"] = inp.form
    if auth is not None:
        kwargs["auth"] = auth
    what = f"{inp.method} {url.copy_with(query=None, fragment=None)}"
    started = time.perf_counter()
    async with ctx.services.http.client(timeout=inp.timeout_s, follow_redirects=inp.follow_redirects,
                                        max_redirects=inp.max_redirects) as client:
        if cred_headers and inp.follow_redirects:
            # Credential headers must not follow a redirect to another origin.
            client.event_hooks["request"] = [_strip_on_foreign_origin(url, set(cred_headers))]
        try:
            async with client.stream(inp.method, url, **kwargs) as response:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > inp.max_response_bytes:
                        raise PermanentError(f"{what}: response is larger than {inp.max_response_bytes} bytes",
                                             code="http_response_too_large")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise transport_error(exc, what) from None
    elapsed = (time.perf_counter() - started) * 1000
    content = b"".join(chunks)
    ok = (response.status_code in inp.expected_status) if inp.expected_status else response.is_success
    if not ok:
        raise_for_status(response.status_code, response.headers, what=what,
                         detail=content[:300].decode("utf-8", "replace"))
    ctype = response.headers.get("content-type")
    body, encoding = (None, "none") if inp.method == "HEAD" else _decode(content, ctype, inp.response_format)
    final_url = response.url
    secret_param = (ctx.credential or {}).get("query_param")
    if secret_param:  # the key sent as a query parameter never lands in the step's output
        final_url = final_url.copy_set_param(str(secret_param), "***")
    return RequestOutput(
        status=response.status_code, ok=ok, url=str(final_url), headers=dict(response.headers),
        content_type=ctype, body=body, body_encoding=encoding, elapsed_ms=round(elapsed, 2),
    )


def _strip_on_foreign_origin(origin: httpx.URL, names: set[str]) -> Any:
    lowered = {n.lower() for n in names}

    async def hook(request: httpx.Request) -> None:
        url = request.url
        if (url.scheme, url.host, url.port) != (origin.scheme, origin.host, origin.port):
            for name in list(request.headers):
                if name.lower() in lowered:
                    del request.headers[name]

    return hook


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})  # idempotent by HTTP semantics


def _replay_safe(inp: RequestInput) -> bool:
    """A request cut off by a crash may be sent again when its method is idempotent (RFC 9110)."""
    return inp.method.upper() in SAFE_METHODS


CONNECTOR = Connector(
    name="http",
    title="HTTP request",
    description="Call any HTTP API: method, URL, headers, query, JSON or raw body; the response is "
    "parsed by its content type. Private and internal addresses are refused unless allowlisted.",
    category="developer",
    icon="🌐",
    auth=AuthType.NONE,  # a credential is optional: an API's key, token or login
    credential_types=(AuthType.API_KEY, AuthType.OAUTH2, AuthType.BASIC),
    credential_fields={
        "access_token": "Bearer token (or `token`)",
        "username": "HTTP Basic user (with `password`)",
        "api_key": "API key, sent in `header` (default X-API-Key) or as `query_param`",
        "headers": "extra headers (an object)",
    },
    operations=(
        Operation(
            "request",
            "Send one HTTP request and return status, headers and the parsed body (JSON, text or base64). "
            "Fails on a status outside `expected_status` (default: any 2xx); 429 and 5xx are retried.",
            RequestInput, RequestOutput, _request, idempotent=False, external=True,
            rate_limit=RateLimit(requests=50, per_seconds=1.0), replay_safe=_replay_safe,
        ),
    ),
    triggers=(NEW_ITEMS,),
)
