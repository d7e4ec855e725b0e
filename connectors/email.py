"""The ``email`` connector: ``send`` over SMTP with aiosmtplib (asyncio-native, no thread needed).

Credential (type ``smtp``): ``host`` (required), ``port`` (default 587, or 465 with ``ssl``),
``username`` / ``password`` (optional, AUTH after TLS), ``security``: ``starttls`` (default;
refuses to send if the server does not offer STARTTLS), ``ssl`` (implicit TLS, port 465) or
``none`` (plain text, for a local relay only), ``from`` (default sender), ``validate_certs``
(default true), ``timeout_s`` (default 30).

The SMTP host goes through the connector host policy (``connectors.ssrf``), like HTTP: resolved once,
refused when loopback/private/link-local unless ``FLOWWRIGHT_HTTP_ALLOW_HOSTS`` lists it (a relay
on localhost: add ``127.0.0.1``), and the connection goes to the vetted address (the name is kept
for the TLS check). Failures before the server's SMTP greeting name the host and the kind of
failure, never what the remote end sent, so the connector cannot be used as a port scanner.

Services used: ``ctx.services.tls`` (an ``ssl.SSLContext``, e.g. trusting a private CA) and
``ctx.services.http.policy`` (the host policy).
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, getaddresses, make_msgid
from typing import Any

import aiosmtplib
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.contract import AuthType, Connector, Operation, OperationContext, RateLimit
from connectors.errors import ConnectorError, CredentialError, PermanentError
from connectors.services import ConnectorServices
from connectors.ssrf import open_vetted_socket


def _check_address(raw: str) -> str:
    """Validate one address (``a@b.c`` or ``Name <a@b.c>``); return it normalized."""
    if any(c in raw for c in "\r\n"):
        raise ValueError("an address may not contain line breaks")
    parsed = getaddresses([raw])
    if len(parsed) != 1 or not parsed[0][1]:
        raise ValueError(f"{raw!r} is not one email address")
    name, addr = parsed[0]
    try:
        normalized = validate_email(addr, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{addr!r} is not a valid email address: {exc}") from None
    return formataddr((name, normalized)) if name else normalized


def _addresses(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("addresses must be strings")
        if any(c in item for c in "\r\n"):
            raise ValueError("an address may not contain line breaks")
        # One string may list several addresses: "a@x.org, Bo <b@y.org>".
        for name, addr in getaddresses([item]):
            if name or addr:
                out.append(_check_address(formataddr((name, addr)) if name else addr))
    return out


MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # all attachments of one message, decoded
_FILENAME = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,200}$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")


class AttachmentInput(BaseModel):
    """A file sent with the message (e.g. ``insights.report``'s PDF)."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(description="The file's name (no folders).")
    content_type: str = Field("application/octet-stream", description="MIME type, e.g. application/pdf.")
    content_base64: str = Field(description="The file's bytes, base64-encoded.")

    @field_validator("filename")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _FILENAME.match(value) or value in (".", ".."):
            raise ValueError("a file name of 1 to 200 characters, without folders or control characters")
        return value

    @field_validator("content_type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not _CONTENT_TYPE.match(value.lower()):
            raise ValueError(f"{value!r} is not a MIME type such as application/pdf")
        return value.lower()

    @field_validator("content_base64")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
        return value

    def content(self) -> bytes:
        """The decoded bytes."""
        return base64.b64decode(self.content_base64)


class SendInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: list[str] = Field(min_length=1, description="Recipients (a list, or one comma-separated string).")
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list, description="Hidden recipients (not in the headers).")
    subject: str = Field(max_length=998)
    body: str | None = Field(None, description="Plain-text body.")
    html: str | None = Field(None, description="HTML body (sent as an alternative to the text body).")
    sender: str | None = Field(None, alias="from", description="Sender; default: the credential's `from`.")
    reply_to: str | None = None
    attachments: list[AttachmentInput] = Field(default_factory=list, description="Files to attach (base64).")

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _addresses(value) if isinstance(value, str | list) else value

    @field_validator("sender", "reply_to")
    @classmethod
    def _one(cls, value: str | None) -> str | None:
        return _check_address(value) if value else value

    @field_validator("subject")
    @classmethod
    def _no_newlines(cls, value: str) -> str:
        if any(c in value for c in "\r\n"):
            raise ValueError("the subject may not contain line breaks")
        return value

    @model_validator(mode="after")
    def _some_body(self) -> SendInput:
        if self.body is None and self.html is None:
            raise ValueError("give 'body' (text), 'html', or both")
        size = sum(len(a.content_base64) * 3 // 4 for a in self.attachments)
        if size > MAX_ATTACHMENT_BYTES:
            raise ValueError(f"attachments: {size} bytes, over the {MAX_ATTACHMENT_BYTES} a message may carry")
        return self


class SendOutput(BaseModel):
    message_id: str
    accepted: list[str]
    refused: dict[str, str] = Field(default_factory=dict, description="Recipients the server refused, with why.")
    server_response: str


def build_message(inp: SendInput, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(inp.to)
    if inp.cc:
        msg["Cc"] = ", ".join(inp.cc)
    if inp.reply_to:
        msg["Reply-To"] = inp.reply_to
    msg["Subject"] = inp.subject
    domain = Address(addr_spec=getaddresses([sender])[0][1]).domain or "flowwright.local"
    msg["Message-ID"] = make_msgid(domain=domain)
    if inp.body is not None:
        msg.set_content(inp.body)
        if inp.html is not None:
            msg.add_alternative(inp.html, subtype="html")
    else:
        msg.set_content(inp.html or "", subtype="html")
    for a in inp.attachments:
        maintype, subtype = a.content_type.split("/", 1)
        msg.add_attachment(a.content(), maintype=maintype, subtype=subtype, filename=a.filename)
    return msg


def _smtp_settings(cred: Any, services: ConnectorServices) -> dict[str, Any]:
    security = str(cred.get("security") or "starttls").lower()
    if security not in ("starttls", "ssl", "none"):
        raise CredentialError(f"smtp credential: security must be starttls, ssl or none, not {security!r}",
                              code="credential_invalid")
    try:
        port = int(cred.get("port") or (465 if security == "ssl" else 587))
    except (TypeError, ValueError):
        raise CredentialError("smtp credential: port must be a number", code="credential_invalid") from None
    tls_context: ssl.SSLContext | None = services.tls
    validate = cred.get("validate_certs", True) not in (False, "false", "0", 0)
    return {
        "hostname": str(cred["host"]), "port": port,
        "username": cred.get("username") or None, "password": cred.get("password") or None,
        "use_tls": security == "ssl", "start_tls": True if security == "starttls" else False,
        "validate_certs": validate, "tls_context": tls_context if security != "none" else None,
        "timeout": float(cred.get("timeout_s") or 30),
    }


def _discard(client: aiosmtplib.SMTP) -> None:
    """Drop a connection that failed to set up. The socket was handed to asyncio's transport,
    which closes it (closing the fd here would pull it from under a TLS transport still shutting
    down, and a later socket reusing the number would collide with it)."""
    client.close()


def _setup_error(exc: aiosmtplib.SMTPException | OSError, what: str) -> ConnectorError:
    """A failure while greeting, securing or logging in: its kind, never the remote text."""
    if isinstance(exc, ssl.SSLCertVerificationError) or isinstance(exc.__cause__, ssl.SSLCertVerificationError):
        return PermanentError(f"{what}: TLS certificate check failed", code="smtp_tls_verify")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return ConnectorError(f"{what}: cannot connect: timed out", code="smtp_connect", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 200:
        return ConnectorError(f"{what}: the server answered {exc.code} while setting up the session",
                              code="smtp_connect", retryable=400 <= exc.code < 500)
    if isinstance(exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPServerDisconnected
                  | aiosmtplib.SMTPConnectError | OSError):  # a malformed answer (code -1) too
        return ConnectorError(f"{what}: cannot connect: the server did not complete an SMTP greeting and "
                              "TLS set-up", code="smtp_connect", retryable=True)
    # What is left are client-side refusals, in aiosmtplib's words (the server offers no STARTTLS,
    # no usable login method): retrying the same server cannot help.
    return PermanentError(f"{what}: {exc}", code="smtp_not_supported")


async def _send(inp: SendInput, ctx: OperationContext) -> SendOutput:
    cred = ctx.credential
    if not cred or not cred.get("host"):
        raise CredentialError("email.send needs an smtp credential with at least `host`", code="credential_missing")
    try:  # the credential was typed by a person: a bad field is a clear credential error
        sender = inp.sender or (_check_address(str(cred["from"])) if cred.get("from") else None)
        if not sender and cred.get("username") and "@" in str(cred["username"]):
            sender = _check_address(str(cred["username"]))
        settings = _smtp_settings(cred, ctx.services)
    except ValueError as exc:
        raise CredentialError(f"smtp credential: {exc}", code="credential_invalid") from None
    if not sender:
        raise PermanentError("no sender: give `from` in the step or in the smtp credential", code="email_no_sender")
    msg = build_message(inp, sender)
    recipients = [getaddresses([a])[0][1] for a in (*inp.to, *inp.cc, *inp.bcc)]
    what = f"SMTP {settings['hostname']}:{settings['port']}"
    sock = await open_vetted_socket(ctx.services.http.policy, settings["hostname"], settings.pop("port"),
                                    timeout_s=settings["timeout"], what=what)
    client = aiosmtplib.SMTP(sock=sock, **settings)
    try:
        await client.connect()
    except aiosmtplib.SMTPAuthenticationError as exc:
        _discard(client)
        raise CredentialError(f"{what} refused the login ({exc.code})", code="smtp_auth_failed") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        _discard(client)
        raise _setup_error(exc, what) from None
    try:
        refused, response = await client.send_message(
            msg, sender=getaddresses([sender])[0][1], recipients=recipients)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        reasons = {r.recipient: f"{r.code} {r.message}" for r in exc.recipients}
        retryable = all(400 <= r.code < 500 for r in exc.recipients)
        raise ConnectorError(f"{what} refused every recipient: {reasons}", code="smtp_recipients_refused",
                             retryable=retryable, refused=reasons) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise ConnectorError(f"{what} answered {exc.code} {exc.message}", code="smtp_error",
                             retryable=400 <= exc.code < 500, smtp_code=exc.code) from None
    except aiosmtplib.SMTPNotSupported as exc:
        raise PermanentError(f"{what}: {exc}", code="smtp_not_supported") from None
    except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected,
            OSError) as exc:
        if isinstance(exc, ssl.SSLCertVerificationError) or isinstance(exc.__cause__, ssl.SSLCertVerificationError):
            raise PermanentError(f"{what}: TLS certificate check failed: {exc}", code="smtp_tls_verify") from None
        raise ConnectorError(f"{what}: {type(exc).__name__}: {exc}", code="smtp_connect") from None
    except aiosmtplib.SMTPException as exc:
        # What is left are client-side refusals (e.g. the server offers no STARTTLS): retrying
        # the same server cannot help.
        raise PermanentError(f"{what}: {exc}", code="smtp_error") from None
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    refused_out = {k: f"{v.code} {v.message}" for k, v in refused.items()}
    return SendOutput(
        message_id=str(msg["Message-ID"]), accepted=[r for r in recipients if r not in refused_out],
        refused=refused_out, server_response=response,
    )


CONNECTOR = Connector(
    name="email",
    title="Email (SMTP)",
    description="Send email through your SMTP server: to/cc/bcc, plain text and HTML, STARTTLS or SSL.",
    category="communication",
    icon="✉️",
    auth=AuthType.SMTP,
    credential_fields={
        "host": "SMTP server host name",
        "port": "port (default 587; 465 for ssl)",
        "username": "login user (optional)",
        "password": "login password (optional)",
        "security": "starttls (default) | ssl | none",
        "from": "default sender address",
    },
    operations=(
        Operation(
            "send",
            "Send one email to `to` (and `cc`/`bcc`) with a `subject` and a text `body` and/or `html`. "
            "Addresses are validated before anything is sent. Returns the Message-ID and accepted recipients.",
            SendInput, SendOutput, _send, idempotent=False, external=True,
            rate_limit=RateLimit(requests=10, per_seconds=1.0),
        ),
    ),
)
