import json

import pytest

from connectors.errors import (
    ConnectorError,
    CredentialError,
    PermanentError,
    RateLimitedError,
    SsrfBlockedError,
)
from connectors.services import ConnectorServices, HttpClients
from connectors.slack import CONNECTOR, PostMessageInput
from tests.connectors.conftest import Ctx, LoopbackServer

post = CONNECTOR.operation("post_message")
assert post is not None
TOKEN = "xoxb-test-token"


def fake_slack(server: LoopbackServer) -> None:
    """A loopback fake of the Slack Web API's chat.postMessage and of an incoming webhook."""

    def chat_post_message(r):
        if r.headers.get("authorization") != f"Bearer {TOKEN}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        body = json.loads(r.body)
        if body["channel"] == "#busy":
            return 429, {"Retry-After": "3"}, {"ok": False, "error": "ratelimited"}
        if body["channel"] == "#nope":
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        if body["channel"] == "#flaky":
            return 200, {}, {"ok": False, "error": "internal_error"}
        return 200, {}, {"ok": True, "channel": "C0123", "ts": "1700000000.000100", "message": body}

    def webhook(r):
        body = json.loads(r.body)
        return (200, {"Content-Type": "text/plain"}, "ok") if body.get("text") or body.get("blocks") else (
            400, {"Content-Type": "text/plain"}, "invalid_payload")

    server.routes["/api/chat.postMessage"] = chat_post_message
    server.routes["/services/T000/B000/XXX"] = webhook


def ctx_for(server: LoopbackServer, credential) -> Ctx:
    return Ctx(credential=credential, services=ConnectorServices(
        http=HttpClients.allowing("127.0.0.1"), endpoints={"slack": f"{server.url}/api"}))


async def test_bot_token_posts_with_blocks_and_thread(http_server: LoopbackServer) -> None:
    fake_slack(http_server)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*EMEA*: 12k"}}]
    inp = PostMessageInput(channel="#sales", text="EMEA: 12k", blocks=blocks, thread_ts="1.2")
    out = await post.run(inp, ctx_for(http_server, {"api_key": TOKEN}))
    assert (out.ok, out.via, out.channel, out.ts) == (True, "api", "C0123", "1700000000.000100")
    sent = json.loads(http_server.requests[0].body)
    assert sent == {"channel": "#sales", "text": "EMEA: 12k", "blocks": blocks, "thread_ts": "1.2"}


async def test_webhook(http_server: LoopbackServer) -> None:
    fake_slack(http_server)
    cred = {"url": f"{http_server.url}/services/T000/B000/XXX"}
    out = await post.run(PostMessageInput(channel="#x", text="hello"), ctx_for(http_server, cred))
    assert (out.ok, out.via) == (True, "webhook")
    assert json.loads(http_server.requests[0].body) == {"text": "hello"}
    assert "authorization" not in http_server.requests[0].headers


async def test_error_mapping(http_server: LoopbackServer) -> None:
    fake_slack(http_server)
    ctx = ctx_for(http_server, {"api_key": TOKEN})
    with pytest.raises(RateLimitedError) as err:
        await post.run(PostMessageInput(channel="#busy", text="x"), ctx)
    assert err.value.retry_after_s == 3
    with pytest.raises(PermanentError, match="channel_not_found"):
        await post.run(PostMessageInput(channel="#nope", text="x"), ctx)
    with pytest.raises(ConnectorError) as err:
        await post.run(PostMessageInput(channel="#flaky", text="x"), ctx)
    assert err.value.retryable
    with pytest.raises(CredentialError, match="invalid_auth"):
        await post.run(PostMessageInput(channel="#sales", text="x"), ctx_for(http_server, {"api_key": "xoxb-bad"}))
    with pytest.raises(PermanentError, match="channel"):
        await post.run(PostMessageInput(text="x"), ctx)
    with pytest.raises(CredentialError):
        await post.run(PostMessageInput(channel="#a", text="x"), ctx_for(http_server, None))


async def test_slack_requests_are_ssrf_guarded(http_server: LoopbackServer) -> None:
    fake_slack(http_server)
    ctx = Ctx(credential={"api_key": TOKEN}, services=ConnectorServices(endpoints={"slack": f"{http_server.url}/api"}))
    with pytest.raises(SsrfBlockedError):
        await post.run(PostMessageInput(channel="#sales", text="x"), ctx)
    assert http_server.requests == []


def test_needs_text_or_blocks() -> None:
    with pytest.raises(ValueError, match="text"):
        PostMessageInput(channel="#a")
