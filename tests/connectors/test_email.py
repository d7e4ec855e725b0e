import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from connectors.email import CONNECTOR, SendInput
from connectors.errors import ConnectorError, CredentialError, PermanentError
from connectors.services import ConnectorServices
from connectors.ssrf import HttpClients
from tests.connectors.conftest import LOOPBACK, Ctx

send = CONNECTOR.operation("send")
assert send is not None


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes, bool]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                              server.transport.get_extra_info("ssl_object") is not None))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _auth(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"mailer" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


def _client_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


@pytest.fixture
def plain_smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def starttls_smtp(ca: trustme.CA) -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=_server_tls(ca),
                            require_starttls=True, authenticator=_auth, auth_required=True)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_send_text_and_html_with_cc_bcc(plain_smtp) -> None:
    inbox, port = plain_smtp
    ctx = Ctx(services=LOOPBACK, credential={"host": "127.0.0.1", "port": port, "security": "none", "from": "Bot <bot@example.com>"})
    inp = SendInput.model_validate({
        "to": "alice@example.com, Bob <bob@example.org>", "cc": ["carol@example.net"],
        "bcc": ["dave@example.com"], "subject": "Sales ✓", "body": "plain text", "html": "<b>bold</b>"})
    out = await send.run(inp, ctx)
    assert sorted(out.accepted) == ["alice@example.com", "bob@example.org", "carol@example.net", "dave@example.com"]
    mail_from, rcpts, content, _tls = inbox.messages[0]
    assert mail_from == "bot@example.com" and len(rcpts) == 4
    msg = message_from_bytes(content, policy=default)
    assert msg["Subject"] == "Sales ✓" and msg["Cc"] == "carol@example.net"
    assert "dave" not in content.decode()  # bcc never appears in the headers
    assert msg["Message-ID"] == out.message_id
    assert msg.get_body(("plain",)).get_content().strip() == "plain text"
    assert msg.get_body(("html",)).get_content().strip() == "<b>bold</b>"


async def test_starttls_with_auth(starttls_smtp, ca) -> None:
    inbox, port = starttls_smtp
    cred = {"host": "127.0.0.1", "port": port, "username": "mailer", "password": "s3cret", "from": "bot@example.com"}
    ctx = Ctx(credential=cred, services=ConnectorServices(http=HttpClients.allowing("127.0.0.1"), tls=_client_tls(ca)))
    inp = SendInput.model_validate({"to": ["alice@example.com"], "subject": "hi", "body": "over TLS"})
    await send.run(inp, ctx)
    assert inbox.messages[0][3] is True  # the session was encrypted
    with pytest.raises(CredentialError, match="refused the login"):
        await send.run(inp, Ctx(credential={**cred, "password": "wrong"},
                                services=ConnectorServices(http=HttpClients.allowing("127.0.0.1"), tls=_client_tls(ca))))
    # an untrusted certificate is a permanent failure, not a silent downgrade
    with pytest.raises(PermanentError, match="certificate"):
        await send.run(inp, Ctx(services=LOOPBACK, credential=cred))


async def test_implicit_ssl(ca) -> None:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=_server_tls(ca))
    controller.start()
    try:
        ctx = Ctx(credential={"host": "127.0.0.1", "port": port, "security": "ssl", "from": "bot@example.com"},
                  services=ConnectorServices(http=HttpClients.allowing("127.0.0.1"), tls=_client_tls(ca)))
        await send.run(SendInput.model_validate({"to": ["a@example.com"], "subject": "s", "html": "<p>x</p>"}), ctx)
        assert inbox.messages and inbox.messages[0][3] is True
    finally:
        controller.stop()


async def test_starttls_required_by_default(plain_smtp) -> None:
    _inbox, port = plain_smtp
    ctx = Ctx(services=LOOPBACK, credential={"host": "127.0.0.1", "port": port, "from": "bot@example.com"})  # default: starttls
    with pytest.raises(PermanentError, match="STARTTLS|not supported"):
        await send.run(SendInput.model_validate({"to": ["a@example.com"], "subject": "s", "body": "b"}), ctx)


async def test_refused_recipients(plain_smtp) -> None:
    inbox, port = plain_smtp
    ctx = Ctx(services=LOOPBACK, credential={"host": "127.0.0.1", "port": port, "security": "none", "from": "bot@example.com"})
    out = await send.run(SendInput.model_validate(
        {"to": ["a@example.com", "nobody@example.com"], "subject": "s", "body": "b"}), ctx)
    assert out.accepted == ["a@example.com"] and "nobody@example.com" in out.refused
    with pytest.raises(ConnectorError) as err:
        await send.run(SendInput.model_validate({"to": ["nobody@example.com"], "subject": "s", "body": "b"}), ctx)
    assert not err.value.retryable


async def test_connection_refused_is_retryable() -> None:
    ctx = Ctx(services=LOOPBACK, credential={"host": "127.0.0.1", "port": _free_port(), "security": "none", "from": "b@example.com"})
    with pytest.raises(ConnectorError) as err:
        await send.run(SendInput.model_validate({"to": ["a@example.com"], "subject": "s", "body": "b"}), ctx)
    assert err.value.retryable


@pytest.mark.parametrize("bad", [
    {"to": ["not-an-address"], "subject": "s", "body": "b"},
    {"to": ["a@example.com"], "subject": "s\r\nBcc: evil@example.com", "body": "b"},
    {"to": ["a@example.com\r\nBcc: x@example.com"], "subject": "s", "body": "b"},
    {"to": ["a@example.com"], "subject": "no body"},
    {"to": [], "subject": "s", "body": "b"},
])
def test_input_validation(bad) -> None:
    with pytest.raises(ValueError):
        SendInput.model_validate(bad)


async def test_missing_credential_or_sender() -> None:
    inp = SendInput.model_validate({"to": ["a@example.com"], "subject": "s", "body": "b"})
    with pytest.raises(CredentialError):
        await send.run(inp, Ctx(services=LOOPBACK))
    with pytest.raises(PermanentError, match="no sender"):
        await send.run(inp, Ctx(services=LOOPBACK, credential={"host": "127.0.0.1"}))


@pytest.mark.parametrize("bad", [{"from": "not an address"}, {"from": "bot@example.com", "timeout_s": "soon"}])
async def test_bad_credential_fields_are_credential_errors(bad: dict[str, str]) -> None:

    inp = SendInput(to=["a@example.com"], subject="s", body="b")
    with pytest.raises(CredentialError) as err:
        await send.run(inp, Ctx(services=LOOPBACK, credential={"host": "127.0.0.1", "port": 2525, "security": "none", **bad}))
    assert err.value.code == "credential_invalid" and "smtp credential" in err.value.message


# --- the SMTP host goes through the host policy and is no port scanner (issue 11) ----------------


@pytest.fixture
def banner_server() -> Iterator[int]:
    """A non-SMTP service on loopback that greets with a banner naming its software."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-OpenSSH_9.6 secret-banner\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


async def test_internal_hosts_are_refused_unless_allow_listed(plain_smtp) -> None:
    inbox, port = plain_smtp
    inp = SendInput.model_validate({"to": ["a@example.com"], "subject": "s", "body": "b"})
    for host in ("127.0.0.1", "localhost", "169.254.169.254", "10.0.0.1", "::1"):
        with pytest.raises(ConnectorError) as err:
            await send.run(inp, Ctx(credential={"host": host, "port": port, "security": "none",
                                                "from": "b@example.com"}))
        assert err.value.code == "ssrf_blocked", host
    assert inbox.messages == []


async def test_errors_name_the_host_and_kind_never_the_remote_banner(banner_server: int) -> None:
    inp = SendInput.model_validate({"to": ["a@example.com"], "subject": "s", "body": "b"})
    for security in ("none", "starttls", "ssl"):
        ctx = Ctx(services=LOOPBACK, credential={"host": "127.0.0.1", "port": banner_server,
                                                 "security": security, "from": "b@example.com", "timeout_s": 5})
        with pytest.raises(ConnectorError) as err:
            await send.run(inp, ctx)
        text = str(err.value)
        assert f"127.0.0.1:{banner_server}" in text, text
        assert "SSH" not in text and "banner" not in text and "OpenSSH" not in text, text


async def test_attachments_arrive_as_sent(plain_smtp) -> None:
    import base64

    inbox, port = plain_smtp
    ctx = Ctx(services=LOOPBACK, credential={"host": "127.0.0.1", "port": port, "security": "none", "from": "bot@example.com"})
    pdf = b"%PDF-1.4 not really, but bytes" + bytes(range(256))
    inp = SendInput.model_validate({"to": "alice@example.com", "subject": "report", "body": "attached",
                                    "attachments": [{"filename": "report.pdf", "content_type": "application/pdf",
                                                     "content_base64": base64.b64encode(pdf).decode()}]})
    await send.run(inp, ctx)
    msg = message_from_bytes(inbox.messages[0][2], policy=default)
    assert msg.get_body(("plain",)).get_content().strip() == "attached"
    [part] = list(msg.iter_attachments())
    assert (part.get_filename(), part.get_content_type(), part.get_content()) == ("report.pdf", "application/pdf", pdf)


@pytest.mark.parametrize(("attachment", "message"), [
    ({"filename": "../etc/passwd", "content_base64": "aGk="}, "without folders"),
    ({"filename": "a\r\nBcc: x@y.z", "content_base64": "aGk="}, "control characters"),
    ({"filename": "a.txt", "content_base64": "not base64!"}, "not valid base64"),
    ({"filename": "a.txt", "content_type": "text", "content_base64": "aGk="}, "not a MIME type"),
])
def test_bad_attachments_are_input_errors(attachment, message) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        SendInput.model_validate({"to": "a@example.com", "subject": "s", "body": "b", "attachments": [attachment]})


def test_attachments_have_a_size_limit() -> None:
    import base64

    from pydantic import ValidationError

    from connectors.email import MAX_ATTACHMENT_BYTES

    big = base64.b64encode(b"x" * (MAX_ATTACHMENT_BYTES + 3)).decode()
    with pytest.raises(ValidationError, match="over the"):
        SendInput.model_validate({"to": "a@example.com", "subject": "s", "body": "b",
                                  "attachments": [{"filename": "big.bin", "content_base64": big}]})
