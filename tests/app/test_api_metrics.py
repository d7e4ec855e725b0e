"""GET /metrics: the Prometheus text format, for FLOWWRIGHT_METRICS_TOKEN (every workspace) or an
admin key (its own workspace); nobody else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.api.server import create_app
from app.settings import get_settings
from tests.app.insights.history import healthy, seed
from tests.app.keys import issue_headers

TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    monkeypatch.setenv("FLOWWRIGHT_METRICS_TOKEN", TOKEN)
    get_settings.cache_clear()
    with TestClient(create_app(get_settings())) as c:
        db = c.app.state.container.db  # type: ignore[attr-defined]
        seed(db, healthy(0.05), now=datetime.now(UTC), days=2)
        seed(db, healthy(0.05), now=datetime.now(UTC), days=2, workspace_id="other", seed_value=5)
        yield c


def workspaces(text: str) -> set[str]:
    return {s.labels["workspace"] for f in text_string_to_metric_families(text) for s in f.samples
            if "workspace" in s.labels}


def test_the_metrics_token_sees_every_workspace(client: TestClient) -> None:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert workspaces(answer.text) == {"default", "other"}
    assert "flowwright_step_duration_seconds_bucket" in answer.text and "flowwright_workers" in answer.text


def test_an_admin_key_sees_its_workspace_only(client: TestClient, admin_headers: dict[str, str]) -> None:
    answer = client.get("/metrics", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    assert workspaces(answer.text) == {"default"} and "flowwright_workers" not in answer.text
    other = client.get("/metrics", headers=issue_headers("other"))
    assert workspaces(other.text) == {"other"}


def test_anyone_else_is_refused(client: TestClient) -> None:
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthenticated"
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401
    viewer = client.get("/metrics", headers=issue_headers(role="viewer"))
    assert viewer.status_code == 403 and viewer.json()["error"]["details"]["required"] == "admin"


def test_a_short_token_is_a_setting_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from app.settings import Settings

    monkeypatch.setenv("FLOWWRIGHT_METRICS_TOKEN", "short")
    with pytest.raises(ValidationError, match="metrics_token"):
        Settings()
