"""A real HTTP server on loopback for the tracing tests: an OTLP/HTTP trace receiver
(``POST /v1/traces``, protobuf ``ExportTraceServiceRequest`` decoded as a collector does) and a
flaky endpoint for the traced workflow (``GET /flaky``: 503 once, then 200)."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


class Receiver:
    """Serves until :meth:`close`; ``requests`` holds every decoded export request."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []
        self.flaky_calls = 0
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self._answer(404, b"")
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver._received:
                    receiver.requests.append(request)
                    receiver.content_types.append(self.headers.get("content-type", ""))
                    receiver._received.notify_all()
                self._answer(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

            def do_GET(self) -> None:
                with receiver._lock:
                    receiver.flaky_calls += 1
                    first = receiver.flaky_calls == 1
                self._answer(503 if first else 200, b'{"ok": true}', "application/json")

            def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def spans(self) -> list[Any]:
        """Every span received, with its resource's attributes as ``span.resource``."""
        out = []
        with self._lock:
            for request in self.requests:
                for resource_spans in request.resource_spans:
                    resource = attributes(resource_spans.resource.attributes)
                    for scope_spans in resource_spans.scope_spans:
                        out.extend((span, resource, scope_spans.scope.name) for span in scope_spans.spans)
        return out

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        """The spans once at least ``count`` have arrived (fails after ``timeout`` seconds)."""
        with self._received:
            self._received.wait_for(lambda: sum(
                len(s.spans) for r in self.requests for rs in r.resource_spans for s in rs.scope_spans) >= count,
                timeout=timeout)
        return self.spans()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def value(any_value: AnyValue) -> Any:
    """An OTLP attribute value as Python."""
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def attributes(key_values: Any) -> dict[str, Any]:
    """OTLP ``KeyValue``s as a dict."""
    return {kv.key: value(kv.value) for kv in key_values}


def traced_workflow(base_url: str) -> dict[str, Any]:
    """Trigger → a flaky GET retried once → a model call → a loop of two transforms."""
    return {
        "schema_version": "1", "name": "Traced",
        "nodes": [
            {"id": "start", "type": "trigger", "kind": "manual"},
            {"id": "fetch", "type": "action", "connector": "http", "operation": "request",
             "config": {"method": "GET", "url": f"{base_url}/flaky"},
             "retry": {"max_attempts": 3, "backoff": "fixed", "initial_delay_s": 0.01, "jitter": False}},
            {"id": "ask", "type": "action", "connector": "llm", "operation": "complete",
             "config": {"prompt": "Say hi"}},
            {"id": "each", "type": "loop", "config": {"items": "{{ [1, 2] }}"},
             "body": {"nodes": [{"id": "double", "type": "action", "connector": "core", "operation": "transform",
                                 "config": {"expression": "item * 2"}}], "edges": []}},
        ],
        "edges": [{"source": "start", "target": "fetch"}, {"source": "fetch", "target": "ask"},
                  {"source": "ask", "target": "each"}],
    }
