"""The ``slack`` connector: ``post_message`` through an incoming webhook or the Web API.

Credential: type ``url`` (``{"url": "https://hooks.slack.com/services/..."}``, an incoming
webhook: posts to the webhook's fixed channel) or type ``api_key`` (``{"api_key": "xoxb-..."}``,
a bot token; ``token`` / ``access_token`` are accepted too: calls ``chat.postMessage``).

Requests go through the same SSRF-guarded httpx client as the http connector (slack-sdk is not
used: its clients would bypass that guard, and one JSON POST needs no SDK).

Services used: ``ctx.services.http`` (the guarded client factory) and ``ctx.services.endpoints["slack"]``
(the Web API's base URL, default ``https://slack.com/api``; tests point it at a loopback fake).
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.contract import AuthType, Connector, Operation, OperationContext, RateLimit
from connectors.errors import ConnectorError, CredentialError, PermanentError, RateLimitedError
from connectors.http import raise_for_status, retry_after_seconds, transport_error

DEFAULT_BASE_URL = "https://slack.com/api"
_AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                "no_permission", "missing_scope", "ekm_access_denied", "org_login_required"}
_TRANSIENT_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class PostMessageInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(None, description="Channel id or #name (needed with a bot token; a webhook has its own).")
    text: str | None = Field(None, max_length=40_000, description="Message text (mrkdwn); the fallback when blocks are given.")
    blocks: list[dict[str, Any]] | None = Field(None, max_length=50, description="Block Kit blocks.")
    thread_ts: str | None = Field(None, description="Reply in this thread.")
    unfurl_links: bool | None = None
    timeout_s: float = Field(15.0, gt=0, le=120)

    @model_validator(mode="after")
    def _content(self) -> PostMessageInput:
        if not self.text and not self.blocks:
            raise ValueError("give 'text', 'blocks', or both")
        return self


class PostMessageOutput(BaseModel):
    ok: bool
    via: Literal["webhook", "api"]
    channel: str | None = None
    ts: str | None = Field(None, description="The message timestamp (Web API only): use it as thread_ts to reply.")


def _payload(inp: PostMessageInput) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in ("channel", "text", "blocks", "thread_ts", "unfurl_links"):
        value = getattr(inp, key)
        if value is not None:
            data[key] = value
    return data


async def _post(client: httpx.AsyncClient, url: str, what: str, **kwargs: Any) -> httpx.Response:
    try:
        return await client.post(url, **kwargs)
    except httpx.HTTPError as exc:
        raise transport_error(exc, what) from None


async def _post_message(inp: PostMessageInput, ctx: OperationContext) -> PostMessageOutput:
    cred = ctx.credential or {}
    token = cred.get("api_key") or cred.get("token") or cred.get("access_token")
    webhook = cred.get("url") or cred.get("webhook_url")
    if not token and not webhook:
        raise CredentialError("slack.post_message needs a credential: a webhook `url` or a bot token `api_key`",
                              code="credential_missing")
    async with ctx.services.http.client(timeout=inp.timeout_s, follow_redirects=False) as client:
        if token:
            base = str(ctx.services.endpoints.get("slack") or DEFAULT_BASE_URL).rstrip("/")
            if not inp.channel:
                raise PermanentError("a bot token needs `channel`", code="slack_no_channel")
            what = "Slack chat.postMessage"
            response = await _post(client, f"{base}/chat.postMessage", what, json=_payload(inp),
                                   headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 200:
                raise_for_status(response.status_code, response.headers, what=what, detail=response.text[:200])
            try:
                body = response.json()
            except ValueError:
                raise ConnectorError(f"{what}: answer is not JSON", code="slack_bad_response") from None
            if not body.get("ok"):
                error = str(body.get("error") or "unknown_error")
                message = f"{what} failed: {error}"
                if error == "ratelimited":
                    raise RateLimitedError(message, retry_after_s=retry_after_seconds(response.headers.get("retry-after")))
                if error in _AUTH_ERRORS:
                    raise CredentialError(message, code="slack_auth", slack_error=error)
                if error in _TRANSIENT_ERRORS:
                    raise ConnectorError(message, code="slack_error", slack_error=error)
                raise PermanentError(message, code="slack_error", slack_error=error)
            return PostMessageOutput(ok=True, via="api", channel=body.get("channel"), ts=body.get("ts"))
        what = "Slack webhook"
        payload = _payload(inp)
        payload.pop("channel", None)  # a webhook posts to its own channel
        response = await _post(client, str(webhook), what, json=payload)
        if response.status_code != 200:
            raise_for_status(response.status_code, response.headers, what=what, detail=response.text[:200])
        return PostMessageOutput(ok=True, via="webhook", channel=inp.channel)


CONNECTOR = Connector(
    name="slack",
    title="Slack",
    description="Post messages to Slack channels through an incoming webhook or a bot token.",
    category="communication",
    icon="💬",
    auth=AuthType.API_KEY,
    credential_types=(AuthType.API_KEY, AuthType.URL),
    credential_fields={
        "api_key": "bot token (xoxb-...), for chat.postMessage",
        "url": "or: an incoming-webhook URL (credential type url)",
    },
    operations=(
        Operation(
            "post_message",
            "Post a message to a Slack `channel` with `text` (mrkdwn) and/or Block Kit `blocks`; "
            "optionally as a reply in `thread_ts`. Returns the message `ts`.",
            PostMessageInput, PostMessageOutput, _post_message, idempotent=False, external=True,
            rate_limit=RateLimit(requests=5, per_seconds=5.0),  # Slack: ~1 message/s per channel, short bursts ok
        ),
    ),
)
