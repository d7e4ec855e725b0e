"""Signed webhooks: the signature scheme on its own, then over HTTP — a request that does not
verify is a 401 naming why and runs nothing; one that does runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.api.webhook_signature import HEADER, WebhookSignatureError, parse, sign, signature, verify
from app.settings import get_settings

SECRET = b"whsec-7f3a9c1e5b"
BODY = b'{"email": "a@example.com"}'


def reason(header: str | None, body: bytes = BODY, *, secret: bytes = SECRET, now: float | None = None) -> str:
    with pytest.raises(WebhookSignatureError) as caught:
        verify(header, secret, body, tolerance_s=300, now=now)
    assert caught.value.status == 401
    return str(caught.value.details["reason"])


def test_a_signed_body_verifies_and_anything_else_says_why() -> None:
    now = int(time.time())
    header = sign(SECRET, BODY, timestamp=now)
    assert header == f"t={now},v1={signature(SECRET, now, BODY)}"
    assert verify(header, SECRET, BODY, tolerance_s=300, now=now + 299) == now
    assert reason(None) == "missing" and reason("") == "missing"
    assert reason(header, BODY + b" ") == "mismatch"  # the body was changed
    assert reason(header, secret=b"another secret") == "mismatch"
    assert reason(header.replace(f"t={now}", f"t={now + 1}")) == "mismatch"  # the timestamp is signed too
    assert reason(header, now=now + 301) == "stale" and reason(header, now=now - 301) == "stale"
    for bad in ("v1=abc", f"t={now}", f"t=soon,v1={'a' * 64}", f"t={now},v1=xyz", "garbage", "t=1," * 2000):
        assert reason(bad) == "malformed", bad


def test_rotation_sends_two_signatures_and_one_must_match() -> None:
    now = int(time.time())
    old, new = sign(b"old", BODY, timestamp=now), sign(SECRET, BODY, timestamp=now)
    both = f"{new},{old.split(',')[1]}"
    assert parse(both) == (now, [new.split("=")[-1], old.split("=")[-1]])
    assert verify(both, SECRET, BODY, tolerance_s=60, now=now) == now
    assert verify(f"{both},v0=ignored", b"old", BODY, tolerance_s=60, now=now) == now
    assert reason(f"t={now},v1={'0' * 64},v1={'1' * 64}") == "mismatch"


def signed_workflow(credential: str = "signup-hook", **signing: Any) -> dict[str, Any]:
    return {
        "schema_version": "1", "name": "Signed signup hook",
        "nodes": [
            {"id": "hook", "type": "trigger", "kind": "webhook",
             "config": {"method": "POST", "signing": {"credential": credential, **signing}}},
            {"id": "greet", "type": "action", "connector": "core", "operation": "transform",
             "config": {"expression": "'hello ' & trigger.body.email"}},
        ],
        "edges": [{"source": "hook", "target": "greet"}],
    }


@pytest.fixture
def client(admin_headers: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def post(client: TestClient, wf_id: str, body: bytes = BODY, signature_header: str | None = None) -> Any:
    headers = {"content-type": "application/json", "Authorization": ""}
    if signature_header is not None:
        headers[HEADER] = signature_header
    return client.post(f"/v1/hooks/{wf_id}?wait=true", content=body, headers=headers)


def test_over_http_only_a_verified_request_runs(client: TestClient) -> None:
    assert client.put("/v1/credentials/signup-hook", json={"type": "api_key", "secret": SECRET.decode()}).status_code == 200
    wf_id = client.post("/v1/workflows", json=signed_workflow(tolerance_s=60)).json()["id"]
    assert client.post(f"/v1/workflows/{wf_id}/activate").status_code == 200
    now = int(time.time())
    refusals = {
        "missing": post(client, wf_id),
        "mismatch": post(client, wf_id, BODY.replace(b"a@", b"evil@"), sign(SECRET, BODY, timestamp=now)),
        "stale": post(client, wf_id, BODY, sign(SECRET, BODY, timestamp=now - 61)),
        "malformed": post(client, wf_id, BODY, "sha256=deadbeef"),
    }
    for why, response in refusals.items():
        assert response.status_code == 401, (why, response.text)
        error = response.json()["error"]
        assert error["code"] == "webhook_signature_invalid" and error["details"]["reason"] == why, error
        assert error["details"]["header"] == HEADER and SECRET.decode() not in response.text
    assert client.get("/v1/executions").json() == []  # nothing refused ran

    done = post(client, wf_id, BODY, sign(SECRET, BODY))
    assert done.status_code == 202, done.text
    assert done.json()["output"] == {"value": "hello a@example.com"}
    (execution,) = client.get("/v1/executions").json()
    stored = client.get(f"/v1/executions/{execution['id']}").text
    assert HEADER.lower() not in stored.lower()  # the signature header is not part of the run's input


def test_a_missing_secret_fails_closed(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=signed_workflow("not-stored-yet")).json()["id"]
    assert client.post(f"/v1/workflows/{wf_id}/activate").status_code == 200
    refused = post(client, wf_id, BODY, sign(SECRET, BODY))
    assert refused.status_code == 401
    assert refused.json()["error"]["details"]["reason"] == "secret_unavailable"
    assert "not-stored-yet" not in refused.text  # the caller learns nothing about the workspace
    assert client.get("/v1/executions").json() == []


def test_signing_is_validated_at_save(client: TestClient) -> None:
    manual = signed_workflow()
    manual["nodes"][0] = {"id": "hook", "type": "trigger", "kind": "manual", "config": {"signing": {"credential": "x"}}}
    problems = client.post("/v1/workflows/validate", json=manual).json()["problems"]
    assert [(p["code"], p["path"]) for p in problems] == [("config_not_applicable", "$.nodes[0].config.signing")]
    for signing, path in (({"credential": "bad name"}, "credential"), ({"credential": "x", "tolerance_s": 0}, "tolerance_s")):
        wf = signed_workflow()
        wf["nodes"][0]["config"]["signing"] = signing
        response = client.post("/v1/workflows", json=wf)
        assert response.status_code == 422, response.text
        assert path in response.text


def test_a_replay_inside_the_window_is_refused_and_runs_nothing(client: TestClient) -> None:
    assert client.put("/v1/credentials/signup-hook", json={"type": "api_key", "secret": SECRET.decode()}).status_code == 200
    wf_id = client.post("/v1/workflows", json=signed_workflow(tolerance_s=300)).json()["id"]
    assert client.post(f"/v1/workflows/{wf_id}/activate").status_code == 200
    now = int(time.time())
    captured = sign(SECRET, BODY, timestamp=now)
    assert post(client, wf_id, BODY, captured).status_code == 202
    replayed = post(client, wf_id, BODY, captured)
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["error"]["details"]["reason"] == "replayed"
    # the same body signed again, as a sender's retry does, is a new delivery
    assert post(client, wf_id, BODY, sign(SECRET, BODY, timestamp=now + 1)).status_code == 202
    assert len(client.get("/v1/executions").json()) == 2  # the replay ran nothing
    # another service process over the same database refuses the copy too
    with TestClient(create_app(get_settings())) as other:
        again = other.post(f"/v1/hooks/{wf_id}", content=BODY, headers={"content-type": "application/json",
                                                                        HEADER: captured})
    assert again.status_code == 401 and again.json()["error"]["details"]["reason"] == "replayed"


def test_seen_signatures_are_forgotten_once_their_window_has_passed(tmp_path: Any) -> None:
    from app.api.webhook_replays import SEEN, SeenSignatures
    from engine.db import make_engine

    now = [1_000.0]
    seen = SeenSignatures(make_engine(f"sqlite:///{tmp_path / 'seen.db'}"), clock=lambda: now[0])
    assert seen.first_time("wf_a", "a" * 64, expires_at=1_301)
    assert not seen.first_time("wf_a", "a" * 64, expires_at=1_301)
    assert seen.first_time("wf_b", "a" * 64, expires_at=1_301)  # per workflow
    now[0] = 1_302.0
    assert seen.first_time("wf_c", "c" * 64, expires_at=1_603)  # the passed ones are deleted here
    with seen.engine.connect() as conn:
        assert [r.workflow_id for r in conn.execute(SEEN.select())] == ["wf_c"]
