"""Real loopback servers and a minimal operation context for connector tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.services import ConnectorServices
from connectors.ssrf import HttpClients

LOOPBACK = ConnectorServices(http=HttpClients.allowing("127.0.0.1"))
"""Services whose host policy admits 127.0.0.1, where the test servers listen."""


@dataclass
class Ctx:
    """An OperationContext as the engine builds one (no engine needed for connector tests)."""

    services: ConnectorServices = field(default_factory=ConnectorServices)
    credential: Mapping[str, Any] | None = None
    workspace_id: str = "ws_test"
    execution_id: str | None = "ex_test"
    node_id: str | None = "node"
    dry_run: bool = False
    resumed: bool = False
    resume_at: datetime | None = None
    idempotency_key: str | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)

    def log(self, level: str, message: str, **metadata: Any) -> None:
        self.logs.append((level, message))

    async def evaluate(self, expression: str) -> Any:
        raise NotImplementedError(expression)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class LoopbackServer:
    """A real HTTP server on 127.0.0.1. ``routes`` maps a path to a function returning
    (status, headers, body); every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.routes: dict[str, Any] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                rec = Recorded(self.command, parts.path, parse_qs(parts.query),
                               {k.lower(): v for k, v in self.headers.items()}, body)
                server.requests.append(rec)
                route = server.routes.get(parts.path)
                if route is None:
                    status, headers, payload = 404, {"Content-Type": "text/plain"}, b"not found"
                else:
                    status, headers, payload = route(rec)
                if isinstance(payload, dict | list):
                    payload = json.dumps(payload).encode()
                    headers = {"Content-Type": "application/json", **headers}
                elif isinstance(payload, str):
                    payload = payload.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    yield server
    server.stop()


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
