import base64
import json

import pytest

from connectors.errors import ConnectorError, PermanentError, RateLimitedError, SsrfBlockedError
from connectors.http import CONNECTOR, RequestInput, retry_after_seconds
from connectors.services import ConnectorServices, HttpClients
from tests.connectors.conftest import Ctx, LoopbackServer

request = CONNECTOR.operation("request")
assert request is not None

ALLOW = ConnectorServices(http=HttpClients.allowing(["127.0.0.1"]))


async def call(ctx: Ctx, **config):
    return await request.run(RequestInput.model_validate(config), ctx)


async def test_loopback_refused_without_allowlist(http_server: LoopbackServer) -> None:
    http_server.routes["/json"] = lambda r: (200, {}, {"hello": "world"})
    with pytest.raises(SsrfBlockedError, match="loopback"):
        await call(Ctx(), url=f"{http_server.url}/json")
    assert http_server.requests == []  # refused before connecting
    with pytest.raises(SsrfBlockedError):
        await call(Ctx(), url=f"http://2130706433:{http_server.port}/json")
    assert http_server.requests == []


async def test_loopback_reachable_with_allowlist(http_server: LoopbackServer) -> None:
    http_server.routes["/json"] = lambda r: (200, {}, {"hello": "world"})
    out = await call(Ctx(services=ALLOW), url=f"{http_server.url}/json", query={"a": 1, "b": ["x", "y"]})
    assert out.status == 200 and out.ok
    assert out.body == {"hello": "world"} and out.body_encoding == "json"
    rec = http_server.requests[0]
    assert rec.query == {"a": ["1"], "b": ["x", "y"]}
    assert rec.headers["host"] == f"127.0.0.1:{http_server.port}"
    # by host name: the Host header keeps the name while the connection goes to the vetted IP
    out = await call(Ctx(services=ConnectorServices(http=HttpClients.allowing("localhost"))),
                     url=f"http://localhost:{http_server.port}/json")
    assert out.body == {"hello": "world"}
    assert http_server.requests[-1].headers["host"] == f"localhost:{http_server.port}"


async def test_the_urls_own_query_string_is_sent(http_server: LoopbackServer) -> None:
    http_server.routes["/sales"] = lambda r: (200, {}, {"ok": True})
    await call(Ctx(services=ALLOW), url=f"{http_server.url}/sales?week=last")
    assert http_server.requests[-1].query == {"week": ["last"]}
    await call(Ctx(services=ALLOW), url=f"{http_server.url}/sales?week=last&r=a", query={"r": "b", "n": 2})
    assert http_server.requests[-1].query == {"week": ["last"], "r": ["b"], "n": ["2"]}  # query wins on a clash


async def test_methods_bodies_and_credentials(http_server: LoopbackServer) -> None:
    http_server.routes["/echo"] = lambda r: (201, {"X-Seen": "1"}, {
        "method": r.method, "body": r.body.decode(), "ctype": r.headers.get("content-type"),
        "auth": r.headers.get("authorization"), "key": r.headers.get("x-api-key")})
    ctx = Ctx(services=ALLOW, credential={"access_token": "tok-123"})
    out = await call(ctx, method="POST", url=f"{http_server.url}/echo", json={"n": 1})
    assert out.status == 201 and out.headers["x-seen"] == "1"
    assert out.body["method"] == "POST" and json.loads(out.body["body"]) == {"n": 1}
    assert out.body["ctype"] == "application/json" and out.body["auth"] == "Bearer tok-123"
    out = await call(Ctx(services=ALLOW, credential={"api_key": "k-9"}), method="PUT",
                     url=f"{http_server.url}/echo", body="raw text")
    assert out.body["body"] == "raw text" and out.body["key"] == "k-9"
    out = await call(Ctx(services=ALLOW, credential={"username": "u", "password": "p"}),
                     method="PATCH", url=f"{http_server.url}/echo", form={"a": "b"})
    assert out.body["body"] == "a=b" and out.body["auth"] == "Basic " + base64.b64encode(b"u:p").decode()


async def test_response_parsing_by_content_type(http_server: LoopbackServer) -> None:
    http_server.routes["/text"] = lambda r: (200, {"Content-Type": "text/plain; charset=utf-8"}, "héllo")
    http_server.routes["/bin"] = lambda r: (200, {"Content-Type": "application/octet-stream"}, b"\x00\xff")
    http_server.routes["/latin"] = lambda r: (200, {"Content-Type": "text/plain; charset=ISO-8859-1"}, "café".encode("latin-1"))
    http_server.routes["/big"] = lambda r: (200, {"Content-Type": "text/plain"}, "x" * 5000)
    ctx = Ctx(services=ALLOW)
    assert (await call(ctx, url=f"{http_server.url}/text")).body == "héllo"
    assert (await call(ctx, url=f"{http_server.url}/latin")).body == "café"
    out = await call(ctx, url=f"{http_server.url}/bin")
    assert (out.body, out.body_encoding) == ("AP8=", "base64")
    with pytest.raises(PermanentError, match="larger than"):
        await call(ctx, url=f"{http_server.url}/big", max_response_bytes=1000)


async def test_status_mapping(http_server: LoopbackServer) -> None:
    http_server.routes["/429"] = lambda r: (429, {"Retry-After": "7"}, "slow down")
    http_server.routes["/503"] = lambda r: (503, {}, "down")
    http_server.routes["/408"] = lambda r: (408, {}, "")
    ctx = Ctx(services=ALLOW)
    with pytest.raises(RateLimitedError) as err:
        await call(ctx, url=f"{http_server.url}/429")
    assert err.value.retry_after_s == 7 and err.value.retryable
    with pytest.raises(ConnectorError) as err:
        await call(ctx, url=f"{http_server.url}/503")
    assert err.value.retryable and not isinstance(err.value, PermanentError)
    with pytest.raises(ConnectorError) as err:
        await call(ctx, url=f"{http_server.url}/408")
    assert err.value.retryable
    with pytest.raises(PermanentError) as err:
        await call(ctx, url=f"{http_server.url}/missing")
    assert not err.value.retryable and err.value.details["status_code"] == 404
    out = await call(ctx, url=f"{http_server.url}/missing", expected_status=[404])
    assert out.status == 404 and out.body == "not found"


def test_retry_after_http_date() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("soon") is None


async def test_redirects_are_rechecked(http_server: LoopbackServer) -> None:
    http_server.routes["/json"] = lambda r: (200, {}, {"ok": True})
    http_server.routes["/hop"] = lambda r: (302, {"Location": "/json"}, "")
    http_server.routes["/to-private"] = lambda r: (302, {"Location": "http://10.0.0.1/admin"}, "")
    http_server.routes["/to-metadata"] = lambda r: (
        301, {"Location": "http://169.254.169.254/latest/meta-data/"}, "")
    http_server.routes["/to-mapped"] = lambda r: (307, {"Location": f"http://[::ffff:127.0.0.2]:{http_server.port}/"}, "")
    http_server.routes["/loop"] = lambda r: (302, {"Location": "/loop"}, "")
    ctx = Ctx(services=ALLOW)
    out = await call(ctx, url=f"{http_server.url}/hop")
    assert out.body == {"ok": True} and out.url.endswith("/json")
    for path, fragment in (("/to-private", "private"), ("/to-metadata", "link-local"), ("/to-mapped", "IPv6 form")):
        with pytest.raises(SsrfBlockedError, match=fragment):
            await call(ctx, url=f"{http_server.url}{path}")
    with pytest.raises(PermanentError, match="too many redirects"):
        await call(ctx, url=f"{http_server.url}/loop", max_redirects=3)
    assert sum(r.path == "/loop" for r in http_server.requests) == 4


async def test_credential_headers_not_sent_across_origins() -> None:
    first, second = LoopbackServer().start(), LoopbackServer().start()
    try:
        second.routes["/land"] = lambda r: (200, {}, {"key": r.headers.get("x-api-key"),
                                                      "auth": r.headers.get("authorization")})
        first.routes["/go"] = lambda r: (302, {"Location": f"{second.url}/land"}, "")
        out = await call(Ctx(services=ALLOW, credential={"api_key": "k", "access_token": "t"}),
                         url=f"{first.url}/go")
        assert out.body == {"key": None, "auth": None}
        assert first.requests[0].headers["x-api-key"] == "k"
    finally:
        first.stop()
        second.stop()


async def test_connection_refused_is_retryable_and_bad_urls_permanent() -> None:
    with pytest.raises(ConnectorError) as err:
        await call(Ctx(services=ALLOW), url="http://127.0.0.1:1/")
    assert err.value.retryable
    for url in ("ftp://example.com/", "http:///nohost", "file:///etc/passwd"):
        with pytest.raises(PermanentError):
            await call(Ctx(), url=url)


def test_input_model_rejects_two_bodies() -> None:
    with pytest.raises(ValueError, match="only one"):
        RequestInput.model_validate({"url": "http://x", "json": {}, "body": "y"})


async def test_https_keeps_sni_and_certificate_check_while_pinning_the_ip() -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server = LoopbackServer()
    server.routes["/json"] = lambda r: (200, {}, {"tls": True, "host": r.headers["host"]})
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    server.httpd.socket = server_ctx.wrap_socket(server.httpd.socket, server_side=True)
    server.start()
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    try:
        services = ConnectorServices(http=HttpClients.allowing("localhost, 127.0.0.1", verify=client_ctx))
        out = await call(Ctx(services=services), url=f"https://localhost:{server.port}/json")
        assert out.body == {"tls": True, "host": f"localhost:{server.port}"}
        # The certificate names localhost, not 127.0.0.1: the check is real, and it is permanent.
        with pytest.raises(PermanentError, match="certificate"):
            await call(Ctx(services=services), url=f"https://127.0.0.1:{server.port}/json")
    finally:
        server.stop()


async def test_host_is_resolved_once_and_the_vetted_ip_is_used(http_server: LoopbackServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: a second lookup would answer a private address; there is no second lookup."""
    import asyncio
    import socket

    http_server.routes["/json"] = lambda r: (200, {}, {"host": r.headers["host"]})
    loop = asyncio.get_running_loop()
    answers = iter(["127.0.0.1", "10.0.0.1", "10.0.0.1"])
    lookups: list[str] = []

    async def fake_getaddrinfo(host, port, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    out = await call(Ctx(services=ConnectorServices(http=HttpClients.allowing("127.0.0.0/8"))), url=f"http://rebind.test:{http_server.port}/json")
    assert out.body == {"host": f"rebind.test:{http_server.port}"}
    assert lookups == ["rebind.test"]


async def test_next_vetted_address_is_tried_when_one_refuses(http_server: LoopbackServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import socket

    http_server.routes["/json"] = lambda r: (200, {}, {"ok": True})
    loop = asyncio.get_running_loop()

    async def two_addresses(host, port, **kwargs):
        # 127.0.0.2 is loopback too, but the server listens on 127.0.0.1 only: refused.
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ("127.0.0.2", "127.0.0.1")]

    monkeypatch.setattr(loop, "getaddrinfo", two_addresses)
    ctx = Ctx(services=ConnectorServices(http=HttpClients.allowing("127.0.0.0/8")))
    out = await call(ctx, url=f"http://dual.test:{http_server.port}/json")
    assert out.body == {"ok": True}
    with pytest.raises(SsrfBlockedError):  # every address must pass: one bad record refuses the host
        await call(Ctx(services=ConnectorServices(http=HttpClients.allowing("127.0.0.2"))), url=f"http://dual.test:{http_server.port}/json")
