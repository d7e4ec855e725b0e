"""Connectors imported from OpenAPI documents, stored per workspace in Flowwright's database.

A row keeps the document as it was given (so a later Flowwright can rebuild the connector with a
better importer), the connector's name and the base URL chosen at import. :meth:`ConnectorStore.
connectors` rebuilds a workspace's connectors from their rows, cached by the row's version, and is
what :meth:`connectors.registry.Registry.for_workspace` reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from connectors.contract import Connector
from connectors.openapi import ImportResult, build_connector, spec_digest
from connectors.openapi_schema import DEFAULT_MAX_BYTES, SpecInvalidError, SpecProblem, load_document
from engine.errors import NotFoundError


def _now() -> datetime:
    return datetime.now(UTC)


class ImportedConnectorRow(SQLModel, table=True):
    __tablename__ = "imported_connectors"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_imported_connector_name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(index=True)
    name: str
    title: str
    kind: str = Field(default="openapi")
    document: str = Field(sa_column=Column(Text, nullable=False))
    digest: str
    base_url: str
    base_url_given: bool = Field(default=False)  # chosen at import (--base-url), not read from servers
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


@dataclass(frozen=True)
class ImportedInfo:
    """What a listing shows about an imported connector."""

    name: str
    title: str
    base_url: str
    digest: str
    operations: list[str]
    version: int
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "base_url": self.base_url, "digest": self.digest,
                "operations": self.operations, "version": self.version, "updated_at": self.updated_at.isoformat()}


class ConnectorStore:
    """Imported connectors per workspace. Every method takes the caller's workspace."""

    TABLES = (ImportedConnectorRow.__table__,)  # type: ignore[attr-defined]

    def __init__(self, engine: Engine, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 reserved: frozenset[str] = frozenset()) -> None:
        self.engine = engine
        self.max_bytes = max_bytes
        self.reserved = reserved  # names the built-ins and plugins use
        self._cache: dict[tuple[str, str, int], Connector] = {}
        self._lock = threading.Lock()
        SQLModel.metadata.create_all(engine, tables=list(self.TABLES))

    def import_document(self, workspace_id: str, data: bytes | str, *, name: str | None = None,
                        base_url: str | None = None, replace: bool = False) -> ImportResult:
        """Parse, check and store a document; returns the connector built from it.

        Raises :class:`SpecInvalidError` (with every problem's JSON path) when the document cannot
        be imported, or when its name is taken (unless ``replace``) or reserved."""
        raw = data.encode() if isinstance(data, str) else data
        doc = load_document(raw, max_bytes=self.max_bytes)
        result = build_connector(doc, name=name, base_url=base_url)
        connector = result.connector
        if connector.name in self.reserved:
            raise SpecInvalidError([SpecProblem("$.info.title", f"connector name {connector.name!r} is a built-in "
                                                "connector's; pass --name")])
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, connector.name)
            if row is not None and not replace:
                raise SpecInvalidError([SpecProblem("$.info.title", f"this workspace already has a connector named "
                                                    f"{connector.name!r}; pass --replace or another --name")])
            text = raw.decode("utf-8-sig")
            if row is None:
                row = ImportedConnectorRow(workspace_id=workspace_id, name=connector.name, title=connector.title,
                                           document=text, digest=spec_digest(raw), base_url=result.base_url,
                                           base_url_given=base_url is not None)
            else:
                row.title, row.document, row.digest = connector.title, text, spec_digest(raw)
                row.base_url, row.base_url_given = result.base_url, base_url is not None
                row.version, row.updated_at = row.version + 1, _now()
            session.add(row)
            session.commit()
        return result

    def _row(self, session: Session, workspace_id: str, name: str) -> ImportedConnectorRow | None:
        return session.exec(select(ImportedConnectorRow).where(
            ImportedConnectorRow.workspace_id == workspace_id, ImportedConnectorRow.name == name)).first()

    def _rows(self, workspace_id: str) -> list[ImportedConnectorRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(ImportedConnectorRow).where(
                ImportedConnectorRow.workspace_id == workspace_id).order_by(ImportedConnectorRow.name)).all())

    def _build(self, row: ImportedConnectorRow) -> Connector:
        key = (row.workspace_id, row.name, row.version)
        with self._lock:
            found = self._cache.get(key)
        if found is not None:
            return found
        doc = load_document(row.document, max_bytes=max(self.max_bytes, len(row.document.encode()) + 1))
        connector = build_connector(doc, name=row.name, base_url=row.base_url if row.base_url_given else None).connector
        with self._lock:
            self._cache[key] = connector
        return connector

    def connectors(self, workspace_id: str) -> list[Connector]:
        """The workspace's imported connectors, ready to run."""
        return [self._build(row) for row in self._rows(workspace_id)]

    def list(self, workspace_id: str) -> list[ImportedInfo]:
        """Names, titles, base URLs and operations of the workspace's imported connectors."""
        out = []
        for row in self._rows(workspace_id):
            ops = [op.name for op in self._build(row).operations]
            out.append(ImportedInfo(row.name, row.title, row.base_url, row.digest, ops, row.version,
                                    row.updated_at))
        return out

    def document(self, workspace_id: str, name: str) -> str:
        """The stored document of a connector, as it was imported."""
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, name)
        if row is None:
            raise NotFoundError(f"no imported connector named {name!r} in this workspace", connector=name)
        return row.document

    def delete(self, workspace_id: str, name: str) -> None:
        """Remove an imported connector (workflows naming it then fail validation)."""
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, name)
            if row is None:
                raise NotFoundError(f"no imported connector named {name!r} in this workspace", connector=name)
            session.delete(row)
            session.commit()


__all__ = ["ConnectorStore", "ImportedConnectorRow", "ImportedInfo"]
