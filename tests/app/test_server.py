"""The service answers /health, serves its OpenAPI page and sweeps old runs (retention)."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from app.api.server import create_app
from app.settings import get_settings


def test_health_and_openapi() -> None:
    client = TestClient(create_app(get_settings()))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert client.get("/openapi.json").json()["info"]["title"] == "Flowwright"
    assert client.get("/docs").status_code == 200


def test_docs_pages_load_their_assets_from_the_service_not_a_cdn() -> None:
    client = TestClient(create_app(get_settings()))
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "https://" not in html and "http://" not in html
        for asset in re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', html):
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000, asset
    assert 'src="/docs-assets/swagger-ui-bundle.js"' in client.get("/docs").text


def test_the_service_sweeps_old_finished_runs_at_start(monkeypatch: pytest.MonkeyPatch,
                                                      admin_headers: dict[str, str]) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    from tests.engine.workflows import minimal

    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    monkeypatch.setenv("FLOWWRIGHT_RETENTION_MAX_AGE_DAYS", "7")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as client:
        wf_id = client.post("/v1/workflows", json=minimal()).json()["id"]
        ran = [client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={}).json()["id"]
               for _ in range(2)]
        engine = client.app.state.container.db  # type: ignore[attr-defined]
        with engine.begin() as conn:  # the first run is eight days old (written as the store writes times)
            conn.exec_driver_sql("UPDATE executions SET created_at = ? WHERE id = ?",
                                 (datetime.now(UTC) - timedelta(days=8), ran[0]))
    with TestClient(create_app(get_settings()), headers=admin_headers) as client:  # a restart sweeps at once
        for _ in range(100):
            listed = [e["id"] for e in client.get("/v1/executions").json()]
            if ran[0] not in listed:
                break
            time.sleep(0.1)
    assert listed == [ran[1]]


def test_a_warmed_copilot_reports_ready_and_stores_nothing_while_warming(admin_headers: dict[str, str]) -> None:
    """``serve`` warms the copilot in the background; /health says when; the warm-up leaves no
    workflow, conversation or usage row behind, and the first chat after it is answered."""
    settings = get_settings()
    with TestClient(create_app(settings, warm_copilot=True), headers=admin_headers) as client:
        deadline = time.monotonic() + 300  # a busy CI machine: the wait is on the signal, not a guess
        states = []
        while (state := client.get("/health").json()["copilot"]) != "ready":
            assert state in {"warming", "cold"} and time.monotonic() < deadline, state
            states.append(state)
            time.sleep(0.2)
        engine = create_engine(settings.resolved_database_url)
        with engine.connect() as conn:
            tables = set(inspect(engine).get_table_names())
            assert {"workflows", "llm_usage"} <= tables
            for table in {"workflows", "workflow_versions", "copilot_conversations", "copilot_messages",
                          "llm_usage"} & tables:
                assert conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0, table
        engine.dispose()
        turn = client.post("/v1/conversations", json={
            "message": "Every day at 8am fetch https://api.example.com/x and email it to bob@example.com"}).json()
        assert turn["kind"] == "workflow" and turn["valid"] is True, turn
    assert TestClient(create_app(get_settings())).get("/health").json()["copilot"] == "cold"  # not warmed: first use
