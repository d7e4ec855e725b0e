"""API keys for tests: issued straight into the data dir's database, as `flowwright api-keys create` does."""

from __future__ import annotations

from app.auth.keys import KeyStore
from app.settings import get_settings
from engine.db import make_engine


def issue_headers(workspace: str = "default", role: str = "admin", *, user: str | None = None) -> dict[str, str]:
    """``{"Authorization": "Bearer fw_…"}`` for a new key of ``workspace`` (created if need be)
    in the database the current settings name."""
    engine = make_engine(get_settings().resolved_database_url)
    try:
        store = KeyStore(engine)
        store.ensure_workspace(workspace)
        token = store.issue(workspace, role, user=user).token
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {token}"}
