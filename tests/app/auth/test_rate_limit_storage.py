"""The per-key request limit counted in the database: processes share one budget per key, on
SQLite and on PostgreSQL; over the API, two service processes' worth of apps share it too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.api.server import create_app
from app.auth.errors import RateLimitedError
from app.auth.rate_limit import RequestLimiter
from app.auth.rate_limit_storage import HITS, DatabaseStorage
from app.settings import get_settings
from engine.db import make_engine

_HAMMER = textwrap.dedent("""
    import json, sys, time
    from app.auth.errors import RateLimitedError
    from app.auth.rate_limit import RequestLimiter
    from app.auth.rate_limit_storage import DatabaseStorage
    from engine.db import make_engine

    url, key, tries, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    limiter = RequestLimiter("50/minute", DatabaseStorage(make_engine(url)))
    time.sleep(max(0.0, start_at - time.time()))  # every process starts hitting at once
    allowed = 0
    for _ in range(tries):
        try:
            limiter.hit(key)
            allowed += 1
        except RateLimitedError:
            pass
    print(json.dumps({"allowed": allowed}))
""")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'limits.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_processes_share_one_budget_per_key(database_url: str) -> None:
    DatabaseStorage(make_engine(database_url))  # the tables, before the processes race to make them
    key = f"key-{uuid.uuid4().hex[:8]}"
    start_at = time.time() + 4
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[3]), *sys.path])}
    procs = [subprocess.Popen([sys.executable, "-c", _HAMMER, database_url, key, "40", str(start_at)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1])["allowed"])
    assert sum(results) == 50, results  # 120 tries in three processes: exactly the limit got through


def test_the_window_moves_and_retry_after_says_when(tmp_path: Path) -> None:
    now = [1000.0]
    storage = DatabaseStorage(make_engine(f"sqlite:///{tmp_path / 'limits.db'}"), clock=lambda: now[0])
    limiter = RequestLimiter("2/minute", storage)
    limiter.hit("k")
    now[0] += 30
    limiter.hit("k")
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit("k")
    assert refused.value.details["limit"] == "2 per 1 minute"
    limiter.hit("other")  # keys are counted apart
    now[0] += 31  # the first hit has left the window
    limiter.hit("k")
    with storage.engine.connect() as conn:  # the hit older than the window was deleted as "k" was counted
        assert conn.execute(select(func.count()).select_from(HITS)).scalar_one() == 3


@pytest.fixture
def two_processes(monkeypatch: pytest.MonkeyPatch, _isolated_data_dir: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two service apps over one data dir, each with its own container, as two API processes are."""
    monkeypatch.setenv("FLOWWRIGHT_RATE_LIMIT", "3/minute")
    monkeypatch.setenv("FLOWWRIGHT_RATE_LIMIT_STORAGE", "database")
    monkeypatch.setenv("FLOWWRIGHT_SCHEDULER_ENABLED", "false")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings())) as first, TestClient(create_app(get_settings())) as second:
        yield first, second


def test_a_key_gets_its_limit_once_across_service_processes(two_processes: Any, api_key: Any) -> None:
    first, second = two_processes
    headers = api_key(role="viewer")
    assert first.get("/v1/workflows", headers=headers).status_code == 200
    assert second.get("/v1/workflows", headers=headers).status_code == 200
    assert first.get("/v1/workflows", headers=headers).status_code == 200
    refused = second.get("/v1/workflows", headers=headers)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert second.get("/v1/workflows", headers=api_key(role="viewer")).status_code == 200  # another key
