"""Suite-wide test set-up: every test gets its own data dir; nothing touches the repo's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_fixture import postgres_url  # noqa: F401 - one throw-away server for the whole session
from tests.temporal_fixture import temporal_address  # noqa: F401 - one Temporal dev server for the whole session

# Tests never talk to a real model provider or to the internet.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Kill switch (app/llm/killswitch.py): any model but local/ and fake/ raises model_requests_blocked.
os.environ.setdefault("FLOWWRIGHT_ALLOW_MODEL_REQUESTS", "false")
# Starlette's TestClient reaches the service by the name "testserver"; the edge answers only the
# Host names it trusts (app/api/edge.py).
os.environ.setdefault("FLOWWRIGHT_TRUSTED_HOSTS", "testserver")

# jsonata-python raises the recursion limit when first imported; import it before Hypothesis
# records the limit, or Hypothesis warns (and warnings are errors here).
import jsonata  # noqa: F401


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point FLOWWRIGHT_DATA_DIR at a fresh folder and rebuild the cached settings around each test."""
    from app.settings import get_settings

    data_dir = tmp_path_factory.mktemp("flowwright-data")
    monkeypatch.setenv("FLOWWRIGHT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("FLOWWRIGHT_DATABASE_URL", raising=False)
    monkeypatch.delenv("FLOWWRIGHT_SECRET_KEY", raising=False)
    monkeypatch.delenv("FLOWWRIGHT_ENV", raising=False)
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()
