"""The API tests' keys: one fixture issues them, every API test uses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.app.keys import issue_headers


@pytest.fixture
def api_key(_isolated_data_dir: Path) -> Callable[..., dict[str, str]]:
    """``api_key(workspace="default", role="admin", user=None)``: headers carrying a new key."""
    return issue_headers


@pytest.fixture
def admin_headers(api_key: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers carrying an admin key of the ``default`` workspace."""
    return api_key()
