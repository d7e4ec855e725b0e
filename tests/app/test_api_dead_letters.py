"""The dead-letter API end to end, against a real HTTP service on loopback that is down, then up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.app.flaky_service import FlakyService, calling, flaky_service


@pytest.fixture
def service() -> Iterator[FlakyService]:
    with flaky_service() as s:
        yield s


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    monkeypatch.setenv("FLOWWRIGHT_HTTP_ALLOW_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def test_list_inspect_replay_and_purge(client: TestClient, service: FlakyService,
                                      api_key: Callable[..., dict[str, str]]) -> None:
    created = client.post("/v1/workflows", json=calling(service.url))
    assert created.status_code == 201, created.text
    wf_id = created.json()["id"]
    failed = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {}}).json()
    assert failed["status"] == "failed" and service.calls == 2

    (letter,) = client.get("/v1/dead-letters").json()
    assert letter["execution_id"] == failed["id"] and letter["reason"] == "retries_exhausted"
    assert letter["node_id"] == "check" and letter["error"]["retries_exhausted"] is True
    other, viewer = api_key("other"), api_key(role="viewer")
    assert client.get("/v1/dead-letters", headers=other).json() == []
    assert client.get(f"/v1/dead-letters/{failed['id']}", headers=other).status_code == 404
    assert client.post(f"/v1/dead-letters/{failed['id']}/replay", headers=other).status_code == 404
    assert client.get("/v1/dead-letters", headers=viewer).json() == [letter]
    assert client.post(f"/v1/dead-letters/{failed['id']}/replay", headers=viewer).status_code == 403
    assert client.delete(f"/v1/dead-letters/{failed['id']}", headers=viewer).status_code == 403
    assert client.get(f"/v1/dead-letters/{failed['id']}").json() == letter

    service.down = False
    bad = client.post(f"/v1/dead-letters/{failed['id']}/replay", json={"inputs": {}})
    assert bad.status_code == 422  # a misspelt field is named, not ignored
    replayed = client.post(f"/v1/dead-letters/{failed['id']}/replay")
    assert replayed.status_code == 202, replayed.text
    new_id = replayed.json()["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/v1/executions/{new_id}").json()["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.get(f"/v1/executions/{new_id}").json()["status"] == "completed"
    assert client.get("/v1/dead-letters").json() == []
    (kept,) = client.get("/v1/dead-letters", params={"all": "true"}).json()
    assert kept["replayed_as"] == new_id

    assert client.delete(f"/v1/dead-letters/{failed['id']}").status_code == 204
    assert client.delete(f"/v1/dead-letters/{failed['id']}").status_code == 404
    assert client.get("/v1/dead-letters", params={"all": "true"}).json() == []
    assert client.post("/v1/dead-letters/ex_nope/replay").status_code == 404


def test_circuit_state_is_visible_and_resettable(client: TestClient, service: FlakyService,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 api_key: Callable[..., dict[str, str]]) -> None:
    breakers = client.app.state.container.breakers  # type: ignore[attr-defined]
    monkeypatch.setattr(breakers, "policy", type(breakers.policy)(failures=2, window_s=60, open_s=600))
    wf_id = client.post("/v1/workflows", json=calling(service.url)).json()["id"]
    first = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {}}).json()
    assert first["status"] == "failed"
    (circuit,) = client.get("/v1/circuits").json()
    assert circuit["key"] == "http:127.0.0.1" and circuit["state"] == "open" and circuit["failures"] == 2
    assert client.get("/v1/circuits", headers=api_key("other")).json() == []
    assert client.delete("/v1/circuits/http:127.0.0.1", headers=api_key(role="viewer")).status_code == 403
    second = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {}}).json()
    assert second["error"]["code"] == "circuit_open" and service.calls == 2
    assert client.delete("/v1/circuits/http:127.0.0.1").status_code == 204
    assert client.delete("/v1/circuits/http:127.0.0.1").status_code == 404
    service.down = False
    third = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {}}).json()
    assert third["status"] == "completed"
