"""A loopback HTTP server speaking OpenAI's chat-completions API, for tests of the hosted path
(litellm's real OpenAI client, real HTTP, no internet).

Each reply is a ``(status, headers, body)`` tuple, or a function of the request's JSON returning
one (to answer from what was sent, as a provider does); every request is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, str], dict[str, Any]]
Responder = Reply | Callable[[dict[str, Any]], Reply]


class OpenAIStub:
    """Scripted replies on ``POST <url>/chat/completions``; ``close()`` stops the server."""

    def __init__(self, replies: list[Responder]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                stub.requests.append({"path": self.path, "json": body, "auth": self.headers.get("authorization")})
                reply = stub.replies.pop(0) if stub.replies else (500, {}, {"error": {"message": "no reply left"}})
                status, headers, payload = reply(body) if callable(reply) else reply
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def tool_call_completion(name: str, arguments: dict[str, Any] | str, *, prompt_tokens: int = 1000,
                         completion_tokens: int = 100) -> dict[str, Any]:
    """A chat completion whose answer is one call of the tool ``name``."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": text}}]}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def bad_request(message: str) -> Reply:
    """What OpenAI answers to a request it refuses (e.g. a schema strict mode does not accept)."""
    return 400, {}, {"error": {"message": message, "type": "invalid_request_error", "param": "tools", "code": None}}


__all__ = ["OpenAIStub", "bad_request", "tool_call_completion"]
