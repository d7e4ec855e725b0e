"""The API's error mapping for database faults: a locked SQLite file or an exhausted pool is a
503 JSON answer with ``Retry-After`` (never a text 500, never SQL), and the service recovers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.engine.workflows import minimal


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    monkeypatch.setenv("FLOWWRIGHT_DB_BUSY_TIMEOUT_S", "0.05")
    monkeypatch.setenv("FLOWWRIGHT_DB_POOL_TIMEOUT_S", "0.05")
    monkeypatch.setenv("FLOWWRIGHT_DB_RETRY_S", "0.3")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def _database(client: TestClient) -> Path:
    url = client.app.state.container.db.url  # type: ignore[attr-defined]
    return Path(url.database)


def _assert_busy(response: object) -> dict[str, object]:
    assert response.status_code == 503, response.text  # type: ignore[attr-defined]
    assert response.headers["retry-after"].isdigit()  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "database_busy"
    text = str(error).upper()
    assert "INSERT" not in text and "UPDATE" not in text and "SELECT" not in text
    return dict(error)


def test_a_write_while_another_writer_holds_the_lock_is_a_503_with_retry_after(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=minimal()).json()["id"]
    holder = sqlite3.connect(_database(client), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        error = _assert_busy(client.post("/v1/workflows", json={**minimal(), "name": "second"}))
        assert "locked" in str(error["message"])
        # a run goes through the group-commit writer: it retries for FLOWWRIGHT_DB_RETRY_S, then 503
        _assert_busy(client.post(f"/v1/workflows/{wf_id}/run", json={"input": {"n": 1}}))
        assert client.get(f"/v1/workflows/{wf_id}").status_code == 200  # WAL: reads go on
    finally:
        holder.rollback()
        holder.close()
    assert client.post("/v1/workflows", json={**minimal(), "name": "third"}).status_code == 201
    done = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {"n": 1}})
    assert done.status_code in (200, 202) and done.json()["status"] == "completed"


def test_an_exhausted_connection_pool_is_a_503_not_a_500(client: TestClient) -> None:
    engine = client.app.state.container.db  # type: ignore[attr-defined]
    held = []
    try:
        while True:  # check out every connection the pool will give (its size plus overflow)
            try:
                held.append(engine.connect())
            except Exception:
                break
        assert held, "the pool gave no connection at all"
        _assert_busy(client.get("/v1/workflows"))
    finally:
        for conn in held:
            conn.close()
    assert client.get("/v1/workflows").status_code == 200
