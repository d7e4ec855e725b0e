"""A real HTTP service on loopback that answers 503 until told to recover (dead-letter tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FlakyService:
    """``down`` decides the answer: 503 while true, 200 JSON after."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.calls += 1
                body = b'{"error": "down"}' if service.down else b'{"ok": true}'
                self.send_response(503 if service.down else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/status"


@contextmanager
def flaky_service() -> Iterator[FlakyService]:
    """Run a :class:`FlakyService` for the block."""
    service = FlakyService()
    thread = threading.Thread(target=service.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.server.shutdown()
        service.server.server_close()


def calling(url: str) -> dict[str, Any]:
    """A workflow that GETs ``url`` with two attempts (no delay between them)."""
    return {
        "schema_version": "1", "name": "check status",
        "nodes": [
            {"id": "start", "type": "trigger", "kind": "manual"},
            {"id": "check", "type": "action", "connector": "http", "operation": "request",
             "config": {"method": "GET", "url": url},
             "retry": {"max_attempts": 2, "backoff": "fixed", "initial_delay_s": 0}},
        ],
        "edges": [{"source": "start", "target": "check"}],
    }
