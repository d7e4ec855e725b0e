"""Secrets redacted in their encoded forms too — the finding of issue 11: the base64 Basic-auth
header and URL-encoded query keys reached step outputs, SSE, errors and the database."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from connectors import core, http
from connectors.registry import Registry
from engine.redaction import REDACTED, Redactor, encoded_forms
from tests.connectors.conftest import LOOPBACK, LoopbackServer
from tests.engine.runtime_helpers import DictVault, runtime_at, wf

SECRET = "pa$$ w/rd+é:42&x=1"


def redactor(**credential: str) -> Redactor:
    r = Redactor()
    r.add_credential(credential)
    return r


@pytest.mark.parametrize("form", [
    base64.b64encode(SECRET.encode()).decode(),
    base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    quote(SECRET, safe=""), quote(SECRET, safe="").lower(), quote_plus(SECRET), quote(SECRET),
    SECRET.encode().hex(), SECRET.encode().hex().upper(),
    json.dumps(SECRET)[1:-1], json.dumps({"k": SECRET})[1:-1],
])
def test_each_encoded_form_is_redacted(form: str) -> None:
    text = f"before {form} after"
    out = redactor(password=SECRET).text(text)
    assert form not in out and out.startswith("before ") and out.endswith(" after") and REDACTED in out


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b'{"token": "'])
def test_base64_inside_a_longer_encoded_text_at_any_alignment(prefix: bytes) -> None:
    blob = base64.b64encode(prefix + SECRET.encode() + b'", "more": "data"}').decode()
    out = redactor(token=SECRET).text(blob)
    assert out != blob and REDACTED in out
    # what is left cannot be decoded back to the secret
    assert SECRET.encode() not in base64.b64decode(out.replace(REDACTED, "") + "==", validate=False)


def test_basic_auth_and_short_values() -> None:
    header = "Basic " + base64.b64encode(b"alice:" + SECRET.encode()).decode()
    assert redactor(username="alice", password=SECRET).text(header) == f"Basic {REDACTED}"
    short = redactor(pin="12")
    assert short.text("12") == REDACTED and short.text("a 12 b") == "a 12 b"  # no blanking by chance
    assert all(len(f) >= 8 for f in encoded_forms("abcd"))


async def test_an_echoing_server_sees_the_secrets_and_the_run_keeps_none(tmp_path: Path) -> None:
    """A real HTTP call with Basic auth and a key in the query: the loopback server echoes every
    header and the URL back; nothing of either survives in the run, its events or the database."""
    server = LoopbackServer().start()
    server.routes["/echo"] = lambda r: (200, {}, {"headers": r.headers, "query": r.query,
                                                  "auth_b64": r.headers.get("authorization", "")[6:]})
    db = tmp_path / "run.db"
    key = "k3y/with+chars=="
    nodes = [{"id": "call", "type": "action", "connector": "http", "operation": "request", "credential": "basic",
              "config": {"method": "GET", "url": f"{server.url}/echo"}},
             {"id": "call_key", "type": "action", "connector": "http", "operation": "request", "credential": "qkey",
              "config": {"method": "GET", "url": f"{server.url}/echo?page=2"}}]
    vault = DictVault({"basic": {"username": "alice", "password": SECRET},
                       "qkey": {"api_key": key, "query_param": "api_key"}})
    try:
        async with runtime_at(db, registry=Registry([core.CONNECTOR, http.CONNECTOR]), credentials=vault,
                              services=LOOPBACK) as rt:
            result = await rt.run(wf(nodes, [("start", "call"), ("call", "call_key")]))
            events = [e.to_dict() async for e in rt.events(result["id"])]
    finally:
        server.stop()
    assert result["status"] == "completed", result["error"]
    sent = server.requests[0].headers["authorization"]
    assert sent == "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()  # the server did get it
    everything = json.dumps([result, events])
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("run.db"))
    for leaked in (sent[6:], SECRET, quote_plus(SECRET), key, quote_plus(key), quote(key, safe="")):
        assert leaked not in everything, leaked
        assert leaked.encode() not in raw, leaked
    echoed = next(s for s in result["steps"] if s["node_id"] == "call")["output"]["body"]
    assert echoed["auth_b64"] == REDACTED and echoed["headers"]["authorization"] == f"Basic {REDACTED}"
