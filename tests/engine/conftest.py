"""Fixtures shared by the engine tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.db import make_engine
from engine.execution_store import ExecutionStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ExecutionStore]:
    """An execution store on SQLite, and on PostgreSQL where the server is available."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = ExecutionStore(make_engine(url))
    yield s
    s.close()
    s.engine.dispose()


@pytest.fixture(params=["local", pytest.param("temporal", marks=pytest.mark.temporal)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The backend ``runtime_at`` builds: the local runtime, then the Temporal one (a real dev
    server shared by the session). A conformance test module asks for it with
    ``pytestmark = pytest.mark.usefixtures("backend")``."""
    from tests.engine import runtime_helpers

    if request.param == "temporal":
        address = request.getfixturevalue("temporal_address")
        monkeypatch.setattr(runtime_helpers, "BACKEND", ("temporal", address))
    return str(request.param)
