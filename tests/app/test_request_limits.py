"""Request limits at the edge (app/api/request_limits.py): body size while streaming, JSON depth,
loops nested too deep — each a finding of issue 11 replayed against the service."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.api.request_limits import json_too_deep
from app.api.server import create_app
from app.settings import get_settings
from tests.app.live_server import serve
from tests.engine.workflows import minimal, nested_loops

MB = 1024 * 1024


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def webhook() -> dict[str, Any]:
    return {"schema_version": "1", "name": "Hook", "nodes": [
        {"id": "hook", "type": "trigger", "kind": "webhook", "config": {"method": "POST"}},
        {"id": "size", "type": "action", "connector": "core", "operation": "transform",
         "config": {"expression": "$length(trigger.body)"}}],
        "edges": [{"source": "hook", "target": "size"}]}


def _chunked_upload(port: int, path: str, total: int) -> tuple[int, bytes]:
    """Stream up to ``total`` bytes as a chunked body; how many got out before the server answered."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"%" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    answer = bytearray()

    def read() -> None:
        with contextlib.suppress(OSError):
            while more := sock.recv(65536):
                answer.extend(more)

    reader = threading.Thread(target=read)
    reader.start()
    sent = 0
    with contextlib.suppress(OSError):  # the server closes the connection after its 413
        while sent < total and not answer:
            sock.sendall(frame)
            sent += len(chunk)
    reader.join(timeout=10)
    sock.close()
    return sent, bytes(answer)


def test_chunked_bodies_are_cut_off_while_streaming() -> None:
    """Finding: a 200 MB chunked webhook body was read whole before the 5 MB check (+363 MB)."""
    with serve(create_app(get_settings())) as port:
        for path, limit, setting in (("/v1/hooks/wf_anything", 5 * MB, "FLOWWRIGHT_WEBHOOK_MAX_BODY_BYTES"),
                                     ("/v1/workflows", MB, "FLOWWRIGHT_MAX_BODY_BYTES")):
            sent, answer = _chunked_upload(port, path, 200 * MB)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413"), answer[:200]
            error = json.loads(body)["error"]
            assert error["code"] == "body_too_large"
            assert error["details"] == {"limit_bytes": limit, "setting": setting}
            assert str(limit) in error["message"]
            # the server stopped reading at the limit: what got through is the limit plus socket buffers
            assert sent < limit + 16 * MB, sent


def test_declared_length_over_the_limit_is_refused_unread(client: TestClient) -> None:
    """Finding: other endpoints accepted 50 MB."""
    big = client.post("/v1/workflows", content=b"x" * (MB + 1), headers={"content-type": "application/json"})
    assert big.status_code == 413
    assert big.json()["error"]["details"]["limit_bytes"] == MB
    chat = client.post("/v1/chat", json={"message": "a" * (2 * MB)})
    assert chat.status_code == 413 and chat.json()["error"]["code"] == "body_too_large"


def test_webhooks_keep_their_5_mb(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=webhook()).json()["id"]
    assert client.post(f"/v1/workflows/{wf_id}/activate").status_code == 200  # a draft's hook is a 404
    ok = client.post(f"/v1/hooks/{wf_id}?wait=true", content=b"a" * (2 * MB), headers={"content-type": "text/plain"})
    assert ok.status_code == 202, ok.text[:300]
    assert ok.json()["output"] == {"value": 2 * MB}
    over = client.post(f"/v1/hooks/{wf_id}", content=b"a" * (5 * MB + 1), headers={"content-type": "text/plain"})
    assert over.status_code == 413
    assert over.json()["error"]["details"]["setting"] == "FLOWWRIGHT_WEBHOOK_MAX_BODY_BYTES"


def test_deep_json_is_a_422_naming_the_path(client: TestClient) -> None:
    arrays = client.post("/v1/workflows", content=b"[" * 100_000 + b"]" * 100_000,
                         headers={"content-type": "application/json"})
    assert arrays.status_code == 422, arrays.text[:300]
    error = arrays.json()["error"]
    assert error["code"] == "json_too_deep"
    assert error["details"]["path"] == "$" + "[0]" * 64
    objects: Any = {}
    for _ in range(70):
        objects = {"a": objects}
    deep = client.post("/v1/workflows/validate", json={"nodes": [objects]})
    assert deep.status_code == 422
    assert deep.json()["error"]["details"]["path"] == "$.nodes[0]" + ".a" * 62
    # a webhook body with no content type is read as JSON, so it is checked too
    wf_id = client.post("/v1/workflows", json=webhook()).json()["id"]
    assert client.post(f"/v1/workflows/{wf_id}/activate").status_code == 200
    hook = client.post(f"/v1/hooks/{wf_id}", content=b"[" * 5000 + b"]" * 5000)
    assert hook.status_code == 422 and hook.json()["error"]["code"] == "json_too_deep"


def test_the_scanner_names_the_path_of_text_too_deep_to_parse() -> None:
    body = b'{"a": [1, "x]", {"b\\"": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    assert json_too_deep(body, "application/json", 10) == '$.a[2].b"' + "[0]" * 7
    assert json_too_deep(b'{"a": "' + b"[" * 100 + b'"}', "application/json", 10) is None
    assert json_too_deep(b"[" * 100, "text/plain", 10) is None  # not JSON: the route decides
    assert json_too_deep(b"[" * 100 + b"]" * 100, "", 10) == "$" + "[0]" * 10


def test_loops_nested_200_deep_are_refused_at_save(client: TestClient) -> None:
    """Finding: loops nested 200 deep were stored, then every read of them was a 500."""
    refused = client.post("/v1/workflows", json=nested_loops(200))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "json_too_deep"
    eleven = client.post("/v1/workflows", json=nested_loops(11))  # within the JSON depth, over the loop limit
    assert eleven.status_code == 422
    problem = eleven.json()["error"]["details"]["problems"][0]
    assert problem["code"] == "loop_too_deep"
    assert problem["path"] == "$.nodes[1]" + ".body.nodes[0]" * 10
    assert "11 deep" in problem["message"] and "at most 10" in problem["message"]
    assert client.post("/v1/workflows", json=nested_loops(10)).status_code == 201


def test_existing_too_deep_versions_read_without_a_500(client: TestClient) -> None:
    """A version stored before the limit (as the finding's 200-deep loops were) still reads and lists."""
    wf_id = client.post("/v1/workflows", json=minimal()).json()["id"]
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.db.begin() as conn:
        conn.execute(text("UPDATE workflow_versions SET definition = :d WHERE workflow_id = :w"),
                     {"d": json.dumps(nested_loops(200)), "w": wf_id})
    read = client.get(f"/v1/workflows/{wf_id}")
    assert read.status_code == 200
    assert read.json()["definition"] is None
    assert read.json()["problems"][0]["code"] == "loop_too_deep"
    assert client.get("/v1/workflows").status_code == 200
    assert client.get(f"/v1/workflows/{wf_id}/versions").status_code == 200
    run = client.post(f"/v1/workflows/{wf_id}/run", json={"input": {}})
    assert run.status_code == 422 and run.json()["error"]["code"] == "workflow_invalid"
    assert client.put(f"/v1/workflows/{wf_id}", json=minimal()).status_code == 200  # and it can be replaced


def test_leading_whitespace_does_not_hide_depth() -> None:
    assert json_too_deep(b" \n" * 10_000 + b"[" * 100 + b"]" * 100, "", 10) == "$" + "[0]" * 10
