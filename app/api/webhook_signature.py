"""Signed webhooks: HMAC-SHA256 over the timestamp and the raw body, in the Stripe style.

A webhook workflow whose trigger sets ``config.signing`` (``{"credential": NAME, "tolerance_s":
300}``) accepts only requests carrying::

    X-Flowwright-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

where the secret is the value of the workspace's credential ``NAME`` (type ``api_key``). Several
``v1=`` entries may be sent (while a secret is being rotated); one must match. The timestamp must
be within ``tolerance_s`` of the service's clock, so a captured request cannot be replayed later;
every comparison is constant-time (``hmac.compare_digest``). A request that does not verify is a
401 ``webhook_signature_invalid`` whose ``details.reason`` says why (``missing``, ``malformed``,
``stale``, ``mismatch``, ``secret_unavailable``, ``replayed``) — and nothing of it is run or stored.
A request that verifies is accepted once: a copy sent again inside the window is ``replayed``
(``app.api.webhook_replays``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any

from engine.errors import FlowwrightError

HEADER = "X-Flowwright-Signature"
SCHEME = "v1"
_MAX_HEADER = 4096
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class WebhookSignatureError(FlowwrightError):
    """A signed webhook's request does not verify (``details.reason``)."""

    status = 401
    code = "webhook_signature_invalid"

    def __init__(self, message: str, *, reason: str, **details: Any) -> None:
        super().__init__(message, reason=reason, header=HEADER, **details)


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``X-Flowwright-Signature`` value a sender puts on ``body`` (now, unless ``timestamp``)."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},{SCHEME}={signature(secret, moment, body)}"


def parse(header: str) -> tuple[int, list[str]]:
    """The timestamp and the ``v1`` signatures of a header value (``malformed`` when it is not
    ``t=<digits>,v1=<64 hex>[,v1=...]``; entries of other schemes are ignored)."""
    if len(header) > _MAX_HEADER:
        raise WebhookSignatureError(f"the {HEADER} header is longer than {_MAX_HEADER} characters", reason="malformed")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookSignatureError(f"the {HEADER} header has an entry without '=': {part.strip()[:40]!r}; "
                                        "expected t=<unix seconds>,v1=<hex>", reason="malformed")
        if key == "t":
            if not _TIMESTAMP.match(value):
                raise WebhookSignatureError(f"the {HEADER} timestamp t={value[:20]!r} is not unix seconds",
                                            reason="malformed")
            timestamp = int(value)
        elif key == SCHEME:
            if not _HEX.match(value):
                raise WebhookSignatureError(f"a {SCHEME} signature of {HEADER} is not 64 hex characters",
                                            reason="malformed")
            signatures.append(value.lower())
    if timestamp is None:
        raise WebhookSignatureError(f"the {HEADER} header has no t=<unix seconds>", reason="malformed")
    if not signatures:
        raise WebhookSignatureError(f"the {HEADER} header has no {SCHEME}=<hex> signature", reason="malformed")
    return timestamp, signatures


def verify(header: str | None, secret: bytes, body: bytes, *, tolerance_s: int, now: float | None = None) -> int:
    """Check a request's signature header against ``body``; the signed timestamp if it verifies,
    else :class:`WebhookSignatureError` naming why."""
    if not header:
        raise WebhookSignatureError(f"this webhook needs a signed request: the {HEADER} header is missing",
                                    reason="missing")
    timestamp, signatures = parse(header)
    skew = (time.time() if now is None else now) - timestamp
    if abs(skew) > tolerance_s:
        raise WebhookSignatureError(f"the signed timestamp is {abs(int(skew))} s {'old' if skew > 0 else 'ahead'}; "
                                    f"this webhook accepts {tolerance_s} s either way", reason="stale",
                                    tolerance_s=tolerance_s)
    expected = signature(secret, timestamp, body)
    matched = False
    for candidate in signatures:  # every candidate compared, in constant time each
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookSignatureError("the signature does not match the body and timestamp under this webhook's "
                                    "secret", reason="mismatch")
    return timestamp


def secret_of(credential: dict[str, Any]) -> bytes:
    """The signing secret held by a decrypted credential (its ``api_key``, or its only string value)."""
    value = credential.get("api_key")
    if not isinstance(value, str):
        strings = [v for v in credential.values() if isinstance(v, str)]
        value = strings[0] if len(strings) == 1 else None
    if not value:
        raise ValueError("the credential holds no single secret value (store it as type api_key)")
    return value.encode()
