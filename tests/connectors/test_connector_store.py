"""Imported connectors are stored per workspace, survive a restart and reach the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.connector_store import ConnectorStore
from connectors.openapi_schema import SpecInvalidError
from connectors.registry import default_registry
from engine.db import make_engine
from engine.errors import NotFoundError

PETSTORE = (Path(__file__).parent.parent / "data" / "openapi" / "petstore.yaml").read_bytes()


def store_at(path: Path) -> ConnectorStore:
    registry = default_registry(plugins=False)
    return ConnectorStore(make_engine(f"sqlite:///{path}"), reserved=frozenset(registry.names()), max_bytes=64 * 1024)


def test_per_workspace_and_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "fw.db"
    store = store_at(db)
    result = store.import_document("acme", PETSTORE, name="pets", base_url="http://127.0.0.1:9/api/v3")
    assert result.connector.name == "pets"
    assert [i.name for i in store.list("acme")] == ["pets"] and store.list("other") == []
    assert store.list("acme")[0].operations[:2] == ["add_pet", "find_pets_by_status"]

    registry = default_registry(plugins=False)
    registry.imported = store_at(db)  # a new process: rebuilt from the database
    acme = registry.for_workspace("acme")
    assert acme.operation("pets", "get_pet_by_id") is not None
    assert registry.operation("pets", "get_pet_by_id") is None  # the shared registry stays the built-ins
    assert registry.for_workspace("other") is registry
    assert "pets" in {c["name"] for c in acme.catalog()} and acme.get("http") is not None


def test_names_replace_delete_and_caps(tmp_path: Path) -> None:
    store = store_at(tmp_path / "fw.db")
    store.import_document("acme", PETSTORE, name="pets")
    with pytest.raises(SpecInvalidError, match="already has a connector named 'pets'"):
        store.import_document("acme", PETSTORE, name="pets")
    store.import_document("acme", PETSTORE, name="pets", base_url="https://staging.example/api", replace=True)
    info = store.list("acme")[0]
    assert info.version == 2 and info.base_url == "https://staging.example/api"
    assert store.connectors("acme")[0].name == "pets"
    with pytest.raises(SpecInvalidError, match="built-in"):
        store.import_document("acme", PETSTORE, name="http")
    with pytest.raises(SpecInvalidError, match="limit is 65536"):
        store.import_document("acme", PETSTORE + b"#" * 70_000, name="big")
    with pytest.raises(NotFoundError):
        store.delete("other", "pets")  # another workspace cannot remove it
    store.delete("acme", "pets")
    assert store.connectors("acme") == []
