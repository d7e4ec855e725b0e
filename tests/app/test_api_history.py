"""Execution history through the API: filters on real runs, the cursor in X-Next-Cursor / Link,
clear 400s naming the parameter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.app.keys import issue_headers
from tests.engine.workflows import minimal


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings()), headers=admin_headers) as c:
        yield c


def failing() -> dict[str, Any]:
    wf = minimal()
    wf["name"] = "Refund approver"
    wf["nodes"].append({"id": "boom", "type": "action", "connector": "core", "operation": "fail",
                        "config": {"message": "card processor said 402"}})
    wf["edges"].append({"source": "say", "target": "boom"})
    return wf


def run(client: TestClient, wf_id: str, **headers: str) -> dict[str, Any]:
    done = client.post(f"/v1/workflows/{wf_id}/run", params={"wait": "true"}, json={"input": {}}, headers=headers)
    assert done.status_code == 202, done.text
    result: dict[str, Any] = done.json()
    return result


def test_filters_and_cursor_over_real_runs(client: TestClient, api_key: Any) -> None:
    ok_id = client.post("/v1/workflows", json=minimal()).json()["id"]
    bad_id = client.post("/v1/workflows", json=failing()).json()["id"]
    ran = [run(client, ok_id)["id"] for _ in range(3)] + [run(client, bad_id)["id"] for _ in range(2)]
    newest_first = list(reversed(ran))

    listed = client.get("/v1/executions").json()
    assert [e["id"] for e in listed] == newest_first
    failed = client.get("/v1/executions", params={"status": "failed", "workflow_id": bad_id}).json()
    assert [e["id"] for e in failed] == newest_first[:2]
    assert client.get("/v1/executions", params={"status": "failed,completed"}).json() == listed
    assert [e["id"] for e in client.get("/v1/executions", params={"q": "402"}).json()] == newest_first[:2]
    assert [e["id"] for e in client.get("/v1/executions", params={"q": "refund APPROVER"}).json()] == newest_first[:2]
    assert client.get("/v1/executions", params={"trigger": "webhook"}).json() == []
    assert len(client.get("/v1/executions", params={"trigger": "manual", "since": "1h"}).json()) == 5
    assert client.get("/v1/executions", params={"until": "2000-01-01"}).json() == []
    oldest = client.get("/v1/executions", params={"direction": "asc", "limit": 1}).json()
    assert [e["id"] for e in oldest] == ran[:1]

    seen: list[str] = []
    page = client.get("/v1/executions", params={"limit": 2})
    while True:
        seen += [e["id"] for e in page.json()]
        if "x-next-cursor" not in page.headers:
            assert "link" not in page.headers
            break
        link = page.headers["link"]
        assert link.endswith('>; rel="next"')
        params = parse_qs(urlparse(link[1:link.index(">")]).query)
        assert params["cursor"] == [page.headers["x-next-cursor"]] and params["limit"] == ["2"]
        page = client.get("/v1/executions", params={k: v[0] for k, v in params.items()})
    assert seen == newest_first

    # other workspaces see none of it
    assert client.get("/v1/executions", headers=api_key("other")).json() == []


def test_bad_parameters_are_400s_naming_them(client: TestClient) -> None:
    for params, name in (({"status": "failed,nope"}, "status"), ({"since": "last tuesday"}, "since"),
                         ({"cursor": "garbage"}, "cursor"), ({"since": "1h", "until": "2h"}, "since")):
        response = client.get("/v1/executions", params=params)
        assert response.status_code == 400, (params, response.text)
        error = response.json()["error"]
        assert error["code"] == "query_invalid" and error["details"]["field"] == name
    assert client.get("/v1/executions", params={"order_by": "name"}).status_code == 422
    assert client.get("/v1/executions", params={"limit": 0}).status_code == 422


def test_workflow_stats_over_real_runs(client: TestClient) -> None:
    wf_id = client.post("/v1/workflows", json=failing()).json()["id"]
    ok_id = client.post("/v1/workflows", json=minimal()).json()["id"]
    failed = [run(client, wf_id) for _ in range(2)]
    fine = [run(client, ok_id) for _ in range(3)]
    stats = client.get(f"/v1/workflows/{wf_id}/stats", params={"since": "1h"}).json()
    assert (stats["total"], stats["by_status"], stats["success_rate"]) == (2, {"failed": 2}, 0.0)
    assert stats["last_failure"]["id"] == failed[-1]["id"]
    assert "402" in stats["last_failure"]["error"]["message"]
    good = client.get(f"/v1/workflows/{ok_id}/stats").json()
    durations = sorted(r["duration_ms"] for r in fine)
    assert (good["total"], good["success_rate"], good["last_failure"]) == (3, 1.0, None)
    assert good["duration_ms"]["p50"] == durations[1] and good["duration_ms"]["max"] == durations[-1]
    assert good["duration_ms"]["min"] == durations[0] and good["duration_ms"]["p99"] == durations[-1]
    assert client.get(f"/v1/workflows/{ok_id}/stats", headers=issue_headers("other")).status_code == 404
    assert client.get("/v1/workflows/wf_nope/stats").status_code == 404
    bad = client.get(f"/v1/workflows/{ok_id}/stats", params={"since": "soon"})
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "since"
